"""Data in three kinds, plus the modules every loader shares.

* :mod:`paperkit.data.io` -- file readers and caches: :func:`read_volume` reads NIfTI, Analyze,
  DICOM (series or image), HDF5, NumPy and PNG/JPEG/TIFF into a :class:`Volume`;
  :class:`VolumeCache` decodes once, then memory-maps; :class:`DataError` / :class:`SubjectLeakError`.
* :mod:`paperkit.data.datasets` -- one module or small package per public dataset layout
  (``sunnybrook/``, ``la2018/``, ``chexpert``, ``csv_images``, ``medmnist``, ``medmnist3d``,
  ``ida``, ``oasis``, ``classification_sets``), each read as its publisher ships it.
* :mod:`paperkit.data.synthetic` -- generators that write those layouts (``cine``, ``cxr``,
  ``lge``, ``brain``, ``shapes``, ...) so the offline default runs the real loading path.
* Shared: :mod:`~paperkit.data.splits` (:func:`subject_split`, :func:`check_no_overlap`, the
  :class:`Split` container), :mod:`~paperkit.data.subsample` (:func:`stratified_subsample`),
  :mod:`~paperkit.data.brain_mri` (brain MRI cohorts) and :mod:`~paperkit.data.mri_frames`
  (volumes as video clips).

The names below are re-exported lazily (PEP 562), so ``import paperkit.data`` imports no
dataset layout, reader library or torch until a name is used.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "paperkit.data.io.cache": ("VolumeCache", "content_digest"),
    "paperkit.data.io.errors": ("DataError", "SubjectLeakError"),
    "paperkit.data.io.readers": ("SUPPORTED_SUFFIXES", "Volume", "format_of", "read_dicom_image",
                                 "read_dicom_series", "read_hdf5", "read_image", "read_nifti", "read_numpy",
                                 "read_volume", "source_files"),
    "paperkit.data.splits": ("Split", "check_no_overlap", "subject_split"),
    "paperkit.data.subsample": ("stratified_subsample",),
    "paperkit.data.datasets.sunnybrook": ("OFFICIAL_SPLIT", "SegmentationSlices", "SunnybrookSample",
                                          "load_sunnybrook", "read_contour"),
    "paperkit.data.datasets.chexpert": ("PAPER_LABELS", "load_chexpert"),
    "paperkit.data.datasets.csv_images": ("ImageLabelDataset", "imbalance_table", "load_csv_images",
                                          "prospective_split"),
    "paperkit.data.datasets.medmnist": ("MedMNISTDataset", "load_medmnist_npz"),
    "paperkit.data.synthetic.cine": ("make_synthetic_cine",),
    "paperkit.data.synthetic.cxr": ("make_synthetic_cxr",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import a re-exported name's module on first use (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'paperkit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
