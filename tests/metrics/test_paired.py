"""paperkit.metrics.paired: the paired bootstrap of a difference and the one-item resolution."""
import numpy as np
import pytest

from paperkit.metrics.paired import accuracy_of, mean_auprc, one_item_resolution, paired_bootstrap


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
    ({"metric": "brier"}, "metric='brier'"),
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


def test_the_vectorised_draws_score_as_scikit_learn_does():
    from paperkit.metrics import auprc_trapezoid, auroc
    from paperkit.metrics.paired import _auprc_rows, _auroc_rows

    rng = np.random.default_rng(2)
    for case in range(60):
        y = rng.permutation(np.r_[0, 1, rng.integers(0, 2, 20)])
        s = rng.integers(0, 4, len(y)) / 3 if case % 2 else rng.random(len(y))  # with and without ties
        assert _auprc_rows(y[None].astype(float), s[None])[0] == pytest.approx(auprc_trapezoid(y, s))
        assert _auroc_rows(y[None], s[None])[0] == pytest.approx(auroc(y, s))


def test_mean_auprc_over_labels_and_runs():
    from paperkit.metrics import auprc_trapezoid

    rng = np.random.default_rng(3)
    y = np.c_[rng.integers(0, 2, 30), np.r_[1, 1, np.zeros(28, int)], np.zeros(30, int)]  # label 3 has no positive
    s = rng.random((30, 3, 2))
    expected = np.mean([auprc_trapezoid(y[:, j], s[:, j, c]) for j in (0, 1) for c in (0, 1)])
    assert mean_auprc(y, s) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no label"):
        mean_auprc(y[:, 2:], s[:, 2:, 0])


def test_a_multilabel_draw_without_a_positive_leaves_the_label_out_and_says_so():
    rng = np.random.default_rng(4)
    y = np.c_[rng.integers(0, 2, 40), np.r_[1, np.zeros(39, int)]]  # one positive: many draws miss it
    good, bad = y + rng.normal(0, 0.3, y.shape), rng.random(y.shape)
    d = paired_bootstrap(y, good, bad, metric="mean_auprc", a="good", b="bad", n_boot=300)
    assert d.low > 0 and "draws left out a label" in d.note and d.note in d.describe()
    # one positive: one image can move that label's AUPRC all the way, so the mean by half
    assert d.resolution == pytest.approx(np.mean([one_item_resolution("mean_auprc", y[:, :1]), 1.0]))
    assert d.resolution >= 0.5


def test_ap_step_bounds_what_one_item_moves():
    from paperkit.metrics import auprc_trapezoid

    for p in (1, 2, 3, 10):
        y = np.r_[np.ones(p, int), np.zeros(50, int)]
        ranked = -np.arange(len(y), dtype=float)  # positives first: AUPRC 1
        negative_on_top = ranked.copy()
        negative_on_top[p] = 1.0
        step = one_item_resolution("mean_auprc", y[:, None])
        assert 1.0 - auprc_trapezoid(y, negative_on_top) == pytest.approx(step) if p > 1 else step == 1.0


def test_f1_and_specificity_pool_runs_over_the_same_items():
    y = np.array([1] * 7 + [0] * 5)
    runs_a = np.tile(y[:, None], (1, 3))          # three runs, all right
    runs_b = runs_a.copy()
    runs_b[0, :] = 0                              # every run misses the same positive scan
    d = paired_bootstrap(y, runs_a, runs_b, metric="f1", n_boot=200)
    assert d.n == 12 and d.effect == pytest.approx(1 - 12 / 13)
    assert d.resolution == pytest.approx(2 / 8) and d.low >= 0  # one scan of 12: far below the resolution
    s = paired_bootstrap(y, runs_a, 1 - runs_a, metric="specificity", n_boot=200)
    assert s.effect == s.low == s.high == 1.0 and s.resolution == pytest.approx(1 / 5)


def test_a_callable_metric_needs_its_resolution():
    y = np.array([0, 1] * 10)

    def mean_score(_, score):
        return float(np.mean(score))

    with pytest.raises(ValueError, match="resolution="):
        paired_bootstrap(y, np.ones(20), np.zeros(20), metric=mean_score)
    d = paired_bootstrap(y, np.ones(20), np.zeros(20), metric=mean_score, resolution=0.05, n_boot=100)
    assert d.metric == "mean_score" and d.effect == d.low == 1.0 and d.margin() == 0.05


def test_draws_in_which_no_label_is_defined_are_left_out_and_counted():
    y = np.r_[1, np.zeros(11, int)][:, None]  # one positive in 12: about a third of the draws miss it
    d = paired_bootstrap(y, -np.arange(12.0)[:, None], np.arange(12.0)[:, None], metric="mean_auprc", n_boot=300)
    assert np.isfinite(d.low) and np.isfinite(d.high) and "every label" in d.note
