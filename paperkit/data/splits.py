"""Subject-level train/test splits, so no subject's scans end up on both sides.

Datasets such as OASIS-2 have several rows (visits, scans, slices) per subject. Splitting
rows at random puts the same brain in train and test and inflates every metric, so
:func:`subject_split` assigns whole subjects, and :func:`check_no_overlap` verifies it.
:class:`Split` is the one container every loader returns a split in.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from paperkit.data.io.errors import SubjectLeakError

_SHOWN_LEAKS = 10


class Split(dict):
    """``{part name: items}`` -- a list of samples/cases or an image table per part -- and how it was made.

    ``subject`` says where an item's subject id is: an attribute of each item of a list
    (``"patient"``, ``"subject"``) or a column of a table. Construction checks that no
    subject is in two parts (:func:`check_no_overlap`). Attributes:

    * ``subjects[name]``: the sorted subject ids of each part;
    * ``source``: how the split was made, one line; ``notes``: what a reader should know;
    * ``dropped``: rows the split left out (a table with a ``reason`` column), or None;
    * ``official`` / ``missing``: for a split that follows published lists, each part's
      listed subjects and the listed ones the data does not hold (None otherwise).
    """

    def __init__(self, parts: Mapping[str, Any], *, subject: str, source: str, notes: Sequence[str] = (),
                 dropped: Any = None, official: Mapping[str, Sequence[Any]] | None = None):
        super().__init__(parts)
        self.source = source
        self.notes = list(notes)
        self.dropped = dropped
        ids = {name: _subjects_of(part, subject) for name, part in self.items()}
        check_no_overlap(ids)
        self.subjects = {name: sorted(set(values)) for name, values in ids.items()}
        self.official = {name: tuple(listed) for name, listed in official.items()} if official else None
        self.missing = ({name: [s for s in listed if s not in self.subjects.get(name, [])]
                         for name, listed in self.official.items()} if self.official else None)

    def ids(self, attribute: str) -> dict[str, list]:
        """``attribute`` of every item, per part (e.g. ``split.ids("case_id")``)."""
        return {name: list(_subjects_of(part, attribute)) for name, part in self.items()}

    def summary(self) -> str:
        """How it was made and each part's size; for an official split the listed subjects absent; the notes."""
        lines = [f"split ({self.source}): " + ", ".join(f"{name} {len(part)}" for name, part in self.items())]
        for name, listed in (self.official or {}).items():
            absent = self.missing[name]
            lines.append(f"  {name}: {len(self.subjects.get(name, []))} subjects present; "
                         + (f"{len(absent)} of the official {len(listed)} absent" if absent
                            else f"all {len(listed)} official subjects present"))
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _subjects_of(part: Any, subject: str) -> list:
    """The ``subject`` column of a table, or the ``subject`` attribute of each item of a list."""
    if hasattr(part, "columns"):
        return part[subject].tolist()
    return [getattr(item, subject) for item in part]


def check_no_overlap(subjects_by_split: Mapping[str, Iterable[Any]]) -> None:
    """Raise ``SubjectLeakError`` if any subject id appears in more than one split.

    ``subjects_by_split`` maps split name -> subject ids of its rows (repeats allowed).
    The message names the first 10 leaking subjects and the splits each one is in.
    """
    seen: dict[Any, list[str]] = {}
    for name, subjects in subjects_by_split.items():
        for subject in dict.fromkeys(subjects):  # unique, in order of appearance
            seen.setdefault(subject, []).append(name)
    leaks = [(s, names) for s, names in seen.items() if len(names) > 1]
    if leaks:
        shown = ", ".join(f"{s!r} in {'+'.join(names)}" for s, names in leaks[:_SHOWN_LEAKS])
        more = f" (and {len(leaks) - _SHOWN_LEAKS} more)" if len(leaks) > _SHOWN_LEAKS else ""
        raise SubjectLeakError(
            f"{len(leaks)} subject(s) appear in more than one split, expected each subject in "
            f"exactly one: {shown}{more}"
        )


def _largest_remainder(total: int, fractions: Sequence[float]) -> np.ndarray:
    """Integer counts summing to ``total``, each within 1 of ``total * fraction``."""
    exact = np.asarray(fractions, dtype=float) * total
    counts = np.floor(exact).astype(int)
    # Ties broken by split order, so results are deterministic.
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _stratified_counts(class_sizes: list[int], fractions: Sequence[float]) -> np.ndarray:
    """Subjects per (class, split): each within one subject of ``size * fraction``.

    Per class, every split gets floor(size * fraction) subjects; the leftover subjects go
    to splits with a fractional remainder (so never more than one over the ideal),
    preferring splits that are furthest below their overall target size.
    """
    fractions = np.asarray(fractions, dtype=float)
    exact = np.outer(class_sizes, fractions)
    counts = np.floor(exact).astype(int)
    remainder = exact - counts
    deficit = _largest_remainder(sum(class_sizes), fractions) - counts.sum(axis=0)
    for c, size in enumerate(class_sizes):
        extra = size - counts[c].sum()
        # Splits with no remainder come last: only float round-off can make them needed.
        candidates = sorted(
            range(len(fractions)),
            key=lambda s: (remainder[c, s] <= 1e-9, -deficit[s], -remainder[c, s], s),
        )
        for s in candidates[:extra]:
            counts[c, s] += 1
            deficit[s] -= 1
    return counts


def subject_split(
    subjects: Sequence[Any],
    fractions: Sequence[float] = (0.7, 0.3),
    *,
    labels: Sequence[Any] | None = None,
    seed: int = 0,
    names: Sequence[str] = ("train", "test"),
) -> dict[str, np.ndarray]:
    """Split rows into ``names`` by assigning whole subjects, returning row indices.

    ``subjects[i]`` is the subject id of row ``i``; several rows may share one. Subjects
    are shuffled with ``np.random.default_rng(seed)`` and cut by ``fractions`` (which must
    be positive and sum to 1), so the split is reproducible and independent of row order.
    With ``labels`` (one per row), the split is stratified by *subject* label: a subject's
    label is its most frequent row label (ties -> the smallest label by ``str``), and in
    every split each class gets within one subject of ``fraction * class size``.

    Returns ``{name: sorted int64 array of row indices}`` covering every row exactly once,
    after :func:`check_no_overlap` has confirmed that no subject is in two splits.
    Raises ``ValueError`` if a split would be empty or the arguments disagree.
    """
    subjects = list(subjects)
    fractions = [float(f) for f in fractions]
    names = list(names)
    if not subjects:
        raise ValueError("subject_split: expected at least one row, got none")
    if len(fractions) != len(names):
        raise ValueError(
            f"subject_split: {len(fractions)} fractions but {len(names)} names {names}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"subject_split: split names must be unique, got {names}")
    if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"subject_split: fractions must be positive and sum to 1, got {fractions}")
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(subjects):
            raise ValueError(f"subject_split: {len(labels)} labels for {len(subjects)} rows")

    rows_of: dict[Any, list[int]] = {}
    for row, subject in enumerate(subjects):
        rows_of.setdefault(subject, []).append(row)
    # Sorted ids (not order of appearance) so shuffling the table does not change the split.
    unique = sorted(rows_of, key=str)
    rng = np.random.default_rng(seed)

    if labels is None:
        counts = _largest_remainder(len(unique), fractions)
        _refuse_empty(counts, names, fractions, len(unique))
        order = rng.permutation(len(unique))
        cuts = np.cumsum(counts)[:-1]
        groups = [[unique[i] for i in part] for part in np.split(order, cuts)]
    else:
        label_of = {s: _majority(labels[r] for r in rows_of[s]) for s in unique}
        classes = sorted(set(label_of.values()), key=str)
        members = [[s for s in unique if label_of[s] == c] for c in classes]
        counts = _stratified_counts([len(m) for m in members], fractions)
        _refuse_empty(counts.sum(axis=0), names, fractions, len(unique))
        groups = [[] for _ in names]
        for class_members, class_counts in zip(members, counts):
            order = rng.permutation(len(class_members))
            cuts = np.cumsum(class_counts)[:-1]
            for group, part in zip(groups, np.split(order, cuts)):
                group.extend(class_members[i] for i in part)

    split = {
        name: np.sort(np.array([r for s in group for r in rows_of[s]], dtype=np.int64))
        for name, group in zip(names, groups)
    }
    check_no_overlap({name: [subjects[r] for r in rows] for name, rows in split.items()})
    return split


def _majority(values: Iterable[Any]) -> Any:
    """Most frequent value; ties go to the smallest by ``str`` (deterministic)."""
    counts = Counter(values)
    best = max(counts.values())
    return min((v for v, c in counts.items() if c == best), key=str)


def _refuse_empty(counts: np.ndarray, names: list[str], fractions: list[float], n: int) -> None:
    for name, count, fraction in zip(names, counts, fractions):
        if count == 0:
            raise ValueError(
                f"subject_split: split {name!r} would get no subjects (fraction {fraction} of "
                f"{n} subjects); use fewer splits or larger fractions"
            )
