"""The constructed example of the Rethink-TL paper (§2.1, Fig. 2): AUROC vs AUPRC under imbalance.

10 positives among 1000 cases. Classifier A ranks the positives somewhere within its top 12
scores, classifier B within its top 30. Where exactly they fall is random, so the paper's
single values are one draw from a distribution; :func:`imbalance_study` draws it many times.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from paperkit.metrics import auprc_ap, auprc_trapezoid, auroc


def ranked_scores(n_pos: int, n_neg: int, top_k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of a classifier that puts the ``n_pos`` positives at random among its top ``top_k``.

    Scores are strictly decreasing with rank (no ties), so only the ranking matters.
    """
    if not 0 < n_pos <= top_k <= n_pos + n_neg:
        raise ValueError(f"n_pos={n_pos}, top_k={top_k}, n_neg={n_neg}: expected 0 < n_pos <= top_k <= n_pos + n_neg")
    n = n_pos + n_neg
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(top_k, size=n_pos, replace=False)] = 1
    scores = np.linspace(1.0, 0.0, n)
    return labels, scores


def imbalance_study(n_draws: int, *, n_pos: int = 10, n_neg: int = 990,
                    classifiers: Mapping[str, int] | None = None, seed: int = 0) -> pd.DataFrame:
    """AUROC and both AUPRC definitions for ``n_draws`` seeded draws of each classifier.

    ``classifiers`` maps a name to its ``top_k`` (default: the paper's A = 12, B = 30).
    Returns one row per (draw, classifier) with columns ``draw, classifier, top_k, AUROC,
    AUPRC`` (trapezoid area, the paper's code) and ``AP`` (average precision).
    """
    classifiers = dict(classifiers or {"A": 12, "B": 30})
    rng = np.random.default_rng(seed)
    rows = []
    for draw in range(n_draws):
        for name, top_k in classifiers.items():
            y, s = ranked_scores(n_pos, n_neg, top_k, rng)
            rows.append({"draw": draw, "classifier": name, "top_k": top_k, "AUROC": auroc(y, s),
                         "AUPRC": auprc_trapezoid(y, s), "AP": auprc_ap(y, s)})
    return pd.DataFrame(rows)


def percentile_of(values: np.ndarray, x: float) -> float:
    """Share (in %) of ``values`` at or below ``x``: where a single reported number falls."""
    values = np.asarray(values, dtype=float)
    return float(100.0 * np.mean(values <= x + 1e-12))


# CheXpert labels whose imbalance the paper prints (§4), by the names of the reference CSV.
_PAPER_RATIO_LABELS = ("Enlarged Cardiomediastinum", "Lung Lesion", "Pleural Other", "Fracture")


def imbalance_vs_paper(tables, labels, dataset: str):
    """This run's negatives-per-positive ratios next to the ones the paper prints, or None.

    ``tables`` are the split image tables, ``labels`` the chapter's labels. For ``csv`` (the
    paper's COVID-19 role) the train and test ratios of the first label are compared with §2.3's
    1:16.3 and 1:2.94; for ``synthetic`` / ``chexpert`` the whole-set ratios of the four rare
    CheXpert labels with §4's 1:19.8, 1:26.4, 1:75.9, 1:24.8 (counted even where a label was left
    out of training for lack of positives in some split). Other datasets: None. Returns
    (reference rows, measured rows) for :func:`paperkit.plots.paper_vs_run` (keys ``setting``, ``metric``).
    """
    import pandas as pd

    from paperkit import reference
    from paperkit.data.datasets.csv_images import imbalance_table

    metric = "negatives per positive"
    paper = reference.load("rethink_transfer", metric=metric)
    if dataset == "csv":
        paper = paper[(paper.source == "§2.3") & paper.setting.isin(["train", "test"])]
        counts = imbalance_table({name: tables[name] for name in ("train", "test")}, labels[:1])
        settings = counts["split"]
    elif dataset in ("synthetic", "chexpert"):
        paper = paper[paper.setting.isin(_PAPER_RATIO_LABELS)]
        present = [lab for lab in _PAPER_RATIO_LABELS if lab in tables["train"].columns]
        counts = imbalance_table({"all": pd.concat(list(tables.values()))}, present)
        settings = counts["label"]
    else:
        return None
    ratio = counts["negatives"] / counts["positives"].where(counts["positives"] > 0)
    measured = pd.DataFrame({"setting": settings.values, "metric": metric, "value": ratio.values})
    return paper.reset_index(drop=True), measured


def rarity_comparison(paper: pd.DataFrame, measured: pd.DataFrame) -> str:
    """One sentence comparing this run's negatives-per-positive ratios with the paper's, row by row.

    ``paper`` and ``measured`` are :func:`imbalance_vs_paper`'s two tables (``setting``, ``value``).
    Says how many times rarer (or less rare) the paper's positives are than this run's, over the
    settings both have; settings without a positive in this run are named.
    """
    both = paper[["setting", "value"]].merge(measured[["setting", "value"]], on="setting", suffixes=(" paper", " run"))
    missing = both.loc[both["value run"].isna(), "setting"].tolist()
    both = both.dropna(subset=["value run"])
    if both.empty:
        return "No compared setting has a positive in this run, so no ratio can be compared."
    factor = both["value paper"] / both["value run"]
    lo, hi = factor.min(), factor.max()
    if lo > 1:
        verdict = f"the paper's positives are {lo:.1f} to {hi:.1f} times rarer than this run's"
    elif hi < 1:
        verdict = f"this run's positives are {1 / hi:.1f} to {1 / lo:.1f} times rarer than the paper's"
    else:
        verdict = f"this run's positives are rarer than the paper's for some settings and less rare for others " \
                  f"(the paper's ratio is {lo:.2f} to {hi:.2f} times this run's)"
    text = (f"This run: 1:{both['value run'].min():.1f} to 1:{both['value run'].max():.1f} negatives per positive; "
            f"the paper: 1:{both['value paper'].min():g} to 1:{both['value paper'].max():g}. So {verdict}.")
    if missing:
        text += f" No positive in this run for: {', '.join(missing)}."
    return text


def representative_draw(study: pd.DataFrame, name: str, *, seed: int = 0, n_pos: int = 10, n_neg: int = 990,
                        classifiers: Mapping[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of the draw of classifier ``name`` whose AUPRC is the median of ``study``.

    ``study`` is :func:`imbalance_study`'s table made with the same ``seed``, ``n_pos``, ``n_neg`` and
    ``classifiers``; the draw is re-created by replaying the same seeded sequence of rankings.
    """
    classifiers = dict(classifiers or {"A": 12, "B": 30})
    if name not in classifiers:
        raise ValueError(f"classifier {name!r} is not in {list(classifiers)}")
    rows = study[study.classifier == name]
    if rows.empty:
        raise ValueError(f"the study has no draw of classifier {name!r}")
    target = int(rows.iloc[(rows["AUPRC"] - rows["AUPRC"].median()).abs().argmin()]["draw"])
    rng = np.random.default_rng(seed)
    for draw in range(target + 1):
        for cname, top_k in classifiers.items():
            y, s = ranked_scores(n_pos, n_neg, top_k, rng)
            if draw == target and cname == name:
                return y, s
    raise AssertionError("unreachable: the target draw is always replayed")
