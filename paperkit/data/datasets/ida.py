"""ADNI and PPMI as downloaded from the LONI Image & Data Archive (IDA).

Layout (IDA "Download" of an image collection, as unzipped; described in the ADNI and PPMI
data-access guides at adni.loni.usc.edu and ppmi-info.org and seen in public code that
reads these downloads)::

    <root>/ADNI/002_S_0295/MPRAGE/2006-04-18_08_20_30.0/I13722/
        ADNI_002_S_0295_MR_MPRAGE_br_raw_20060418193713091_1_S13408_I13722.nii   # NIfTI download
    <root>/ADNI/002_S_0295/MPRAGE/2006-04-18_08_20_30.0/I13722/
        ADNI_002_S_0295_MR_MPRAGE_br_raw_20060418193713091_<slice>_S13408_I13722.dcm  # DICOM ("as archived")
    <root>/PPMI/3102/MPRAGE_GRAPPA/2011-02-04_16_59_57.0/I376542/PPMI_3102_MR_..._S117504_I376542.dcm
    <root>/<collection>_<M_DD_YYYY>.csv                                            # the collection CSV

i.e. ``<project>/<Subject>/<Description>/<acquisition date>/<Image Data ID>/`` holding one
NIfTI file (``.nii`` / ``.nii.gz``; an Analyze ``.hdr`` is read too) or the DICOM files of
one series. Older downloads name the last folder by the series id (``S13408``); the image
id then comes from the file name's ``_I<digits>`` suffix.

The collection CSV (IDA "CSV" button on the collection page) has the columns
``Image Data ID, Subject, Group, Sex, Age, Visit, Modality, Description, Type, Acq Date,
Format, Downloaded``. ``Image Data ID`` is ``I13722`` (older exports: ``13722``),
``Group`` is ``AD`` / ``CN`` / ``MCI`` / ``EMCI`` / ``LMCI`` / ``SMC`` in ADNI and ``PD`` /
``Control`` / ``Prodromal`` / ``SWEDD`` ... in PPMI.

**Matching images to rows is by Image Data ID** -- the I-number of the image folder or of
the file name (they must agree when both are present) -- never by subject or date, because
one subject has many images. The row's ``Subject`` must also be a folder on the image's
path. An image without a CSV row is a :class:`DataError`; a CSV row without an image on
disk (a partial download) is left out and recorded in :attr:`Cohort.excluded`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from paperkit.data.brain_mri import (
    BrainScan,
    Cohort,
    apply_unreadable_policy,
    parse_age,
    parse_sex,
    read_clinical_csv,
    rows_by_key,
)
from paperkit.data.io.errors import DataError

__all__ = ["ADNI_CLASSES", "IDA_COLUMNS", "PPMI_CLASSES", "find_ida_images", "load_adni", "load_ida", "load_ppmi"]

IDA_COLUMNS = ("Image Data ID", "Subject", "Group", "Sex", "Age", "Visit", "Modality", "Description",
               "Type", "Acq Date", "Format", "Downloaded")
# The columns a loader cannot work without; the others are kept when present.
_REQUIRED = ("Image Data ID", "Subject", "Group")
_USED = ("Subject", "Group", "Sex", "Age", "Visit", "Modality", "Acq Date")

# class name -> IDA Group values; the first class is the control (label 0).
ADNI_CLASSES: dict[str, tuple[str, ...]] = {"CN": ("CN",), "AD": ("AD",)}
PPMI_CLASSES: dict[str, tuple[str, ...]] = {"Control": ("Control",), "PD": ("PD",)}

_IMAGE_FOLDER = re.compile(r"^I(\d+)$", re.IGNORECASE)
_FILE_ID = re.compile(r"_I(\d+)(?:\.nii\.gz|\.nii|\.hdr|\.dcm)$", re.IGNORECASE)
_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".hdr")


def _image_id(text: str) -> str:
    """Canonical Image Data ID ``"I13722"`` from ``"I13722"``, ``"i13722"`` or ``"13722"``."""
    text = str(text).strip()
    digits = text[1:] if text[:1] in "Ii" else text
    if not digits.isdigit():
        raise ValueError("is not an I-number (expected e.g. I13722)")
    return f"I{int(digits)}"


def _id_of(path: Path, files: Sequence[Path]) -> str:
    """The Image Data ID of an image (``path`` = NIfTI file or DICOM folder) from its names."""
    folder = path if path.is_dir() else path.parent
    from_folder = _IMAGE_FOLDER.match(folder.name)
    from_files = {m.group(1) for f in files if (m := _FILE_ID.search(f.name))}
    if len(from_files) > 1:
        raise DataError(f"{path}: files carry different Image Data IDs {sorted('I' + i for i in from_files)}; "
                        "expected one image (one I-number) per folder")
    ids = ({f"I{int(from_folder.group(1))}"} if from_folder else set()) | {f"I{int(i)}" for i in from_files}
    if len(ids) > 1:
        raise DataError(f"{path}: folder name and file names give different Image Data IDs {sorted(ids)}")
    if not ids:
        raise DataError(f"{path}: no Image Data ID found; expected an image folder named I<digits> or file "
                        "names ending in _I<digits> (the IDA download layout)")
    return ids.pop()


def find_ida_images(root: str | os.PathLike) -> dict[str, Path]:
    """``{Image Data ID: path}`` of every image below ``root`` (NIfTI/Analyze file or DICOM folder).

    Hidden files and folders are skipped. Two images with the same id (e.g. the NIfTI and the
    DICOM download of one image side by side) are a :class:`DataError` naming both.
    """
    root = Path(os.path.abspath(os.fspath(root)))
    found: dict[str, Path] = {}

    def add(image_id: str, path: Path) -> None:
        if image_id in found:
            raise DataError(f"{path}: Image Data ID {image_id} also found at {found[image_id]}; "
                            "expected each image once (keep either the NIfTI or the DICOM download)")
        found[image_id] = path

    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        names = sorted(f for f in files if not f.startswith("."))
        dicoms = [here / f for f in names if f.lower().endswith(".dcm")]
        if dicoms:
            add(_id_of(here, dicoms), here)
        for f in names:
            if f.lower().endswith(_VOLUME_SUFFIXES):
                add(_id_of(here / f, [here / f]), here / f)
    return found


def _find_csv(root: Path) -> list[Path]:
    """IDA collection CSVs directly in ``root``: the ``*.csv`` files with an Image Data ID column."""
    hits = []
    for p in sorted(root.glob("*.csv")):
        try:
            header = p.open(encoding="utf-8-sig", errors="replace").readline()
        except OSError:
            continue
        if "image data id" in header.lower():
            hits.append(p)
    return hits


def load_ida(
    root: str | os.PathLike,
    *,
    classes: Mapping[str, Sequence[str]],
    dataset: str,
    csv_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    modality: str | None = "MRI",
    view: str = "sagittal",
    on_unreadable: str | None = None,
    cache=None,
) -> Cohort:
    """Every image of an IDA download in ``root`` whose CSV group is in ``classes``.

    Layout and matching: module docstring. ``classes`` maps class name -> IDA ``Group``
    values (case-insensitive), control class first (label 0). ``csv_path`` is the
    collection CSV (or several, e.g. one per download); by default the CSV(s) in ``root``
    with an ``Image Data ID`` column. Rows whose ``Modality`` differs from ``modality``
    (when the column exists and ``modality`` is not None) or whose group is in no class are
    left out and listed in :attr:`Cohort.excluded`; so are rows without an image on disk.
    Records are sorted by subject, then acquisition, then image id. ``on_unreadable`` /
    ``cache``: see :func:`paperkit.data.brain_mri.load_brain_mri`.
    """
    root = Path(os.path.abspath(os.fspath(root)))
    if not root.is_dir():
        raise DataError(f"{root}: {dataset} folder not found; expected an IDA download (<root>/{dataset.upper()}/"
                        "<Subject>/<Description>/<date>/<Image Data ID>/ and the collection CSV)")
    group_to_label = _group_labels(classes)
    class_names = list(classes)
    csvs = _collection_csvs(root, csv_path)
    rows = _csv_rows(csvs)
    images = find_ida_images(root)
    records: list[BrainScan] = []
    excluded: list[tuple[str, str]] = []
    for image_id, path in images.items():
        csv, row = _row_of(image_id, path, root, rows, csvs)
        if modality is not None and row.get("Modality", "") and row["Modality"].lower() != modality.lower():
            excluded.append((image_id, f"modality {row['Modality']} is not {modality}"))
            continue
        group = row["Group"]
        label = group_to_label.get(group.lower())
        if label is None:
            excluded.append((image_id, f"group {group or '(empty)'} not in classes"))
            continue
        records.append(BrainScan(
            subject=row["Subject"], session=row.get("Visit", "") or row.get("Acq Date", ""), scan_id=image_id,
            path=path, label=label, label_name=class_names[label], age=parse_age(row.get("Age", "")),
            sex=parse_sex(row.get("Sex", "")), clinical=dict(row)))
    excluded += [(image_id, "no image on disk") for image_id in sorted(set(rows) - set(images), key=_id_number)]
    records.sort(key=lambda r: (r.subject, str(r.clinical.get("Acq Date", "")), _id_number(r.scan_id)))
    source = csvs[0] if len(csvs) == 1 else None
    cohort = Cohort(records, dataset=dataset, class_names=class_names, view=view, source=source, excluded=excluded)
    return apply_unreadable_policy(cohort, on_unreadable, cache)


def _group_labels(classes: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Lower-cased IDA ``Group`` value -> class label (the position of its class in ``classes``)."""
    if not classes or len(classes) < 2:
        raise ValueError(f"classes={classes!r}: expected at least two classes, e.g. {dict(ADNI_CLASSES)}")
    group_to_label = {}
    for label, (name, groups) in enumerate(classes.items()):
        for g in ([groups] if isinstance(groups, str) else groups):
            if str(g).strip().lower() in group_to_label:
                raise ValueError(f"classes: group {g!r} is listed in two classes")
            group_to_label[str(g).strip().lower()] = label
    return group_to_label


def _collection_csvs(root: Path, csv_path) -> list[Path]:
    """The collection CSV(s): ``csv_path`` (one or several), else the ones in ``root``."""
    if csv_path is not None:
        return [Path(csv_path)] if isinstance(csv_path, (str, os.PathLike)) else [Path(p) for p in csv_path]
    csvs = _find_csv(root)
    if not csvs:
        raise DataError(f"{root}: no IDA collection CSV (a *.csv with an 'Image Data ID' column) in this "
                        "folder; download it from the collection page or pass csv_path=")
    return csvs


def _csv_rows(csvs: Sequence[Path]) -> dict[str, tuple[Path, dict]]:
    """Image Data ID -> (its CSV, its row), over all CSVs.

    Rows of one image (within a CSV or across CSVs) must agree on the columns the loader
    uses (:data:`_USED`), else :class:`DataError`; agreeing duplicates are counted in a warning.
    """
    rows: dict[str, tuple[Path, dict]] = {}
    for csv in csvs:
        table = read_clinical_csv(csv, _REQUIRED, f"IDA collection CSV (columns {', '.join(IDA_COLUMNS)})")
        for image_id, row in rows_by_key(table, "Image Data ID", _used(table), csv, normalize=_image_id).items():
            if image_id in rows:
                first_csv, first = rows[image_id]
                differ = [c for c in _used(table) if str(first.get(c, "")) != str(row.get(c, ""))]
                if differ:
                    raise DataError(f"{csv}: Image Data ID {image_id} disagrees with its row in {first_csv} on "
                                    + ", ".join(f"{c} {first.get(c, '')!r} vs {row.get(c, '')!r}" for c in differ)
                                    + "; expected one description per image")
                continue
            rows[image_id] = (csv, row)
    return rows


def _used(table) -> list[str]:
    """The columns whose values the loader reads (labels, subject, identity): duplicates must agree on them."""
    return [c for c in _USED if c in table.columns]


def _row_of(image_id: str, path: Path, root: Path, rows: Mapping[str, tuple[Path, dict]],
            csvs: Sequence[Path]) -> tuple[Path, dict]:
    """The CSV row of a downloaded image, checked to name a subject folder on the image's path."""
    if image_id not in rows:
        raise DataError(f"{path}: image {image_id} has no row in the collection CSV "
                        f"({', '.join(str(c) for c in csvs)}); expected every downloaded image to be listed")
    csv, row = rows[image_id]
    if row["Subject"] not in path.relative_to(root).parts:
        raise DataError(f"{path}: the CSV ({csv}) gives image {image_id} to subject {row['Subject']!r}, but no "
                        "folder on its path is named so; expected <Subject>/<Description>/<date>/<Image Data ID>")
    return csv, row


def _id_number(image_id: str) -> int:
    return int(image_id[1:])


def load_adni(root: str | os.PathLike, *, classes: Mapping[str, Sequence[str]] = ADNI_CLASSES,
              csv_path=None, modality: str | None = "MRI", view: str = "sagittal", on_unreadable: str | None = None,
              cache=None) -> Cohort:
    """ADNI from an IDA download (module docstring): AD vs CN by default (``classes`` maps
    class names to IDA groups, control first, e.g. ``{"CN": ["CN"], "AD": ["AD", "LMCI"]}``).
    The paper sliced ADNI sagittally (Table 1)."""
    return load_ida(root, classes=classes, dataset="adni", csv_path=csv_path, modality=modality, view=view,
                    on_unreadable=on_unreadable, cache=cache)


def load_ppmi(root: str | os.PathLike, *, classes: Mapping[str, Sequence[str]] = PPMI_CLASSES,
              csv_path=None, modality: str | None = "MRI", view: str = "sagittal", on_unreadable: str | None = None,
              cache=None) -> Cohort:
    """PPMI from an IDA download (module docstring): PD vs Control by default. The paper
    sliced PPMI sagittally (Table 1)."""
    return load_ida(root, classes=classes, dataset="ppmi", csv_path=csv_path, modality=modality, view=view,
                    on_unreadable=on_unreadable, cache=cache)
