"""Sunnybrook Cardiac Data (MICCAI 2009 LV segmentation challenge): which folder layout a root holds.

This module finds each patient's image folder and contour files in the three layouts
below; :mod:`.contours` reads the contour files, :mod:`.pairing` pairs them with images,
:mod:`.split` splits by patient and :mod:`.dataset` is the torch dataset.

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
were confirmed from public code that reads the release (sources at :data:`.split.OFFICIAL_SPLIT`);
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
import io
import re
from dataclasses import dataclass
from pathlib import Path

from paperkit.data.datasets.sunnybrook.contours import contours_below
from paperkit.data.io.errors import DataError
from paperkit.data.io.text import read_utf8

__all__ = ["CHALLENGE_SAX_SERIES", "LAYOUTS", "canonical_patient_id", "collect_patients", "detect_layout"]

# The contoured short-axis cine series (the SSSS of IM-SSSS-NNNN.dcm) in each 2009
# challenge image folder, as used by the public readers cited at
# :data:`paperkit.data.datasets.sunnybrook.split.OFFICIAL_SPLIT`. Where those readers
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

_PATIENT_ID = re.compile(r"^(SC(?:-[A-Za-z]+)+)-(\d+)$", re.IGNORECASE)


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


@dataclass
class PatientFiles:
    """What one layout knows about one patient before images are read."""

    patient: str
    source_id: str
    image_dir: Path
    contours: list[tuple[int, Path]]
    release_set: str | None = None
    series: tuple[str, ...] = ()
    expected: str = "IM-xxxx-{number:04d}.dcm"  # how an image file is named, for error messages


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



def collect_patients(root: Path, layout: str, kind: str) -> list[PatientFiles]:
    """What ``layout`` (not ``"auto"``) holds under ``root``: each patient with ``kind`` contours."""
    collect = {"repackaged": _collect_repackaged, "challenge": _collect_challenge, "cap": _collect_cap}[layout]
    return collect(root, kind)


def _patient_key(name: str) -> str:
    """What makes two folder names the same patient: the canonical id, ignoring case."""
    return canonical_patient_id(name).upper()


def _one_folder_per_patient(folders) -> dict[str, Path]:
    """``{patient key: folder}``; two folders that are one patient under two spellings are a DataError.

    ``SC-HF-I-1`` and ``SC-HF-I-01`` (or names that differ only in case) would otherwise both be
    read, or one silently shadow the other.
    """
    by_key: dict[str, Path] = {}
    for folder in sorted(folders):
        key = _patient_key(folder.name)
        if key in by_key:
            raise DataError(f"{folder}: same patient as {by_key[key]} ({canonical_patient_id(folder.name)} "
                            "spelled two ways); expected one folder per patient -- merge or remove one")
        by_key[key] = folder
    return by_key


def _read_id_table(path: Path, key: str, value: str) -> dict[str, str]:
    """Two columns of a CSV table (``key`` -> ``value``); DataError naming the file if absent."""
    text = read_utf8(path, f"a CSV table with columns {key!r} and {value!r}")
    with io.StringIO(text, newline="") as f:
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


def _collect_repackaged(root: Path, kind: str) -> list[PatientFiles]:
    image_root, contour_root = root / "dicoms", root / "contourfiles"
    for folder in (image_root, contour_root):
        if not folder.is_dir():
            raise DataError(f"{root}: expected the repackaged layout's {folder.name}/ folder, not found")
    link = root / "link.csv"
    original_of = _read_id_table(link, "patient_id", "original_id") if link.is_file() else {}
    # patient key of a contour folder -> image folder (named like it, or linked to it by link.csv)
    by_id: dict[str, Path] = {}
    for key, folder in _one_folder_per_patient(p for p in image_root.iterdir() if p.is_dir()).items():
        for name in {key, _patient_key(original_of.get(folder.name, folder.name))}:
            if by_id.get(name, folder) != folder:
                raise DataError(f"{folder}: same patient as {by_id[name]} (via {link}); expected one image "
                                "folder per patient")
            by_id[name] = folder
    patients = []
    for key, folder in _one_folder_per_patient(p for p in contour_root.iterdir() if p.is_dir()).items():
        contours = contours_below(folder, kind)
        if not contours:
            continue
        image_dir = by_id.get(key)
        if image_dir is None:
            how = f"listed in {link}" if original_of else f"named {folder.name} (no link.csv)"
            raise DataError(f"{folder}: no image folder for these contours; expected a folder in "
                            f"{image_root} {how}")
        pid = canonical_patient_id(original_of.get(image_dir.name, image_dir.name))
        patients.append(PatientFiles(pid, image_dir.name, image_dir, contours,
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


def _collect_challenge(root: Path, kind: str) -> list[PatientFiles]:
    contour_sets = _find_dirs(root, set(_CONTOUR_SETS))
    if not contour_sets:
        raise DataError(f"{root}: expected the 2009 challenge's TrainingDataContours / ValidationDataContours "
                        "/ OnlineDataContours folders (in 'Sunnybrook Cardiac MR Database ContoursPart<k>/')")
    images: dict[str, Path] = {}
    for parent in _find_dirs(root, _CHALLENGE_IMAGE_DIRS):
        for folder in _patient_dirs(parent):
            pid = _patient_key(folder.name)
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
            contours = contours_below(folder, kind)
            if not contours:
                continue
            pid = _patient_key(folder.name)
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
            patients.append(PatientFiles(pid, source_id, image_dir, contours, release_set, series, expected))
    return patients


def _unpadded(pid: str) -> str:
    match = _PATIENT_ID.match(pid)
    return f"{match.group(1)}-{int(match.group(2))}" if match else pid


def _collect_cap(root: Path, kind: str) -> list[PatientFiles]:
    contour_root = root / "SCD_ManualContours"
    table = root / "scd_patientdata.csv"
    if not table.is_file():
        raise DataError(f"{root}: expected scd_patientdata.csv (PatientID,OriginalID) next to SCD_ManualContours/ "
                        "(save the .xlsx the Cardiac Atlas Project ships as CSV)")
    original_of = _read_id_table(table, "PatientID", "OriginalID")
    scd_of: dict[str, str] = {}
    for scd, orig in original_of.items():
        if scd_of.setdefault(_patient_key(orig), scd) != scd:
            raise DataError(f"{table}: OriginalID {orig} ({canonical_patient_id(orig)}) is given to both "
                            f"{scd_of[_patient_key(orig)]} and {scd}; expected one PatientID per patient")
    image_roots = [p for p in sorted(root.iterdir()) if p.is_dir()
                   and (p.name == "SCD_DeidentifiedImages" or p.name.upper().startswith("SCD_IMAGES"))]
    if not image_roots:
        raise DataError(f"{root}: expected SCD_DeidentifiedImages/ (or SCD_IMAGES_0k/) image folders")
    patients = []
    for key, folder in _one_folder_per_patient(p for p in contour_root.iterdir() if p.is_dir()).items():
        contours = contours_below(folder, kind)
        if not contours:
            continue
        pid = canonical_patient_id(folder.name)
        scd = scd_of.get(key)
        if scd is None:
            raise DataError(f"{folder}: patient {pid} is not in {table}; expected an OriginalID row for it")
        image_dir = next((r / scd for r in image_roots if (r / scd).is_dir()), None)
        if image_dir is None:
            raise DataError(f"{folder}: no image folder {scd} for patient {pid} in "
                            + ", ".join(str(r) for r in image_roots))
        patients.append(PatientFiles(pid, scd, image_dir, contours, expected="CINESAX_<n>/IM-xxxx-{number:04d}.dcm"))
    return patients
