"""Tiny LA 2018 folders in both real layouts (challenge NRRD, preprocessed HDF5 + lists) and scores CSVs.

Each case's image is a dim body with one bright ellipsoidal "atrium" whose mask is the
atrium itself, occupying only some axial slices (the last axis), so a test can check the
mask-slice selection and that image and mask stay aligned. Layouts are documented in
``paperkit.data.datasets.la2018``; nothing is copied from the real data.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from paperkit.atomic import atomic_path

SHAPE = (40, 36, 12)          # (X, Y, Z); axial slices along Z
ATRIUM_SLICES = range(3, 9)   # slices the atrium occupies


def tiny_case(index: int, shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """(image float32, mask uint8 0/1): body 60, atrium 200 + index, atrium only on ATRIUM_SLICES."""
    x, y, z = np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij")
    cx, cy = shape[0] / 2 + (index % 3), shape[1] / 2 - (index % 2)
    mask = (((x - cx) / 8) ** 2 + ((y - cy) / 6) ** 2 <= 1) & (z >= ATRIUM_SLICES.start) & (z < ATRIUM_SLICES.stop)
    image = np.full(shape, 60.0, dtype=np.float32)
    image[mask] = 200.0 + index
    return image, mask.astype(np.uint8)


def write_nrrd_case(root: Path, case_id: str, image: np.ndarray, mask: np.ndarray,
                    set_folder: str | None = "Training Set", mask_file: str | None = "laendo.nrrd") -> Path:
    """``<root>/<set_folder>/<case_id>/lgemri.nrrd`` + ``laendo.nrrd`` (mask stored 0/255, as released)."""
    import nrrd

    folder = Path(root) / set_folder / case_id if set_folder else Path(root) / case_id
    folder.mkdir(parents=True, exist_ok=True)
    header = {"space directions": np.diag([0.625, 0.625, 0.625]), "space": "left-posterior-superior"}
    with atomic_path(folder / "lgemri.nrrd") as tmp:
        nrrd.write(str(tmp), image.astype(np.uint8) if image.max() < 256 else image, header)
    if mask_file:
        with atomic_path(folder / mask_file) as tmp:
            nrrd.write(str(tmp), (mask > 0).astype(np.uint8) * 255, header)
    return folder


def write_h5_case(root: Path, case_id: str, image: np.ndarray, mask: np.ndarray, cases_folder: str = "cases") -> Path:
    """``<root>/<cases_folder>/<case_id>/mri_norm2.h5`` with datasets ``image`` (float32) and ``label`` (uint8)."""
    import h5py

    path = Path(root) / cases_folder / case_id / "mri_norm2.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("image", data=((image - image.mean()) / image.std()).astype(np.float32), compression="gzip")
            f.create_dataset("label", data=mask.astype(np.uint8), compression="gzip")
    return path


def write_lists(root: Path, train: Sequence[str], test: Sequence[str]) -> None:
    """``train.list`` and ``test.list``, one case id per line."""
    for name, ids in (("train", train), ("test", test)):
        (Path(root) / f"{name}.list").write_text("".join(f"{i}\n" for i in ids))


SCORE_HEADER = ["case_id", "myocardium_nulling", "sharpness", "enhancement_aorta_valve", "fibrosis_quality"]


def write_scores_csv(path: Path, rows: Sequence[Sequence], header: Sequence[str] = SCORE_HEADER) -> Path:
    """A scores CSV with ``header`` and ``rows`` as given (so tests can write bad ones)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return Path(path)


def scores_for(index: int) -> list[int]:
    """Deterministic 1-5 scores for case ``index`` (covers both sides of the >= 3 cut)."""
    return [1 + (index + k) % 5 for k in range(4)]
