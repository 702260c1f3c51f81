"""Paired comparisons of two models (or conditions) on the same test items, with a bootstrap interval.

A claim such as "TSM classifies better than a 3D ResNet" is judged on the per-item predictions
both models made for the *same* test items: :func:`paired_bootstrap` resamples the items and
recomputes ``metric(a) - metric(b)`` on each draw. The result, a :class:`Difference`, carries
the observed effect, its 95% percentile interval, the number of items and the *resolution*: the
most one test item can change the metric (:func:`one_item_resolution`). No margin a verdict uses
may be finer than that (:meth:`Difference.margin`).

Metrics (``metric=``), each computed for all draws at once with numpy:

* ``"accuracy"``, ``"auroc"``: binary or class-probability scores (see :func:`accuracy_of`);
* ``"f1"``, ``"specificity"``: hard 0/1 predictions, diagnostic/positive = 1; a 2-D ``(n, k)``
  score holds ``k`` runs' predictions on the same items, pooled into one confusion table (a
  draw takes every run's prediction of a drawn item, so the runs do not count as extra items);
* ``"mean_auprc"``: multi-label, ``y_true`` ``(n, labels)``; the mean over labels of the
  trapezoid AUPRC (:func:`paperkit.metrics.auprc_trapezoid`, the Rethink-TL paper's definition);
  a score ``(n, labels, k)`` averages ``k`` models or runs as well;
* any callable ``metric(y_true, score) -> float``, with ``resolution=`` given.

Draws: with a 1-D ``y_true`` the items are resampled within each class, so every draw keeps the
test set's class counts and a ranking metric stays defined. With a multi-label ``y_true`` no
stratification keeps every label's counts, so items are resampled freely; a label without a
positive (or without a negative) in a draw is left out of that draw's mean, for both models
alike, and the :class:`Difference`'s ``note`` says in how many draws that happened.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
from scipy.stats import rankdata

from paperkit.metrics.classification import _as_labels, _as_numpy, _check_same_length, auprc_trapezoid, auroc

__all__ = ["Difference", "METRICS", "accuracy_of", "mean_auprc", "one_item_resolution", "paired_bootstrap"]

Metric = Union[str, Callable[[np.ndarray, np.ndarray], float]]


def accuracy_of(y_true: np.ndarray, score: np.ndarray) -> float:
    """Accuracy of ``score``: a 1-D vector of hard labels, or of positive-class probabilities
    (thresholded at 0.5), or a 2-D array of class probabilities (arg-max)."""
    return float(np.mean(_predicted(score) == np.asarray(y_true)))


def _predicted(score: np.ndarray) -> np.ndarray:
    """Hard labels from labels, positive-class probabilities (>= 0.5) or class probabilities (arg-max)."""
    score = np.asarray(score)
    if score.ndim == 2:
        return score.argmax(axis=1)
    if np.issubdtype(score.dtype, np.floating) and not np.all(np.isin(score, (0.0, 1.0))):
        return (score >= 0.5).astype(int)
    return score.astype(int)


def _auroc_of(y_true: np.ndarray, score: np.ndarray) -> float:
    score = np.asarray(score)
    return auroc(y_true, score[:, 1] if score.ndim == 2 else score)


def _confusion(y_true: np.ndarray, pred: np.ndarray) -> tuple[float, float, float, float]:
    """Pooled tp, fp, tn, fn of hard predictions ``(n,)`` or ``(n, k)`` (k runs) against ``y_true``."""
    pred = np.asarray(pred).reshape(len(pred), -1).astype(int)
    y = np.asarray(y_true).astype(int)[:, None]
    return (float(((pred == 1) & (y == 1)).sum()), float(((pred == 1) & (y == 0)).sum()),
            float(((pred == 0) & (y == 0)).sum()), float(((pred == 0) & (y == 1)).sum()))


def _f1_of(y_true: np.ndarray, pred: np.ndarray) -> float:
    tp, fp, _, fn = _confusion(y_true, pred)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _specificity_of(y_true: np.ndarray, pred: np.ndarray) -> float:
    _, fp, tn, _ = _confusion(y_true, pred)
    return tn / (tn + fp) if tn + fp else 0.0


def mean_auprc(y_true, score) -> float:
    """Mean over labels of the trapezoid AUPRC of multi-label scores (labels with one class left out).

    ``y_true`` is ``(n, labels)`` 0/1; ``score`` is ``(n, labels)`` or ``(n, labels, k)``, whose ``k``
    columns (models or runs) are averaged too. Raises when no label has both classes.
    """
    y, s = _multilabel(y_true, score)
    kept = _two_class_labels(y)
    if not kept.size:
        raise ValueError("mean_auprc: no label of y_true has both a positive and a negative item")
    return float(np.mean([auprc_trapezoid(y[:, j], s[:, j, c]) for j in kept for c in range(s.shape[2])]))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy_of, "auroc": _auroc_of, "f1": _f1_of, "specificity": _specificity_of,
    "mean_auprc": mean_auprc}


def _multilabel(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as an (n, L) 0/1 array and ``score`` as (n, L, k)."""
    y, s = _as_numpy(y_true, "y_true"), _as_numpy(score, "score")
    if y.ndim != 2:
        raise ValueError(f"y_true has shape {y.shape}: expected (items, labels) for a multi-label metric")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("y_true holds values other than 0/1: expected multi-label 0/1 targets")
    if s.ndim == 2:
        s = s[:, :, None]
    if s.ndim != 3 or s.shape[:2] != y.shape:
        raise ValueError(f"score has shape {s.shape}: expected {y.shape} or {y.shape} + (runs,), as y_true")
    return y.astype(int), s.astype(float)


def _two_class_labels(y: np.ndarray) -> np.ndarray:
    """Indices of the columns of an (n, L) 0/1 array that hold both classes."""
    positives = y.sum(axis=0)
    return np.flatnonzero((positives > 0) & (positives < len(y)))


def _ap_step(p: int) -> float:
    """About the most one item can move the trapezoid AUPRC of a label with ``p`` positives.

    A positive moved from the top of the ranking to its bottom costs at most ``1/p``. A negative moved
    above ``p`` top-ranked positives costs more: it puts the curve's first point at precision 0 and
    lowers the k-th positive's precision to ``k/(k+1)``, ``(H(p+1) - 1)/p + 1/(2(p+1))`` in all
    (``H`` the harmonic number).
    """
    harmonic = float(np.sum(1.0 / np.arange(1, p + 2)))
    return max(1.0 / p, (harmonic - 1.0) / p + 1.0 / (2 * (p + 1)))


def one_item_resolution(metric: str, y_true) -> float:
    """The most one test item can change ``metric`` (a verdict's margin is never finer).

    Accuracy: one item of ``n`` is ``1/n``. AUROC: moving one item past every item of the other
    class changes it by ``1/n_smaller_class``. Specificity: ``1/n_negatives``. F1: ``2/(n_positives + 1)``,
    one positive turning from missed to found where F1 is steepest (no true positive yet).
    Mean AUPRC over labels: the mean over the labels with both classes of what one item can move each
    label's AUPRC (:func:`_ap_step`), since one image sits in every label's ranking at once.
    """
    if metric == "mean_auprc":
        y = _multilabel(y_true, np.zeros(np.shape(y_true)))[0]
        kept = _two_class_labels(y)
        if not kept.size:
            raise ValueError("one_item_resolution('mean_auprc'): no label of y_true has both classes")
        return float(np.mean([_ap_step(int(y[:, j].sum())) for j in kept]))
    labels = _as_labels(y_true, "y_true")
    if metric == "accuracy":
        return 1.0 / len(labels)
    if metric == "auroc":
        counts = np.unique(labels, return_counts=True)[1]
        if len(counts) < 2:
            raise ValueError("one_item_resolution('auroc'): y_true holds one class; AUROC needs both")
        return 1.0 / int(counts.min())
    if metric in ("f1", "specificity"):
        n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
        if metric == "specificity":
            if not n_neg:
                raise ValueError("one_item_resolution('specificity'): y_true has no negative (0) item")
            return 1.0 / n_neg
        if not n_pos:
            raise ValueError("one_item_resolution('f1'): y_true has no positive (1) item")
        return 2.0 / (n_pos + 1)
    raise ValueError(f"metric={metric!r}: expected one of {sorted(METRICS)} or a callable")


@dataclass(frozen=True)
class Difference:
    """``metric(a) - metric(b)`` on ``n`` shared test items, with its bootstrap interval.

    ``low``/``high`` bound the ``level`` percentile interval of ``n_boot`` paired draws;
    ``resolution`` is :func:`one_item_resolution` of the metric on these items (or the one given
    for a callable metric); ``note`` says how the draws were handled where that matters.
    """

    metric: str
    a: str
    b: str
    effect: float
    low: float
    high: float
    n: int
    n_boot: int
    level: float
    resolution: float
    note: str = ""

    def margin(self, requested: float = 0.0) -> float:
        """The margin a verdict on this difference uses: ``requested``, but never finer than one item."""
        if requested < 0:
            raise ValueError(f"margin={requested!r}: expected a non-negative number")
        return max(float(requested), self.resolution)

    def describe(self) -> str:
        """``a − b = effect [low, high]`` with n, for a ledger row's evidence."""
        text = (f"{self.metric} {self.a} − {self.b} = {self.effect:+.3f} "
                f"[{self.low:+.3f}, {self.high:+.3f}] ({self.level:.0%} paired bootstrap, n={self.n})")
        return f"{text}; {self.note}" if self.note else text


# --------------------------------------------------------------------------- one value per draw, all draws at once


def _auroc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AUROC of each row of (m, n) labels and scores, by ranks (Mann-Whitney; ties count one half)."""
    ranks = rankdata(s, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    return ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _auprc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Trapezoid AUPRC of each row of (m, n) labels and scores, as ``auc(*precision_recall_curve(...))``.

    The curve has one point per distinct score (items tied in score enter together) and starts at
    (recall 0, precision 1); rows without a positive give NaN.
    """
    order = np.argsort(-s, axis=1, kind="stable")
    s_sorted = np.take_along_axis(s, order, axis=1)
    tps = np.cumsum(np.take_along_axis(y, order, axis=1), axis=1, dtype=float)
    m, n = s.shape
    # Items tied in score share the operating point of the last of them: carry it back over the tie.
    last_of_tie = np.ones((m, n), bool)
    last_of_tie[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    end = np.where(last_of_tie, np.arange(n), n)
    end = np.minimum.accumulate(end[:, ::-1], axis=1)[:, ::-1]
    tps = np.take_along_axis(tps, end, axis=1)
    precision = tps / (end + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tps / tps[:, -1:]
    recall = np.concatenate([np.zeros((m, 1)), recall], axis=1)
    precision = np.concatenate([np.ones((m, 1)), precision], axis=1)
    return np.sum(np.diff(recall, axis=1) * (precision[:, 1:] + precision[:, :-1]) / 2, axis=1)


def _values(metric: Metric, y: np.ndarray, s: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The metric on each row of item indices ``idx`` (m, n), and whether a row left out a label."""
    dropped = np.zeros(len(idx), bool)
    if callable(metric):
        return np.array([metric(y[i], s[i]) for i in idx], dtype=float), dropped
    if metric == "accuracy":
        return (_predicted(s)[idx] == y[idx]).mean(axis=1), dropped
    if metric == "auroc":
        positive = s[:, 1] if s.ndim == 2 else s
        return _auroc_rows(y[idx], positive[idx].astype(float)), dropped
    if metric in ("f1", "specificity"):
        pred = s.reshape(len(s), -1).astype(int)[idx]            # (m, n, k)
        truth = y[idx][:, :, None].astype(int)
        tp, fp = ((pred == 1) & (truth == 1)).sum((1, 2)), ((pred == 1) & (truth == 0)).sum((1, 2))
        tn, fn = ((pred == 0) & (truth == 0)).sum((1, 2)), ((pred == 0) & (truth == 1)).sum((1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            if metric == "f1":
                return np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0), dropped
            return np.where(tn + fp > 0, tn / (tn + fp), 0.0), dropped
    # mean_auprc: labels that hold both classes in the whole test set; per draw, those that still do
    kept = _two_class_labels(y)
    per = np.full((len(idx), len(kept), s.shape[2]), np.nan)
    for col, j in enumerate(kept):
        yj = y[idx, j]
        usable = (yj.sum(axis=1) > 0) & (yj.sum(axis=1) < yj.shape[1])
        dropped |= ~usable
        for c in range(s.shape[2]):
            per[usable, col, c] = _auprc_rows(yj[usable], s[idx[usable], j, c])
    means = per.mean(axis=2)
    usable = ~np.isnan(means).all(axis=1)
    out = np.full(len(idx), np.nan)
    out[usable] = np.nanmean(means[usable], axis=1)
    return out, dropped


def _draws(y: np.ndarray, n_boot: int, rng: np.random.Generator, chunk: int):
    """Row blocks of bootstrap item indices: within each class for 1-D labels, free for multi-label."""
    n = len(y)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if y.ndim == 1 else [np.arange(n)]
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        yield np.concatenate([members[rng.integers(0, len(members), size=(m, len(members)))] for members in groups],
                             axis=1)


def paired_bootstrap(y_true, score_a, score_b, *, metric: Metric = "accuracy", a: str = "a", b: str = "b",
                     n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                     resolution: float | None = None) -> Difference:
    """Paired bootstrap of ``metric(score_a) - metric(score_b)`` on the same items.

    ``score_a``/``score_b`` are one model's per-item outputs in the order of ``y_true`` (see the
    module docstring for the shapes each metric takes). Each draw resamples the items (within each
    class for a 1-D ``y_true``) and scores both models on the same draw, so the interval reflects the
    test set's size and the models' agreement, not only each model's own spread. ``resolution``
    overrides :func:`one_item_resolution`; a callable metric needs it.
    """
    if not callable(metric) and metric not in METRICS:
        raise ValueError(f"metric={metric!r}: expected one of {sorted(METRICS)} or a callable")
    if callable(metric) and resolution is None:
        raise ValueError("a callable metric needs resolution=: the most one test item can change it")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}: expected a number between 0 and 1")
    if n_boot < 100:
        raise ValueError(f"n_boot={n_boot!r}: expected at least 100 draws for a percentile interval")
    score_a, score_b = np.asarray(score_a), np.asarray(score_b)
    if metric == "mean_auprc":
        (y, score_a), (_, score_b) = _multilabel(y_true, score_a), _multilabel(y_true, score_b)
    else:
        y = _as_numpy(y_true, "y_true") if callable(metric) else _as_labels(y_true, "y_true")
        _check_same_length(y, "y_true", score_a, "score_a")
        _check_same_length(y, "y_true", score_b, "score_b")
    if resolution is None:
        resolution = one_item_resolution(metric, y)
    name = getattr(metric, "__name__", "metric") if callable(metric) else metric
    fn = metric if callable(metric) else METRICS[metric]
    effect = fn(y, score_a) - fn(y, score_b)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(1, y.size)))   # bounds the memory of one block of draws
    diffs, dropped = [], 0
    for idx in _draws(y, n_boot, rng, chunk):
        va, lost = _values(metric, y, score_a, idx)
        vb, _ = _values(metric, y, score_b, idx)
        diffs.append(va - vb)
        dropped += int(lost.sum())
    diffs = np.concatenate(diffs)
    undefined = int(np.isnan(diffs).sum())  # multi-label draws in which no label kept both classes
    if undefined == n_boot:
        raise ValueError("paired_bootstrap: no draw kept a label with both classes; the test set is too small")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs[~np.isnan(diffs)], [tail, 100 - tail])
    note = (f"{dropped} of {n_boot} draws left out a label that had no positive (or no negative) in the draw"
            if dropped else "")
    if undefined:
        note += f", {undefined} of them every label (those draws were left out of the interval)"
    return Difference(name, a, b, float(effect), float(low), float(high), len(y), n_boot, level, float(resolution),
                      note)
