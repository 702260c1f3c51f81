"""The papers' reported numbers, as data files with their source.

One CSV per chapter, ``paperkit/reference/<chapter>.csv``, one reported number per row:

=========  ================================================================
source     where in the paper: table/figure/section (e.g. ``Table 2``)
dataset    the data the paper's number came from (e.g. ``ADNI (AD vs NC)``)
setting    model / configuration / row label as the paper names it
metric     what was measured (``accuracy``, ``AUROC``, ``params_M`` ...)
value      the number as printed in the paper (percent stays percent; see ``unit``)
unit       ``%``, ``M``, ``ms``, ``mm``, ``s`` or empty for a plain fraction
note       anything needed to read it (optional)
=========  ================================================================

Numbers are copied from the paper as facts; nothing here is computed.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["source", "dataset", "setting", "metric", "value", "unit", "note"]
_HERE = Path(__file__).parent


def chapters() -> list[str]:
    """Chapters that have reference numbers."""
    return sorted(p.stem for p in _HERE.glob("*.csv"))


def load(chapter: str, *, source: str | None = None, metric: str | None = None) -> pd.DataFrame:
    """The reference numbers of ``chapter``, optionally filtered by ``source`` and ``metric``."""
    path = _HERE / f"{chapter}.csv"
    if not path.exists():
        raise ValueError(f"no reference numbers for chapter {chapter!r}: {path} does not exist; "
                         f"chapters with reference data: {', '.join(chapters())}")
    frame = pd.read_csv(path, dtype={"unit": str, "note": str}, keep_default_na=False, na_values=[""])
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {COLUMNS}")
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = frame.index[values.isna()].tolist()
    if bad:
        raise ValueError(f"{path}: rows {[i + 2 for i in bad]} have a non-numeric value")
    frame["value"] = values
    frame[["unit", "note"]] = frame[["unit", "note"]].fillna("")
    if source is not None:
        frame = frame[frame["source"] == source]
    if metric is not None:
        frame = frame[frame["metric"] == metric]
    return frame.reset_index(drop=True)
