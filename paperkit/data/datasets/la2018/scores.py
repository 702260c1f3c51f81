"""LA 2018 quality scores: paperkit's scores CSV (the paper's 196 scored scans are private).

The CSV's columns and the binarisation are documented in :mod:`paperkit.data.datasets.la2018.layout`
(Sultan et al., Sec. 4.1, for the threshold).
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from paperkit.data.io.errors import DataError
from paperkit.data.io.text import read_utf8

__all__ = ["ATTRIBUTE_COLUMNS", "DIAGNOSTIC_THRESHOLD", "QA_COLUMN", "SCORE_COLUMNS", "SCORES_FILE", "binarise",
           "read_scores", "write_scores"]

ATTRIBUTE_COLUMNS = ("myocardium_nulling", "sharpness", "enhancement_aorta_valve")
QA_COLUMN = "fibrosis_quality"
SCORE_COLUMNS = ("case_id", *ATTRIBUTE_COLUMNS, QA_COLUMN)
SCORES_FILE = "scores.csv"
DIAGNOSTIC_THRESHOLD = 3  # scores >= 3 are diagnostic (1)


def binarise(score) -> np.ndarray | int:
    """1 (diagnostic) where a 1-5 score is >= 3, else 0 (Sultan et al., Sec. 4.1)."""
    out = (np.asarray(score) >= DIAGNOSTIC_THRESHOLD).astype(np.int64)
    return int(out) if out.ndim == 0 else out



def read_scores(path: str | os.PathLike) -> dict[str, dict]:
    """Read a scores CSV: ``{case_id: {column: int score, ..., "subject_id": str (if given)}}``.

    Required columns :data:`SCORE_COLUMNS`; scores are integers 1-5. Raises
    :class:`DataError` naming the file (and line) for a missing column, a non-integer or
    out-of-range score, an empty or duplicated case id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scores CSV not found")
    with io.StringIO(read_utf8(path, f"a scores CSV ({', '.join(SCORE_COLUMNS)})"), newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in SCORE_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SCORE_COLUMNS)} "
                            f"(+ optional subject_id), found {', '.join(columns) or '(none)'}")
        table: dict[str, dict] = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            case = row["case_id"]
            if not case:
                raise DataError(f"{path}: line {line}: empty case_id")
            if case in table:
                raise DataError(f"{path}: line {line}: case {case!r} scored twice; expected one row per case")
            entry: dict = {}
            for column in SCORE_COLUMNS[1:]:
                text = row[column]
                try:
                    value = float(text)
                except ValueError:
                    value = float("nan")
                if not (np.isfinite(value) and value == int(value) and 1 <= value <= 5):
                    raise DataError(f"{path}: line {line}: {column}={text!r} for case {case!r}; "
                                    f"expected an integer score from 1 to 5")
                entry[column] = int(value)
            if row.get("subject_id"):
                entry["subject_id"] = row["subject_id"]
            table[case] = entry
    return table


def write_scores(path: str | os.PathLike, scores: Mapping[str, Mapping[str, int]]) -> Path:
    """Atomically write ``{case_id: {column: score[, "subject_id": ...]}}`` as a scores CSV."""
    from paperkit.atomic import atomic_path

    with_subject = any("subject_id" in s for s in scores.values())
    columns = list(SCORE_COLUMNS) + (["subject_id"] if with_subject else [])
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for case in sorted(scores):
                s = scores[case]
                writer.writerow([case] + [int(s[c]) for c in SCORE_COLUMNS[1:]]
                                + ([s.get("subject_id", case)] if with_subject else []))
    return Path(path)
