"""Each chapter's contract: its datasets, models, profiles, expected times and the paper's claims.

``paperkit.chapters.get("video4mri").SPEC`` is what the notebook's parameters are checked
against; ``CLAIMS`` lists the paper's claims (text and where the paper shows them) that the
chapter's claims ledger tests.
"""
from __future__ import annotations

import importlib
import warnings
from types import ModuleType

# Libraries that import tqdm.auto inside a kernel warn that ipywidgets is absent; the book's
# bars are plain text on purpose, so the warning is noise on a chapter's page.
warnings.filterwarnings("ignore", message="IProgress not found")

CHAPTERS = ("video4mri", "model_doctor", "lge_quality", "lv_segmentation", "rethink_transfer")


def get(name: str) -> ModuleType:
    """The chapter module ``name`` (with ``SPEC``, ``CLAIMS``, ``ISSUE``)."""
    if name not in CHAPTERS:
        raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(CHAPTERS)}")
    return importlib.import_module(f"{__name__}.{name}")
