"""One LA 2018 case: where its image and atrium mask are, reading them (NRRD or HDF5), its scores.

The two file layouts (challenge NRRD, preprocessed HDF5) are documented in
:mod:`paperkit.data.datasets.la2018.layout` (Xiong et al., Medical Image Analysis 2021;
cardiacatlas.org, atriaseg2018).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from paperkit.data.datasets.la2018.scores import ATTRIBUTE_COLUMNS, DIAGNOSTIC_THRESHOLD, QA_COLUMN, binarise
from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import Volume, read_hdf5

__all__ = ["H5_FILE", "IMAGE_FILE", "MASK_FILE", "LACase", "cases_table", "read_nrrd"]

IMAGE_FILE = "lgemri.nrrd"
MASK_FILE = "laendo.nrrd"
H5_FILE = "mri_norm2.h5"


def read_nrrd(path: str | os.PathLike) -> Volume:
    """Read an NRRD file with pynrrd into a :class:`Volume` (array in the file's axis order).

    Spacing comes from ``space directions`` (the column norms) or ``spacings``, in mm; else 1.0
    per axis in pixel units. Raises ``FileNotFoundError`` / :class:`DataError` naming the file.
    """
    import nrrd

    p = Path(os.path.abspath(os.fspath(path)))
    if not p.is_file():
        raise FileNotFoundError(f"{p}: NRRD file not found")
    try:
        array, header = nrrd.read(str(p))
    except Exception as e:  # pynrrd raises NRRDError, ValueError, OSError... for corrupt files
        raise DataError(f"{p}: not a readable NRRD file (pynrrd: {type(e).__name__}: {e})") from e
    spacing, unit = (1.0,) * array.ndim, "pixel"
    directions = header.get("space directions")
    if directions is not None:
        rows = [np.asarray(d, dtype=float) for d in directions]
        norms = [float(np.linalg.norm(d)) if np.all(np.isfinite(d)) else 1.0 for d in rows]
        if len(norms) == array.ndim:
            spacing, unit = tuple(norms), "mm"
    elif header.get("spacings") is not None:
        values = [float(s) for s in header["spacings"]]
        if len(values) == array.ndim and all(np.isfinite(values)):
            spacing, unit = tuple(values), "mm"
    return Volume(np.asarray(array), spacing, None, p, {"format": "nrrd", "spacing_unit": unit})


@dataclass(eq=False)
class LACase:
    """One LGE scan: where its image and LA mask are, and its quality scores (if any).

    ``subject`` groups scans of one patient (defaults to ``case_id``); ``list_name`` is
    ``"train"``/``"test"`` when ``train.list``/``test.list`` name the case; ``release_set``
    the NRRD release folder (``"Training Set"``...). ``scores`` maps :data:`SCORE_COLUMNS`
    (without ``case_id``) to 1-5 integers. ``mask_path`` is None for a scan without an atrium
    mask (a scored scan for the QA stage only; see ``find_cases(..., masks="optional")``).
    """

    case_id: str
    layout: str
    image_path: Path
    mask_path: Path | None
    subject: str = ""
    list_name: str | None = None
    release_set: str | None = None
    scores: dict[str, int] | None = None
    spacing: tuple[float, ...] | None = field(default=None, repr=False)

    def __post_init__(self):
        self.subject = self.subject or self.case_id

    @property
    def has_mask(self) -> bool:
        """Whether the case comes with an atrium mask."""
        return self.mask_path is not None

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(image float32, mask uint8 {0,1})``, both (X, Y, Z) with axial slices along the last axis.

        The mask is None for a case without one (:attr:`has_mask`). Raises :class:`DataError`
        naming the file when the mask's shape differs from the image's.
        """
        if self.layout == "nrrd":
            image_volume = read_nrrd(self.image_path)
            mask_volume = read_nrrd(self.mask_path) if self.has_mask else None
            where = f"{self.mask_path}"
        else:
            image_volume = read_hdf5(self.image_path, key="image")
            mask_volume = read_hdf5(self.mask_path, key="label") if self.has_mask else None
            where = f"{self.mask_path} (dataset 'label')"
        image = image_volume.array
        if image.ndim != 3:
            raise DataError(f"{self.image_path}: expected a 3D volume, got shape {image.shape}")
        self.spacing = image_volume.spacing
        if mask_volume is None:
            return image.astype(np.float32, copy=False), None
        mask = mask_volume.array
        if mask.shape != image.shape:
            raise DataError(f"{where}: mask of shape {mask.shape}; expected the image's {image.shape}")
        return image.astype(np.float32, copy=False), (mask > 0).astype(np.uint8)

    @property
    def attribute_labels(self) -> np.ndarray:
        """(3,) binarised attribute scores in :data:`ATTRIBUTE_COLUMNS` order."""
        return binarise([self._scores()[c] for c in ATTRIBUTE_COLUMNS])

    @property
    def qa_label(self) -> int:
        """Binarised fibrosis-quality score (1 = diagnostic)."""
        return binarise(self._scores()[QA_COLUMN])

    def _scores(self) -> dict[str, int]:
        if self.scores is None:
            raise DataError(f"case {self.case_id} ({self.image_path.parent}) has no quality scores")
        return self.scores


def cases_table(cases: Iterable[LACase]):
    """A pandas DataFrame, one row per case: id, subject, layout, list, scores and their binarised labels."""
    import pandas as pd

    rows = []
    for c in cases:
        row = {"case_id": c.case_id, "subject": c.subject, "layout": c.layout, "list": c.list_name,
               "release_set": c.release_set, "mask": c.has_mask}
        if c.scores is not None:
            row.update(c.scores)
            row.update({f"{k}_diagnostic": int(v >= DIAGNOSTIC_THRESHOLD) for k, v in c.scores.items()})
        rows.append(row)
    return pd.DataFrame(rows)
