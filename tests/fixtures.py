"""Writers of tiny but real-format test files (NIfTI, Analyze, DICOM, HDF5, PNG, NumPy).

Chapter tests import these (``from fixtures import write_nifti``; pytest puts ``tests/``
on ``sys.path``) to build inputs in ``tmp_path`` instead of shipping binary files.
Every writer goes through ``paperkit.atomic.atomic_path`` and returns the path(s) written.

Array conventions match ``paperkit.data.io.readers``: NIfTI/Analyze arrays are (i, j, k)
with ``spacing`` per axis; DICOM volumes are (slice, row, column) with spacing
``(slice gap, row spacing, column spacing)`` in mm.
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from paperkit.atomic import atomic_path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write raw ``data`` (e.g. a corrupt file) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _spatial_affine(spacing: Sequence[float]) -> np.ndarray:
    affine = np.eye(4)
    for axis, s in enumerate(list(spacing)[:3]):
        affine[axis, axis] = s
    return affine


def write_nifti(path: str | os.PathLike, array: np.ndarray, spacing: Sequence[float]) -> Path:
    """Write ``array`` as NIfTI-1 (gzipped if ``path`` ends in ``.gz``) with ``spacing`` zooms."""
    import nibabel as nib

    array = np.asarray(array)
    img = nib.Nifti1Image(array, _spatial_affine(spacing))
    img.header.set_zooms(tuple(float(s) for s in spacing) + (1.0,) * (array.ndim - len(spacing)))
    img.header.set_xyzt_units("mm")
    data = img.to_bytes()  # serialise in memory: nib.save infers the format from the name
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    return write_bytes(path, data)


def write_analyze(
    path_hdr: str | os.PathLike, array: np.ndarray, spacing: Sequence[float]
) -> tuple[Path, Path]:
    """Write an Analyze 7.5 ``.hdr``/``.img`` pair (as OASIS-1 ships); returns both paths."""
    import nibabel as nib

    path_hdr = Path(path_hdr)
    array = np.asarray(array)
    img = nib.AnalyzeImage(array, _spatial_affine(spacing))
    img.header.set_zooms(tuple(float(s) for s in spacing) + (1.0,) * (array.ndim - len(spacing)))
    file_map = nib.AnalyzeImage.make_file_map({"header": io.BytesIO(), "image": io.BytesIO()})
    img.to_file_map(file_map)
    path_img = path_hdr.with_suffix(".img")
    write_bytes(path_hdr, file_map["header"].fileobj.getvalue())
    write_bytes(path_img, file_map["image"].fileobj.getvalue())
    return path_hdr, path_img


def write_dicom_image(
    path: str | os.PathLike,
    pixels: np.ndarray,
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    *,
    position: Sequence[float] | None = (0.0, 0.0, 0.0),
    orientation: Sequence[float] | None = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    instance_number: int | None = 1,
    series_uid: str | None = None,
    study_uid: str | None = None,
    slice_thickness: float | None = 1.0,
    slope: float = 1.0,
    intercept: float = 0.0,
    modality: str = "MR",
    implicit_vr: bool = False,
) -> Path:
    """Write one valid single-frame DICOM file holding the integer image ``pixels``.

    ``pixels`` are the *stored* values (16-bit; signed if any are negative); readers
    should return ``pixels * slope + intercept``. ``position``/``orientation``/
    ``instance_number`` may be ``None`` to leave the tag out.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        CTImageStorage,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        MRImageStorage,
        generate_uid,
    )

    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or not np.issubdtype(pixels.dtype, np.integer):
        raise ValueError(
            f"write_dicom_image: expected a 2D integer array, got {pixels.dtype} {pixels.shape}"
        )
    signed = bool(pixels.min() < 0)
    stored = pixels.astype("<i2" if signed else "<u2")
    if not np.array_equal(stored, pixels):
        raise ValueError("write_dicom_image: pixel values do not fit in 16 bits")

    def ds_values(values: Sequence[float]) -> list[str]:
        return [f"{float(v):.10g}" for v in values]  # DS strings are at most 16 characters

    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.PatientID = "PAPERKIT-TEST"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    if instance_number is not None:
        ds.InstanceNumber = int(instance_number)
    if position is not None:
        ds.ImagePositionPatient = ds_values(position)
    if orientation is not None:
        ds.ImageOrientationPatient = ds_values(orientation)
    ds.PixelSpacing = ds_values(pixel_spacing)
    if slice_thickness is not None:
        ds.SliceThickness = ds_values([slice_thickness])[0]
    ds.RescaleSlope = ds_values([slope])[0]
    ds.RescaleIntercept = ds_values([intercept])[0]
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = stored.tobytes()

    with atomic_path(path) as tmp:
        # enforce_file_format: 128-byte preamble + "DICM" + file meta, encoded per
        # meta.TransferSyntaxUID (pydicom 3 derives the VR/endianness from it).
        ds.save_as(tmp, enforce_file_format=True)
    return Path(path)


def write_dicom_series(
    folder: str | os.PathLike,
    volume: np.ndarray,
    spacing: Sequence[float],
    shuffle_filenames: bool = True,
    *,
    scramble_instance_numbers: bool = False,
    series_uid: str | None = None,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    slope: float = 1.0,
    intercept: float = 0.0,
    with_positions: bool = True,
    suffix: str = ".dcm",
    seed: int = 0,
    modality: str = "MR",
) -> list[Path]:
    """Write the integer ``volume`` (slice, row, column) as one DICOM series in ``folder``.

    ``spacing`` is (slice gap, row spacing, column spacing) in mm. Slice ``k`` sits at
    ``origin + k * gap * normal`` (normal = row cosine x column cosine). With
    ``shuffle_filenames`` the sorted file names are not in slice order; with
    ``scramble_instance_numbers`` InstanceNumber is a random permutation too; with
    ``with_positions=False`` ImagePositionPatient/ImageOrientationPatient are left out.
    Returns the written paths in slice (position) order.
    """
    from pydicom.uid import generate_uid

    folder = Path(folder)
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(
            f"write_dicom_series: expected a 3D (slice, row, column) array, got {volume.shape}"
        )
    n = volume.shape[0]
    gap, row_mm, col_mm = (float(s) for s in spacing)
    rng = np.random.default_rng(seed)
    cosines = np.asarray(orientation, dtype=float)
    normal = np.cross(cosines[:3], cosines[3:])
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()

    name_order = rng.permutation(n) if shuffle_filenames else np.arange(n)
    numbers = rng.permutation(n) + 1 if scramble_instance_numbers else np.arange(n) + 1
    paths = []
    for k in range(n):
        path = folder / f"IM{int(name_order[k]):04d}{suffix}"
        position = np.asarray(origin, dtype=float) + k * gap * normal
        write_dicom_image(
            path,
            volume[k],
            (row_mm, col_mm),
            position=position if with_positions else None,
            orientation=cosines if with_positions else None,
            instance_number=int(numbers[k]),
            series_uid=series_uid,
            study_uid=study_uid,
            slice_thickness=gap,
            slope=slope,
            intercept=intercept,
            modality=modality,
        )
        paths.append(path)
    return paths


def write_h5(
    path: str | os.PathLike,
    arrays: np.ndarray | dict[str, np.ndarray],
    spacing: Sequence[float] | None = None,
) -> Path:
    """Write one array (as dataset ``"image"``) or a dict of named datasets to HDF5.

    With ``spacing``, each dataset gets a ``spacing`` attribute (what ``read_hdf5`` uses).
    Names may contain ``/`` to create groups.
    """
    import h5py

    if not isinstance(arrays, dict):
        arrays = {"image": arrays}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for name, array in arrays.items():
                dataset = f.create_dataset(name, data=np.asarray(array))
                if spacing is not None:
                    dataset.attrs["spacing"] = np.asarray(spacing, dtype=float)
    return Path(path)


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 or uint16 grayscale (H, W) or uint8 RGB (H, W, 3) array as PNG."""
    from PIL import Image

    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_png: expected uint8 or uint16, got {array.dtype}")
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return Path(path)


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as ``.npy``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)
    return Path(path)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write keyword ``arrays`` as an uncompressed ``.npz`` archive."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)
