"""Atomic file writes: write to a temporary name in the same folder, then rename.

A reader (or a resumed run) therefore sees either the old file or the complete new one,
never a half-written file, even if the process is killed mid-write.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process's umask (read by setting and restoring it: the OS offers no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched. The file gets
    the permissions an ordinary ``open()`` would give under the user's umask (``mkstemp`` makes
    it private, which would lock the rest of a shared lab or classroom folder out).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_path` left in ``folder``; return them.

    Call it only where no other process can be writing (e.g. holding the folder's lock).
    """
    folder = Path(folder)
    stale = [p for p in folder.glob(f".*{TEMP_SUFFIX}") if p.is_file()] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN-free values expected)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """Atomically ``torch.save`` ``obj`` to ``path``."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Atomically write ``arrays`` to ``path`` as a compressed ``.npz`` (``numpy.savez_compressed``)."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as file:  # a file object: numpy would append ".npz" to a name
        np.savez_compressed(file, **arrays)
    return Path(path)


MANIFEST = "manifest.json"


def manifest_params(root: str | os.PathLike) -> Any:
    """The ``params`` recorded in ``root/manifest.json`` by :func:`build_folder`, or None."""
    try:
        return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8")).get("params")
    except (OSError, ValueError, AttributeError):
        return None


def build_folder(parent: str | os.PathLike, name: str, params: dict, build: Callable[[Path], dict]) -> Path:
    """Build a generated data set as ``parent/name``, atomically, or reuse a complete one.

    ``build(tmp)`` writes the files into an empty temporary sibling folder and returns extra
    manifest fields; the manifest (``params`` + those fields) is written last, so its presence
    marks a complete folder. The folder is then renamed into place; an incomplete or different
    copy there is moved aside first. A folder whose manifest already holds ``params`` is
    returned untouched, also when another process finished the same build first. On any error
    nothing is left behind.
    """
    parent = Path(parent).expanduser()
    parent.mkdir(parents=True, exist_ok=True)
    root = parent / name
    if manifest_params(root) == params:
        return root
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it private; a data set is an ordinary folder
        extra = build(tmp)
        write_json(tmp / MANIFEST, {"params": params, **(extra or {})})
        if manifest_params(root) == params:  # another process finished while we built: keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
            return root
        stale = None
        if root.exists():
            stale = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=parent))
            os.replace(root, stale / name)
        try:
            os.replace(tmp, root)
        except OSError:
            if manifest_params(root) == params:  # another process finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return root
            raise
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root
