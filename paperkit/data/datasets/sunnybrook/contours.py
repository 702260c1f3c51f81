"""Sunnybrook contour files: reading one, and finding a patient's files of one kind.

The format (``IM-0001-NNNN-<kind>contour-manual.txt``, one ``x y`` pixel pair per line) is
documented in :mod:`paperkit.data.datasets.sunnybrook.layout` (Radau et al., MIDAS Journal 2009,
http://hdl.handle.net/10380/3070).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from paperkit.data.io.errors import DataError

__all__ = ["CONTOUR_KINDS", "contours_below", "read_contour"]

CONTOUR_KINDS = {"i": "endocardium (LV blood pool)", "o": "epicardium"}

_CONTOUR_NAME = re.compile(r"^IM-(\d{4})-(\d{4})-([a-z0-9]+)contour-manual\.txt$", re.IGNORECASE)


def read_contour(path: str | Path) -> np.ndarray:
    """Read a Sunnybrook contour file into a float ``(N, 2)`` array of ``(x, y)`` pixels.

    The format (one ``x y`` pair per line, whitespace separated, x = column, y = row) is
    the challenge's, described in the module docstring. Blank lines are skipped. Raises
    :class:`DataError` naming the file and line for a malformed or non-finite line, and
    for a file with fewer than 3 points (not a polygon).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: expected a plain-text contour file of 'x y' lines, got binary data") from e
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError(f"{path}: line {number}: expected two numbers 'x y', got {line.strip()!r}")
        try:
            x, y = float(fields[0]), float(fields[1])
        except ValueError:
            raise DataError(f"{path}: line {number}: expected two numbers 'x y', got {line.strip()!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise DataError(f"{path}: line {number}: expected finite coordinates, got {line.strip()!r}")
        points.append((x, y))
    if len(points) < 3:
        raise DataError(f"{path}: expected a closed contour of at least 3 'x y' lines, found {len(points)}")
    return np.asarray(points, dtype=float)


def _contour_number(path: Path, kind: str) -> int | None:
    """Image number NNNN of ``IM-0001-NNNN-<kind>contour-manual.txt``, else None."""
    match = _CONTOUR_NAME.match(path.name)
    if match and match.group(3).lower() == kind:
        return int(match.group(2))
    return None


def contours_below(folder: Path, kind: str) -> list[tuple[int, Path]]:
    """(image number, path) of every ``kind`` contour file below ``folder``, sorted."""
    found = []
    for path in folder.rglob("*contour-manual.txt"):
        number = _contour_number(path, kind)
        if number is not None and path.is_file():
            found.append((number, path))
    numbers = [n for n, _ in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        paths = [str(p) for n, p in found if n == duplicates[0]]
        raise DataError(f"{folder}: expected one {kind}-contour per image, image {duplicates[0]} has {len(paths)}: "
                        + ", ".join(paths))
    return sorted(found)
