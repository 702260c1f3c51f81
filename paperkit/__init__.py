"""paperkit: the thin PyTorch library behind a reproducibility book for five medical-imaging papers.

Where things live (reusable parts layer-first, as in torchvision and MONAI; what exists for one
paper in that paper's chapter package):

``chapters/``
    ``contract.py`` -- the parameters every chapter takes (:class:`~paperkit.chapters.contract.ChapterSpec`,
    :func:`~paperkit.chapters.contract.start`); ``<name>/`` -- one package per paper (``video4mri``,
    ``model_doctor``, ``lge_quality``, ``lv_segmentation``, ``rethink_transfer``) with the same four
    modules: ``spec`` (datasets, models, profiles, the paper's claims), ``experiment`` (the data as the
    paper arranges it, training with run records), ``claims`` (the ledger's verdict functions) and
    ``figures`` (figure and table builders). Each package's docstring lists the reusable modules it drives.
``models/``
    Every chapter's networks behind one name registry (``models.create("tsm_r18")``).
``metrics/``, ``losses/``, ``explain/``
    Classification, segmentation and contour metrics; the losses (SupCon, the QA losses, LARS);
    hooks, Model Doctor, saliency and layer statistics.
``data/``
    ``io/`` file readers and the decoded-volume cache; ``datasets/`` one module (or small package) per
    public dataset layout; ``synthetic/`` the generators of the offline defaults; shared splitting and
    subsampling (``splits``, ``subsample``) and the brain-MRI cohort and clip forms (``brain_mri``,
    ``mri_frames``).
``reference/``
    The papers' reported numbers, one CSV per chapter, each row with its source in the paper.

The engine every chapter shares: ``train`` (the one training loop), ``distributed`` (DDP under
``torchrun``), ``runs`` (run records and the reuse-or-train helper), ``ledger`` (the claims ledger),
``atomic`` (all-or-nothing file writes), ``runtime`` (devices, seeds, environment capture), ``paths``
(``PAPERKIT_DATA`` and ``PAPERKIT_CACHE``), ``augment``, ``batchnorm``, ``schedules``, ``timing``,
``plots`` and ``monitor`` (figures and the live training view), ``book`` (executes the chapters and
builds the HTML book), ``teaching`` (the chapters' exercises and solutions, student notebooks, the
teacher's page) and ``nearest`` (a memorising nearest-neighbour baseline for the leakage exercise).
"""
