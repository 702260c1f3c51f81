"""Figures and tables of the lv_segmentation chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations
