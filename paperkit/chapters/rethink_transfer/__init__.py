"""Rethink transfer learning (Peng et al.): shallow vs deep vs truncated networks, TL vs RI, AUROC vs AUPRC.

This package is the chapter; ``nbs/rethink_transfer.py`` tells its story and calls:

* ``spec.py``        the contract: datasets, models, profiles, the paper's claims;
* ``setup.py``       the training set-up: the paper's (choices marked) or the official code's (``official=True``),
  and the differences table made from it;
* ``experiment.py``  loading the data as the paper arranges it, source pretraining and training with run records;
* ``pretrain.py``    ``python -m paperkit.chapters.rethink_transfer.pretrain``: ImageNet weights for a CBR model
  from an ILSVRC-layout folder, installed where ``weights="imagenet"`` finds them;
* ``claims.py``      the ledger's verdicts, pure functions of result tables;
* ``figures.py``     figure and table builders.

The reusable parts it drives live layer-first under ``paperkit/``:

* models/cbr.py, models/truncated.py, models/pretrained.py (weights found on disk, never downloaded)
* metrics/classification.py (AUROC, both AUPRCs)
* data/datasets/chexpert.py, data/datasets/csv_images.py, data/datasets/medmnist.py; data/synthetic/cxr.py,
  data/synthetic/source.py

and the paper's reported numbers in ``reference/rethink_transfer.csv``.
"""
