"""Figures and tables of the video4mri chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations
