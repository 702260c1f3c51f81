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


def _results():
    """Fine-tuning rows: two models, TL and RI, two repeats, two pathologies, on the full training set."""
    rows = []
    for model in ("cbr_tiny", "dens_t1"):
        for init, base in (("RI", 0.6), ("TL", 0.7)):
            for repeat in (0, 1):
                per = {"Edema": {"AUROC": base + 0.01 * repeat, "AUPRC": base - 0.3, "AP": base - 0.3},
                       "Fracture": {"AUROC": base, "AUPRC": 0.1, "AP": 0.1}}
                rows.append({"fraction": 1.0, "model": model, "init": init, "repeat": repeat, "per_label": per,
                             "AUROC": base + 0.01 * repeat, "AUPRC": base - 0.2})
    return pd.DataFrame(rows)


def test_fig3_builder_draws_tl_and_ri_per_pathology_for_every_model_and_metric():
    fig = figures.tl_vs_ri_per_pathology(_results(), fraction=1.0, data_label="toy data")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 2 * 2 * 2                                   # metrics x models x (TL, RI)
    assert {t.name for t in bars} == {"TL", "RI"} and list(bars[0].x) == ["Edema", "Fracture"]
    tl_edema = next(t for t in bars if t.name == "TL" and t.xaxis == "x")
    assert tl_edema.y[0] == pytest.approx(0.705) and tl_edema.error_y.array[0] == pytest.approx(np.std([.7, .71],
                                                                                                        ddof=1))
    assert list(tl_edema.customdata) == [2, 2] and "toy data" in fig.layout.title.text
    with pytest.raises(ValueError, match="fraction 0.1"):
        figures.tl_vs_ri_per_pathology(_results(), fraction=0.1, data_label="toy data")


def test_repeats_table_shows_mean_sd_and_n():
    table = figures.repeats_table(_results(), ["model", "init"])
    row = table[(table.model == "dens_t1") & (table.init == "TL")].iloc[0]
    assert row["AUROC"] == f"0.705 ± {np.std([0.70, 0.71], ddof=1):.3f} (n=2)"
    assert figures.mean_sd([0.5]) == "0.500 ± — (n=1)"


def test_split_counts_are_shown_beside_the_papers():
    tables = {"train": pd.DataFrame(index=range(72)), "val": pd.DataFrame(index=range(8)),
              "test": pd.DataFrame(index=range(20))}
    paper, measured = figures.split_counts_vs_paper(tables, "chexpert", all_rows=100)
    ours = dict(zip(measured.setting, measured.value))
    theirs = dict(zip(paper.setting, paper.value))
    assert ours == {"train": 72, "val": 8, "test": 20, "all splits": 100, "train.csv rows loaded": 100}
    assert theirs["all splits"] == theirs["train"] + theirs["val"] + theirs["test"]
    assert theirs["train.csv rows loaded"] < theirs["all splits"]   # the paper's splits hold 3 more than train.csv
    assert figures.split_counts_vs_paper(tables, "medmnist") is None
