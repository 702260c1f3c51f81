"""A content-addressed on-disk cache of decoded volumes, read back memory-mapped.

Decoding a ``.nii.gz`` or a DICOM folder every epoch is slow; ``VolumeCache.load`` decodes
once, stores the array as ``<cache_dir>/<key>.npy`` (plus ``<key>.json`` with spacing and
source) and afterwards returns a read-only ``np.load(..., mmap_mode="r")`` view.

The key is derived from the *bytes* of the source, never its name or timestamp:

* a file: sha256 of its content;
* an Analyze pair: of both files' contents (header, then image);
* a DICOM folder: of every candidate file's name and content, in sorted name order;

combined with the reader's qualified name and its keyword arguments. So an edited file is
re-decoded, and a renamed or copied identical file is a hit. Hashing a file is memoised
per process on (path, size, mtime_ns, inode), so later epochs only ``stat`` the files.

Writes go through :func:`paperkit.atomic.atomic_path`: a process killed mid-write leaves
at most a hidden ``.<key>.npy.*.tmp`` file that is never loaded (and is removed by the
next ``VolumeCache`` once it is a day old), never a partial ``<key>.npy``.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from paperkit.atomic import atomic_path, write_json
from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import Volume, _existing, read_volume, source_files

# Bump when the on-disk layout or key recipe changes, so old entries are simply misses.
CACHE_VERSION = "paperkit-volume-cache-v1"

# Process-wide memo: (source path, stat signature of its files) -> content digest.
_DIGEST_MEMO: dict[tuple, str] = {}

_STALE_TEMP_SECONDS = 24 * 3600


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def content_digest(path: str | os.PathLike) -> str:
    """sha256 (hex) of the bytes that determine ``read_volume(path)``; see module docstring.

    Memoised per (path, size, mtime_ns, inode) of every source file within the process.
    """
    p = _existing(path)
    files = source_files(p)
    stats = [f.stat() for f in files]
    signature = (
        str(p),
        tuple((f.name, s.st_size, s.st_mtime_ns, s.st_ino) for f, s in zip(files, stats)),
    )
    cached = _DIGEST_MEMO.get(signature)
    if cached is not None:
        return cached
    if p.is_dir() or len(files) != 1:
        h = hashlib.sha256()
        for f in files:
            # Folder members are identified by name; the files of an Analyze pair are
            # not, so a renamed identical pair still hits.
            name = f.name if p.is_dir() else ""
            h.update(f"{name}\0{_file_sha256(f)}\n".encode())
        digest = h.hexdigest()
    else:
        digest = _file_sha256(files[0])
    _DIGEST_MEMO[signature] = digest
    return digest


def _reader_id(reader: Callable) -> str:
    return f"{getattr(reader, '__module__', '?')}.{getattr(reader, '__qualname__', repr(reader))}"


class VolumeCache:
    """Decode-once cache of volumes in ``cache_dir``; see the module docstring.

    ``hits`` and ``misses`` count ``load`` calls served from disk and decoded, respectively.
    """

    def __init__(self, cache_dir: str | os.PathLike) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._remove_stale_temps()

    def key(
        self, path: str | os.PathLike, reader: Callable = read_volume, **reader_kwargs: Any
    ) -> str:
        """The cache key (hex sha256) of ``reader(path, **reader_kwargs)``."""
        recipe = json.dumps(
            {
                "version": CACHE_VERSION,
                "content": content_digest(path),
                "reader": _reader_id(reader),
                "kwargs": reader_kwargs,
            },
            sort_keys=True,
            default=repr,
        )
        return hashlib.sha256(recipe.encode()).hexdigest()

    def array_path(self, key: str) -> Path:
        """Where the array of ``key`` is stored."""
        return self.cache_dir / f"{key}.npy"

    def sidecar_path(self, key: str) -> Path:
        """Where the JSON sidecar (spacing, source, ...) of ``key`` is stored."""
        return self.cache_dir / f"{key}.json"

    def load(
        self, path: str | os.PathLike, reader: Callable = read_volume, **reader_kwargs: Any
    ) -> np.ndarray:
        """Return ``reader(path, **reader_kwargs)``'s array as a read-only memory map.

        ``reader`` may return a :class:`Volume` or an array. Decodes only on a miss.
        Copy the result (``np.array(x)``) before modifying it in place.
        """
        key = self.key(path, reader, **reader_kwargs)
        target = self.array_path(key)
        try:
            array = np.load(target, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            pass
        except (ValueError, OSError, EOFError):
            # Unreadable entry (e.g. zero-length after a power cut, since renames are not
            # fsynced): fall through and rebuild it.
            pass
        else:
            self.hits += 1
            return array

        source = _existing(path)
        result = reader(source, **reader_kwargs)
        volume = result if isinstance(result, Volume) else None
        array = np.asarray(result.array if volume is not None else result)
        if array.dtype.hasobject:
            raise DataError(
                f"{source}: reader returned an object array, expected numeric data to cache"
            )
        spacing = list(volume.spacing) if volume is not None else None
        affine = volume.affine if volume is not None else None
        meta = volume.meta if volume is not None else {}
        # Sidecar first: an existing .npy then always has its sidecar.
        write_json(
            self.sidecar_path(key),
            {
                "source": str(source),
                "reader": _reader_id(reader),
                "reader_kwargs": reader_kwargs,
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "spacing": spacing,
                "affine": affine.tolist() if affine is not None else None,
                "format": meta.get("format"),
                "spacing_unit": meta.get("spacing_unit"),
            },
        )
        with atomic_path(target) as tmp:
            # Through a file object: np.save(name) would append ".npy" to the temp name.
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
        self.misses += 1
        return np.load(target, mmap_mode="r", allow_pickle=False)

    def info(
        self, path: str | os.PathLike, reader: Callable = read_volume, **reader_kwargs: Any
    ) -> dict:
        """The JSON sidecar of ``path`` (shape, dtype, spacing, affine, source...).

        Decodes and caches the volume first if needed (counted like a ``load``).
        """
        key = self.key(path, reader, **reader_kwargs)
        sidecar = self.sidecar_path(key)
        if not (sidecar.exists() and self.array_path(key).exists()):
            self.load(path, reader, **reader_kwargs)
        return json.loads(sidecar.read_text(encoding="utf-8"))

    def _remove_stale_temps(self) -> None:
        """Delete temp files left by killed writers; recent ones may still be in use."""
        cutoff = time.time() - _STALE_TEMP_SECONDS
        for tmp in self.cache_dir.glob(".*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except FileNotFoundError:  # another process cleaned it first
                pass
