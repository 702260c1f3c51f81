"""A fingerprint of the data a run read, so a finished run is reused only for the same data.

Run keys of real data hash this fingerprint instead of the folder's path: after labels are
edited or files replaced at the same path, the key changes and the run trains again, and the
same data copied to another folder or machine (a GPU sweep's records copied back) keeps its key.

What is hashed, per file under the root (relative path, never the absolute one):

* its size;
* its whole content, for label-like files (:data:`TEXT_SUFFIXES`: tables, lists, contours) and
  any file up to :data:`FULL_HASH_BYTES`;
* for other files (volumes, DICOM slices, images), the first and last :data:`EDGE_BYTES` -- the
  header and the end of the pixel data, where a replaced scan differs in practice. A data set of
  100,000 DICOM slices is thus read as about 800 MB, not its full size, at each run's start.

Modification times are left out on purpose: a copy gets new ones, and the design lets records
travel with their data.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

FULL_HASH_BYTES = 1 << 16
EDGE_BYTES = 1 << 12
TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".list", ".xlsx", ".xls"}


def _file_digest(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= 2 * EDGE_BYTES or size <= FULL_HASH_BYTES or path.suffix.lower() in TEXT_SUFFIXES:
            digest.update(handle.read())
        else:
            digest.update(handle.read(EDGE_BYTES))
            handle.seek(size - EDGE_BYTES)
            digest.update(handle.read(EDGE_BYTES))
    return digest.hexdigest()


def fingerprint(root: str | os.PathLike, files: Iterable[str | os.PathLike] | None = None) -> dict:
    """``{"files": n, "bytes": total, "sha256": digest}`` of ``files`` (default: every file under ``root``).

    ``files`` may be absolute or relative to ``root``; each must lie under ``root``. Hidden files
    and folders (``.cache``, ``.DS_Store``) are skipped when ``files`` is not given.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: the data folder to fingerprint does not exist")
    if files is None:
        paths = sorted(p for p in (root.rglob("*") if root.is_dir() else [root]) if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
    else:
        paths = sorted({(p if Path(p).is_absolute() else root / p) for p in map(Path, files)})
    digest, total = hashlib.sha256(), 0
    for path in paths:
        try:
            relative = path.relative_to(root) if root.is_dir() else Path(path.name)
        except ValueError:
            raise ValueError(f"{path}: not under the fingerprinted folder {root}") from None
        size = path.stat().st_size
        total += size
        digest.update(f"{relative.as_posix()}\0{size}\0{_file_digest(path, size)}\n".encode())
    return {"files": len(paths), "bytes": total, "sha256": digest.hexdigest()[:16]}
