"""Figures and tables of the lv_segmentation chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations


def crop(image, box: tuple[int, int, int]):
    """The square ``(top, left, side)`` of a 2D ``image`` (a dataset's ``crop_box``)."""
    top, left, side = box
    return image[top:top + side, left:left + side]
