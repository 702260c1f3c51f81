"""Paired comparisons of two models (or conditions) on the same test items, with a bootstrap interval.

A claim such as "TSM classifies better than a 3D ResNet" is judged on the per-item predictions
both models made for the *same* test items: :func:`paired_bootstrap` resamples the items (within
each class, so every draw keeps the test set's class counts and a ranking metric stays defined)
and recomputes ``metric(a) - metric(b)`` on each draw. The result, a :class:`Difference`, carries
the observed effect, its 95% percentile interval, the number of items and the *resolution*: the
smallest change of the metric that one test item can cause (:func:`one_item_resolution`). No
margin a verdict uses may be finer than that (:meth:`Difference.margin`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from paperkit.metrics.classification import _as_labels, _check_same_length, auroc

__all__ = ["Difference", "METRICS", "accuracy_of", "one_item_resolution", "paired_bootstrap"]


def accuracy_of(y_true: np.ndarray, score: np.ndarray) -> float:
    """Accuracy of ``score``: a 1-D vector of hard labels, or of positive-class probabilities
    (thresholded at 0.5), or a 2-D array of class probabilities (arg-max)."""
    score = np.asarray(score)
    if score.ndim == 2:
        predicted = score.argmax(axis=1)
    elif np.issubdtype(score.dtype, np.floating) and not np.all(np.isin(score, (0.0, 1.0))):
        predicted = (score >= 0.5).astype(int)
    else:
        predicted = score.astype(int)
    return float(np.mean(predicted == np.asarray(y_true)))


def _auroc_of(y_true: np.ndarray, score: np.ndarray) -> float:
    score = np.asarray(score)
    return auroc(y_true, score[:, 1] if score.ndim == 2 else score)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"accuracy": accuracy_of, "auroc": _auroc_of}


def one_item_resolution(metric: str, y_true) -> float:
    """The smallest change in ``metric`` that one test item can make.

    Accuracy: one item of ``n`` is ``1/n``. AUROC: moving one item past every item of the other
    class changes it by ``1/n_smaller_class``; a smaller margin than that would let one item
    decide a verdict, so it is the floor for ranking metrics too.
    """
    labels = _as_labels(y_true, "y_true")
    if metric == "accuracy":
        return 1.0 / len(labels)
    if metric == "auroc":
        counts = np.unique(labels, return_counts=True)[1]
        if len(counts) < 2:
            raise ValueError("one_item_resolution('auroc'): y_true holds one class; AUROC needs both")
        return 1.0 / int(counts.min())
    raise ValueError(f"metric={metric!r}: expected one of {sorted(METRICS)}")


@dataclass(frozen=True)
class Difference:
    """``metric(a) - metric(b)`` on ``n`` shared test items, with its bootstrap interval.

    ``low``/``high`` bound the ``level`` percentile interval of ``n_boot`` paired draws;
    ``resolution`` is :func:`one_item_resolution` of the metric on these items.
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

    def margin(self, requested: float = 0.0) -> float:
        """The margin a verdict on this difference uses: ``requested``, but never finer than one item."""
        if requested < 0:
            raise ValueError(f"margin={requested!r}: expected a non-negative number")
        return max(float(requested), self.resolution)

    def describe(self) -> str:
        """``a − b = effect [low, high]`` with n, for a ledger row's evidence."""
        return (f"{self.metric} {self.a} − {self.b} = {self.effect:+.3f} "
                f"[{self.low:+.3f}, {self.high:+.3f}] ({self.level:.0%} paired bootstrap, n={self.n})")


def paired_bootstrap(y_true, score_a, score_b, *, metric: str = "accuracy", a: str = "a", b: str = "b",
                     n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Difference:
    """Paired, class-stratified bootstrap of ``metric(score_a) - metric(score_b)`` on the same items.

    ``score_a``/``score_b`` are one model's per-item outputs in the order of ``y_true`` (hard labels,
    positive-class probabilities, or ``(n, classes)`` probabilities). Each draw resamples the items
    of every class with replacement and scores both models on the same draw, so the interval
    reflects the test set's size and the models' agreement, not only each model's own spread.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: expected one of {sorted(METRICS)}")
    if not 0 < level < 1:
        raise ValueError(f"level={level!r}: expected a number between 0 and 1")
    if n_boot < 100:
        raise ValueError(f"n_boot={n_boot!r}: expected at least 100 draws for a percentile interval")
    labels = _as_labels(y_true, "y_true")
    score_a, score_b = np.asarray(score_a), np.asarray(score_b)
    _check_same_length(labels, "y_true", score_a, "score_a")
    _check_same_length(labels, "y_true", score_b, "score_b")
    fn = METRICS[metric]
    resolution = one_item_resolution(metric, labels)
    effect = fn(labels, score_a) - fn(labels, score_b)
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    draws = np.empty(n_boot)
    for i in range(n_boot):
        idx = np.concatenate([rng.choice(members, size=len(members), replace=True) for members in by_class])
        draws[i] = fn(labels[idx], score_a[idx]) - fn(labels[idx], score_b[idx])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Difference(metric, a, b, float(effect), float(low), float(high), len(labels), n_boot, level, resolution)
