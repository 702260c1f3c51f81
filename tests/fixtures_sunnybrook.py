"""Tiny Sunnybrook folders in each real layout (repackaged sample, 2009 challenge, CAP).

Every image is a small DICOM holding one bright disc whose centre and radius depend on its
InstanceNumber, and every contour file is that disc's outline, so a test can tell whether a
loader paired each contour with the right image. Layouts are documented in
``paperkit.data.datasets.sunnybrook``; nothing here is copied from the real data.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from fixtures import write_dicom_image

from paperkit.atomic import write_text

SIZE = 48
SPACING = (1.367188, 1.367188)
CHALLENGE_CONTOURS = "Sunnybrook Cardiac MR Database ContoursPart{part}"


def disc(number: int, outer: bool = False) -> tuple[float, float, float]:
    """(cx, cy, r) in pixels of the disc drawn on image ``number`` (o-contour: 3 px larger)."""
    cx = 20.3 + (number % 5)
    cy = 22.7 + (number % 3)
    r = 6.2 + (number % 7) * 0.8
    return cx, cy, r + (3.0 if outer else 0.0)


def circle(cx: float, cy: float, r: float, n: int = 72) -> np.ndarray:
    """(n, 2) (x, y) points of a circle."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a closed polygon given as (N, 2) points."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def perimeter(points: np.ndarray) -> float:
    """Length of a closed polygon given as (N, 2) points."""
    return float(np.hypot(*(np.roll(points, -1, axis=0) - points).T).sum())


def disc_pixels(number: int, decoy: bool = False) -> np.ndarray:
    """int16 image: background 150, myocardium-like ring 300, bright disc 900 (decoy: shifted)."""
    cx, cy, r = disc(number)
    if decoy:  # another series sharing the InstanceNumber: its disc is elsewhere
        cx, cy = cx + 12.0, cy - 10.0
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    dist = np.hypot(cols - cx, rows - cy)
    image = np.full((SIZE, SIZE), 150, dtype=np.int16)
    image[dist < r + 3.0] = 300
    image[dist < r] = 900
    return image


def write_contour(path: Path, points: np.ndarray) -> Path:
    """Write ``points`` as a Sunnybrook contour file (``x y`` with two decimals per line)."""
    return write_text(path, "".join(f"{x:.2f} {y:.2f}\n" for x, y in points))


def contour_name(number: int, kind: str = "i") -> str:
    return f"IM-0001-{number:04d}-{kind}contour-manual.txt"


def _write_contours(folder: Path, numbers, outer_numbers, subfolders: bool) -> None:
    for n in numbers:
        where = folder / "i-contours" if subfolders else folder
        write_contour(where / contour_name(n, "i"), circle(*disc(n)))
    for n in outer_numbers:
        where = folder / "o-contours" if subfolders else folder
        write_contour(where / contour_name(n, "o"), circle(*disc(n, outer=True)))


# Repackaged sample: image folder, original id, contoured images, o-contoured, extra images.
REPACKAGED = {
    "SCD0000101": ("SC-HF-I-1", [7, 48, 100], [48], [1, 20]),
    "SCD0000201": ("SC-HF-I-2", [47, 60], [60], [3]),
}


def write_repackaged(root: Path, *, shuffle_names: bool = False, link: bool = True, seed: int = 0) -> Path:
    """``dicoms/<patient>/<N>.dcm`` + ``contourfiles/<original id>/{i,o}-contours/`` + ``link.csv``.

    Instance numbers 7, 48, 100 make name order differ from number order. With
    ``shuffle_names`` the files get uninformative names (``img_<k>.dcm``) in random order,
    so only the DICOM header can pair them. Without ``link`` the contour folders are named
    like the image folders and there is no ``link.csv``.
    """
    root = Path(root)
    rng = random.Random(seed)
    for folder, (original, numbers, outer, extra) in REPACKAGED.items():
        images = sorted(set(numbers) | set(outer) | set(extra))
        names = [f"img_{k:02d}.dcm" for k in range(len(images))]
        if shuffle_names:
            rng.shuffle(names)
        for n, name in zip(images, names):
            filename = name if shuffle_names else f"{n}.dcm"
            write_dicom_image(root / "dicoms" / folder / filename, disc_pixels(n), SPACING, instance_number=n)
        _write_contours(root / "contourfiles" / (original if link else folder), numbers, outer, subfolders=True)
    if link:
        rows = "".join(f"{folder},{original}\n" for folder, (original, *_rest) in REPACKAGED.items())
        write_text(root / "link.csv", "patient_id,original_id\n" + rows)
    return root


# 2009 challenge: (set, contour part, image folder, contour folder, series, contoured images).
CHALLENGE = [
    ("training", 3, "challenge_training", "SC-HF-I-1", "SC-HF-I-01", "0004", [48, 68]),
    ("validation", 2, "challenge_validation", "SC-HF-I-5", "SC-HF-I-05", "0156", [40]),
    ("online", 1, "challenge_online/challenge_online", "SC-HF-I-9", "SC-HF-I-9", "0241", [28]),
]
_SET_FOLDER = {"training": "TrainingDataContours", "validation": "ValidationDataContours",
               "online": "OnlineDataContours"}
_DICOM_SET = {"training": "TrainingDataDICOM", "validation": "ValidationDataDICOM", "online": "OnlineDataDICOM"}


def write_challenge(root: Path, *, dicom_parts: bool = False) -> Path:
    """The 2009 release: ``challenge_<set>/<id>/IM-<series>-<NNNN>.dcm`` and contour parts.

    Each image folder also holds a decoy cine series (``IM-0999-NNNN.dcm``, same
    InstanceNumbers, disc elsewhere), as the real folders hold several series. With
    ``dicom_parts`` the images follow the later re-release instead:
    ``Sunnybrook Cardiac MR Database DICOMPart<k>/<Set>DataDICOM/<id>/DICOM/IM-0001-NNNN.dcm``
    (one series, no decoy).
    """
    root = Path(root)
    for set_name, part, image_parent, image_id, contour_id, series, numbers in CHALLENGE:
        if dicom_parts:
            folder = (root / f"Sunnybrook Cardiac MR Database DICOMPart{part}" / _DICOM_SET[set_name]
                      / contour_id / "DICOM")
            for n in numbers + [1]:
                write_dicom_image(folder / f"IM-0001-{n:04d}.dcm", disc_pixels(n), SPACING, instance_number=n)
        else:
            folder = root / image_parent / image_id
            for n in numbers + [1]:
                write_dicom_image(folder / f"IM-{series}-{n:04d}.dcm", disc_pixels(n), SPACING, instance_number=n)
                write_dicom_image(folder / f"IM-0999-{n:04d}.dcm", disc_pixels(n, decoy=True), SPACING,
                                  instance_number=n)
        expert = (root / CHALLENGE_CONTOURS.format(part=part) / _SET_FOLDER[set_name] / contour_id
                  / "contours-manual" / "IRCCI-expert")
        _write_contours(expert, numbers, numbers[:1], subfolders=False)
    return root


def write_cap(root: Path) -> Path:
    """Cardiac Atlas Project: ``scd_patientdata.csv``, ``SCD_DeidentifiedImages/SCD0000101/
    CINESAX_300/IM-0003-NNNN.dcm`` (plus a ``CINELAX_5`` decoy series) and ``SCD_ManualContours``."""
    root = Path(root)
    numbers = [48, 59]
    for n in numbers + [2]:
        images = root / "SCD_DeidentifiedImages" / "SCD0000101"
        write_dicom_image(images / "CINESAX_300" / f"IM-0003-{n:04d}.dcm", disc_pixels(n), SPACING, instance_number=n)
        write_dicom_image(images / "CINELAX_5" / f"IM-0002-{n:04d}.dcm", disc_pixels(n, decoy=True), SPACING,
                          instance_number=n)
    _write_contours(root / "SCD_ManualContours" / "SC-HF-I-01" / "contours-manual" / "IRCCI-expert",
                    numbers, numbers[1:], subfolders=False)
    write_text(root / "scd_patientdata.csv",
               "PatientID,OriginalID,Gender,Age,Pathology\nSCD0000101,SC-HF-I-1,Male,66,Heart failure with infarct\n")
    return root
