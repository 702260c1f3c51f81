"""2018 Atrial Segmentation Challenge (LA 2018), one module per job.

* :mod:`.layout`  -- which layout a root holds (challenge NRRD or preprocessed HDF5; documented in
  that module's docstring), its cases and ``train.list``/``test.list``; :func:`load_la2018`;
* :mod:`.case`    -- :class:`LACase`, one case's files and reading its volumes (:func:`read_nrrd`);
* :mod:`.scores`  -- paperkit's quality-scores CSV and its binarisation;
* :mod:`.split`   -- the stage-1 split by subject, and the pieces the chapter's QA split is built from;
* :mod:`.dataset` -- :class:`LGESlices`, the torch dataset of axial slices.

The paper's own method on top of the data (the QA split, the stage-1 slice rule, the scan vote)
lives in :mod:`paperkit.chapters.lge_quality.experiment`.
"""
from paperkit.data.datasets.la2018.case import H5_FILE, IMAGE_FILE, MASK_FILE, LACase, cases_table, read_nrrd
from paperkit.data.datasets.la2018.dataset import LGESlices, default_augmentation
from paperkit.data.datasets.la2018.layout import detect_layout, find_cases, load_la2018, read_case_lists
from paperkit.data.datasets.la2018.scores import (
                                                  ATTRIBUTE_COLUMNS,
                                                  DIAGNOSTIC_THRESHOLD,
                                                  QA_COLUMN,
                                                  SCORE_COLUMNS,
                                                  binarise,
                                                  read_scores,
                                                  write_scores,
)
from paperkit.data.datasets.la2018.split import split_cases, split_stage1, train_val

__all__ = [
    "ATTRIBUTE_COLUMNS", "DIAGNOSTIC_THRESHOLD", "H5_FILE", "IMAGE_FILE", "MASK_FILE", "QA_COLUMN",
    "SCORE_COLUMNS", "LACase", "LGESlices", "binarise", "cases_table", "default_augmentation",
    "detect_layout", "find_cases", "load_la2018", "read_case_lists", "read_nrrd", "read_scores",
    "split_cases", "split_stage1", "train_val", "write_scores",
]
