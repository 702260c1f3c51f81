"""CheXpert as Stanford ships it: ``train.csv`` / ``valid.csv`` plus per-study images.

Layout (documented by Irvin et al., AAAI 2019, and the CheXpert download page; checked
against the header of the public ``CheXpert-v1.0-small`` CSVs)::

    CheXpert-v1.0-small/                     <- the dataset folder (holds the CSVs)
    ├── train.csv
    ├── valid.csv
    ├── train/patient00001/study1/view1_frontal.jpg
    └── valid/patient64541/study1/view1_frontal.jpg

The CSV columns are ``Path, Sex, Age, Frontal/Lateral, AP/PA`` and the 14 observations
:data:`CHEXPERT_LABELS`. ``Path`` starts with the dataset folder's name, e.g.
``CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg``, so it is relative to
the folder that *holds* the dataset folder. Label values are ``1.0`` (positive), ``0.0``
(negative), ``-1.0`` (uncertain) or blank (not mentioned); ``valid.csv`` has only 0/1.

Peng et al. (2022, §2.3) use the 13 observations :data:`PAPER_LABELS` (all but
``Support Devices``), map uncertain labels to 0 (U-Zeros, Irvin et al.) and blanks to 0,
and split the official train set at random into train / validation / test of 160,858 /
17,875 / 44,684 images (:data:`PAPER_SPLIT_SIZES`); :func:`split_patients` does this by
patient.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from paperkit.data.datasets.csv_images import check_image_table, drop_missing_images
from paperkit.data.io.errors import DataError
from paperkit.data.io.text import read_csv_table
from paperkit.data.splits import Split, subject_split

META_COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA")
CHEXPERT_LABELS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)
"""The 14 observation columns, in the order of Stanford's CSV."""
CHEXPERT_COLUMNS = META_COLUMNS + CHEXPERT_LABELS
"""All 19 columns of ``train.csv`` / ``valid.csv``, in order."""
PAPER_LABELS = tuple(label for label in CHEXPERT_LABELS if label != "Support Devices")
"""The 13 labels of Peng et al. (Support Devices left out)."""
PAPER_SPLIT_SIZES = {"train": 160_858, "val": 17_875, "test": 44_684}
"""Images per split in Peng et al. §2.3 (a random split of the official train set)."""
PAPER_SPLIT_FRACTIONS = tuple(n / sum(PAPER_SPLIT_SIZES.values()) for n in PAPER_SPLIT_SIZES.values())
"""About (0.72, 0.08, 0.20): :data:`PAPER_SPLIT_SIZES` as fractions."""
DATASET_FOLDERS = ("CheXpert-v1.0-small", "CheXpert-v1.0")
SPLIT_FOLDERS = ("train", "valid", "test")
UNCERTAIN_POLICIES = {"zeros": 0.0, "ones": 1.0}

_PATIENT = re.compile(r"(?:^|/)(patient\d+)(?:/|$)")
_STUDY = re.compile(r"(?:^|/)(study\d+)(?:/|$)")


def find_csv(root: str | os.PathLike, split: str = "train") -> Path:
    """The ``<split>.csv`` for ``root``: the dataset folder itself, or the folder holding it.

    ``root`` may be the folder holding ``train.csv`` (``.../CheXpert-v1.0-small``) or its
    parent. In the parent, a sub-folder named like a CheXpert release
    (:data:`DATASET_FOLDERS`) is preferred, else the only sub-folder holding the CSV.
    """
    if split not in ("train", "valid"):
        raise ValueError(f"split={split!r}: expected 'train' or 'valid'")
    root = Path(os.path.abspath(os.fspath(root)))
    if not root.is_dir():
        raise DataError(f"{root}: CheXpert root folder not found")
    name = f"{split}.csv"
    if (root / name).is_file():
        return root / name
    for folder in DATASET_FOLDERS:
        if (root / folder / name).is_file():
            return root / folder / name
    found = sorted(p / name for p in root.iterdir() if p.is_dir() and (p / name).is_file())
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(f"{root}: several folders hold {name} ({', '.join(str(f.parent.name) for f in found)}); "
                        "pass the one to use as root")
    raise DataError(f"{root}: no {name} here or in a sub-folder; expected root to be the CheXpert "
                    f"folder holding train.csv/valid.csv (e.g. .../CheXpert-v1.0-small) or its parent")


def resolve_image_path(csv_dir: Path, rel: str) -> Path:
    """Absolute path of a CSV ``Path`` value.

    ``Path`` begins with the dataset folder name (``CheXpert-v1.0-small/train/...``), so it
    is resolved against ``csv_dir``'s parent, with that first component replaced by the
    actual folder name -- which keeps working when the folder was renamed (e.g. unpacked
    as ``archive/``). A ``Path`` that starts directly with ``train/`` or ``valid/`` (some
    re-packagings) is resolved against ``csv_dir``.
    """
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if parts and parts[0] in SPLIT_FOLDERS:
        return csv_dir.joinpath(*parts)
    return csv_dir.joinpath(*parts[1:])


def patient_of(path: str) -> str:
    """The ``patientNNNNN`` component of a CheXpert path; ``DataError`` if there is none."""
    m = _PATIENT.search(path.replace("\\", "/"))
    if not m:
        raise DataError(f"{path}: no 'patientNNNNN' folder in this CheXpert path")
    return m.group(1)


def _label_values(raw: pd.Series, paths: pd.Series, csv_path: Path, column: str,
                  uncertain: float) -> np.ndarray:
    text = raw.str.strip()
    values = pd.to_numeric(text.where(text != "", "0"), errors="coerce")
    bad = values.isna() | ~values.isin([-1, 0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{csv_path}: column {column!r} must hold 1, 0, -1 or blank; found {raw.iloc[row]!r} "
            f"at data row {raw.index[row] + 1} (Path {paths.iloc[row]}; {int(bad.sum())} bad row(s))")
    out = np.array(values, dtype=np.float64)  # a writable copy
    out[out == -1] = uncertain
    return out


def load_chexpert(
    root: str | os.PathLike,
    split: str = "train",
    *,
    labels: Sequence[str] = PAPER_LABELS,
    uncertain: str = "zeros",
    frontal_only: bool = False,
    missing: str = "error",
    check_files: bool = True,
) -> pd.DataFrame:
    """Read CheXpert's ``train.csv`` or ``valid.csv`` into an image table.

    Layout: see the module docstring (Irvin et al. 2019; Stanford's CheXpert download).
    ``root`` is the folder holding the CSVs (``.../CheXpert-v1.0-small``) or its parent
    (:func:`find_csv`); image paths are resolved by :func:`resolve_image_path`.

    ``labels`` (default: the paper's 13, without ``Support Devices``) become float 0/1
    columns: blank -> 0, uncertain ``-1`` -> 0 with ``uncertain="zeros"`` (U-Zeros, as in
    the paper) or 1 with ``"ones"``. ``frontal_only`` keeps rows whose ``Frontal/Lateral``
    is ``Frontal``. The table has ``path``, ``patient`` (``patientNNNNN`` from the path),
    ``study``, the labels, then ``sex``, ``age``, ``view`` (Frontal/Lateral) and ``ap_pa``.

    Errors (``DataError``): a missing CSV column names the CSV and the column; a label
    value other than 1/0/-1/blank names the column and row; with ``check_files`` an image
    that does not exist is an error naming it, unless ``missing="skip"``, which drops such
    rows with a warning listing them and keeps the list in ``table.attrs["missing_images"]``.
    """
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain={uncertain!r}: expected one of {sorted(UNCERTAIN_POLICIES)}")
    labels = list(labels)
    unknown = [label for label in labels if label not in CHEXPERT_LABELS]
    if unknown:
        raise ValueError(f"labels: unknown CheXpert label(s) {unknown}; expected some of {list(CHEXPERT_LABELS)}")
    csv_path = find_csv(root, split)
    raw = read_csv_table(csv_path, "a CheXpert label CSV", dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    for column in (*META_COLUMNS, *labels):
        if column not in raw.columns:
            raise DataError(f"{csv_path}: missing column {column!r}; expected Stanford's header "
                            f"{', '.join(CHEXPERT_COLUMNS)}")
    if frontal_only:  # the index keeps the CSV's data-row numbers for error messages
        raw = raw[raw["Frontal/Lateral"].str.strip().str.lower() == "frontal"]

    csv_dir = csv_path.parent
    rel = raw["Path"].str.strip()
    table = pd.DataFrame({
        "path": [str(resolve_image_path(csv_dir, p)) for p in rel],
        "patient": [patient_of(p) for p in rel],
        "study": [(m.group(1) if (m := _STUDY.search(p)) else "") for p in rel],
    }, index=raw.index)
    fill = UNCERTAIN_POLICIES[uncertain]
    for label in labels:
        table[label] = _label_values(raw[label], rel, csv_path, label, fill)
    table["sex"] = raw["Sex"].str.strip()
    table["age"] = pd.to_numeric(raw["Age"], errors="coerce")
    table["view"] = raw["Frontal/Lateral"].str.strip()
    table["ap_pa"] = raw["AP/PA"].str.strip()
    table["csv_path"] = rel
    table = table.reset_index(drop=True)
    check_image_table(table, labels, what=str(csv_path))
    if check_files:
        table = drop_missing_images(table, source=str(csv_path), missing=missing,
                                    shown_column="csv_path")
    table.attrs["csv"] = str(csv_path)
    return table


def split_patients(
    table: pd.DataFrame,
    fractions: Sequence[float] = PAPER_SPLIT_FRACTIONS,
    seed: int = 0,
    *,
    names: Sequence[str] = ("train", "val", "test"),
) -> Split:
    """Random patient-level split, by default the paper's ~72/8/20 % of the official train set.

    Peng et al. split CheXpert's train set at random into 160,858 / 17,875 / 44,684
    images; they do not say whether by image or by patient. Here whole patients are
    assigned (:func:`paperkit.data.splits.subject_split`, shuffled with ``seed``), so image
    counts match the fractions only approximately, and no patient is in two splits
    (checked by :class:`~paperkit.data.splits.Split`). Returns a ``Split`` ``{name: table}``.
    """
    check_image_table(table, what="split_patients table")
    parts = subject_split(table["patient"].tolist(), fractions, seed=seed, names=tuple(names))
    splits = {name: table.iloc[rows] for name, rows in parts.items()}
    return Split(splits, subject="patient", source=f"random by patient, seed {seed}")
