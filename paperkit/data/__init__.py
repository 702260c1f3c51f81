"""Reading, caching and splitting data: the I/O layer under every chapter's loader.

* :func:`read_volume` -- NIfTI, Analyze, DICOM (series or image), HDF5, NumPy, PNG/JPEG/TIFF
  into a :class:`Volume` (array + spacing + affine + meta).
* :class:`VolumeCache` -- decode once, then memory-map, keyed by file content.
* :func:`subject_split` / :func:`check_no_overlap` -- splits that never share a subject.
"""
from paperkit.data.cache import VolumeCache, content_digest
from paperkit.data.errors import DataError, SubjectLeakError
from paperkit.data.readers import (
    SUPPORTED_SUFFIXES,
    Volume,
    format_of,
    read_dicom_image,
    read_dicom_series,
    read_hdf5,
    read_image,
    read_nifti,
    read_numpy,
    read_volume,
    source_files,
)
from paperkit.data.splits import check_no_overlap, subject_split

__all__ = [
    "DataError",
    "SUPPORTED_SUFFIXES",
    "SubjectLeakError",
    "Volume",
    "VolumeCache",
    "check_no_overlap",
    "content_digest",
    "format_of",
    "read_dicom_image",
    "read_dicom_series",
    "read_hdf5",
    "read_image",
    "read_nifti",
    "read_numpy",
    "read_volume",
    "source_files",
    "subject_split",
]
