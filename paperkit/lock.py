"""An exclusive lock on a folder, so two processes cannot train the same run record at once.

The lock is an ``fcntl`` lock on ``<folder>/.lock``: the operating system releases it when its
holder exits, also after a kill, so a crashed run never leaves a stale lock behind. The file
holds who took it (host, process id, time), which the error for a second process names.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"


class LockedError(RuntimeError):
    """Another process holds the lock on this folder."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "this folder") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` for the ``with`` block, or raise :class:`LockedError` at once."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise LockedError(f"{folder}: {what} is being written by another process ({holder}); wait for it "
                              f"to finish, or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                 "since_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode())
        yield path
    finally:
        os.close(fd)  # closing releases the lock


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since_utc']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"
