"""Where real data is looked for and where generated data and caches go.

* Real data: the chapter's ``data_dir`` parameter, else ``$PAPERKIT_DATA/<dataset>``.
* Generated (synthetic) data and decoded-volume caches: ``$PAPERKIT_CACHE``, else
  ``~/.cache/paperkit``. Both are safe to delete; they are rebuilt on demand.
"""
from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path | None:
    """``$PAPERKIT_DATA`` as a path, or None when it is not set."""
    value = os.environ.get("PAPERKIT_DATA")
    return Path(value).expanduser() if value else None


def resolve_data_dir(dataset: str, data_dir: str | os.PathLike | None) -> Path:
    """The folder holding real ``dataset``: ``data_dir`` if given, else ``$PAPERKIT_DATA/<dataset>``.

    Fails with a message that says which path was tried and how to point at the data.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        source = "data_dir"
    else:
        root = data_root()
        if root is None:
            raise FileNotFoundError(
                f"dataset={dataset!r} needs its files: pass -p data_dir /path/to/{dataset} "
                f"or set PAPERKIT_DATA to a folder that contains {dataset}/")
        path, source = root / dataset, "$PAPERKIT_DATA/" + dataset
    if not path.is_dir():
        raise FileNotFoundError(f"{source} = {path}: folder not found (dataset={dataset!r}); "
                                "see the data guide for the layout the loader expects")
    return path


def cache_dir(*parts: str) -> Path:
    """A folder under the paperkit cache (created), e.g. ``cache_dir("synthetic", "video4mri")``."""
    root = Path(os.environ.get("PAPERKIT_CACHE", Path.home() / ".cache" / "paperkit")).expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
