"""2018 Atrial Segmentation Challenge (LA 2018): which layout a root holds, its cases and case lists.

This module finds the cases; :mod:`.case` reads a case's volumes, :mod:`.scores` the quality
scores CSV, :mod:`.split` splits by subject and :mod:`.dataset` is the torch slice dataset.

The challenge (Xiong et al., "A global benchmark of algorithms for segmenting the left atrium
from late gadolinium-enhanced cardiac MRI", Medical Image Analysis 2021; data at
cardiacatlas.org, atriaseg2018) released 3D LGE-MRI of atrial-fibrillation patients with the
left-atrium cavity segmented. Two layouts are read, both with axial slices along the *last*
array axis (pynrrd keeps the NRRD (X, Y, Z) order; the HDF5 files keep it too):

``"nrrd"`` -- the release as unzipped::

    Training Set/<CASE_ID>/lgemri.nrrd     # the LGE volume, e.g. 576 x 576 x 88
    Training Set/<CASE_ID>/laendo.nrrd     # LA cavity (endocardium) mask, values 0 / 255
    Testing Set/<CASE_ID>/...              # (lawall.nrrd etc. may be present; ignored)

  Case folders directly under the root are accepted too. A scored scan without a segmentation
  (no ``laendo.nrrd``) is read with ``masks="optional"`` (the QA stage can use it; stage 1 cannot).
  ``train.list``/``test.list`` in the root, if present, name the stage-1 split as in the HDF5 form.
  The file names were confirmed from
  several public programs reading the release (``nrrd.read(.../lgemri.nrrd)``,
  ``laendo.nrrd`` with ``label == 255``); we found no organiser page listing them.

``"hdf5"`` -- the widely used preprocessed form (Yu et al., "Uncertainty-aware self-ensembling
model for semi-supervised 3D left atrium segmentation", MICCAI 2019, and the code bases
built on it): each case cropped around the atrium and z-scored::

    <cases folder>/<CASE_ID>/mri_norm2.h5   # datasets "image" (float32) and "label" (uint8 0/1)
    train.list, test.list                    # one case id per line (80 / 20 in the original)

  The cases folder is ``cases/`` (the project's sample in ``$PAPERKIT_DATA/la2018``),
  ``2018LA_Seg_Training Set/`` (the original code's name) or the root itself. The lists sit
  in the root (or next to the cases folder); when they exist the stage-1 split follows them
  (:func:`.split.split_stage1`).

Quality scores (no public file exists: the paper's 196 scored scans are private) are read
from paperkit's own CSV, by default ``<root>/scores.csv`` (:data:`.scores.SCORE_COLUMNS`)::

    case_id,myocardium_nulling,sharpness,enhancement_aorta_valve,fibrosis_quality[,subject_id]

integers 1-5 (5 = best), binarised as diagnostic (1) when >= 3 (Sultan et al., Sec. 4.1).
``subject_id`` (optional) groups cases of one patient, so splits never separate them.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

from paperkit.data.datasets.la2018.case import H5_FILE, IMAGE_FILE, MASK_FILE, LACase
from paperkit.data.datasets.la2018.scores import SCORES_FILE, read_scores
from paperkit.data.io.errors import DataError
from paperkit.data.io.text import read_utf8

__all__ = ["LAYOUTS", "MASKS", "detect_layout", "find_cases", "load_la2018", "read_case_lists"]

NRRD_SET_FOLDERS = ("Training Set", "Testing Set")
H5_CASE_FOLDERS = ("cases", "2018LA_Seg_Training Set", "2018LA_Seg_TrainingSet")
LIST_NAMES = ("train", "test")
LAYOUTS = ("auto", "nrrd", "hdf5")


def detect_layout(root: str | os.PathLike) -> str:
    """``"nrrd"`` or ``"hdf5"``, from the files under ``root``; :class:`DataError` when neither is there."""
    root = Path(root)
    if _h5_case_dirs(root):
        return "hdf5"
    if _nrrd_case_dirs(root):
        return "nrrd"
    raise DataError(
        f"{root}: not an LA 2018 folder; expected 'Training Set/<case>/{IMAGE_FILE}' + '{MASK_FILE}' "
        f"(challenge release) or 'cases/<case>/{H5_FILE}' (preprocessed HDF5), or case folders directly in it")


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _nrrd_case_dirs(root: Path) -> list[tuple[Path, str | None]]:
    found = []
    parents = [(root / name, name) for name in NRRD_SET_FOLDERS if (root / name).is_dir()] or [(root, None)]
    for parent, release in parents:
        found += [(d, release) for d in _subdirs(parent) if (d / IMAGE_FILE).is_file() or (d / MASK_FILE).is_file()]
    return found


def _h5_case_dirs(root: Path) -> list[Path]:
    for parent in [root / name for name in H5_CASE_FOLDERS] + [root]:
        if parent.is_dir():
            dirs = [d for d in _subdirs(parent) if (d / H5_FILE).is_file()]
            if dirs:
                return dirs
    return []


def _read_list(path: Path) -> list[str]:
    ids = [line.strip() for line in read_utf8(path, "a list of case ids, one per line").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise DataError(f"{path}: case ids listed twice: {', '.join(duplicates[:5])}; expected each once")
    return ids


def read_case_lists(root: str | os.PathLike) -> dict[str, list[str]]:
    """``{"train": [...], "test": [...]}`` from ``train.list``/``test.list`` in ``root`` (only the files present)."""
    root = Path(root)
    lists = {name: _read_list(root / f"{name}.list") for name in LIST_NAMES if (root / f"{name}.list").is_file()}
    both = sorted(set(lists.get("train", [])) & set(lists.get("test", [])))
    if both:
        raise DataError(f"{root}: cases in both train.list and test.list: {', '.join(both[:5])}; "
                        "expected disjoint lists")
    return lists


MASKS = ("required", "optional")


def find_cases(root: str | os.PathLike, layout: str = "auto", masks: str = "required") -> list[LACase]:
    """Every case under ``root`` in ``layout`` (``"auto"``, ``"nrrd"``, ``"hdf5"``), sorted by id.

    NRRD cases must hold ``lgemri.nrrd``, and ``laendo.nrrd`` unless ``masks="optional"``
    (:class:`DataError` naming the folder and the missing file otherwise); with
    ``masks="optional"`` a case without its mask gets ``mask_path=None`` (scored scans without
    a segmentation, for the QA stage). ``train.list``/``test.list`` in ``root`` set each case's
    ``list_name``. Volumes are not read here (see :meth:`LACase.load`).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: LA 2018 folder not found")
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: expected one of {', '.join(LAYOUTS)}")
    if masks not in MASKS:
        raise ValueError(f"masks={masks!r}: expected one of {', '.join(MASKS)}")
    if layout == "auto":
        layout = detect_layout(root)
    cases: list[LACase] = []
    if layout == "nrrd":
        for folder, release in _nrrd_case_dirs(root):
            needed = (IMAGE_FILE, MASK_FILE) if masks == "required" else (IMAGE_FILE,)
            for name in needed:
                if not (folder / name).is_file():
                    raise DataError(f"{folder}: expected {name} in every case folder (with "
                                    f"{IMAGE_FILE} = image, {MASK_FILE} = LA cavity mask), not found")
            mask = folder / MASK_FILE if (folder / MASK_FILE).is_file() else None
            cases.append(LACase(folder.name, "nrrd", folder / IMAGE_FILE, mask, release_set=release))
    else:
        cases = [LACase(d.name, "hdf5", d / H5_FILE, d / H5_FILE) for d in _h5_case_dirs(root)]
    if not cases:
        raise DataError(f"{root}: no {layout} cases found (see paperkit.data.datasets.la2018 for the layout)")
    duplicates = sorted(i for i, n in Counter(c.case_id for c in cases).items() if n > 1)
    if duplicates:
        raise DataError(f"{root}: case ids found in more than one folder: {', '.join(duplicates[:5])}")
    lists = read_case_lists(root)
    for case in cases:
        case.list_name = next((name for name, ids in lists.items() if case.case_id in ids), None)
    return sorted(cases, key=lambda c: c.case_id)


def load_la2018(root: str | os.PathLike, scores: str | os.PathLike | None = "auto",
                layout: str = "auto", masks: str = "required") -> list[LACase]:
    """The cases of ``root`` (:func:`find_cases`, with ``masks``) with their quality scores attached.

    ``scores``: a CSV path, ``"auto"`` (``<root>/scores.csv`` when it exists, else none) or
    ``None``. With scores, every case must have a row (:class:`DataError` naming the cases
    without); rows for cases not found are reported with a warning.
    """
    root = Path(root).expanduser()
    cases = find_cases(root, layout, masks)
    if isinstance(scores, str) and scores == "auto":
        scores = root / SCORES_FILE if (root / SCORES_FILE).is_file() else None
    if scores is None:
        return cases
    table = read_scores(scores)
    unscored = [c.case_id for c in cases if c.case_id not in table]
    if unscored:
        raise DataError(f"{scores}: no scores for {len(unscored)} case(s) found in {root}: "
                        f"{', '.join(unscored[:10])}; expected a row for every case")
    extra = sorted(set(table) - {c.case_id for c in cases})
    if extra:
        warnings.warn(f"{scores}: {len(extra)} scored case(s) have no folder in {root}: {', '.join(extra[:10])}",
                      stacklevel=2)
    for case in cases:
        entry = dict(table[case.case_id])
        case.subject = entry.pop("subject_id", case.case_id)
        case.scores = entry
    return cases
