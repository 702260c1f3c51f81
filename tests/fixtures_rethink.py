"""Tiny fixtures in the real layouts read by the ``rethink_transfer`` loaders.

* :func:`write_chexpert` -- a ``CheXpert-v1.0-small`` folder: ``train.csv``/``valid.csv``
  with Stanford's 19-column header (checked against the public CSVs: ``Path, Sex, Age,
  Frontal/Lateral, AP/PA, No Finding, ..., Support Devices``), ``1.0``/``0.0``/``-1.0``/blank
  labels, frontal and lateral views, and JPEGs at ``train/patientNNNNN/studyN/viewN_*.jpg``.
* :func:`write_csv_images` -- a private "CSV + image folder" set with dates (like the paper's
  COVID-19 export), including one patient imaged before and after the cutoff.
* :func:`write_medmnist_npz` -- an ``.npz`` with MedMNIST's keys ``{train,val,test}_{images,labels}``.

Every file goes through :func:`paperkit.atomic.atomic_path` / ``write_text``.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from paperkit.atomic import atomic_path, write_text

CHEXPERT_HEADER = (
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
    "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
    "Pleural Effusion,Pleural Other,Fracture,Support Devices"
)

# (path after the dataset folder, sex, age, view, AP/PA, 14 label cells as written by Stanford)
# Label order: NF, EC, Card, LO, LL, Edema, Cons, Pneu, Atel, PTX, PE, PO, Frac, SD.
CHEXPERT_TRAIN_ROWS = [
    # The first row of the real train.csv: No Finding 1.0, Pneumothorax 0.0, Support Devices 1.0.
    ("train/patient00001/study1/view1_frontal.jpg", "Female", 68, "Frontal", "AP",
     ["1.0", "", "", "", "", "", "", "", "", "0.0", "", "", "", "1.0"]),
    # Uncertain (-1) Edema and Atelectasis, positive Cardiomegaly, blank elsewhere.
    ("train/patient00002/study2/view1_frontal.jpg", "Female", 87, "Frontal", "AP",
     ["", "", "1.0", "", "", "-1.0", "", "", "-1.0", "", "", "", "", ""]),
    # The same study's lateral view (frontal_only drops it).
    ("train/patient00002/study2/view2_lateral.jpg", "Female", 87, "Lateral", "",
     ["", "", "1.0", "", "", "-1.0", "", "", "-1.0", "", "", "", "", ""]),
    ("train/patient00002/study1/view1_frontal.jpg", "Female", 83, "Frontal", "AP",
     ["", "", "", "1.0", "", "", "", "-1.0", "", "", "", "", "1.0", ""]),
    ("train/patient00003/study1/view1_frontal.jpg", "Male", 41, "Frontal", "AP",
     ["", "", "", "", "", "1.0", "", "", "", "0.0", "", "", "", "-1.0"]),
    ("train/patient00004/study1/view1_frontal.jpg", "Female", 20, "Frontal", "PA",
     ["1.0", "0.0", "", "", "", "", "0.0", "", "", "", "0.0", "", "", ""]),
    ("train/patient00004/study1/view2_lateral.jpg", "Female", 20, "Lateral", "",
     ["1.0", "0.0", "", "", "", "", "0.0", "", "", "", "0.0", "", "", ""]),
    ("train/patient00005/study1/view1_frontal.jpg", "Male", 33, "Frontal", "PA",
     ["", "", "", "", "1.0", "", "", "", "", "-1.0", "1.0", "1.0", "", "1.0"]),
]
# valid.csv holds only 0/1 (radiologist consensus), no blanks, no -1.
CHEXPERT_VALID_ROWS = [
    ("valid/patient64541/study1/view1_frontal.jpg", "Male", 73, "Frontal", "AP",
     ["0.0", "1.0", "1.0", "1.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "1.0"]),
    ("valid/patient64542/study1/view1_frontal.jpg", "Male", 70, "Frontal", "PA",
     ["0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "1.0", "0.0", "0.0", "1.0"]),
    ("valid/patient64542/study1/view2_lateral.jpg", "Male", 70, "Lateral", "",
     ["0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.0", "1.0", "0.0", "0.0", "1.0"]),
]


def write_image(path: str | os.PathLike, array: np.ndarray, fmt: str | None = None) -> Path:
    """Write a 2D uint8/uint16 array as an image (format from the suffix unless ``fmt``)."""
    from PIL import Image

    path = Path(path)
    fmt = fmt or {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}[path.suffix.lower()]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return path


def _pattern(seed: int, size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = 60 + 120 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (size * 2.0))
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def write_chexpert(root: str | os.PathLike, *, folder: str = "CheXpert-v1.0-small",
                   header: str = CHEXPERT_HEADER, skip_images: Sequence[str] = (),
                   train_rows=CHEXPERT_TRAIN_ROWS, valid_rows=CHEXPERT_VALID_ROWS) -> Path:
    """Write a tiny CheXpert folder under ``root``; returns ``root/folder`` (holds the CSVs).

    ``Path`` values always start with ``CheXpert-v1.0-small/`` as in Stanford's CSVs, even
    when ``folder`` is another name (a renamed download). Images listed in ``skip_images``
    (paths after the dataset folder) are left out, to test missing-file handling.
    """
    dataset = Path(root) / folder
    columns = header.split(",")
    for name, rows in (("train.csv", train_rows), ("valid.csv", valid_rows)):
        lines = [header]
        for k, (rel, sex, age, view, ap_pa, labels) in enumerate(rows):
            full = dict(zip(columns, [f"CheXpert-v1.0-small/{rel}", sex, str(age), view, ap_pa, *labels]))
            lines.append(",".join(full.get(c, "") for c in columns))
            if rel not in skip_images:
                write_image(dataset / rel, _pattern(k))
        write_text(dataset / name, "\n".join(lines) + "\n")
    return dataset


# Private "CSV + images" set: (file, patient, label, date). P03 is imaged before and after
# the 2020-06-30 cutoff; P07 only after.
CSV_ROWS = [
    ("img/a001.png", "P01", 0, "2020-03-02"),
    ("img/a002.png", "P01", 0, "2020-03-20"),
    ("img/a003.png", "P02", 1, "2020-04-11"),
    ("img/a004.png", "P03", 0, "2020-05-05"),
    ("img/a005.png", "P03", 1, "2020-07-14"),
    ("img/a006.png", "P04", 0, "2020-05-30"),
    ("img/a007.png", "P05", 1, "2020-06-29"),
    ("img/a008.png", "P06", 0, "2020-06-30"),
    ("img/a009.png", "P07", 1, "2020-08-01"),
    ("img/a010.png", "P08", 0, "2020-09-15"),
    ("img/a011.png", "P08", 0, "2020-09-20"),
    ("img/a012.png", "P09", 0, "2020-02-01"),
    ("img/a013.png", "P10", 0, "2020-01-15"),
    ("img/a014.png", "P11", 1, "2020-06-01"),
]


def write_csv_images(root: str | os.PathLike, rows=CSV_ROWS, *,
                     columns=("image_path", "patient_id", "covid", "study_date"),
                     skip_images: Sequence[str] = (), sixteen_bit: bool = False) -> Path:
    """Write ``root/labels.csv`` and ``root/<image files>``; returns the CSV path."""
    root = Path(root)
    lines = [",".join(columns)]
    for k, (rel, patient, label, date) in enumerate(rows):
        lines.append(f"{rel},{patient},{label},{date}")
        if rel not in skip_images:
            img = _pattern(100 + k, 20)
            write_image(root / rel, img.astype(np.uint16) * 257 if sixteen_bit else img)
    return write_text(root / "labels.csv", "\n".join(lines) + "\n")


def write_medmnist_npz(path: str | os.PathLike, sizes=(12, 4, 6), *, shape=(28, 28), rgb: bool = False,
                       n_labels: int = 1, drop_keys: Sequence[str] = (), seed: int = 0) -> Path:
    """An ``.npz`` in MedMNIST's format: uint8 images (N, H, W[, 3]) and labels (N, n_labels)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), sizes):
        image_shape = (n, *shape, 3) if rgb else (n, *shape)
        arrays[f"{split}_images"] = rng.integers(0, 256, image_shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, n_labels)).astype(np.uint8)
    for key in drop_keys:
        arrays.pop(key)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    return Path(path)
