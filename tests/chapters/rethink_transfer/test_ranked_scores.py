import numpy as np
import pytest

from paperkit.chapters.rethink_transfer.figures import imbalance_study, percentile_of, ranked_scores


def test_positives_fall_within_the_top_k():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, s = ranked_scores(10, 990, 12, rng)
        assert y.sum() == 10 and y[12:].sum() == 0 and np.all(np.diff(s) < 0)
    with pytest.raises(ValueError, match="top_k=5"):
        ranked_scores(10, 990, 5, rng)


def test_best_case_is_perfect_and_study_separates_a_from_b():
    y = np.r_[np.ones(10), np.zeros(990)]
    from paperkit.metrics import auprc_trapezoid, auroc
    s = np.linspace(1, 0, 1000)
    assert auroc(y, s) == 1.0 and auprc_trapezoid(y, s) == pytest.approx(1.0)
    df = imbalance_study(120, seed=1)
    med = df.groupby("classifier")[["AUROC", "AUPRC", "AP"]].median()
    assert med.loc["A", "AUROC"] - med.loc["B", "AUROC"] < 0.02          # AUROC barely moves
    assert med.loc["A", "AUPRC"] - med.loc["B", "AUPRC"] > 0.3           # AUPRC does
    assert (df["AUROC"] >= 0.97).all() and df["AUPRC"].between(0, 1).all()
    assert df.head(40).equals(imbalance_study(20, seed=1))                # seeded, draw by draw


def test_percentile_of():
    assert percentile_of(np.arange(100), 49) == 50.0
    assert percentile_of([0.1, 0.2], 0.05) == 0.0
