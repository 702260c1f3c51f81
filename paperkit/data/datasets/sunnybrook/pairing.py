"""Sunnybrook images paired with their contours: :func:`load_sunnybrook` and its samples.

Pairing is by the DICOM InstanceNumber, as the layouts documented in
:mod:`paperkit.data.datasets.sunnybrook.layout` require (Radau et al., MIDAS Journal 2009,
http://hdl.handle.net/10380/3070).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from paperkit.data.datasets.sunnybrook.contours import CONTOUR_KINDS, read_contour
from paperkit.data.datasets.sunnybrook.layout import (
    LAYOUTS,
    PatientFiles,
    canonical_patient_id,
    collect_patients,
    detect_layout,
)
from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import DICOM_SUFFIXES, read_dicom_image
from paperkit.metrics.contours import polygon_to_mask

__all__ = ["SunnybrookSample", "load_sunnybrook", "samples_table"]

_BARE_NUMBER = re.compile(r"^(\d+)$")
_IM_NAME = re.compile(r"^IM-(\d+)-(\d+)$", re.IGNORECASE)


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
    Atlas Project) or ``"auto"``; all three are documented in :mod:`.layout`
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
    patients = collect_patients(root, layout, contour)
    overrides = {canonical_patient_id(k): (v,) if isinstance(v, str) else tuple(v)
                 for k, v in (sax_series or {}).items()}
    samples: list[SunnybrookSample] = []
    for patient in sorted(patients, key=lambda p: p.patient):
        if patient.patient in overrides:
            patient.series = overrides[patient.patient]
        samples.extend(_pair_patient(patient, contour))
    return samples


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


def _choose(candidates: list[_ImageFile], patient: PatientFiles) -> list[_ImageFile]:
    """Narrow files sharing an InstanceNumber to the contoured short-axis cine series."""
    if len(candidates) > 1 and patient.series:
        kept = [c for c in candidates if c.name_series in patient.series]
        candidates = kept or candidates
    if len(candidates) > 1:  # Cardiac Atlas Project: the series folder is CINESAX_<n>
        kept = [c for c in candidates if c.path.parent.name.upper().startswith("CINESAX")]
        candidates = kept or candidates
    return candidates


def _contour_mask(contour_path: Path, points: np.ndarray, image_path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The filled contour, refusing one that leaves the image or fills no pixel.

    Pixel ``(row, column)`` covers ``[row - 0.5, row + 0.5]``, so every ``(x, y)`` point must lie in
    ``[-0.5, columns - 0.5] x [-0.5, rows - 0.5]``; a point outside means the contour belongs to
    another image (or another image size), and clipping it would silently change the mask.
    """
    rows, columns = shape
    outside = ((points[:, 0] < -0.5) | (points[:, 0] > columns - 0.5)
               | (points[:, 1] < -0.5) | (points[:, 1] > rows - 0.5))
    if outside.any():
        x, y = points[int(np.argmax(outside))]
        raise DataError(f"{contour_path}: {int(outside.sum())} of {len(points)} points lie outside its image "
                        f"{image_path} ({rows}x{columns}), e.g. x={x:g} y={y:g}; expected x in [-0.5, "
                        f"{columns - 0.5:g}] and y in [-0.5, {rows - 0.5:g}] (is it paired with the right image?)")
    mask = polygon_to_mask(points, shape)
    if not mask.any():
        raise DataError(f"{contour_path}: the contour ({len(points)} points) encloses no pixel centre of "
                        f"{image_path}; expected a non-empty region (a degenerate or collapsed contour?)")
    return mask


def _pair_patient(patient: PatientFiles, kind: str) -> list[SunnybrookSample]:
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
        mask = _contour_mask(contour_path, points, chosen.path, volume.array.shape)
        spacing = tuple(float(s) for s in volume.spacing[:2])
        samples.append(SunnybrookSample(
            patient=patient.patient, source_id=patient.source_id, instance_number=number,
            image_path=chosen.path, contour_path=contour_path, contour_kind=kind,
            spacing=(spacing[0], spacing[1]), image=volume.array,
            mask=mask, contour=points,
            release_set=patient.release_set,
        ))
    return samples
