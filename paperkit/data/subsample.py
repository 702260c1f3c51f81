"""Class-ratio-preserving subsets of a training set, for data-poor experiments.

Peng et al. (2022, §3.2) simulate data-poor regimes with 5 % and 10 % of the COVID-19
training set: 1,539 cases (88 positives, 1,451 negatives) and 3,080 (177, 2,903) out of
1,777 positives and 29,030 negatives -- i.e. ``floor(fraction * class size)`` per class.
:func:`stratified_subsample` does the same, by patient when the table has a patient column.

Strata
------
* one binary or multi-class label: the label value;
* several 0/1 labels (multi-label, e.g. CheXpert): the row's *rarest positive label*
  (rarest by row prevalence in the whole table), or "none" when it has no positive. This
  keeps every label's positives represented (a rare label is never crowded out by a
  common co-occurring one); common labels' ratios are kept only approximately. It is a
  deliberately simple stand-in for iterative stratification (Sechidis et al. 2011).
* at patient level, a patient's stratum is the rarest positive label over all its rows
  (single label: its largest label value, so a patient with any positive image is a
  positive patient).

Each stratum contributes ``floor(fraction * stratum size)`` units (rows or patients),
``round`` with ``rounding="round"``, at least one with ``min_per_stratum=1``; so each
stratum's count is within one unit of its exact share. With ``size=`` instead of ``fraction``
a stratum's exact share is ``size * stratum size / units``.

Draws
-----
Two callers drew their subsets differently before they shared this function, and their
numbers must not move, so ``draw`` names the two recipes (same seed, same items as before):

* ``"choice"`` (default; rethink_transfer's data-poor subsets and caps): strata in the string
  order of their keys, units sorted by ``str``, ``rng.choice`` of each stratum's count;
* ``"permutation"`` (the ``train_limit``/``test_limit`` of model_doctor and the MedMNIST
  limits of video4mri): one label only, classes in ascending order, units in ascending
  order, the first ``n`` of ``rng.permutation`` of each class; those callers pass
  ``size=limit, rounding="half_even", min_per_stratum=1``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

NONE_STRATUM = "none"
DRAWS = ("choice", "permutation")
ROUNDINGS = ("floor", "round", "half_even")


def _row_strata(labels: np.ndarray) -> np.ndarray:
    """Stratum key of each row (see module docstring) as strings."""
    if labels.ndim == 1 or labels.shape[1] == 1:
        return np.array([str(v) for v in labels.reshape(-1)], dtype=object)
    positive = labels > 0
    prevalence = positive.mean(axis=0)
    order = np.argsort(prevalence, kind="stable")  # rarest first
    ranked = positive[:, order]
    has = ranked.any(axis=1)
    first = np.argmax(ranked, axis=1)
    keys = np.array([str(int(order[f])) for f in first], dtype=object)
    keys[~has] = NONE_STRATUM
    return keys


def _unit_strata(keys: np.ndarray, units: np.ndarray, labels: np.ndarray) -> dict:
    """Stratum of each unit (patient): the rarest key among its rows, or its largest label (kept as a value)."""
    if labels.ndim == 1 or labels.shape[1] == 1:
        values = labels.reshape(-1)
        best: dict = {}
        for u, v in zip(units, values):
            if u not in best or v > best[u]:
                best[u] = v
        return best
    # Rank of a key = how rare it is among rows; "none" ranks last.
    counts = pd.Series(keys).value_counts()
    rank = {k: (k == NONE_STRATUM, counts[k], k) for k in counts.index}
    out: dict = {}
    for u, k in zip(units, keys):
        if u not in out or rank[k] < rank[out[u]]:
            out[u] = k
    return out


def stratified_subsample(
    table_or_labels,
    fraction: float | None = None,
    seed: int = 0,
    label_columns: Sequence[str] | None = None,
    patient_column: str | None = "patient",
    *,
    size: int | None = None,
    rounding: str = "floor",
    min_per_stratum: int = 0,
    draw: str = "choice",
):
    """A random ``fraction`` (or about ``size`` units) of the rows that keeps class ratios (module docstring).

    ``table_or_labels`` is an image table (``label_columns`` required; sampled by patient
    when ``patient_column`` is one of its columns, else by row) or an array of labels,
    ``(N,)`` or ``(N, L)`` (sampled by row). Give ``fraction`` or ``size``, not both.
    ``rounding`` is ``"floor"``, ``"round"`` (half up) or ``"half_even"`` (Python's ``round``);
    ``draw`` is ``"choice"`` or ``"permutation"`` (module docstring: which caller draws how).
    ``seed`` drives ``np.random.default_rng``. Returns the chosen rows of the table in their
    original order (index kept), or for an array the sorted int64 row indices.
    """
    if (fraction is None) == (size is None):
        raise ValueError(f"stratified_subsample: give fraction or size, not both or neither "
                         f"(got fraction={fraction!r}, size={size!r})")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r}: expected a number in (0, 1]")
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"size={size!r}: expected a positive int")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r}: expected one of {', '.join(ROUNDINGS)}")
    if draw not in DRAWS:
        raise ValueError(f"draw={draw!r}: expected one of {', '.join(DRAWS)}")
    labels, units = _labels_and_units(table_or_labels, label_columns, patient_column)
    single = labels.ndim == 1 or labels.shape[1] == 1
    if draw == "permutation" and not single:
        raise ValueError("stratified_subsample: draw='permutation' takes one label per row, got "
                         f"{labels.shape[1]} label columns")

    stratum_of = _unit_strata(_row_strata(labels), units, labels)
    order = str if draw == "choice" else None  # None: natural order (ascending classes and ids)
    by_stratum: dict = {}
    for unit in sorted(stratum_of, key=order):  # sorted: independent of row order
        by_stratum.setdefault(stratum_of[unit], []).append(unit)
    rng = np.random.default_rng(seed)
    chosen: set = set()
    for stratum in sorted(by_stratum, key=order):
        members = by_stratum[stratum]
        exact = fraction * len(members) if size is None else size * (len(members) / len(stratum_of))
        n = min(len(members), max(_rounded(exact, rounding), min_per_stratum))
        chosen.update(_pick(rng, members, n, draw))
    mask = np.array([u in chosen for u in units], dtype=bool)
    if isinstance(table_or_labels, pd.DataFrame):
        return table_or_labels.loc[mask]
    return np.flatnonzero(mask).astype(np.int64)


def _labels_and_units(table_or_labels, label_columns, patient_column) -> tuple[np.ndarray, np.ndarray]:
    """The label array and each row's sampling unit (its patient, or the row itself), validated."""
    if isinstance(table_or_labels, pd.DataFrame):
        table = table_or_labels
        if not label_columns:
            raise ValueError("stratified_subsample: label_columns is required for a table")
        label_columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
        missing = [c for c in label_columns if c not in table.columns]
        if missing:
            raise ValueError(f"stratified_subsample: label column(s) {missing} not in the table "
                             f"(columns: {list(table.columns)})")
        labels = table[label_columns].to_numpy()
        by_patient = patient_column is not None and patient_column in table.columns
        units = table[patient_column].to_numpy() if by_patient else np.arange(len(table))
    else:
        labels = np.asarray(table_or_labels)
        if labels.ndim not in (1, 2):
            raise ValueError(f"stratified_subsample: labels must be (N,) or (N, L), got {labels.shape}")
        units = np.arange(len(labels))
    if len(labels) == 0:
        raise ValueError("stratified_subsample: no rows to sample from")
    if labels.ndim == 2 and labels.shape[1] > 1 and not np.isin(labels, (0, 1)).all():
        raise ValueError("stratified_subsample: multi-label columns must hold 0/1 only")
    return labels, units


def _rounded(exact: float, rounding: str) -> int:
    if rounding == "floor":
        return int(np.floor(exact + 1e-9))
    if rounding == "round":
        return int(np.floor(exact + 0.5))
    return int(round(exact))  # half_even


def _pick(rng: np.random.Generator, members: list, n: int, draw: str) -> list:
    """``n`` of a stratum's ``members``, drawn as ``draw`` says (module docstring)."""
    if draw == "choice":
        return [members[i] for i in rng.choice(len(members), size=n, replace=False)]
    return rng.permutation(np.asarray(members))[:n].tolist()
