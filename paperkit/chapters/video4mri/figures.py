"""Figures and tables of the video4mri chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations


def interval(row) -> str:
    """A result row's bootstrap accuracy as ``mean [low, high]``
    (attributes ``boot_mean``, ``boot_low``, ``boot_high``)."""
    return f"{row.boot_mean:.3f} [{row.boot_low:.3f}, {row.boot_high:.3f}]"
