"""Read medical volumes and images from disk into one type, :class:`Volume`.

``read_volume(path)`` picks the reader from the path:

==============================  =====================================================
path                            reader
==============================  =====================================================
folder                          :func:`read_dicom_series` (one DICOM series)
``.nii``, ``.nii.gz``           :func:`read_nifti` (nibabel)
``.hdr`` / ``.img``             :func:`read_nifti` (Analyze 7.5 pair, e.g. OASIS-1)
``.dcm``, ``.dicom``, ``.ima``  :func:`read_dicom_image` (one 2D DICOM image)
``.h5``, ``.hdf5``              :func:`read_hdf5`
``.npy``, ``.npz``              :func:`read_numpy`
``.png`` ``.jpg`` ``.tif`` ...  :func:`read_image` (PIL)
other, with a DICOM preamble    :func:`read_dicom_image`
==============================  =====================================================

Conventions
-----------
* ``Volume.spacing`` has one entry per *spatial* array axis, in array-axis order.
  It is in millimetres when ``meta["spacing_unit"] == "mm"``; formats without a physical
  spacing (PNG, NumPy, HDF5 without a ``spacing`` attribute) give 1.0 per axis and
  ``meta["spacing_unit"] == "pixel"``.
* NIfTI/Analyze arrays keep nibabel's axis order (i, j, k) with spacing from the header
  zooms. DICOM series are stacked as ``(slice, row, column)`` with spacing
  ``(slice gap, PixelSpacing[0], PixelSpacing[1])`` -- note this is the reverse of the
  NIfTI order, as is usual for DICOM stacks.
* ``Volume.affine`` maps voxel indices to RAS+ millimetres (nibabel's convention) where
  the file defines a geometry, else it is ``None``.
* Every ``DataError`` message starts with the full path of the offending file.
"""
from __future__ import annotations

import contextlib
import errno
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from paperkit.data.io.errors import DataError

# Suffixes read_volume understands (folders are DICOM series). Lower-case, compared to the
# lower-cased file name so ".NII.GZ" works too.
NIFTI_SUFFIXES = (".nii.gz", ".nii")
ANALYZE_SUFFIXES = (".hdr", ".img")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
HDF5_SUFFIXES = (".h5", ".hdf5")
NUMPY_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SUPPORTED_SUFFIXES = (
    NIFTI_SUFFIXES + ANALYZE_SUFFIXES + DICOM_SUFFIXES + HDF5_SUFFIXES + NUMPY_SUFFIXES
    + IMAGE_SUFFIXES
)

# Slices whose gap differs from the median gap by more than this are treated as a hole in
# the series (missing file) rather than scanner rounding noise.
_GAP_RTOL = 0.01
_GAP_ATOL_MM = 1e-3


@dataclass
class Volume:
    """An image array plus the geometry needed to interpret it.

    ``spacing`` is per spatial array axis (see module docstring for units and order),
    ``affine`` maps voxel indices to RAS+ mm or is ``None``, ``path`` is the absolute
    path that was read and ``meta`` holds format-specific extras (always ``"format"`` and
    ``"spacing_unit"``).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray | None
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _existing(path: str | os.PathLike) -> Path:
    """Absolute ``path``; ``FileNotFoundError`` naming it if it does not exist."""
    p = Path(os.path.abspath(os.fspath(path)))
    if not p.exists():
        raise FileNotFoundError(errno.ENOENT, "No such file or folder", str(p))
    return p


@contextlib.contextmanager
def _decoding(path: Path, expected: str, library: str) -> Iterator[None]:
    """Turn a decoder library's exception into a ``DataError`` naming ``path``."""
    try:
        yield
    except (DataError, FileNotFoundError, MemoryError):
        raise
    except Exception as e:  # decoders raise many unrelated types for corrupt input
        raise DataError(
            f"{path}: not a readable {expected} ({library}: {type(e).__name__}: {e})"
        ) from e


def _choose_key(path: Path, keys: list[str], key: str | None, what: str) -> str:
    """Return ``key``, or the only entry of ``keys`` when ``key`` is None."""
    if key is None:
        if len(keys) == 1:
            return keys[0]
        if not keys:
            raise DataError(f"{path}: expected at least one {what}, found none")
        raise DataError(
            f"{path}: holds {len(keys)} {what}s, pass key= one of: {', '.join(keys)}"
        )
    if key not in keys:
        raise DataError(f"{path}: no {what} {key!r}; available: {', '.join(keys) or '(none)'}")
    return key


def _ones(ndim: int) -> tuple[float, ...]:
    return (1.0,) * ndim


def format_of(path: str | os.PathLike) -> str:
    """Name of the reader ``read_volume`` would use for ``path``.

    One of ``"dicom-series"``, ``"nifti"``, ``"analyze"``, ``"dicom"``, ``"hdf5"``,
    ``"npy"``, ``"npz"``, ``"image"``. Raises ``DataError`` for unsupported files.
    """
    p = Path(path)
    if p.is_dir():
        return "dicom-series"
    name = p.name.lower()
    table = [
        (NIFTI_SUFFIXES, "nifti"),
        (ANALYZE_SUFFIXES, "analyze"),
        (DICOM_SUFFIXES, "dicom"),
        (HDF5_SUFFIXES, "hdf5"),
        ((".npy",), "npy"),
        ((".npz",), "npz"),
        (IMAGE_SUFFIXES, "image"),
    ]
    for suffixes, fmt in table:
        if name.endswith(suffixes):
            return fmt
    if _has_dicom_preamble(p):  # DICOM files often have no extension at all
        return "dicom"
    raise DataError(
        f"{os.path.abspath(p)}: unsupported file type; expected a folder of DICOM files or "
        f"one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


def _has_dicom_preamble(path: Path) -> bool:
    """True if ``path`` is a file with the 'DICM' magic after the 128-byte preamble."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _analyze_pair(path: Path) -> tuple[Path, Path]:
    """(header, image) paths of an Analyze pair, keeping the suffix's letter case."""
    upper = path.suffix.isupper()
    hdr = path.with_suffix(".HDR" if upper else ".hdr")
    img = path.with_suffix(".IMG" if upper else ".img")
    return hdr, img


def _dicom_folder_files(folder: Path) -> list[Path]:
    """Candidate files of a DICOM folder: regular, non-hidden, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def source_files(path: str | os.PathLike) -> list[Path]:
    """The files whose bytes determine what ``read_volume(path)`` returns.

    One file for most formats, both files of an Analyze pair, and the candidate files of
    a DICOM folder (used by the cache to build its content key).
    """
    p = _existing(path)
    fmt = format_of(p)
    if fmt == "dicom-series":
        return _dicom_folder_files(p)
    if fmt == "analyze":
        return [f for f in _analyze_pair(p) if f.exists()]
    return [p]


# --------------------------------------------------------------------------- dispatch


def read_volume(
    path: str | os.PathLike,
    *,
    key: str | None = None,
    series_uid: str | None = None,
    mode: str | None = None,
) -> Volume:
    """Read ``path`` into a :class:`Volume`, choosing the reader from its type.

    ``key`` selects the dataset/array in ``.h5``/``.hdf5``/``.npz`` files (default: the
    only one), ``series_uid`` the series in a DICOM folder holding several, and ``mode``
    the PIL mode for 2D images (default: grayscale). Passing an option that the format
    does not use is an error rather than silently ignored.
    """
    p = _existing(path)
    fmt = format_of(p)
    options = {"key": key, "series_uid": series_uid, "mode": mode}
    allowed = {"hdf5": {"key"}, "npz": {"key"}, "dicom-series": {"series_uid"}, "image": {"mode"}}
    applies = allowed.get(fmt, set())
    unused = sorted(k for k, v in options.items() if v is not None and k not in applies)
    if unused:
        listed = ", ".join(f"{k}=" for k in unused)
        raise DataError(f"{p}: option(s) {listed} do not apply to {fmt} files")
    if fmt == "dicom-series":
        return read_dicom_series(p, series_uid=series_uid)
    if fmt in ("nifti", "analyze"):
        return read_nifti(p)
    if fmt == "dicom":
        return read_dicom_image(p)
    if fmt == "hdf5":
        return read_hdf5(p, key=key)
    if fmt in ("npy", "npz"):
        return read_numpy(p, key=key)
    return read_image(p, mode=mode)


# --------------------------------------------------------------------------- NIfTI / Analyze

# NIfTI spatial units -> factor to millimetres; "unknown" (and Analyze) are taken as mm.
_UNIT_TO_MM = {"meter": 1000.0, "mm": 1.0, "micron": 0.001, "unknown": 1.0}


def read_nifti(path: str | os.PathLike) -> Volume:
    """Read a NIfTI (``.nii``/``.nii.gz``) file or an Analyze 7.5 ``.hdr``/``.img`` pair.

    Either file of an Analyze pair may be given. The array keeps nibabel's axis order and
    stored dtype (scaled to float if the header has a scale factor); a trailing singleton
    4th axis is dropped, as in OASIS images of shape (176, 208, 176, 1). Spacing is the
    header zooms of the (up to 3) spatial axes, converted to mm. Analyze headers carry no
    orientation, so their affine is nibabel's default guess.
    """
    import nibabel as nib

    p = _existing(path)
    analyze = p.name.lower().endswith(ANALYZE_SUFFIXES)
    kind = "Analyze 7.5 file" if analyze else "NIfTI file"
    if analyze:
        for partner in _analyze_pair(p):
            if not partner.exists():
                raise FileNotFoundError(
                    errno.ENOENT, f"Analyze pair of {p} is incomplete, missing", str(partner)
                )
    with _decoding(p, kind, "nibabel"):
        img = nib.load(str(p))
        array = np.asanyarray(img.dataobj)  # reads (and gunzips) the whole array now
        zooms = img.header.get_zooms()
        # Analyze headers have no unit field; NIfTI ones may say metres or microns.
        has_units = hasattr(img.header, "get_xyzt_units")
        space_unit = img.header.get_xyzt_units()[0] if has_units else "unknown"
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    to_mm = _UNIT_TO_MM.get(space_unit, 1.0)
    # Spatial axes only: a 4th (time/channel) axis has no millimetre spacing.
    spacing = tuple(abs(float(z)) * to_mm for z in zooms[: min(array.ndim, 3)])
    meta = {
        "format": "analyze" if analyze else "nifti",
        "spacing_unit": "mm",
        "nibabel_class": type(img).__name__,
    }
    return Volume(array, spacing, np.asarray(img.affine, dtype=float), p, meta)


# --------------------------------------------------------------------------- DICOM


def _read_dicom_header(path: Path):
    """The pydicom dataset of ``path`` with pixel data deferred, or None if not an image.

    Files without the DICOM preamble are retried with ``force=True`` and kept only if
    they clearly hold an image (Rows and PixelData), so stray text files are skipped.
    A Part-10 file (with the preamble) whose header declares an image but that lacks
    Rows or PixelData -- pydicom stops quietly at the end of a truncated file -- is a
    :class:`DataError` naming it, so a cut-short slice is never skipped in silence.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    # defer_size: large values (PixelData) are read from disk only when accessed, so
    # unwanted series in the same folder are never decoded.
    try:
        ds = pydicom.dcmread(path, defer_size="64 KB")
    except InvalidDicomError:
        try:
            ds = pydicom.dcmread(path, defer_size="64 KB", force=True)
            if "Rows" not in ds or "PixelData" not in ds:
                return None
        except Exception:  # force-parsing arbitrary bytes fails in arbitrary ways
            return None
    except Exception as e:
        raise DataError(
            f"{path}: not a readable DICOM file (pydicom: {type(e).__name__}: {e})"
        ) from e
    if "Rows" not in ds or "PixelData" not in ds:
        kind = _declared_image(ds)
        if kind:
            missing = " and ".join(t for t in ("Rows", "PixelData") if t not in ds)
            raise DataError(f"{path}: a DICOM file of {kind} without {missing} ({path.stat().st_size} bytes); "
                            "expected a complete file -- truncated by an interrupted download or copy?")
        return None  # e.g. DICOMDIR or a structured report
    return ds


def _declared_image(ds) -> str | None:
    """What image a Part-10 header says its file holds (e.g. ``"MR Image Storage"``), else None.

    A header cut short before its MediaStorageSOPClassUID (type 1, so always present in a
    complete file) counts as an image of unknown kind.
    """
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    if uid is None:
        return "unknown kind (its header ends early)"
    name = getattr(uid, "name", "") or str(uid)
    return name if "Image Storage" in name else None


def _floats(value: Any) -> list[float]:
    return [float(v) for v in value]


def _rescale(ds) -> tuple[float, float]:
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return slope, intercept


def _pixels(path: Path, ds) -> np.ndarray:
    """Decoded stored pixel values of one DICOM image."""
    with _decoding(path, "DICOM image", "pydicom"):
        return ds.pixel_array


def read_dicom_image(path: str | os.PathLike) -> Volume:
    """Read one single-frame DICOM file into a 2D :class:`Volume` of shape (rows, columns).

    RescaleSlope/Intercept are applied (giving float32) when they are not 1 and 0.
    Spacing is ``PixelSpacing`` (row spacing, column spacing) in mm, falling back to
    ``ImagerPixelSpacing``, else 1.0 with ``meta["spacing_unit"] == "pixel"``. ``meta``
    holds common positional tags (``instance_number``, ``position``, ``orientation``,
    ``slice_location``, ``trigger_time``, ``series_uid``, ``sop_instance_uid``...).
    """
    p = _existing(path)
    if p.is_dir():
        raise DataError(f"{p}: expected a single DICOM file, got a folder (use read_dicom_series)")
    ds = _read_dicom_header(p)
    if ds is None:
        raise DataError(f"{p}: expected a DICOM image file (with Rows and PixelData)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise DataError(f"{p}: expected a single-frame DICOM image, found {frames} frames")
    array = _pixels(p, ds)
    slope, intercept = _rescale(ds)
    if (slope, intercept) != (1.0, 0.0):
        array = array.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    spacing_tag = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if spacing_tag:
        spacing, unit = tuple(_floats(spacing_tag)), "mm"
    else:
        spacing, unit = _ones(2), "pixel"

    def tag(name: str, convert=float):
        value = ds.get(name)
        if value is None or value == "":
            return None
        return convert(value)

    meta = {
        "format": "dicom",
        "spacing_unit": unit,
        "modality": tag("Modality", str),
        "series_uid": tag("SeriesInstanceUID", str),
        "sop_instance_uid": tag("SOPInstanceUID", str),
        "instance_number": tag("InstanceNumber", int),
        "position": tag("ImagePositionPatient", _floats),
        "orientation": tag("ImageOrientationPatient", _floats),
        "slice_location": tag("SliceLocation"),
        "trigger_time": tag("TriggerTime"),
        "photometric": tag("PhotometricInterpretation", str),
        "rescale": (slope, intercept),
    }
    return Volume(array, spacing, None, p, meta)


def read_dicom_series(folder: str | os.PathLike, *, series_uid: str | None = None) -> Volume:
    """Read the DICOM files of one folder (one series) into a 3D :class:`Volume`.

    Files may have any or no extension; hidden files, sub-folders and non-image files
    are skipped. If the folder holds several SeriesInstanceUIDs, ``series_uid`` must pick
    one. Slices are ordered by their position along the slice normal (ImagePositionPatient
    projected on the cross product of the two ImageOrientationPatient direction cosines),
    or by InstanceNumber when positions are missing. The array is
    ``(slice, row, column)``; spacing is ``(slice gap, PixelSpacing[0], PixelSpacing[1])``
    in mm, the gap measured from the positions (else SpacingBetweenSlices or
    SliceThickness). RescaleSlope/Intercept are applied per slice (giving float32).
    ``affine`` maps (slice, row, column) to RAS+ mm when positions are known.
    """
    folder = _existing(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder of DICOM files")
    headers, skipped = _series_headers(folder)
    series_uid, slices = _choose_series(folder, headers, series_uid)
    _check_series(folder, slices)
    try:
        ordered, gap, affine, ordering = _order_slices(folder, slices)
    except DataError as e:
        if not skipped:
            raise
        # A hole in the series next to files that were skipped: say which, they may be the damaged slices.
        raise DataError(f"{e}; files skipped as not DICOM images: {', '.join(skipped[:5])}"
                        f"{' ...' if len(skipped) > 5 else ''}") from e
    array = _stack_planes(ordered)
    row_mm, col_mm = _floats(ordered[0][1].PixelSpacing)
    meta = {
        "format": "dicom-series",
        "spacing_unit": "mm",
        "series_uid": series_uid,
        "ordering": ordering,
        "files": [f.name for f, _ in ordered],
        "skipped_files": skipped,
        "modality": str(ordered[0][1].get("Modality", "")),
        "photometric": str(ordered[0][1].get("PhotometricInterpretation", "")),
    }
    return Volume(array, (gap, row_mm, col_mm), affine, folder, meta)


def _series_headers(folder: Path) -> tuple[list[tuple[Path, Any]], list[str]]:
    """``(file, header)`` of every DICOM image file in ``folder``, and the names of the files skipped."""
    candidates = _dicom_folder_files(folder)
    if not candidates:
        raise DataError(
            f"{folder}: empty folder, expected a DICOM series (a folder of DICOM files)"
        )
    headers: list[tuple[Path, Any]] = []
    skipped: list[str] = []
    for f in candidates:
        ds = _read_dicom_header(f)
        if ds is None:
            skipped.append(f.name)
        else:
            headers.append((f, ds))
    if not headers:
        raise DataError(
            f"{folder}: expected DICOM image files, none of its {len(candidates)} files is one "
            f"(e.g. {candidates[0].name})"
        )
    return headers, skipped


def _choose_series(folder: Path, headers: list[tuple[Path, Any]],
                   series_uid: str | None) -> tuple[str, list[tuple[Path, Any]]]:
    """The series to read (``series_uid``, or the only one) and its ``(file, header)`` slices."""
    by_series: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for f, ds in headers:
        by_series[str(ds.get("SeriesInstanceUID", "<missing>"))].append((f, ds))
    listing = ", ".join(f"{uid} ({len(v)} files)" for uid, v in sorted(by_series.items()))
    if series_uid is None:
        if len(by_series) > 1:
            raise DataError(
                f"{folder}: holds {len(by_series)} DICOM series, pass series_uid= one of: {listing}"
            )
        series_uid = next(iter(by_series))
    elif series_uid not in by_series:
        raise DataError(f"{folder}: no DICOM series {series_uid!r}; available: {listing}")
    return series_uid, by_series[series_uid]


def _check_series(folder: Path, slices: list[tuple[Path, Any]]) -> None:
    """Refuse slices that cannot stack: different shapes, colour, missing or differing PixelSpacing."""
    _check_same(folder, slices, "shape (Rows, Columns)", lambda ds: (int(ds.Rows), int(ds.Columns)))
    _check_same(folder, slices, "SamplesPerPixel", lambda ds: int(ds.get("SamplesPerPixel", 1)))
    if int(slices[0][1].get("SamplesPerPixel", 1)) != 1:
        raise DataError(f"{slices[0][0]}: expected grayscale slices (SamplesPerPixel 1)")
    if any("PixelSpacing" not in ds for _, ds in slices):
        missing = next(f for f, ds in slices if "PixelSpacing" not in ds)
        raise DataError(f"{missing}: expected PixelSpacing in every slice of a DICOM series")
    _check_same(
        folder, slices, "PixelSpacing", lambda ds: tuple(np.round(_floats(ds.PixelSpacing), 4))
    )


def _stack_planes(ordered: list[tuple[Path, Any]]) -> np.ndarray:
    """The ordered slices' pixels as one ``(slice, row, column)`` array, rescaled when any slice asks for it."""
    rescales = [_rescale(ds) for _, ds in ordered]
    needs_rescale = any(r != (1.0, 0.0) for r in rescales)
    planes = []
    for (f, ds), (slope, intercept) in zip(ordered, rescales):
        plane = _pixels(f, ds)
        if needs_rescale:  # slopes may differ per slice (e.g. PET), so apply each one
            plane = plane.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        planes.append(plane)
    return np.stack(planes)


def _check_same(folder: Path, slices: list[tuple[Path, Any]], what: str, get) -> None:
    """Raise naming the first slice whose ``get(ds)`` differs from the most common value."""
    values = [get(ds) for _, ds in slices]
    common, n_common = Counter(values).most_common(1)[0]
    for (f, _), v in zip(slices, values):
        if v != common:
            raise DataError(
                f"{f}: slice {what} {v} differs from {common} of the other {n_common} slices "
                f"of the series in {folder}"
            )


def _order_slices(folder: Path, slices: list[tuple[Path, Any]]):
    """Sort slices spatially; return (ordered, slice gap mm, RAS affine or None, method)."""
    have_geometry = all(
        "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds for _, ds in slices
    )
    if have_geometry:
        return _order_by_position(folder, slices)

    numbers = []
    for f, ds in slices:
        if ds.get("InstanceNumber") in (None, ""):
            raise DataError(
                f"{f}: expected ImagePositionPatient/ImageOrientationPatient or InstanceNumber "
                "to order the slices, found neither"
            )
        numbers.append(int(ds.InstanceNumber))
    dupes = [n for n, c in Counter(numbers).items() if c > 1]
    if dupes:
        names = [f.name for (f, _), n in zip(slices, numbers) if n == dupes[0]]
        raise DataError(f"{folder}: InstanceNumber {dupes[0]} is shared by {', '.join(names)}")
    ordered = [s for _, s in sorted(zip(numbers, slices), key=lambda t: t[0])]
    first = ordered[0][1]
    gap_tag = first.get("SpacingBetweenSlices") or first.get("SliceThickness")
    if gap_tag in (None, ""):
        raise DataError(
            f"{ordered[0][0]}: slices have no positions, expected SpacingBetweenSlices or "
            "SliceThickness to give the slice gap"
        )
    return ordered, abs(float(gap_tag)), None, "instance_number"


def _order_by_position(folder: Path, slices: list[tuple[Path, Any]]):
    orientation = np.array(_floats(slices[0][1].ImageOrientationPatient))
    for f, ds in slices:
        if not np.allclose(_floats(ds.ImageOrientationPatient), orientation, atol=1e-4):
            raise DataError(
                f"{f}: ImageOrientationPatient differs from the other slices of the series in "
                f"{folder} (expected {orientation.tolist()})"
            )
    row_cos, col_cos = orientation[:3], orientation[3:]
    normal = np.cross(row_cos, col_cos)
    positions = np.array([_floats(ds.ImagePositionPatient) for _, ds in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    ordered = [slices[i] for i in order]
    along, positions = along[order], positions[order]

    if len(ordered) == 1:
        ds = ordered[0][1]
        gap_tag = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
        gap = abs(float(gap_tag)) if gap_tag not in (None, "") else 1.0
        step = normal * gap
    else:
        diffs = np.diff(along)
        if np.any(diffs < _GAP_ATOL_MM):
            i = int(np.argmin(diffs))
            raise DataError(
                f"{folder}: {ordered[i][0].name} and {ordered[i + 1][0].name} share a slice "
                "position; expected one 3D series (a cine/4D series must be read per file "
                "with read_dicom_image)"
            )
        gap = float(np.median(diffs))
        bad = np.flatnonzero(np.abs(diffs - gap) > _GAP_RTOL * gap + _GAP_ATOL_MM)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{folder}: slice gap {diffs[i]:.4g} mm between {ordered[i][0].name} and "
                f"{ordered[i + 1][0].name} differs from the series' {gap:.4g} mm; expected "
                "evenly spaced slices (is a file missing?)"
            )
        step = (positions[-1] - positions[0]) / (len(ordered) - 1)

    row_mm, col_mm = _floats(ordered[0][1].PixelSpacing)
    lps = np.eye(4)
    # Array axes are (slice, row, column): moving down a row follows the column cosine,
    # moving along a row follows the row cosine (DICOM PS3.3 C.7.6.2.1.1).
    lps[:3, 0] = step
    lps[:3, 1] = col_cos * row_mm
    lps[:3, 2] = row_cos * col_mm
    lps[:3, 3] = positions[0]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM is LPS+, nibabel affines are RAS+
    return ordered, gap, ras, "position"


# --------------------------------------------------------------------------- arrays / images


def read_hdf5(path: str | os.PathLike, *, key: str | None = None) -> Volume:
    """Read one dataset of an HDF5 file (``key`` = its path; default: the only dataset).

    A ``spacing`` attribute on the dataset (one value per axis, mm) is used when present;
    otherwise spacing is 1.0 per axis in pixel units.
    """
    import h5py

    p = _existing(path)
    with _decoding(p, "HDF5 file", "h5py"):
        with h5py.File(p, "r") as f:
            names: list[str] = []
            f.visititems(
                lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None
            )
            chosen = _choose_key(p, sorted(names), key, "dataset")
            dataset = f[chosen]
            array = np.asarray(dataset[()])
            spacing_attr = dataset.attrs.get("spacing")
    if spacing_attr is not None:
        spacing = tuple(float(s) for s in np.ravel(spacing_attr))
        if len(spacing) != array.ndim:
            raise DataError(
                f"{p}: dataset {chosen!r} has {array.ndim} axes but its spacing attribute has "
                f"{len(spacing)} values"
            )
        unit = "mm"
    else:
        spacing, unit = _ones(array.ndim), "pixel"
    return Volume(array, spacing, None, p, {"format": "hdf5", "spacing_unit": unit, "key": chosen})


def read_numpy(path: str | os.PathLike, *, key: str | None = None) -> Volume:
    """Read a ``.npy`` array, or one array of a ``.npz`` (``key``; default: the only one).

    Pickled (object) arrays are refused. Spacing is 1.0 per axis in pixel units.
    """
    p = _existing(path)
    is_npz = p.name.lower().endswith(".npz")
    if key is not None and not is_npz:
        raise DataError(f"{p}: key= applies to .npz archives, not .npy files")
    with _decoding(p, ".npz archive" if is_npz else ".npy file", "numpy"):
        if is_npz:
            with np.load(p, allow_pickle=False) as archive:
                chosen = _choose_key(p, list(archive.files), key, "array")
                array = archive[chosen]
        else:
            chosen = None
            array = np.load(p, allow_pickle=False)
    meta = {"format": "npz" if is_npz else "npy", "spacing_unit": "pixel", "key": chosen}
    return Volume(array, _ones(array.ndim), None, p, meta)


# PIL modes that are already single-channel and must not be squashed to 8 bits.
_GRAY_MODES = ("L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def read_image(path: str | os.PathLike, *, mode: str | None = None) -> Volume:
    """Read a 2D image (PNG, JPEG, BMP, TIFF) with PIL.

    By default the result is grayscale (rows, columns), keeping 16-bit and float depths;
    ``mode="RGB"`` (or any PIL mode) converts instead, channels last. Multi-page files are
    refused. Spacing is (1.0, 1.0) in pixel units for the two spatial axes.
    """
    from PIL import Image

    p = _existing(path)
    with _decoding(p, "image file", "PIL"):
        with Image.open(p) as im:
            pages = getattr(im, "n_frames", 1)
            if pages != 1:
                raise DataError(f"{p}: expected a single-page image, found {pages} pages")
            original_mode = im.mode
            if mode is not None:
                im = im.convert(mode)
            elif im.mode not in _GRAY_MODES:
                im = im.convert("L")
            array = np.array(im)
    meta = {"format": "image", "spacing_unit": "pixel", "original_mode": original_mode}
    return Volume(array, _ones(2), None, p, meta)
