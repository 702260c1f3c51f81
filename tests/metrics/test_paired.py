"""paperkit.metrics.paired: the paired bootstrap of a difference and the one-item resolution."""
import numpy as np
import pytest

from paperkit.metrics.paired import accuracy_of, one_item_resolution, paired_bootstrap


def test_identical_predictions_differ_by_exactly_zero():
    y = np.array([0, 1] * 10)
    p = np.linspace(0, 1, 20)
    d = paired_bootstrap(y, p, p, metric="auroc")
    assert d.effect == d.low == d.high == 0.0
    assert d.n == 20 and d.resolution == pytest.approx(0.1)


def test_a_clearly_better_model_has_an_interval_above_zero():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.where(rng.random(400) < 0.9, y, 1 - y)
    bad = np.where(rng.random(400) < 0.6, y, 1 - y)
    d = paired_bootstrap(y, good, bad, metric="accuracy", a="good", b="bad")
    assert 0.2 < d.effect < 0.4
    assert d.low > 0.15 and d.high < 0.45 and d.low < d.effect < d.high
    assert "good − bad" in d.describe() and "n=400" in d.describe()


def test_one_item_apart_on_twelve_items_is_not_resolved():
    y = np.array([0] * 6 + [1] * 6)
    a = y.copy()
    b = y.copy()
    b[0] = 1  # b gets one item wrong
    d = paired_bootstrap(y, a, b, metric="accuracy")
    assert d.effect == pytest.approx(1 / 12)
    assert d.low <= 0.0  # the single item is not always drawn
    assert d.margin(0.02) == pytest.approx(1 / 12)  # never finer than one item
    assert d.margin(0.2) == 0.2


def test_the_draws_are_seeded_and_stratified():
    rng = np.random.default_rng(1)
    y = np.array([0] * 30 + [1] * 3)
    a, b = rng.random(33), rng.random(33)
    d1 = paired_bootstrap(y, a, b, metric="auroc", seed=3)
    d2 = paired_bootstrap(y, a, b, metric="auroc", seed=3)
    assert d1 == d2  # and no draw lost a class: AUROC would have raised
    assert one_item_resolution("auroc", y) == pytest.approx(1 / 3)


def test_accuracy_reads_labels_probabilities_and_class_scores():
    y = np.array([0, 1, 1])
    assert accuracy_of(y, np.array([0, 1, 0])) == pytest.approx(2 / 3)
    assert accuracy_of(y, np.array([0.2, 0.7, 0.9])) == 1.0
    assert accuracy_of(y, np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "f1"}, "metric='f1'"),
    ({"n_boot": 10}, "n_boot=10"),
    ({"level": 1.5}, "level=1.5"),
])
def test_bad_arguments_are_named(kwargs, message):
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(y, y, y, **kwargs)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="score_b has 3"):
        paired_bootstrap(np.array([0, 1, 0, 1]), np.zeros(4), np.zeros(3))
