"""Model Doctor (Feng et al., AAAI 2022): diagnosing and treating CNN classifiers by aggregating gradients.

This package is the chapter; ``nbs/model_doctor.py`` tells its story and calls:

* ``spec.py``        the contract: datasets, models, profiles, the paper's claims;
* ``experiment.py``  loading the data as the paper arranges it, and training with run records;
* ``claims.py``      the ledger's verdicts, pure functions of result tables;
* ``figures.py``     figure and table builders.

The reusable parts it drives live layer-first under ``paperkit/``:

* explain/model_doctor.py (the method: Eqs. 4-6), explain/hooks.py, explain/adversarial.py (Discovery 2)
* models/classifiers.py (Table 1's md_* classifiers), models/small_cnn.py
* data/datasets/classification_sets.py (torchvision folders, mini-ImageNet, ImageFolder); data/synthetic/shapes.py

and the paper's reported numbers in ``reference/model_doctor.csv``.
"""
