"""The five chapters, one package each, and the contract they share.

* :mod:`paperkit.chapters.contract` -- the parameters every chapter takes (:class:`ChapterSpec`,
  :func:`start`), checked at once with the list of valid values.
* ``paperkit.chapters.<name>`` -- one package per paper with the same four modules: ``spec``
  (datasets, models, profiles, the paper's claims), ``experiment`` (data arrangement and training
  with run records), ``claims`` (the ledger's verdict functions) and ``figures``.

``get("video4mri")`` returns that chapter's ``spec`` module: ``SPEC`` is what the notebook's
parameters are checked against and ``CLAIMS`` lists the paper's claims the ledger tests.
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
    """The ``spec`` module of chapter ``name`` (with ``SPEC`` and ``CLAIMS``)."""
    if name not in CHAPTERS:
        raise ValueError(f"unknown chapter {name!r}; chapters: {', '.join(CHAPTERS)}")
    return importlib.import_module(f"{__name__}.{name}.spec")
