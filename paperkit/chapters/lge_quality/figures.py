"""Figures and tables of the lge_quality chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations
