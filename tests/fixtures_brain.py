"""Tiny brain-MRI folders in each real layout: LONI IDA (ADNI/PPMI, NIfTI or DICOM), OASIS-1, OASIS-2,
and 3D MedMNIST npz files. Layouts are documented in paperkit.data.datasets.ida / .oasis / .medmnist3d.

Every volume is small and encodes who it is: voxel values are ``code + slice index along the
first array axis``, where ``code`` is the image's number (IDA I-number, OASIS session
number), so a test can tell that a record points at the right file.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from fixtures import write_analyze, write_dicom_series, write_nifti, write_npz

from paperkit.atomic import write_text
from paperkit.data.datasets.ida import IDA_COLUMNS

SHAPE = (6, 7, 8)
SPACING = (1.2, 1.0, 1.0)


def coded_volume(code: int, shape=SHAPE) -> np.ndarray:
    """int16 volume whose value at (i, j, k) is ``code + i`` (code identifies the image)."""
    return (np.full(shape, code, dtype=np.int16) + np.arange(shape[0], dtype=np.int16)[:, None, None])


def write_csv(path: Path, header: list[str], rows: list[list], crlf: bool = False) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


# (image number, subject, group, sex, age, visit)
ADNI_IMAGES = [
    (13722, "002_S_0295", "CN", "M", 85, "sc"),
    (40183, "002_S_0295", "CN", "M", 86, "m12"),
    (31230, "136_S_0184", "AD", "F", 74, "sc"),
    (45108, "011_S_0003", "AD", "M", 81, "sc"),
    (50001, "023_S_0031", "MCI", "F", 77, "sc"),   # not a class by default: excluded
]
PPMI_IMAGES = [
    (376542, "3102", "PD", "M", 65, "BL"),
    (378001, "3105", "Control", "F", 60, "BL"),
    (378002, "3107", "PD", "F", 71, "BL"),
    (378003, "3108", "SWEDD", "M", 59, "BL"),       # excluded by default
]


def _ida_row(number, subject, group, sex, age, visit, fmt: str) -> list:
    return [f"I{number}", subject, group, sex, age, visit, "MRI", "MPRAGE", "Original", "4/18/2006", fmt,
            "5/01/2023"]


def write_ida(root: Path, project: str = "ADNI", fmt: str = "nifti", images=None, image_folder: str = "I",
              extra_csv_rows=(), csv_name: str | None = None, shape=SHAPE) -> Path:
    """An IDA download of ``images`` in ``root`` (``fmt`` "nifti" or "dicom"); returns ``root``.

    ``image_folder="I"`` names the last folder by the Image Data ID (current downloads),
    ``"S"`` by the series id with the I-number only in the file names (older downloads).
    ``extra_csv_rows`` are listed in the CSV without an image on disk; ``shape`` is each volume's.
    """
    images = images if images is not None else (ADNI_IMAGES if project == "ADNI" else PPMI_IMAGES)
    rows = []
    for number, subject, group, sex, age, visit in images:
        series = number + 7
        last = f"I{number}" if image_folder == "I" else f"S{series}"
        folder = root / project / subject / "MPRAGE" / "2006-04-18_08_20_30.0" / last
        stem = f"{project}_{subject}_MR_MPRAGE_br_raw_20060418193713091"
        volume = coded_volume(number % 10000, shape)
        if fmt == "nifti":
            write_nifti(folder / f"{stem}_1_S{series}_I{number}.nii", volume, SPACING)
        else:
            # Slices along the first axis; file names carry the slice number and the I-number.
            write_dicom_series(folder, volume, SPACING, suffix=f"_S{series}_I{number}.dcm")
        rows.append(_ida_row(number, subject, group, sex, age, visit, "DCM" if fmt == "dicom" else "NiFTI"))
    rows += [_ida_row(*extra, "NiFTI") for extra in extra_csv_rows]
    write_csv(root / (csv_name or f"{project}_collection_5_01_2023.csv"), list(IDA_COLUMNS), rows)
    return root


OASIS1_HEADER = ["ID", "M/F", "Hand", "Age", "Educ", "SES", "MMSE", "CDR", "eTIV", "nWBV", "ASF", "Delay"]
# session, sex, age, CDR ("" = missing, as for the young adults)
OASIS1_SESSIONS = [
    ("OAS1_0001_MR1", "F", 74, "0"),
    ("OAS1_0003_MR1", "F", 73, "0.5"),
    ("OAS1_0004_MR1", "M", 28, ""),
    ("OAS1_0010_MR1", "M", 74, "1"),
    ("OAS1_0011_MR1", "F", 52, "0"),
    ("OAS1_0061_MR2", "F", 20, ""),       # reliability re-scan of a young subject
    ("OAS1_0003_MR2", "F", 73, "0.5"),    # re-scan with CDR: excluded unless include_rescans
]


def oasis1_image(session_folder: Path, session: str, kind: str = "t88_masked_gfc") -> Path:
    name = {"t88_masked_gfc": f"PROCESSED/MPRAGE/T88_111/{session}_mpr_n4_anon_111_t88_masked_gfc.hdr",
            "t88_gfc": f"PROCESSED/MPRAGE/T88_111/{session}_mpr_n4_anon_111_t88_gfc.hdr",
            "raw": f"RAW/{session}_mpr-1_anon.hdr"}[kind]
    return session_folder / name


def write_oasis1(root: Path, sessions=OASIS1_SESSIONS, csv_rows=None, header=OASIS1_HEADER) -> Path:
    """OASIS-1 discs with Analyze images of ``sessions`` and ``oasis_cross-sectional.csv`` (CRLF)."""
    for i, (session, *_rest) in enumerate(sessions):
        disc = root / f"disc{1 + i // 4}" / session
        code = int(session[5:9]) * 10 + int(session[-1])
        for kind in ("t88_masked_gfc", "t88_gfc", "raw"):
            write_analyze(oasis1_image(disc, session, kind), coded_volume(code), SPACING)
    if csv_rows is None:
        csv_rows = [[s, sex, "R", age, 3, 2, 29, cdr, 1344, 0.743, 1.306, ""] for s, sex, age, cdr in sessions]
    write_csv(root / "oasis_cross-sectional.csv", list(header), csv_rows, crlf=True)
    return root


OASIS2_HEADER = ["Subject ID", "MRI ID", "Group", "Visit", "MR Delay", "M/F", "Hand", "Age", "EDUC", "SES",
                 "MMSE", "CDR", "eTIV", "nWBV", "ASF"]
# subject, session, group, visit, sex, age, CDR, number of mpr runs
OASIS2_SESSIONS = [
    ("OAS2_0001", "OAS2_0001_MR1", "Nondemented", 1, "M", 87, "0", 3),
    ("OAS2_0001", "OAS2_0001_MR2", "Nondemented", 2, "M", 88, "0", 2),
    ("OAS2_0002", "OAS2_0002_MR1", "Demented", 1, "M", 75, "0.5", 3),
    ("OAS2_0002", "OAS2_0002_MR2", "Demented", 2, "M", 76, "0.5", 1),
    ("OAS2_0018", "OAS2_0018_MR1", "Converted", 1, "F", 87, "0", 2),
    ("OAS2_0018", "OAS2_0018_MR3", "Converted", 3, "F", 89, "0.5", 2),
    ("OAS2_0020", "OAS2_0020_MR1", "Nondemented", 1, "F", 80, "0", 1),
]


def write_oasis2(root: Path, sessions=OASIS2_SESSIONS, header=OASIS2_HEADER, csv_rows=None) -> Path:
    """``OAS2_RAW_PART1/<session>/RAW/mpr-<n>.nifti.hdr`` Analyze runs and ``oasis_longitudinal.csv``."""
    for subject, session, group, visit, sex, age, cdr, runs in sessions:
        for n in range(1, runs + 1):
            code = int(subject[5:9]) * 100 + int(session[-1]) * 10 + n
            write_analyze(root / "OAS2_RAW_PART1" / session / "RAW" / f"mpr-{n}.nifti.hdr", coded_volume(code),
                          SPACING)
    if csv_rows is None:
        csv_rows = [[subject, session, group, visit, 0, sex, "R", age, 14, 2, 27, cdr, 1987, 0.696, 0.883]
                    for subject, session, group, visit, sex, age, cdr, _ in sessions]
    write_csv(root / "oasis_longitudinal.csv", list(header), csv_rows)
    return root


def write_medmnist3d(path: Path, counts=(6, 2, 3), size: int = 8, classes: int = 2, seed: int = 0) -> Path:
    """A 3D MedMNIST npz: uint8 volumes (N, D, H, W) whose mean tells the class, labels (N, 1)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        labels = (np.arange(n) % classes).astype(np.uint8)[:, None]
        base = rng.integers(0, 60, (n, size, size, size))
        arrays[f"{split}_images"] = (base + 60 * labels[:, 0, None, None, None]).astype(np.uint8)
        arrays[f"{split}_labels"] = labels
    return write_npz(path, **arrays)
