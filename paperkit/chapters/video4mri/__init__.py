"""Video4MRI (Zhang et al., 2023): video networks vs 3D ResNets for brain MRI.

This package is the chapter; ``nbs/video4mri.py`` tells its story and calls:

* ``spec.py``        the contract: datasets, models, profiles, the paper's claims;
* ``experiment.py``  loading the data as the paper arranges it, and training with run records;
* ``claims.py``      the ledger's verdicts, pure functions of result tables;
* ``figures.py``     figure and table builders.

The reusable parts it drives live layer-first under ``paperkit/``:

* models/tsn_tsm.py, models/temporal_shift.py, models/slowfast.py, models/resnet3d.py (registered in models/video.py)
* data/brain_mri.py (cohorts, Table 1, subject split), data/mri_frames.py (volumes as clips)
* data/datasets/ida.py (ADNI, PPMI), data/datasets/oasis.py, data/datasets/medmnist3d.py; data/synthetic/brain.py
* augment.py (per-volume augmentation, CutMix/MixUp), batchnorm.py, schedules.py, timing.py

and the paper's reported numbers in ``reference/video4mri.csv``.
"""
