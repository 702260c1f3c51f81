"""Errors raised by ``paperkit.data``.

Both subclass ``ValueError`` so callers that already catch bad-input errors keep working.
Messages start with the full path of the offending file (when there is one) and say what
was expected, so a failing loader points straight at the file to look at.
"""
from __future__ import annotations


class DataError(ValueError):
    """A file or folder exists but does not hold the data that was expected."""


class SubjectLeakError(DataError):
    """The same subject appears in more than one split (train/val/test leakage)."""


class MissingSplitError(DataError):
    """A data set's folder holds no files for the requested split (e.g. only the test set was downloaded).

    Distinct from a file that is there but unreadable, which must never be worked around."""
