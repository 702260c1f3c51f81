"""Classification metrics used by the chapters: bootstrap accuracy, AUROC, two AUPRCs,
confusion-table metrics and a per-label wrapper for multi-label problems.

Every function accepts NumPy arrays or PyTorch tensors (tensors are moved to the CPU and
converted). Bad input raises ``ValueError`` naming the argument and what was expected.
The heavy lifting is scikit-learn's; these wrappers pin down conventions (which column
is the positive score, what happens with one class, what zero division returns) so that
every chapter computes a metric the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.metrics import auc, average_precision_score, confusion_matrix, precision_recall_curve, roc_auc_score

__all__ = [
    "BootstrapResult",
    "bootstrap_accuracy",
    "auroc",
    "auprc_ap",
    "auprc_trapezoid",
    "confusion_metrics",
    "per_label",
]


def _as_numpy(values, name: str) -> np.ndarray:
    """Return ``values`` as a NumPy array, refusing empty input."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.size == 0:
        raise ValueError(f"{name} is empty: expected at least one sample")
    return array


def _as_labels(values, name: str) -> np.ndarray:
    """A 1-D label vector."""
    labels = _as_numpy(values, name)
    if labels.ndim != 1:
        raise ValueError(f"{name} has shape {labels.shape}: expected a 1-D vector of labels")
    return labels


def _check_same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{a_name} has {len(a)} samples but {b_name} has {len(b)}: expected the same number")


def _binary_targets(y_true, name: str = "y_true") -> np.ndarray:
    """A 1-D 0/1 vector in which both classes occur (ranking metrics are undefined otherwise)."""
    labels = _as_labels(y_true, name)
    values = np.unique(labels)
    if not np.all(np.isin(values, [0, 1])):
        raise ValueError(f"{name} has values {values.tolist()}: expected binary labels 0/1 (or booleans)")
    if len(values) < 2:
        raise ValueError(
            f"{name} contains only one class ({values.tolist()}): expected both 0 and 1, "
            "the metric is undefined with a single class"
        )
    return labels.astype(int)


def _positive_scores(y_score, name: str = "y_score") -> np.ndarray:
    """Scores for the positive class from an (n,) vector or an (n, 2) matrix (column 1)."""
    scores = _as_numpy(y_score, name).astype(float, copy=False)
    if scores.ndim == 2 and scores.shape[1] == 2:
        # Two-column softmax / predict_proba output: column 1 is the positive class.
        scores = scores[:, 1]
    elif scores.ndim != 1:
        raise ValueError(f"{name} has shape {scores.shape}: expected (n,) positive-class scores or an (n, 2) matrix")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} contains NaN or infinite values: expected finite scores")
    return scores


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Outcome of :func:`bootstrap_accuracy`.

    Attributes
    ----------
    mean : float
        Mean accuracy over the bootstrap resamples.
    low, high : float
        Percentile interval of the resampled accuracies at level ``ci``.
    samples : np.ndarray
        The ``n_boot`` resampled accuracies (read-only), in draw order.
    fraction : float
        Size of each resample as a fraction of the test set.
    n_boot : int
        Number of resamples.
    ci : float
        Confidence level of ``[low, high]``.
    sample_size : int
        Number of test samples drawn per resample, ``round(fraction * n)``.
    """

    mean: float
    low: float
    high: float
    samples: np.ndarray
    fraction: float
    n_boot: int
    ci: float
    sample_size: int


def bootstrap_accuracy(y_true, y_pred, fraction: float = 0.4, n_boot: int = 100, ci: float = 0.95,
                       seed: int = 0) -> BootstrapResult:
    """Accuracy with a bootstrap percentile interval, as reported by the Video4MRI paper.

    Each of the ``n_boot`` resamples draws ``round(fraction * n)`` test samples *with
    replacement* and computes their accuracy. The paper resamples 40 % of the test set
    100 times; a resample smaller than the test set widens the interval compared with the
    textbook bootstrap (which draws ``n`` samples), so keep ``fraction`` when comparing
    with the paper.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels.
    y_pred : array-like of shape (n,) or (n, C)
        Predicted labels, or a score matrix whose row-wise argmax is the predicted label
        (then ``y_true`` must hold class indices ``0 .. C-1``).
    fraction : float, default 0.4
        Resample size as a fraction of ``n``; must give at least one sample.
    n_boot : int, default 100
        Number of resamples.
    ci : float, default 0.95
        Confidence level; the interval is the ``(1-ci)/2`` and ``1-(1-ci)/2`` percentiles
        (NumPy's default linear interpolation) of the resampled accuracies.
    seed : int, default 0
        Seed of the ``numpy.random.Generator``. All indices are drawn in one call,
        ``rng.integers(0, n, size=(n_boot, sample_size))``, so a seed fixes the result.

    Returns
    -------
    BootstrapResult
        Mean, interval, the resampled accuracies and the settings used.

    Raises
    ------
    ValueError
        On empty or mismatched inputs, out-of-range labels for a score matrix, or
        settings outside ``0 < ci < 1``, ``n_boot >= 1``, ``round(fraction * n) >= 1``.
    """
    labels_true = _as_labels(y_true, "y_true")
    predictions = _as_numpy(y_pred, "y_pred")
    if predictions.ndim == 2:
        n_classes = predictions.shape[1]
        if not np.issubdtype(labels_true.dtype, np.integer) or labels_true.min() < 0 or labels_true.max() >= n_classes:
            raise ValueError(
                f"y_true must hold integer class indices in [0, {n_classes}) when y_pred is an "
                f"(n, {n_classes}) score matrix"
            )
        predictions = predictions.argmax(axis=1)
    elif predictions.ndim != 1:
        raise ValueError(f"y_pred has shape {predictions.shape}: expected (n,) labels or an (n, C) score matrix")
    _check_same_length(labels_true, "y_true", predictions, "y_pred")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci={ci}: expected a confidence level strictly between 0 and 1")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot={n_boot}: expected a positive integer")
    n = len(labels_true)
    sample_size = int(round(fraction * n))
    if not fraction > 0 or sample_size < 1:
        raise ValueError(f"fraction={fraction}: expected a positive fraction giving at least one of the {n} samples")

    correct = (labels_true == predictions).astype(float)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, n, size=(int(n_boot), sample_size))
    samples = correct[indices].mean(axis=1)
    samples.setflags(write=False)  # the result is frozen, so is its array
    tail = 100.0 * (1.0 - ci) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return BootstrapResult(mean=float(samples.mean()), low=float(low), high=float(high), samples=samples,
                           fraction=float(fraction), n_boot=int(n_boot), ci=float(ci), sample_size=sample_size)


def auroc(y_true, y_score) -> float:
    """Area under the ROC curve of a binary problem (scikit-learn's ``roc_auc_score``).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 0/1 or booleans; both classes must be present.
    y_score : array-like of shape (n,) or (n, 2)
        Positive-class scores, or a two-column probability matrix (column 1 is used).

    Returns
    -------
    float
        AUROC in [0, 1].

    Raises
    ------
    ValueError
        If only one class is present in ``y_true`` (AUROC is undefined), labels are not
        0/1, shapes disagree, inputs are empty or scores are not finite.
    """
    labels = _binary_targets(y_true)
    scores = _positive_scores(y_score)
    _check_same_length(labels, "y_true", scores, "y_score")
    return float(roc_auc_score(labels, scores))


def auprc_ap(y_true, y_score) -> float:
    """Area under the precision-recall curve as *average precision* (scikit-learn).

    ``AP = sum_k (R_k - R_{k-1}) * P_k`` over the score thresholds: a step function with
    no interpolation between operating points. This is the usual, conservative AUPRC.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 0/1 or booleans; both classes must be present.
    y_score : array-like of shape (n,) or (n, 2)
        Positive-class scores, or a two-column probability matrix (column 1 is used).

    Returns
    -------
    float
        Average precision in [0, 1].

    Raises
    ------
    ValueError
        As :func:`auroc`: single-class ``y_true``, non-0/1 labels, shape mismatch, empty
        or non-finite input.

    See Also
    --------
    auprc_trapezoid : the trapezoidal definition, which gives different (higher) numbers.
    """
    labels = _binary_targets(y_true)
    scores = _positive_scores(y_score)
    _check_same_length(labels, "y_true", scores, "y_score")
    return float(average_precision_score(labels, scores))


def auprc_trapezoid(y_true, y_score) -> float:
    """Area under the precision-recall curve by the trapezoidal rule.

    Computes ``auc(recall, precision)`` on scikit-learn's ``precision_recall_curve``: the
    definition used by the official code of the "Rethink transfer learning" paper. Use it
    only to reproduce that paper's numbers.

    It differs from average precision (:func:`auprc_ap`) because the trapezoidal rule joins
    neighbouring operating points with straight lines, and linear interpolation in
    precision-recall space is not achievable by any classifier (precision does not change
    linearly with recall between thresholds; Davis & Goadrich, 2006). The curve also
    starts at scikit-learn's artificial point (recall 0, precision 1), and the line from
    it to the first real operating point adds area. The two can differ either way, by a larger
    margin on small or imbalanced test sets, so they are not comparable.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 0/1 or booleans; both classes must be present.
    y_score : array-like of shape (n,) or (n, 2)
        Positive-class scores, or a two-column probability matrix (column 1 is used).

    Returns
    -------
    float
        Trapezoidal area under the precision-recall curve.

    Raises
    ------
    ValueError
        As :func:`auroc`.
    """
    labels = _binary_targets(y_true)
    scores = _positive_scores(y_score)
    _check_same_length(labels, "y_true", scores, "y_score")
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(auc(recall, precision))


def _ratio(numerator: int, denominator: int) -> float:
    # Zero division returns 0.0, as scikit-learn's ``zero_division=0``.
    return float(numerator / denominator) if denominator else 0.0


def confusion_metrics(y_true, y_pred, positive=1) -> dict[str, float | int]:
    """Confusion-table counts and the rates derived from them, for binary labels.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels. Together they may hold at most two distinct values;
        ``positive`` marks the positive class and the other value is negative.
    positive : label, default 1
        The positive class.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``tn``, ``fn`` (ints) and ``precision``, ``recall``,
        ``sensitivity`` (same as recall), ``specificity``, ``f1``, ``accuracy`` (floats).
        A rate whose denominator is zero is returned as ``0.0``: precision with no
        predicted positives, recall/sensitivity with no true positives in ``y_true``,
        specificity with no true negatives in ``y_true``, and F1 when precision and
        recall are both 0.

    Raises
    ------
    ValueError
        On empty or mismatched inputs, more than two distinct labels, or two labels of
        which none is ``positive``.
    """
    labels_true = _as_labels(y_true, "y_true")
    labels_pred = _as_labels(y_pred, "y_pred")
    _check_same_length(labels_true, "y_true", labels_pred, "y_pred")
    values = np.unique(np.concatenate([labels_true, labels_pred]))
    if len(values) > 2:
        raise ValueError(
            f"y_true and y_pred hold {len(values)} distinct labels {values.tolist()}: expected binary labels "
            "(binarise multi-class labels first)"
        )
    if len(values) == 2 and positive not in values.tolist():
        raise ValueError(f"positive={positive!r} is not one of the labels {values.tolist()}")

    is_positive_true = labels_true == positive
    is_positive_pred = labels_pred == positive
    tn, fp, fn, tp = (int(count) for count in
                      confusion_matrix(is_positive_true, is_positive_pred, labels=[False, True]).ravel())
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "sensitivity": recall,
        "specificity": _ratio(tn, tn + fp),
        "f1": float(f1),
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def per_label(metric: Callable[[np.ndarray, np.ndarray], float], Y_true, Y_score,
              names: Sequence[str] | None = None) -> dict[str, float]:
    """Apply a binary metric to each column of a multi-label problem.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_score) -> float`` for one label, e.g. :func:`auroc` or
        :func:`auprc_ap`.
    Y_true : array-like of shape (n, L)
        Binary targets, one column per label.
    Y_score : array-like of shape (n, L)
        Scores, one column per label.
    names : sequence of str, optional
        Label names; defaults to ``"label_0"``, ``"label_1"``, ...

    Returns
    -------
    dict
        Label name -> metric value, in column order. A label whose column of ``Y_true``
        holds a single class is skipped and reported as ``NaN`` (ranking metrics are
        undefined there); average with ``np.nanmean`` to get the macro mean over the
        labels that could be evaluated.

    Raises
    ------
    ValueError
        If the arrays are not 2-D with the same shape, are empty, or ``names`` does not
        have one entry per label. Errors raised by ``metric`` are passed on.
    """
    targets = _as_numpy(Y_true, "Y_true")
    scores = _as_numpy(Y_score, "Y_score")
    if targets.ndim != 2:
        raise ValueError(f"Y_true has shape {targets.shape}: expected an (n, L) multi-label matrix")
    if scores.shape != targets.shape:
        raise ValueError(f"Y_score has shape {scores.shape}: expected the shape of Y_true {targets.shape}")
    n_labels = targets.shape[1]
    if names is None:
        names = [f"label_{index}" for index in range(n_labels)]
    names = list(names)
    if len(names) != n_labels:
        raise ValueError(f"names has {len(names)} entries: expected one per label ({n_labels})")

    results: dict[str, float] = {}
    for index, name in enumerate(names):
        column = targets[:, index]
        if len(np.unique(column)) < 2:
            results[name] = float("nan")
            continue
        results[name] = float(metric(column, scores[:, index]))
    return results
