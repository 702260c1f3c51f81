"""Labelled 2D images listed in a table: the in-memory form every 2D loader returns.

The image table (``ImageTable``)
-------------------------------
Every 2D classification loader (:func:`load_csv_images`, ``chexpert.load_chexpert``,
``synthetic_cxr`` through ``load_chexpert``) returns a plain :class:`pandas.DataFrame`
with one row per image and these columns:

============  ===========================================================================
column        meaning
============  ===========================================================================
``path``      absolute path of the image file (``str``)
``patient``   patient id (``str``); every split is made by this column
label columns one ``float`` column per label, values 0.0 or 1.0 (never missing)
``date``      optional, ``datetime64[ns]``: acquisition date (prospective splits)
============  ===========================================================================

Other columns (sex, age, view, ...) may follow; they are carried along untouched.
:func:`check_image_table` verifies the convention and is called by the functions below, so
a hand-made table gets the same clear errors as a loaded one. The row index is kept from
the source table so rows can be traced back to the CSV; splits return the rows in their
original order.

:class:`ImageLabelDataset` turns such a table into a ``torch`` dataset of
``(image C x H x W float32 in [0, 1], label vector float32)``.

Private CSV sets
----------------
:func:`load_csv_images` reads a generic "CSV + image folder" set, like the paper's private
COVID-19 chest X-rays (one row per image, a path, a patient id, labels and a date);
:func:`prospective_split` splits it by date as the paper does, and :func:`imbalance_table`
reports positives, negatives and the ``1:x`` imbalance ratio per split.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from paperkit.data.io.errors import DataError, SubjectLeakError
from paperkit.data.io.readers import read_image
from paperkit.data.io.text import read_csv_table
from paperkit.data.splits import Split, subject_split

ImageTable = pd.DataFrame
"""Alias documenting the DataFrame convention above (``path``, ``patient``, labels, ``date``)."""

REQUIRED_COLUMNS = ("path", "patient")
_SHOWN = 5


# --------------------------------------------------------------------------- the table


def check_image_table(table: pd.DataFrame, label_columns: Sequence[str] = (), *,
                      what: str = "image table") -> None:
    """Raise ``DataError`` unless ``table`` follows the image-table convention.

    Checks that ``path`` and ``patient`` exist and are non-empty, that every label column
    exists and holds only 0/1 (no missing values), and that ``date`` (if present) is a
    datetime column. ``what`` names the table in messages (e.g. the CSV it came from).
    """
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{what}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in (*REQUIRED_COLUMNS, *label_columns) if c not in table.columns]
    if missing:
        raise DataError(
            f"{what}: missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)} plus the "
            f"label columns {list(label_columns)}; found {list(table.columns)}")
    for column in REQUIRED_COLUMNS:
        empty = table[column].isna() | (table[column].astype(str).str.strip() == "")
        if empty.any():
            raise DataError(f"{what}: column {column!r} is empty in {int(empty.sum())} row(s), "
                            f"first at index {table.index[empty.to_numpy()][0]!r}")
    for column in label_columns:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() | ~values.isin([0, 1])
        if bad.any():
            first = table.index[bad.to_numpy()][0]
            raise DataError(
                f"{what}: label column {column!r} must hold 0 or 1 in every row; found "
                f"{table[column].loc[first]!r} at index {first!r} ({int(bad.sum())} bad row(s))")
    if "date" in table.columns and not pd.api.types.is_datetime64_any_dtype(table["date"]):
        raise DataError(f"{what}: column 'date' must be datetime64, got {table['date'].dtype}")


def _missing_files(paths: Sequence[str]) -> np.ndarray:
    return np.array([not os.path.isfile(p) for p in paths], dtype=bool)


def drop_missing_images(table: pd.DataFrame, *, source: str, missing: str = "error",
                        shown_column: str = "path") -> pd.DataFrame:
    """Check that every ``table.path`` exists; ``missing`` says what to do when not.

    ``"error"`` raises ``DataError`` naming ``source`` and the first missing files;
    ``"skip"`` drops those rows, warns with their count and first paths, and records them
    in ``result.attrs["missing_images"]`` (a list of the ``shown_column`` values) -- never
    silently.
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing={missing!r}: expected 'error' or 'skip'")
    gone = _missing_files(table["path"].tolist())
    if not gone.any():
        table.attrs["missing_images"] = []
        return table
    listed = table.loc[gone, shown_column].astype(str).tolist()
    head = ", ".join(listed[:_SHOWN]) + (f" (and {len(listed) - _SHOWN} more)" if len(listed) > _SHOWN else "")
    if missing == "error":
        first = table.loc[gone, "path"].iloc[0]
        raise DataError(
            f"{first}: image listed in {source} does not exist ({len(listed)} of {len(table)} "
            f"images missing: {head}); pass missing='skip' to list and skip them")
    warnings.warn(f"{source}: skipped {len(listed)} of {len(table)} rows whose image does not "
                  f"exist: {head}", stacklevel=3)
    kept = table.loc[~gone].copy()
    kept.attrs["missing_images"] = listed
    return kept


# --------------------------------------------------------------------------- dataset


def _size_pair(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size={image_size!r}: expected a positive int or (height, width)")
    return size  # type: ignore[return-value]


def scale_to_unit(array: np.ndarray, *, original_mode: str | None = None) -> np.ndarray:
    """A 2D image as float32 in [0, 1].

    uint8 is divided by 255 and 16-bit data (dtype uint16 or a PIL ``I;16`` mode) by
    65535; other integer or float images are min-max scaled per image (a constant image
    becomes 0).
    """
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255)
    if array.dtype == np.uint16 or (original_mode or "").startswith("I;16"):
        return array.astype(np.float32) / np.float32(65535)
    a = array.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def resize_unit_image(array: np.ndarray, size: tuple[int, int], *,
                      original_mode: str | None = None) -> np.ndarray:
    """Resize a 2D image to ``size`` = (height, width) with PIL (bilinear, antialiased).

    8-bit images are resized in 8-bit (result uint8, the compact form kept in caches);
    everything else is first scaled to [0, 1] and resized as float32.
    """
    from PIL import Image

    h, w = size
    if array.dtype == np.uint8:
        if array.shape == (h, w):
            return array
        return np.asarray(Image.fromarray(array, mode="L").resize((w, h), Image.BILINEAR))
    unit = scale_to_unit(array, original_mode=original_mode)
    if unit.shape == (h, w):
        return unit
    return np.asarray(Image.fromarray(unit, mode="F").resize((w, h), Image.BILINEAR),
                      dtype=np.float32)


class ImageLabelDataset(Dataset):
    """A ``torch`` map-style dataset (``torch.utils.data.Dataset``) over an image table.

    ``dataset[i]`` is ``(image, labels)``: ``image`` a float32 tensor ``C x H x W`` with
    ``C = channels`` (1, or 3 by repeating the grey channel, for ImageNet backbones),
    ``(H, W) = image_size``, values in [0, 1] (see :func:`scale_to_unit`), then
    ``transform(image)`` if given (e.g. a ``torchvision.transforms.v2`` augmentation), then
    ``(image - mean) / std`` if ``normalize=(mean, std)`` (scalars or one value per channel);
    ``labels`` a float32 tensor of the row's ``label_columns``.

    Images are read with :func:`paperkit.data.io.readers.read_image` (grayscale; 16-bit kept).
    With ``cache=True`` each image is decoded and resized once and kept in memory for the
    life of the dataset (per worker process when a ``DataLoader`` uses ``num_workers > 0``).
    Memory: one byte per pixel for 8-bit sources (PNG/JPEG, e.g. CheXpert), four otherwise:
    ``len(table) * H * W`` bytes, e.g. 2,000 images at 128 x 128 = 33 MB, 10,000 at
    224 x 224 = 0.5 GB, the full CheXpert train set at 224 x 224 = 11 GB (too much: leave
    ``cache=False`` there). Cached and uncached reads give identical tensors.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        label_columns: Sequence[str],
        image_size: int | Sequence[int],
        channels: int = 1,
        transform: Callable[[Any], Any] | None = None,
        *,
        normalize: tuple[Any, Any] | None = None,
        cache: bool = False,
    ):
        import torch

        label_columns = list(label_columns)
        if not label_columns:
            raise ValueError("ImageLabelDataset: label_columns is empty; expected at least one")
        check_image_table(table, label_columns, what="ImageLabelDataset table")
        if channels not in (1, 3):
            raise ValueError(f"ImageLabelDataset: channels={channels!r}; expected 1 or 3")
        self.paths = table["path"].astype(str).tolist()
        self.labels = torch.from_numpy(np.array(table[label_columns], dtype=np.float32))
        self.label_columns = label_columns
        self.image_size = _size_pair(image_size)
        self.channels = channels
        self.transform = transform
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}
        self._norm = None
        if normalize is not None:
            mean, std = (torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1) for v in normalize)
            if (std <= 0).any():
                raise ValueError(f"ImageLabelDataset: normalize std must be > 0, got {normalize[1]!r}")
            self._norm = (mean, std)

    def __len__(self) -> int:
        return len(self.paths)

    def _decoded(self, index: int) -> np.ndarray:
        """The resized image (uint8 or float32 in [0, 1]), from the cache when enabled."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit
        volume = read_image(self.paths[index])
        array = volume.array
        if array.ndim != 2:
            raise DataError(f"{volume.path}: expected a 2D grayscale image, got shape {array.shape}")
        image = resize_unit_image(array, self.image_size, original_mode=volume.meta.get("original_mode"))
        if self.cache:
            self._cache[index] = image
        return image

    def __getitem__(self, index: int):
        import torch

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index = index % len(self)
        image = self._decoded(index)
        unit = image.astype(np.float32) / np.float32(255) if image.dtype == np.uint8 else image
        x = torch.from_numpy(np.ascontiguousarray(unit, dtype=np.float32))[None]
        if self.channels == 3:
            x = x.expand(3, -1, -1).clone()
        if self.transform is not None:
            x = self.transform(x)
        if self._norm is not None:
            x = (x - self._norm[0]) / self._norm[1]
        return x, self.labels[index].clone()


# --------------------------------------------------------------------------- CSV + images


def load_csv_images(
    csv_path: str | os.PathLike,
    image_root: str | os.PathLike,
    path_column: str = "path",
    label_columns: Sequence[str] = ("label",),
    patient_column: str = "patient_id",
    date_column: str | None = None,
    *,
    missing: str = "error",
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read a "CSV + image folder" data set into an image table (module docstring).

    This is the generic layout of private hospital exports such as the paper's COVID-19
    chest X-rays (Peng et al. 2022, §2.3; the data of Sun et al. 2021): one CSV row per
    image, with a path (relative to ``image_root``, or absolute), a patient id, one 0/1
    column per label and optionally an acquisition date. No public document fixes the
    column names, so they are parameters. Labels may be written ``0``/``1``, ``0.0``/``1.0``
    or ``true``/``false``; anything else, or a blank, is an error naming the row and column.
    Dates are parsed with :func:`pandas.to_datetime`: ``date_format`` if given, else ISO
    dates (``2020-06-30``), else pandas' per-value guess (month first); an unparseable or
    blank date is an error.

    The result has ``path`` (absolute), ``patient`` (str), the label columns (float 0/1),
    ``date`` when ``date_column`` is given, then the CSV's other columns. An image that
    does not exist raises ``DataError`` naming it; ``missing="skip"`` lists and skips such
    rows instead (see :func:`drop_missing_images`).
    """
    csv_path = Path(os.path.abspath(os.fspath(csv_path)))
    image_root = Path(os.path.abspath(os.fspath(image_root)))
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: CSV file not found")
    if not image_root.is_dir():
        raise DataError(f"{image_root}: image_root folder not found (for {csv_path})")
    raw = read_csv_table(csv_path, "a label CSV (one row per image)", dtype=str, keep_default_na=False)
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    wanted = [path_column, patient_column, *label_columns] + ([date_column] if date_column else [])
    for column in wanted:
        if column not in raw.columns:
            raise DataError(f"{csv_path}: missing column {column!r}; the CSV has columns "
                            f"{list(raw.columns)}")
    if len(raw) == 0:
        raise DataError(f"{csv_path}: has a header but no rows")

    out = pd.DataFrame(index=raw.index)
    out["path"] = [p if os.path.isabs(p) else os.path.normpath(image_root / p) for p in raw[path_column]]
    out["patient"] = raw[patient_column].str.strip()
    for column in (path_column, patient_column):
        blank = raw[column].str.strip() == ""
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise DataError(f"{csv_path}: column {column!r} is blank at data row {row + 1} "
                            f"({int(blank.sum())} blank row(s))")
    for column in label_columns:
        out[column] = _binary_column(raw[column], csv_path, column)
    if date_column:
        out["date"] = _date_column(raw[date_column], csv_path, date_column, date_format)
    for column in raw.columns:
        if column not in wanted and column not in out.columns:
            out[column] = raw[column]
    check_image_table(out, label_columns, what=str(csv_path))
    return drop_missing_images(out, source=str(csv_path), missing=missing)


_TRUE = {"1", "1.0", "true", "yes", "positive"}
_FALSE = {"0", "0.0", "false", "no", "negative"}


def _binary_column(values: pd.Series, csv_path: Path, column: str) -> pd.Series:
    text = values.str.strip().str.lower()
    result = pd.Series(np.nan, index=values.index, dtype=float)
    result[text.isin(_TRUE)] = 1.0
    result[text.isin(_FALSE)] = 0.0
    bad = result.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{csv_path}: label column {column!r} must hold 0/1 (or true/false); found "
            f"{values.iloc[row]!r} at data row {row + 1} ({int(bad.sum())} bad row(s))")
    return result


def _date_column(values: pd.Series, csv_path: Path, column: str, date_format: str | None) -> pd.Series:
    text = values.str.strip()
    if date_format is not None:
        parsed = pd.to_datetime(text, errors="coerce", format=date_format)
    else:
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if parsed.isna().any() and not (text[parsed.isna()] == "").all():
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{csv_path}: date column {column!r} has an unreadable or blank date "
                        f"{values.iloc[row]!r} at data row {row + 1} ({int(bad.sum())} bad row(s))")
    return parsed.astype("datetime64[ns]")


# --------------------------------------------------------------------------- splits


CROSSING_POLICIES = ("drop_test", "drop_train", "error")


def prospective_split(
    table: pd.DataFrame,
    cutoff_date,
    val_fraction: float = 0.2,
    seed: int = 0,
    *,
    crossing: str = "drop_test",
    stratify_by: str | None = None,
) -> Split:
    """The paper's prospective split: train/val before ``cutoff_date``, test on or after it.

    Peng et al. (§2.3) train and validate on X-rays dated before 30 June 2020 and test on
    those dated after. Here rows with ``date < cutoff_date`` form the development pool,
    split at *patient* level into train and val (``val_fraction`` of the patients, random
    with ``seed``, stratified by the 0/1 column ``stratify_by`` if given, via
    :func:`paperkit.data.splits.subject_split`); rows with ``date >= cutoff_date`` are test.

    A patient imaged both before and after the cutoff would put the same person in train
    and test. ``crossing`` decides (the paper does not say):

    * ``"drop_test"`` (default): keep the patient's earlier images for development and drop
      their images on/after the cutoff from test. Development data stay what was available
      at the cutoff, and the test set holds only patients the model has never seen --
      the question a prospective evaluation asks. The cost: returning patients are under-
      represented in test.
    * ``"drop_train"``: keep the test set complete and drop the patient's earlier images.
    * ``"error"``: raise ``SubjectLeakError`` naming the patients.

    Dropped rows are in ``result.dropped`` (with ``reason``) and a warning gives their count.
    Returns a :class:`~paperkit.data.splits.Split` ``{"train", "val", "test"}`` of tables, checked
    to share no patient; ``dropped`` holds the rows left out (empty when none).
    """
    if crossing not in CROSSING_POLICIES:
        raise ValueError(f"crossing={crossing!r}: expected one of {CROSSING_POLICIES}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r}: expected a number in (0, 1)")
    check_image_table(table, [stratify_by] if stratify_by else [], what="prospective_split table")
    if "date" not in table.columns:
        raise DataError("prospective_split table: no 'date' column; load the CSV with "
                        "date_column= the column holding acquisition dates")
    if table["date"].isna().any():
        first = table.index[table["date"].isna().to_numpy()][0]
        raise DataError(f"prospective_split table: 'date' is missing at index {first!r} "
                        f"({int(table['date'].isna().sum())} row(s))")
    cutoff = pd.Timestamp(cutoff_date)
    before = (table["date"] < cutoff).to_numpy()
    crossing_ids = set(table.loc[before, "patient"]) & set(table.loc[~before, "patient"])
    keep = np.ones(len(table), dtype=bool)
    dropped = []
    if crossing_ids:
        shown = ", ".join(map(repr, sorted(crossing_ids, key=str)[:10]))
        if crossing == "error":
            raise SubjectLeakError(
                f"prospective_split: {len(crossing_ids)} patient(s) have images both before and "
                f"on/after the cutoff {cutoff.date()}: {shown}; expected each patient on one side "
                "(use crossing='drop_test' or 'drop_train')")
        is_crossing = table["patient"].isin(crossing_ids).to_numpy()
        side = ~before if crossing == "drop_test" else before
        keep = ~(is_crossing & side)
        reason = (f"patient also imaged before the cutoff {cutoff.date()}" if crossing == "drop_test"
                  else f"patient also imaged on/after the cutoff {cutoff.date()}")
        dropped.append(table.loc[~keep].assign(reason=reason))
        warnings.warn(f"prospective_split: {len(crossing_ids)} patient(s) cross the cutoff "
                      f"{cutoff.date()} ({shown}); dropped their {int((~keep).sum())} "
                      f"{'later' if crossing == 'drop_test' else 'earlier'} image(s) "
                      f"(crossing={crossing!r})", stacklevel=2)
    dev = table.loc[before & keep]
    test = table.loc[~before & keep]
    if len(dev) == 0 or len(test) == 0:
        raise DataError(
            f"prospective_split: cutoff {cutoff.date()} leaves {len(dev)} development and "
            f"{len(test)} test image(s); dates span {table['date'].min().date()} to "
            f"{table['date'].max().date()}")
    parts = subject_split(
        dev["patient"].tolist(), (1 - val_fraction, val_fraction),
        labels=dev[stratify_by].tolist() if stratify_by else None, seed=seed, names=("train", "val"))
    splits = {"train": dev.iloc[parts["train"]], "val": dev.iloc[parts["val"]], "test": test}
    return Split(splits, subject="patient", source=f"prospective: before / on or after {cutoff.date()}",
                 dropped=pd.concat(dropped) if dropped else pd.DataFrame())


def format_ratio(positives: int, negatives: int) -> str:
    """``"1:x"`` negatives per positive, 3 significant digits (``"1:16.3"``, ``"1:2.94"``)."""
    if positives == 0:
        return "1:inf" if negatives else "n/a"
    x = negatives / positives
    return f"1:{x:.0f}" if x >= 1000 else f"1:{x:.3g}"


def imbalance_table(splits: Mapping[str, pd.DataFrame], label_columns: Sequence[str]) -> pd.DataFrame:
    """Positives, negatives and imbalance ratio per split and label.

    Returns one row per (split, label) with columns ``split``, ``label``, ``images``,
    ``patients``, ``positives``, ``negatives``, ``prevalence`` (positives / images) and
    ``ratio`` as the paper writes it (``"1:16.3"`` = 16.3 negatives per positive).
    """
    label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    rows = []
    for name, t in splits.items():
        check_image_table(t, label_columns, what=f"imbalance_table split {name!r}")
        for label in label_columns:
            pos = int((t[label] == 1).sum())
            neg = int(len(t) - pos)
            rows.append({"split": name, "label": label, "images": len(t),
                         "patients": int(t["patient"].nunique()), "positives": pos,
                         "negatives": neg, "prevalence": pos / len(t) if len(t) else float("nan"),
                         "ratio": format_ratio(pos, neg)})
    return pd.DataFrame(rows, columns=["split", "label", "images", "patients", "positives",
                                       "negatives", "prevalence", "ratio"])
