"""Sunnybrook Cardiac Data (MICCAI 2009 LV segmentation challenge), one module per job.

* :mod:`.layout`   -- which of the three folder layouts a root holds, and each patient's folders
  (the layouts are documented in that module's docstring, also ``book/data_guide.md``);
* :mod:`.contours` -- reading the ``IM-0001-NNNN-icontour-manual.txt`` contour files;
* :mod:`.pairing`  -- :func:`load_sunnybrook`: images paired with contours by InstanceNumber;
* :mod:`.split`    -- the challenge's own patient sets (:data:`OFFICIAL_SPLIT`) or a random split;
* :mod:`.dataset`  -- :class:`SegmentationSlices`, the torch dataset of ``(image, mask)`` slices.
"""
from paperkit.data.datasets.sunnybrook.contours import CONTOUR_KINDS, read_contour
from paperkit.data.datasets.sunnybrook.dataset import SegmentationSlices, covering_crop_fraction
from paperkit.data.datasets.sunnybrook.layout import CHALLENGE_SAX_SERIES, canonical_patient_id, detect_layout
from paperkit.data.datasets.sunnybrook.pairing import SunnybrookSample, load_sunnybrook, samples_table
from paperkit.data.datasets.sunnybrook.split import OFFICIAL_SPLIT, split_patients

__all__ = [
    "CHALLENGE_SAX_SERIES",
    "CONTOUR_KINDS",
    "OFFICIAL_SPLIT",
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
