"""Reading, caching and splitting data: the I/O layer under every chapter's loader.

* :func:`read_volume` -- NIfTI, Analyze, DICOM (series or image), HDF5, NumPy, PNG/JPEG/TIFF
  into a :class:`Volume` (array + spacing + affine + meta).
* :class:`VolumeCache` -- decode once, then memory-map, keyed by file content.
* :func:`subject_split` / :func:`check_no_overlap` -- splits that never share a subject.
* Dataset layouts and synthetic generators live in their own modules (``sunnybrook``,
  ``synthetic_cine``, ``chexpert``, ``synthetic_cxr``, ...); the most used names are re-exported here.
"""
from paperkit.data.io.cache import VolumeCache, content_digest
from paperkit.data.io.errors import DataError, SubjectLeakError
from paperkit.data.io.readers import (
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
from paperkit.data.datasets.sunnybrook import OFFICIAL_SPLIT, SegmentationSlices, SunnybrookSample, load_sunnybrook, read_contour
from paperkit.data.synthetic.cine import make_synthetic_cine
from paperkit.data.datasets.chexpert import PAPER_LABELS, load_chexpert
from paperkit.data.datasets.csv_images import ImageLabelDataset, imbalance_table, load_csv_images, prospective_split
from paperkit.data.datasets.medmnist import MedMNISTDataset, load_medmnist_npz
from paperkit.data.subsample import stratified_subsample
from paperkit.data.synthetic.cxr import make_synthetic_cxr

__all__ = [
    "DataError",
    "ImageLabelDataset",
    "MedMNISTDataset",
    "PAPER_LABELS",
    "imbalance_table",
    "load_chexpert",
    "load_csv_images",
    "load_medmnist_npz",
    "make_synthetic_cxr",
    "prospective_split",
    "stratified_subsample",
    "OFFICIAL_SPLIT",
    "SegmentationSlices",
    "SunnybrookSample",
    "load_sunnybrook",
    "make_synthetic_cine",
    "read_contour",
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
