"""Text files (CSV tables, id lists) read as UTF-8, with an error that says what to do otherwise.

Every table a loader reads goes through :func:`read_utf8`, so a file exported in another
encoding (e.g. a spreadsheet saved as Latin-1 / Windows-1252) is a :class:`DataError`
naming the file, the first byte that is not UTF-8 and how to convert it -- never a raw
``UnicodeDecodeError`` and never a silent guess that could change an identifier.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from paperkit.data.io.errors import DataError

__all__ = ["read_csv_table", "read_utf8"]


def read_utf8(path: str | os.PathLike, what: str) -> str:
    """The text of ``path`` decoded as UTF-8 (a leading byte-order mark is dropped).

    ``what`` says what the file should be (``"the IDA collection CSV"``) for the error
    message. Raises :class:`DataError` for a file that is not UTF-8 or cannot be read.
    """
    p = Path(os.path.abspath(os.fspath(path)))
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataError(f"{p}: cannot read {what} ({type(e).__name__}: {e})") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        guess = "Windows-1252 / Latin-1" if _is_cp1252(raw) else "an unknown encoding"
        raise DataError(
            f"{p}: not UTF-8 text (byte 0x{raw[e.start]:02X} on line {line}); expected {what} as UTF-8. "
            f"It looks like {guess}: re-save it as UTF-8 (e.g. iconv -f WINDOWS-1252 -t UTF-8)"
        ) from e


def _is_cp1252(raw: bytes) -> bool:
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def read_csv_table(path: str | os.PathLike, what: str, **read_csv_kwargs):
    """``pandas.read_csv`` of a UTF-8 file (:func:`read_utf8`); any parse error is a :class:`DataError`."""
    import pandas as pd

    p = Path(os.path.abspath(os.fspath(path)))
    text = read_utf8(p, what)
    try:
        return pd.read_csv(io.StringIO(text), **read_csv_kwargs)
    except Exception as e:  # pandas raises several unrelated types for a broken file
        raise DataError(f"{p}: not a readable CSV ({type(e).__name__}: {e}); expected {what}") from e
