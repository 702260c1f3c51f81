"""Sunnybrook Cardiac Data (MICCAI 2009 LV segmentation challenge): images, contours, splits.

The data set (Radau et al., "Evaluation Framework for Algorithms Segmenting Short Axis
Cardiac MRI", MIDAS Journal 2009, http://hdl.handle.net/10380/3070; CC0 1.0) holds 45
cine SSFP short-axis studies, 256x256, 20 phases, with expert contours at end-diastole
and end-systole. A contour file ``IM-0001-NNNN-icontour-manual.txt`` is plain text, one
``x y`` float pixel pair per line (x = column, y = row, 0-based). ``i`` is the
endocardium (the LV blood pool, papillary muscles included), ``o`` the epicardium and
``p1``..``p3`` the papillary muscles. ``NNNN`` is the DICOM InstanceNumber of the image
it was drawn on, in that patient's short-axis cine series.

Layouts read by :func:`load_sunnybrook`
---------------------------------------
``"repackaged"`` -- the project's development sample (``$PAPERKIT_DATA/sunnybrook``,
described in ``book/data_guide.md``) and what :mod:`paperkit.data.synthetic.cine` writes::

    dicoms/SCD0000101/48.dcm                      # file name = InstanceNumber
    contourfiles/SC-HF-I-1/i-contours/IM-0001-0048-icontour-manual.txt
    contourfiles/SC-HF-I-1/o-contours/IM-0001-0059-ocontour-manual.txt
    link.csv                                      # patient_id,original_id

  Contour folders are named by the original id, image folders by ``patient_id``;
  ``link.csv`` joins them (without it, the two folder names must be equal). Contour files
  are found anywhere below the patient's contour folder. ``full_series/`` is ignored.

``"challenge"`` -- the original 2009 challenge release. The folder and file names below
were confirmed from public code that reads the release (sources at :data:`OFFICIAL_SPLIT`);
they are not documented by the organisers in any page we could find::

    challenge_training/SC-HF-I-1/IM-0004-0048.dcm           # IM-<series>-<image>.dcm,
    challenge_validation/SC-HF-I-5/...                       # several cine series per folder
    challenge_online/challenge_online/SC-HF-I-9/...          # (doubly nested when unzipped)
    Sunnybrook Cardiac MR Database ContoursPart3/TrainingDataContours/
        SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0048-icontour-manual.txt
    Sunnybrook Cardiac MR Database ContoursPart2/ValidationDataContours/SC-HF-I-05/...
    Sunnybrook Cardiac MR Database ContoursPart1/OnlineDataContours/SC-HF-I-9/...

  Image folders drop the zero padding of the contour folders (``SC-HF-I-1`` vs
  ``SC-HF-I-01``); ids are compared after :func:`canonical_patient_id`. The later
  re-release with ``Sunnybrook Cardiac MR Database DICOMPart<k>/<Set>DataDICOM/
  SC-HF-I-01/DICOM/IM-0001-0048.dcm`` image folders is read the same way. The contour's
  ``NNNN`` is the image number; the series number differs per patient and a patient
  folder holds several cine series sharing image numbers, so when more than one file has
  the InstanceNumber, :data:`CHALLENGE_SAX_SERIES` (or ``sax_series=``) picks the series.

``"cap"`` -- the Cardiac Atlas Project distribution (``book/data_guide.md``)::

    scd_patientdata.csv                          # PatientID,OriginalID,...
    SCD_DeidentifiedImages/SCD0000101/CINESAX_300/IM-0003-0048.dcm   (or SCD_IMAGES_0k/)
    SCD_ManualContours/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0048-icontour-manual.txt

Pairing is by the InstanceNumber read from each DICOM header, never by file order. When a
file name also carries the image number (``48.dcm``, ``IM-0004-0048.dcm``) it must agree
with the header, else :class:`DataError`. A contour whose image is missing is a
:class:`DataError` naming the contour file and where the image was expected.

Patient ids are the original ids in canonical, zero-padded form (``SC-HF-I-01``).
"""
from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from torch.utils.data import Dataset

from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import DICOM_SUFFIXES, read_dicom_image
from paperkit.data.splits import check_no_overlap, subject_split
from paperkit.metrics.contours import polygon_to_mask

__all__ = [
    "CHALLENGE_SAX_SERIES",
    "CONTOUR_KINDS",
    "OFFICIAL_SPLIT",
    "PatientSplit",
    "SegmentationSlices",
    "SunnybrookSample",
    "canonical_patient_id",
    "covering_crop_fraction",
    "detect_layout",
    "load_sunnybrook",
    "read_contour",
    "samples_table",
    "split_patients",
]

# The challenge's own patient lists: training / validation / online, 15 studies each.
# Sources. The challenge page (Radau et al., http://smial.sri.utoronto.ca/LV_Challenge/Data.html)
# says the 45 studies were "randomly divided into three groups" of 15 (training, testing =
# validation, online) but lists no ids; the Cardiac Atlas Project page
# (cardiacatlas.org/studies/sunnybrook-cardiac-data) gives the groups (12 HF-I, 12 HF, 12 HYP,
# 9 N), which these lists reproduce. The per-patient assignment is that of the release's own
# folders (ContoursPart3/TrainingDataContours, ContoursPart2/ValidationDataContours,
# ContoursPart1/OnlineDataContours, and challenge_training / _validation / _online), as read
# by several independent public programs: the per-set "challenge training / validation /
# online" SAX_SERIES tables of the Data Science Bowl 2015 Sunnybrook tutorials, a MATLAB
# reader that walks TrainingDataContours + challenge_training and ValidationDataContours +
# challenge_validation, scripts of a 2009 challenge entry listing its training and
# validation directories, and code reading OnlineDataContours/SC-HF-I-9 and /SC-HF-NI-14.
# They agree on every id. No organiser-published table was found: if you hold the release,
# split="official" reports which listed patients your folder holds (PatientSplit.missing) and
# load_sunnybrook records each contour's own set (SunnybrookSample.release_set).
OFFICIAL_SPLIT: dict[str, tuple[str, ...]] = {
    "training": (
        "SC-HF-I-01", "SC-HF-I-02", "SC-HF-I-04", "SC-HF-I-40",
        "SC-HF-NI-03", "SC-HF-NI-04", "SC-HF-NI-34", "SC-HF-NI-36",
        "SC-HYP-01", "SC-HYP-03", "SC-HYP-38", "SC-HYP-40",
        "SC-N-02", "SC-N-03", "SC-N-40",
    ),
    "validation": (
        "SC-HF-I-05", "SC-HF-I-06", "SC-HF-I-07", "SC-HF-I-08",
        "SC-HF-NI-07", "SC-HF-NI-11", "SC-HF-NI-31", "SC-HF-NI-33",
        "SC-HYP-06", "SC-HYP-07", "SC-HYP-08", "SC-HYP-37",
        "SC-N-05", "SC-N-06", "SC-N-07",
    ),
    "online": (
        "SC-HF-I-09", "SC-HF-I-10", "SC-HF-I-11", "SC-HF-I-12",
        "SC-HF-NI-12", "SC-HF-NI-13", "SC-HF-NI-14", "SC-HF-NI-15",
        "SC-HYP-09", "SC-HYP-10", "SC-HYP-11", "SC-HYP-12",
        "SC-N-09", "SC-N-10", "SC-N-11",
    ),
}

# The contoured short-axis cine series (the SSSS of IM-SSSS-NNNN.dcm) in each 2009
# challenge image folder, as used by the public readers cited above. Where those readers
# disagree both values are kept; only used to choose between files that share the
# contour's InstanceNumber.
CHALLENGE_SAX_SERIES: dict[str, tuple[str, ...]] = {
    "SC-HF-I-01": ("0004",), "SC-HF-I-02": ("0106",), "SC-HF-I-04": ("0116",),
    "SC-HF-I-40": ("0134",), "SC-HF-NI-03": ("0379",), "SC-HF-NI-04": ("0501",),
    "SC-HF-NI-34": ("0446",), "SC-HF-NI-36": ("0474",), "SC-HYP-01": ("0550",),
    "SC-HYP-03": ("0650",), "SC-HYP-38": ("0734",), "SC-HYP-40": ("0755",),
    "SC-N-02": ("0898",), "SC-N-03": ("0915",), "SC-N-40": ("0944",),
    "SC-HF-I-05": ("0156",), "SC-HF-I-06": ("0180",), "SC-HF-I-07": ("0209",),
    "SC-HF-I-08": ("0226",), "SC-HF-NI-07": ("0523",), "SC-HF-NI-11": ("0270",),
    "SC-HF-NI-31": ("0401",), "SC-HF-NI-33": ("0424",), "SC-HYP-06": ("0767",),
    "SC-HYP-07": ("0007",), "SC-HYP-08": ("0796",), "SC-HYP-37": ("0702",),
    "SC-N-05": ("0963",), "SC-N-06": ("0981", "0984"), "SC-N-07": ("1009",),
    "SC-HF-I-09": ("0241",), "SC-HF-I-10": ("0024",), "SC-HF-I-11": ("0043", "0047"),
    "SC-HF-I-12": ("0062",), "SC-HF-NI-12": ("0286",), "SC-HF-NI-13": ("0304",),
    "SC-HF-NI-14": ("0331",), "SC-HF-NI-15": ("0359",), "SC-HYP-09": ("0003",),
    "SC-HYP-10": ("0579",), "SC-HYP-11": ("0601", "0606"), "SC-HYP-12": ("0629",),
    "SC-N-09": ("1031",), "SC-N-10": ("0851",), "SC-N-11": ("0878",),
}

CONTOUR_KINDS = {"i": "endocardium (LV blood pool)", "o": "epicardium"}
LAYOUTS = ("auto", "repackaged", "challenge", "cap")

# Challenge folders: contour set folder -> set name; image folders that hold patient folders.
_CONTOUR_SETS = {
    "trainingdatacontours": "training",
    "validationdatacontours": "validation",
    "onlinedatacontours": "online",
}
_CHALLENGE_IMAGE_DIRS = {
    "challenge_training", "challenge_validation", "challenge_online",
    "trainingdatadicom", "validationdatadicom", "onlinedatadicom",
}
_SEARCH_DEPTH = 3  # how deep below root the challenge folders are looked for

_CONTOUR_NAME = re.compile(r"^IM-(\d{4})-(\d{4})-([a-z0-9]+)contour-manual\.txt$", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"^(\d+)$")
_IM_NAME = re.compile(r"^IM-(\d+)-(\d+)$", re.IGNORECASE)
_PATIENT_ID = re.compile(r"^(SC(?:-[A-Za-z]+)+)-(\d+)$", re.IGNORECASE)


# --------------------------------------------------------------------------- ids and contours


def canonical_patient_id(name: str) -> str:
    """Canonical original id: ``"SC-HF-I-1"`` and ``"sc-hf-i-01"`` -> ``"SC-HF-I-01"``.

    Sunnybrook ids are ``SC-<group>-<number>``; the contour release pads the number to two
    digits and the image folders do not. Other names are returned stripped, unchanged.
    """
    text = str(name).strip()
    match = _PATIENT_ID.match(text)
    if not match:
        return text
    return f"{match.group(1).upper()}-{int(match.group(2)):02d}"


def read_contour(path: str | Path) -> np.ndarray:
    """Read a Sunnybrook contour file into a float ``(N, 2)`` array of ``(x, y)`` pixels.

    The format (one ``x y`` pair per line, whitespace separated, x = column, y = row) is
    the challenge's, described in the module docstring. Blank lines are skipped. Raises
    :class:`DataError` naming the file and line for a malformed or non-finite line, and
    for a file with fewer than 3 points (not a polygon).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: expected a plain-text contour file of 'x y' lines, got binary data") from e
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError(f"{path}: line {number}: expected two numbers 'x y', got {line.strip()!r}")
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DataError(f"{path}: line {number}: expected two numbers 'x y', got {line.strip()!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise DataError(f"{path}: line {number}: expected finite coordinates, got {line.strip()!r}")
        points.append((x, y))
    if len(points) < 3:
        raise DataError(f"{path}: expected a closed contour of at least 3 'x y' lines, found {len(points)}")
    return np.asarray(points, dtype=float)


def _contour_number(path: Path, kind: str) -> int | None:
    """Image number NNNN of ``IM-0001-NNNN-<kind>contour-manual.txt``, else None."""
    match = _CONTOUR_NAME.match(path.name)
    if match and match.group(3).lower() == kind:
        return int(match.group(2))
    return None


def _name_number(path: Path) -> tuple[str | None, int | None]:
    """(series, image number) a file name encodes: ``48.dcm`` or ``IM-0004-0048.dcm``."""
    stem = path.stem
    match = _BARE_NUMBER.match(stem)
    if match:
        return None, int(match.group(1))
    match = _IM_NAME.match(stem)
    if match:
        return match.group(1), int(match.group(2))
    return None, None


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True, eq=False)
class SunnybrookSample:
    """One image with one manual contour.

    ``patient`` is the canonical original id (``SC-HF-I-01``; the folder name when no id
    link exists); ``source_id`` the image folder's own name (``SCD0000101``,
    ``SC-HF-I-1``). ``spacing`` is DICOM PixelSpacing ``(row, column)`` in mm -- pass
    :attr:`spacing_xy` to the contour metrics, which take ``(x, y)``. ``image`` is the
    stored array as read, ``mask`` the filled contour (``polygon_to_mask``), ``contour``
    the ``(N, 2)`` ``(x, y)`` points. ``release_set`` is the challenge set the contour
    came from (``"training"``/``"validation"``/``"online"``) when the layout says so.
    """

    patient: str
    source_id: str
    instance_number: int
    image_path: Path
    contour_path: Path
    contour_kind: str
    spacing: tuple[float, float]
    image: np.ndarray
    mask: np.ndarray
    contour: np.ndarray
    release_set: str | None = None

    @property
    def spacing_xy(self) -> tuple[float, float]:
        """Pixel size in mm as ``(x, y)`` = ``(column, row)``, the contour metrics' order."""
        return (self.spacing[1], self.spacing[0])

    def __repr__(self) -> str:
        return (f"SunnybrookSample({self.patient} #{self.instance_number}, {self.contour_kind}-contour, "
                f"image {self.image.shape}, spacing {self.spacing}, mask {int(self.mask.sum())} px)")


@dataclass
class _Patient:
    """What one layout knows about one patient before images are read."""

    patient: str
    source_id: str
    image_dir: Path
    contours: list[tuple[int, Path]]
    release_set: str | None = None
    series: tuple[str, ...] = ()
    expected: str = "IM-xxxx-{number:04d}.dcm"  # how an image file is named, for error messages


def load_sunnybrook(
    root: str | Path,
    *,
    contour: str = "i",
    layout: str = "auto",
    sax_series: Mapping[str, str | Sequence[str]] | None = None,
) -> list[SunnybrookSample]:
    """Every image of ``root`` that has a manual contour of kind ``contour``, as samples.

    ``contour`` is ``"i"`` (endocardium = LV blood pool) or ``"o"`` (epicardium).
    ``layout`` is ``"repackaged"``, ``"challenge"`` (the 2009 release), ``"cap"`` (Cardiac
    Atlas Project) or ``"auto"``; all three are documented in this module's docstring
    (also ``book/data_guide.md``). ``sax_series`` maps patient ids to the contoured series
    number(s), overriding :data:`CHALLENGE_SAX_SERIES` when files share an InstanceNumber.

    Images are paired with contours by the InstanceNumber in the DICOM header (file names
    that carry a number must agree with it). Returns samples sorted by patient, then
    InstanceNumber, each with the image, its PixelSpacing and the filled mask. Raises
    :class:`DataError` for a missing image (naming the contour and where the image was
    looked for), ambiguous or disagreeing files, or a folder that is no Sunnybrook layout.
    """
    root = Path(root).expanduser()
    if contour not in CONTOUR_KINDS:
        raise ValueError(f"contour={contour!r}: expected 'i' (endocardium) or 'o' (epicardium)")
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: expected one of {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: Sunnybrook folder not found")
    if layout == "auto":
        layout = detect_layout(root)
    collect = {"repackaged": _collect_repackaged, "challenge": _collect_challenge, "cap": _collect_cap}[layout]
    patients = collect(root, contour)
    overrides = {canonical_patient_id(k): (v,) if isinstance(v, str) else tuple(v)
                 for k, v in (sax_series or {}).items()}
    samples: list[SunnybrookSample] = []
    for patient in sorted(patients, key=lambda p: p.patient):
        if patient.patient in overrides:
            patient.series = overrides[patient.patient]
        samples.extend(_pair_patient(patient, contour))
    return samples


def detect_layout(root: str | Path) -> str:
    """Which layout ``root`` holds: ``"repackaged"``, ``"challenge"`` or ``"cap"``.

    Raises :class:`DataError` naming ``root`` and the folders each layout expects.
    """
    root = Path(root)
    if (root / "dicoms").is_dir() and (root / "contourfiles").is_dir():
        return "repackaged"
    if (root / "SCD_ManualContours").is_dir():
        return "cap"
    if _find_dirs(root, set(_CONTOUR_SETS)):
        return "challenge"
    raise DataError(
        f"{root}: not a Sunnybrook folder; expected dicoms/ + contourfiles/ (repackaged), "
        "SCD_ManualContours/ + SCD_DeidentifiedImages/ (Cardiac Atlas Project), or the 2009 "
        "challenge's *DataContours/ folders with challenge_training/ etc."
    )


def samples_table(samples: Sequence[SunnybrookSample]):
    """A pandas DataFrame with one row per sample (no arrays): ids, numbers, paths, spacing, mask area."""
    import pandas as pd

    return pd.DataFrame([
        {
            "patient": s.patient, "source_id": s.source_id, "instance_number": s.instance_number,
            "contour_kind": s.contour_kind, "release_set": s.release_set,
            "rows": s.image.shape[0], "columns": s.image.shape[1],
            "spacing_row_mm": s.spacing[0], "spacing_col_mm": s.spacing[1],
            "mask_pixels": int(s.mask.sum()), "image_path": str(s.image_path),
            "contour_path": str(s.contour_path),
        }
        for s in samples
    ])


# --------------------------------------------------------------------------- layouts


def _contours_below(folder: Path, kind: str) -> list[tuple[int, Path]]:
    """(image number, path) of every ``kind`` contour file below ``folder``, sorted."""
    found = []
    for path in folder.rglob("*contour-manual.txt"):
        number = _contour_number(path, kind)
        if number is not None and path.is_file():
            found.append((number, path))
    numbers = [n for n, _ in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        paths = [str(p) for n, p in found if n == duplicates[0]]
        raise DataError(f"{folder}: expected one {kind}-contour per image, image {duplicates[0]} has {len(paths)}: "
                        + ", ".join(paths))
    return sorted(found)


def _read_id_table(path: Path, key: str, value: str) -> dict[str, str]:
    """Two columns of a CSV table (``key`` -> ``value``); DataError naming the file if absent."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if key not in columns or value not in columns:
            raise DataError(f"{path}: expected columns {key!r} and {value!r}, found {columns}")
        table = {}
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if row.get(key) and row.get(value):
                table[row[key]] = row[value]
    return table


def _collect_repackaged(root: Path, kind: str) -> list[_Patient]:
    image_root, contour_root = root / "dicoms", root / "contourfiles"
    for folder in (image_root, contour_root):
        if not folder.is_dir():
            raise DataError(f"{root}: expected the repackaged layout's {folder.name}/ folder, not found")
    link = root / "link.csv"
    original_of = _read_id_table(link, "patient_id", "original_id") if link.is_file() else {}
    # canonical id of a contour folder -> image folder
    by_id: dict[str, Path] = {}
    for folder in (p for p in image_root.iterdir() if p.is_dir()):
        by_id[canonical_patient_id(folder.name)] = folder  # contour folder named like the image folder
        by_id[canonical_patient_id(original_of.get(folder.name, folder.name))] = folder
    patients = []
    for folder in sorted(p for p in contour_root.iterdir() if p.is_dir()):
        contours = _contours_below(folder, kind)
        if not contours:
            continue
        image_dir = by_id.get(canonical_patient_id(folder.name))
        if image_dir is None:
            how = f"listed in {link}" if original_of else f"named {folder.name} (no link.csv)"
            raise DataError(f"{folder}: no image folder for these contours; expected a folder in "
                            f"{image_root} {how}")
        pid = canonical_patient_id(original_of.get(image_dir.name, image_dir.name))
        patients.append(_Patient(pid, image_dir.name, image_dir, contours,
                                 expected=str(image_dir / "{number}.dcm")))
    return patients


def _find_dirs(root: Path, names: set[str], depth: int = _SEARCH_DEPTH) -> list[Path]:
    """Folders below ``root`` (up to ``depth`` levels) whose lower-cased name is in ``names``."""
    found, level = [], [root]
    for _ in range(depth):
        nxt = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            for child in children:
                if child.name.lower() in names:
                    found.append(child)
                nxt.append(child)
        level = nxt
    return found


def _patient_dirs(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name.upper().startswith("SC-"))


def _collect_challenge(root: Path, kind: str) -> list[_Patient]:
    contour_sets = _find_dirs(root, set(_CONTOUR_SETS))
    if not contour_sets:
        raise DataError(f"{root}: expected the 2009 challenge's TrainingDataContours / ValidationDataContours "
                        "/ OnlineDataContours folders (in 'Sunnybrook Cardiac MR Database ContoursPart<k>/')")
    images: dict[str, Path] = {}
    for parent in _find_dirs(root, _CHALLENGE_IMAGE_DIRS):
        for folder in _patient_dirs(parent):
            pid = canonical_patient_id(folder.name)
            if (folder / "DICOM").is_dir():  # DICOMPart<k>/<Set>DataDICOM/<id>/DICOM/
                folder = folder / "DICOM"
            if pid in images and images[pid] != folder:
                raise DataError(f"{folder}: patient {pid} has a second image folder, {images[pid]}; "
                                "expected one per patient")
            images[pid] = folder
    patients, seen = [], {}
    for set_dir in contour_sets:
        release_set = _CONTOUR_SETS[set_dir.name.lower()]
        for folder in _patient_dirs(set_dir):
            contours = _contours_below(folder, kind)
            if not contours:
                continue
            pid = canonical_patient_id(folder.name)
            if pid in seen:
                raise DataError(f"{folder}: patient {pid} also has contours in {seen[pid]}; expected one folder")
            seen[pid] = folder
            image_dir = images.get(pid)
            if image_dir is None:
                raise DataError(f"{folder}: no image folder for patient {pid}; expected "
                                f"challenge_{release_set}/{_unpadded(pid)}/ (or <Set>DataDICOM/{pid}/DICOM/) "
                                f"below {root}")
            source_id = image_dir.parent.name if image_dir.name == "DICOM" else image_dir.name
            series = CHALLENGE_SAX_SERIES.get(pid, ())
            expected = f"IM-{series[0] if series else 'xxxx'}-{{number:04d}}.dcm"
            patients.append(_Patient(pid, source_id, image_dir, contours, release_set, series, expected))
    return patients


def _unpadded(pid: str) -> str:
    match = _PATIENT_ID.match(pid)
    return f"{match.group(1)}-{int(match.group(2))}" if match else pid


def _collect_cap(root: Path, kind: str) -> list[_Patient]:
    contour_root = root / "SCD_ManualContours"
    table = root / "scd_patientdata.csv"
    if not table.is_file():
        raise DataError(f"{root}: expected scd_patientdata.csv (PatientID,OriginalID) next to SCD_ManualContours/ "
                        "(save the .xlsx the Cardiac Atlas Project ships as CSV)")
    original_of = _read_id_table(table, "PatientID", "OriginalID")
    scd_of = {canonical_patient_id(orig): scd for scd, orig in original_of.items()}
    image_roots = [p for p in sorted(root.iterdir()) if p.is_dir()
                   and (p.name == "SCD_DeidentifiedImages" or p.name.upper().startswith("SCD_IMAGES"))]
    if not image_roots:
        raise DataError(f"{root}: expected SCD_DeidentifiedImages/ (or SCD_IMAGES_0k/) image folders")
    patients = []
    for folder in sorted(p for p in contour_root.iterdir() if p.is_dir()):
        contours = _contours_below(folder, kind)
        if not contours:
            continue
        pid = canonical_patient_id(folder.name)
        scd = scd_of.get(pid)
        if scd is None:
            raise DataError(f"{folder}: patient {pid} is not in {table}; expected an OriginalID row for it")
        image_dir = next((r / scd for r in image_roots if (r / scd).is_dir()), None)
        if image_dir is None:
            raise DataError(f"{folder}: no image folder {scd} for patient {pid} in "
                            + ", ".join(str(r) for r in image_roots))
        patients.append(_Patient(pid, scd, image_dir, contours, expected="CINESAX_<n>/IM-xxxx-{number:04d}.dcm"))
    return patients


# --------------------------------------------------------------------------- pairing


@dataclass(frozen=True)
class _ImageFile:
    path: Path
    instance: int
    name_series: str | None
    name_number: int | None


def _instance_index(folder: Path) -> tuple[dict[int, list[_ImageFile]], list[Path]]:
    """InstanceNumber -> DICOM files below ``folder`` (header read, pixels not), and the
    files skipped because they hold no InstanceNumber."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    index: dict[int, list[_ImageFile]] = {}
    skipped: list[Path] = []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in DICOM_SUFFIXES
                   and not p.name.startswith("."))
    tags = ["InstanceNumber"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the release's UIDs are not all valid UI strings
        for path in files:
            try:
                try:
                    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
                except InvalidDicomError:
                    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags, force=True)
                value = ds.get("InstanceNumber")
            except Exception as e:  # corrupt files fail in many ways
                raise DataError(f"{path}: not a readable DICOM file (pydicom: {type(e).__name__}: {e})") from e
            if value is None or value == "":
                skipped.append(path)  # no InstanceNumber: cannot be paired with a contour
                continue
            series, number = _name_number(path)
            index.setdefault(int(value), []).append(_ImageFile(path, int(value), series, number))
    return index, skipped


def _choose(candidates: list[_ImageFile], patient: _Patient) -> list[_ImageFile]:
    """Narrow files sharing an InstanceNumber to the contoured short-axis cine series."""
    if len(candidates) > 1 and patient.series:
        kept = [c for c in candidates if c.name_series in patient.series]
        candidates = kept or candidates
    if len(candidates) > 1:  # Cardiac Atlas Project: the series folder is CINESAX_<n>
        kept = [c for c in candidates if c.path.parent.name.upper().startswith("CINESAX")]
        candidates = kept or candidates
    return candidates


def _pair_patient(patient: _Patient, kind: str) -> list[SunnybrookSample]:
    index, skipped = _instance_index(patient.image_dir)
    samples = []
    for number, contour_path in patient.contours:
        candidates = _choose(index.get(number, []), patient)
        if not candidates:
            note = ""
            if skipped:
                note = (f"; {len(skipped)} file(s) there have no readable InstanceNumber: "
                        + ", ".join(p.name for p in skipped[:5]))
            raise DataError(
                f"{contour_path}: its image is missing; expected a DICOM file with InstanceNumber {number} in "
                f"{patient.image_dir} (e.g. {patient.expected.format(number=number)}){note}"
            )
        if len(candidates) > 1:
            listed = ", ".join(str(c.path) for c in candidates)
            raise DataError(
                f"{contour_path}: {len(candidates)} images have InstanceNumber {number} ({listed}); expected one. "
                f"Pass sax_series={{'{patient.patient}': '<series>'}} to choose the contoured series"
            )
        chosen = candidates[0]
        if chosen.name_number is not None and chosen.name_number != number:
            raise DataError(
                f"{chosen.path}: file name says image {chosen.name_number} but its DICOM InstanceNumber is "
                f"{number}; expected them to agree (it would pair with {contour_path})"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            volume = read_dicom_image(chosen.path)
        if volume.array.ndim != 2:
            raise DataError(f"{chosen.path}: expected a 2D grayscale image, got shape {volume.array.shape}")
        points = read_contour(contour_path)
        spacing = tuple(float(s) for s in volume.spacing[:2])
        samples.append(SunnybrookSample(
            patient=patient.patient, source_id=patient.source_id, instance_number=number,
            image_path=chosen.path, contour_path=contour_path, contour_kind=kind,
            spacing=(spacing[0], spacing[1]), image=volume.array,
            mask=polygon_to_mask(points, volume.array.shape), contour=points,
            release_set=patient.release_set,
        ))
    return samples


# --------------------------------------------------------------------------- splits


class PatientSplit(dict):
    """``{set name: [samples]}`` plus what the split was made of.

    ``patients[name]`` lists the patients present in each set; for the official split
    ``official[name]`` is the challenge's list and ``missing[name]`` the listed patients
    the data does not hold. :meth:`summary` says all of it in a few lines.
    """

    def __init__(self, groups: Mapping[str, list], kind: str,
                 official: Mapping[str, tuple[str, ...]] | None = None):
        super().__init__(groups)
        self.kind = kind
        self.patients = {name: sorted({s.patient for s in group}) for name, group in groups.items()}
        self.official = dict(official) if official else None
        self.missing = ({name: [p for p in ids if p not in self.patients.get(name, [])]
                         for name, ids in official.items()} if official else None)

    def summary(self) -> str:
        """One line per set: images, patients present and (official split) patients absent."""
        lines = [f"{self.kind} split by patient"]
        for name, group in self.items():
            present = self.patients[name]
            line = f"  {name}: {len(group)} images from {len(present)} patients"
            if present:
                line += f" ({', '.join(present)})"
            if self.missing is not None:
                line += (f"; {len(self.missing[name])} of the official {len(self.official[name])} absent"
                         if self.missing[name] else f"; all {len(self.official[name])} official patients present")
            lines.append(line)
        return "\n".join(lines)


def split_patients(
    samples: Sequence[SunnybrookSample],
    split: str = "official",
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> PatientSplit:
    """Split samples by patient: the challenge's own sets, or a seeded random split.

    ``split="official"``: sets ``training`` / ``validation`` / ``online`` from
    :data:`OFFICIAL_SPLIT` (``fractions``, ``seed`` and ``names`` are not used); a patient
    in none of the lists (e.g. synthetic data) is an error -- use ``"random"``. The result's
    ``missing`` and :meth:`PatientSplit.summary` say which listed patients are absent.

    ``split="random"``: :func:`paperkit.data.splits.subject_split` over patients with
    ``fractions`` (default 60/20/20) and ``seed``; ``names`` default to
    ``("train", "val", "test")`` for three fractions, ``("train", "test")`` for two.

    Either way no patient is in two sets (:func:`check_no_overlap` is run on the result).
    """
    samples = list(samples)
    if not samples:
        raise ValueError("split_patients: expected at least one sample, got none")
    if split == "official":
        set_of = {p: name for name, ids in OFFICIAL_SPLIT.items() for p in ids}
        unknown = sorted({s.patient for s in samples if s.patient not in set_of})
        if unknown:
            raise DataError(
                f"split='official': patients {', '.join(unknown[:10])} are in none of the challenge's lists "
                "(training/validation/online); expected original ids such as SC-HF-I-01 -- use split='random'"
            )
        groups = {name: [s for s in samples if set_of[s.patient] == name] for name in OFFICIAL_SPLIT}
        result = PatientSplit(groups, "official", OFFICIAL_SPLIT)
    elif split == "random":
        fractions = [float(f) for f in fractions]
        if names is None:
            defaults = {2: ("train", "test"), 3: ("train", "val", "test")}
            if len(fractions) not in defaults:
                raise ValueError(f"split_patients: pass names= for {len(fractions)} fractions")
            names = defaults[len(fractions)]
        rows = subject_split([s.patient for s in samples], fractions, seed=seed, names=names)
        result = PatientSplit({name: [samples[i] for i in idx] for name, idx in rows.items()}, "random")
    else:
        raise ValueError(f"split={split!r}: expected 'official' or 'random'")
    check_no_overlap({name: [s.patient for s in group] for name, group in result.items()})
    return result


# --------------------------------------------------------------------------- torch dataset


def covering_crop_fraction(samples: Sequence[SunnybrookSample], margin: float = 1.5, minimum: float = 0.25) -> float:
    """The smallest ``crop_fraction`` of :class:`SegmentationSlices` whose centred square holds every mask.

    Each mask's farthest pixel from the image centre sets a half-side, widened ``margin`` times
    (room for hearts placed differently in other patients); the result is rounded up to 0.05 and
    kept within ``[minimum, 1]``. Compute it on the *training* samples only, so the crop is not
    tuned on the images it is scored on. A tighter crop gives the LV more network pixels, which
    matters for coarse-output networks such as the GAP network (output stride 8).
    """
    if not samples:
        raise ValueError("covering_crop_fraction: no samples (expected the training images with masks)")
    if margin < 1:
        raise ValueError(f"margin={margin}: expected at least 1 (the crop must hold the masks)")
    needed = minimum
    for sample in samples:
        rows, cols = np.nonzero(np.asarray(sample.mask))
        if rows.size == 0:
            continue
        height, width = np.shape(sample.mask)
        half = max(np.abs(rows + 0.5 - height / 2).max(), np.abs(cols + 0.5 - width / 2).max()) + 0.5
        needed = max(needed, 2 * half * margin / min(height, width))
    return float(min(1.0, np.ceil(needed * 20 - 1e-9) / 20))


class SegmentationSlices(Dataset):
    """Torch dataset of ``(image, mask)`` pairs, each a float tensor of shape ``1 x H x W``.

    Preprocessing, in order: (1) centre crop to the largest centred square, shrunk to
    ``crop_fraction`` of its side (the LV sits near the centre of Sunnybrook short-axis
    images; 1.0 keeps the whole square); (2) resize to ``image_size`` (int or ``(H, W)``)
    -- bilinear with antialiasing for the image, bilinear then ``>= 0.5`` for the mask;
    (3) normalise each image to zero mean and unit standard deviation. The mask is 0/1.
    With ``augment=True``, random horizontal/vertical flips, (for square outputs) quarter
    turns and, with ``affine=True``, a small random affine map (rotation within 15 degrees,
    scale 0.9-1.1, shift up to 5%; torchvision's ``RandomAffine``) are applied to image and
    mask together, drawn from torch's global generator (so ``torch.manual_seed`` and
    DataLoader worker seeding control them).
    """

    def __init__(self, samples: Sequence[SunnybrookSample], image_size: int | tuple[int, int] = 128,
                 augment: bool = False, crop_fraction: float = 1.0, affine: bool = True):
        self.samples = list(samples)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"image_size={image_size!r}: expected a positive int or (H, W)")
        if not 0 < crop_fraction <= 1:
            raise ValueError(f"crop_fraction={crop_fraction!r}: expected a value in (0, 1]")
        self.image_size = (int(size[0]), int(size[1]))
        self.augment = bool(augment)
        self.affine = bool(affine)
        self.crop_fraction = float(crop_fraction)

    def __len__(self) -> int:
        return len(self.samples)

    def crop_box(self, index: int) -> tuple[int, int, int]:
        """``(top, left, side)`` of the square crop taken from sample ``index``'s stored image.

        A prediction made at ``image_size`` maps back to the stored image by resizing it to
        ``side x side`` and placing it at ``(top, left)``; pixels outside the crop are background.
        """
        rows, cols = np.shape(self.samples[index].image)
        side = max(1, int(round(min(rows, cols) * self.crop_fraction)))
        return (rows - side) // 2, (cols - side) // 2, side

    def _prepare(self, sample: SunnybrookSample, box: tuple[int, int, int]):
        import torch
        import torch.nn.functional as F

        image = torch.as_tensor(np.asarray(sample.image, dtype=np.float32))
        mask = torch.as_tensor(np.asarray(sample.mask, dtype=np.float32))
        top, left, side = box
        image = image[top:top + side, left:left + side]
        mask = mask[top:top + side, left:left + side]
        if (side, side) != self.image_size:
            image = F.interpolate(image[None, None], size=self.image_size, mode="bilinear",
                                  align_corners=False, antialias=True)[0, 0]
            mask = (F.interpolate(mask[None, None], size=self.image_size, mode="bilinear",
                                  align_corners=False)[0, 0] >= 0.5).float()
        image = (image - image.mean()) / image.std().clamp_min(1e-6)
        return image, mask

    def __getitem__(self, index: int):
        import torch

        image, mask = self._prepare(self.samples[index], self.crop_box(index))
        if self.augment:
            if torch.rand(()) < 0.5:
                image, mask = image.flip(-1), mask.flip(-1)
            if torch.rand(()) < 0.5:
                image, mask = image.flip(-2), mask.flip(-2)
            if self.image_size[0] == self.image_size[1]:
                k = int(torch.randint(0, 4, ()))
                image, mask = torch.rot90(image, k, (-2, -1)), torch.rot90(mask, k, (-2, -1))
            if self.affine:
                image, mask = self._random_affine(image, mask)
        return image[None].contiguous(), mask[None].contiguous()

    @staticmethod
    def _random_affine(image, mask):
        # Hearts differ in size, position and orientation; with a few dozen training images the network
        # would otherwise learn each patient's pose. Bilinear for the image, nearest for the mask.
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        transform = v2.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1))
        img, msk = transform(tv_tensors.Image(image[None]), tv_tensors.Mask(mask[None]))
        return img.as_subclass(type(image))[0], msk.as_subclass(type(mask))[0]

