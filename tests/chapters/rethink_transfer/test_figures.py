"""The rethink_transfer figure helpers: the median-AUPRC draw is re-created exactly."""
import numpy as np
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
