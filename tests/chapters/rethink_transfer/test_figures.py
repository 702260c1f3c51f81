"""The rethink_transfer figure helpers: the median-AUPRC draw is re-created exactly."""
import numpy as np
import pandas as pd
import pytest

from paperkit.chapters.rethink_transfer import figures
from paperkit.metrics import auprc_trapezoid


@pytest.mark.parametrize("name", ["A", "B"])
def test_representative_draw_is_the_median_draw_of_the_study(name):
    study = figures.imbalance_study(15, seed=3)
    y, s = figures.representative_draw(study, name, seed=3)
    rows = study[study.classifier == name]
    closest = rows.iloc[(rows["AUPRC"] - rows["AUPRC"].median()).abs().argmin()]
    assert y.sum() == 10 and len(y) == 1000
    assert auprc_trapezoid(y, s) == pytest.approx(closest["AUPRC"])
    top_k = {"A": 12, "B": 30}[name]
    assert np.flatnonzero(y).max() < top_k


def test_representative_draw_names_an_unknown_classifier():
    study = figures.imbalance_study(2)
    with pytest.raises(ValueError, match="'C'"):
        figures.representative_draw(study, "C")


def _ratios(**values):
    return pd.DataFrame({"setting": list(values), "metric": "negatives per positive", "value": list(values.values())})


def test_rarity_comparison_says_which_side_is_rarer_and_by_how_much():
    paper = _ratios(Fracture=24.8, **{"Pleural Other": 75.9})
    text = figures.rarity_comparison(paper, _ratios(Fracture=6.2, **{"Pleural Other": 7.59}))
    assert "the paper's positives are 4.0 to 10.0 times rarer than this run's" in text
    text = figures.rarity_comparison(paper, _ratios(Fracture=49.6, **{"Pleural Other": float("nan")}))
    assert "this run's positives are 2.0 to 2.0 times rarer" in text and "No positive in this run for: Pleural" in text
    assert "some settings" in figures.rarity_comparison(paper, _ratios(Fracture=49.6, **{"Pleural Other": 7.59}))
