"""LGE quality (Sultan et al., 2023): two-stage quality assessment of left-atrial LGE MRI.

This package is the chapter; ``nbs/lge_quality.py`` tells its story and calls:

* ``spec.py``        the contract: datasets, models, profiles, the paper's claims;
* ``experiment.py``  loading the data as the paper arranges it, and training with run records;
* ``claims.py``      the ledger's verdicts, pure functions of result tables;
* ``figures.py``     figure and table builders.

The reusable parts it drives live layer-first under ``paperkit/``:

* models/lge_quality.py (stage-1 UNet, QA ResNet-34, multi-task, SupCon encoder)
* losses/supcon.py, losses/quality.py, losses/lars.py
* data/datasets/la2018/ (layout, case, scores, split, dataset); data/synthetic/lge.py, data/synthetic/lge_degrade.py

and the paper's reported numbers in ``reference/lge_quality.csv``.
"""
