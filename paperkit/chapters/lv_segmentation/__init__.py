"""LV segmentation (Liu et al., CMES 2023): an interpretable GAP network for the left ventricle.

This package is the chapter; ``nbs/lv_segmentation.py`` tells its story and calls:

* ``spec.py``        the contract: datasets, models, profiles, the paper's claims;
* ``experiment.py``  loading the data as the paper arranges it, and training with run records;
* ``claims.py``      the ledger's verdicts, pure functions of result tables;
* ``figures.py``     figure and table builders.

The reusable parts it drives live layer-first under ``paperkit/``:

* models/lv_segmentation.py (the GAP network and Table 1's comparison models)
* metrics/contours.py (the MICCAI 2009 challenge's APD and good contours), metrics/segmentation.py
* explain/saliency.py, explain/layer_stats.py, monitor.py (the live training figure)
* data/datasets/sunnybrook/ (layout, contours, pairing, split, dataset); data/synthetic/cine.py

and the paper's reported numbers in ``reference/lv_segmentation.csv``.
"""
