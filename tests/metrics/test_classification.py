"""Tests for paperkit.metrics.classification: against scikit-learn and hand-computed cases."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from paperkit.metrics import (
    auprc_ap,
    auprc_trapezoid,
    auroc,
    bootstrap_accuracy,
    confusion_metrics,
    per_label,
)


@pytest.fixture
def binary_problem():
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 2, size=200)
    # Informative but noisy scores, so the metrics are far from 0.5 and 1.
    y_score = y_true * 0.8 + rng.normal(0.0, 0.6, size=200)
    return y_true, y_score


# --- bootstrap_accuracy -------------------------------------------------------------

def test_bootstrap_all_correct_gives_one_and_degenerate_interval():
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 1])
    result = bootstrap_accuracy(labels, labels)
    assert result.mean == 1.0
    assert (result.low, result.high) == (1.0, 1.0)
    assert np.all(result.samples == 1.0)
    assert result.n_boot == 100 and len(result.samples) == 100


def test_bootstrap_is_reproducible_and_draws_forty_percent():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, size=25)
    y_pred = np.where(rng.random(25) < 0.7, y_true, 1 - y_true)

    first = bootstrap_accuracy(y_true, y_pred, seed=11)
    second = bootstrap_accuracy(y_true, y_pred, seed=11)
    other = bootstrap_accuracy(y_true, y_pred, seed=12)

    assert first.sample_size == round(0.4 * 25) == 10
    np.testing.assert_array_equal(first.samples, second.samples)
    assert not np.array_equal(first.samples, other.samples)
    # Each accuracy is a count out of 10 draws.
    np.testing.assert_allclose(first.samples * 10, np.round(first.samples * 10))
    # Independent recomputation of the documented drawing procedure.
    indices = np.random.default_rng(11).integers(0, 25, size=(100, 10))
    expected = (y_true == y_pred)[indices].mean(axis=1)
    np.testing.assert_allclose(first.samples, expected)


def test_bootstrap_interval_is_the_percentile_interval():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, size=60)
    y_pred = np.where(rng.random(60) < 0.6, y_true, (y_true + 1) % 3)
    result = bootstrap_accuracy(y_true, y_pred, ci=0.9, n_boot=200)
    low, high = np.percentile(result.samples, [5.0, 95.0])
    assert (result.low, result.high) == pytest.approx((low, high))
    assert result.low <= result.mean <= result.high
    assert result.low < result.high
    assert result.mean == pytest.approx(result.samples.mean())


def test_bootstrap_accepts_score_matrix_and_tensors():
    rng = np.random.default_rng(1)
    scores = rng.random((40, 3))
    y_true = rng.integers(0, 3, size=40)
    from_scores = bootstrap_accuracy(torch.from_numpy(y_true), torch.from_numpy(scores), seed=5)
    from_labels = bootstrap_accuracy(y_true, scores.argmax(axis=1), seed=5)
    np.testing.assert_array_equal(from_scores.samples, from_labels.samples)


def test_bootstrap_result_is_frozen():
    result = bootstrap_accuracy([0, 1, 1], [0, 1, 0])
    with pytest.raises(AttributeError):
        result.mean = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.samples[0] = 0.5


@pytest.mark.parametrize("kwargs, argument", [
    (dict(y_true=[0, 1, 1], y_pred=[0, 1]), "y_pred"),
    (dict(y_true=[], y_pred=[]), "y_true"),
    (dict(y_true=[0, 1, 1], y_pred=[0, 1, 1], fraction=0.1), "fraction"),
    (dict(y_true=[0, 1, 1], y_pred=[0, 1, 1], ci=1.0), "ci"),
    (dict(y_true=[0, 1, 1], y_pred=[0, 1, 1], n_boot=0), "n_boot"),
    (dict(y_true=[0, 5, 1], y_pred=np.ones((3, 2))), "y_true"),
])
def test_bootstrap_rejects_bad_input(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        bootstrap_accuracy(**kwargs)


# --- AUROC / AUPRC ------------------------------------------------------------------

def test_auroc_matches_sklearn_and_uses_column_one(binary_problem):
    y_true, y_score = binary_problem
    expected = roc_auc_score(y_true, y_score)
    assert 0.6 < expected < 0.95
    assert auroc(y_true, y_score) == pytest.approx(expected)
    two_columns = np.stack([1.0 - y_score, y_score], axis=1)
    assert auroc(y_true, two_columns) == pytest.approx(expected)
    assert auroc(torch.from_numpy(y_true), torch.from_numpy(y_score)) == pytest.approx(expected)


def test_auroc_single_class_raises():
    with pytest.raises(ValueError, match="y_true.*one class"):
        auroc([1, 1, 1], [0.2, 0.5, 0.9])


@pytest.mark.parametrize("y_true, y_score, argument", [
    ([0, 1, 1], [0.2, 0.5], "y_score"),
    ([0, 1, 1], np.ones((3, 3)), "y_score"),
    ([0, 2, 2], [0.2, 0.5, 0.9], "y_true"),
    ([0, 1, 1], [0.2, np.nan, 0.9], "y_score"),
])
def test_ranking_metrics_reject_bad_input(y_true, y_score, argument):
    for metric in (auroc, auprc_ap, auprc_trapezoid):
        with pytest.raises(ValueError, match=argument):
            metric(y_true, y_score)


def test_auprc_ap_matches_sklearn(binary_problem):
    y_true, y_score = binary_problem
    assert auprc_ap(y_true, y_score) == pytest.approx(average_precision_score(y_true, y_score))


def test_auprc_definitions_on_a_hand_computed_case():
    # Thresholds 0.8, 0.4, 0.35 give (recall, precision) = (0.5, 1), (0.5, 0.5), (1, 2/3);
    # the curve starts at (0, 1).
    y_true = [0, 0, 1, 1]
    y_score = [0.1, 0.4, 0.35, 0.8]
    # AP: 0.5 * 1 + 0.5 * 2/3.
    assert auprc_ap(y_true, y_score) == pytest.approx(5 / 6)
    # Trapezoids: 0.5 * (1 + 1) / 2 + 0 + 0.5 * (0.5 + 2/3) / 2.
    assert auprc_trapezoid(y_true, y_score) == pytest.approx(19 / 24)


def _hand_trapezoid_auprc(y_true, y_score):
    """Precision-recall trapezoid area written out, for distinct scores."""
    order = np.argsort(-np.asarray(y_score))
    hits = np.asarray(y_true)[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(1 - hits)
    recall = np.concatenate([[0.0], tp / hits.sum()])
    precision = np.concatenate([[1.0], tp / (tp + fp)])
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2))


def test_auprc_trapezoid_matches_hand_trapezoid_and_exceeds_ap():
    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 2, size=30)
    y_score = rng.random(30) + 0.3 * y_true  # distinct (continuous) scores
    assert len(np.unique(y_score)) == 30
    value = auprc_trapezoid(y_true, y_score)
    assert value == pytest.approx(_hand_trapezoid_auprc(y_true, y_score))
    assert value != pytest.approx(auprc_ap(y_true, y_score))


# --- confusion_metrics --------------------------------------------------------------

def test_confusion_metrics_on_hand_table():
    y_true = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    y_pred = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    result = confusion_metrics(y_true, y_pred)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (3, 2, 4, 1)
    assert result["precision"] == pytest.approx(3 / 5)
    assert result["recall"] == result["sensitivity"] == pytest.approx(3 / 4)
    assert result["specificity"] == pytest.approx(4 / 6)
    assert result["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert result["accuracy"] == pytest.approx(7 / 10)


def test_confusion_metrics_positive_label_and_zero_division():
    y_true = np.array(["benign", "malignant", "malignant", "benign"])
    flipped = confusion_metrics(y_true, y_true, positive="benign")
    assert (flipped["tp"], flipped["tn"]) == (2, 2)

    no_positive_predictions = confusion_metrics([0, 1, 1, 0], [0, 0, 0, 0])
    assert no_positive_predictions["precision"] == 0.0
    assert no_positive_predictions["f1"] == 0.0
    assert no_positive_predictions["specificity"] == 1.0

    no_negatives = confusion_metrics([1, 1], [1, 1])
    assert no_negatives["specificity"] == 0.0 and no_negatives["recall"] == 1.0


@pytest.mark.parametrize("y_true, y_pred, kwargs, argument", [
    ([0, 1, 2], [0, 1, 1], {}, "y_true"),
    ([0, 1, 1], [0, 1], {}, "y_pred"),
    ([0, 2, 2], [0, 2, 0], {"positive": 1}, "positive"),
])
def test_confusion_metrics_rejects_bad_input(y_true, y_pred, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        confusion_metrics(y_true, y_pred, **kwargs)


# --- per_label ----------------------------------------------------------------------

def test_per_label_matches_sklearn_and_skips_single_class_label():
    rng = np.random.default_rng(9)
    targets = rng.integers(0, 2, size=(50, 3))
    targets[:, 1] = 0  # no positives for this label
    scores = targets * 0.5 + rng.random((50, 3))
    result = per_label(auroc, targets, scores, names=["edema", "nodule", "effusion"])
    assert list(result) == ["edema", "nodule", "effusion"]
    assert np.isnan(result["nodule"])
    assert result["edema"] == pytest.approx(roc_auc_score(targets[:, 0], scores[:, 0]))
    assert result["effusion"] == pytest.approx(roc_auc_score(targets[:, 2], scores[:, 2]))
    assert list(per_label(auprc_ap, targets, scores)) == ["label_0", "label_1", "label_2"]


@pytest.mark.parametrize("scores_shape, names, argument", [
    ((50, 2), None, "Y_score"),
    ((50, 3), ["a", "b"], "names"),
])
def test_per_label_rejects_bad_input(scores_shape, names, argument):
    targets = np.random.default_rng(0).integers(0, 2, size=(50, 3))
    with pytest.raises(ValueError, match=argument):
        per_label(auroc, targets, np.zeros(scores_shape), names=names)
