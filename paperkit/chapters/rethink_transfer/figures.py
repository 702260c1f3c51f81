"""The constructed example of the Rethink-TL paper (§2.1, Fig. 2): AUROC vs AUPRC under imbalance.

10 positives among 1000 cases. Classifier A ranks the positives somewhere within its top 12
scores, classifier B within its top 30. Where exactly they fall is random, so the paper's
single values are one draw from a distribution; :func:`imbalance_study` draws it many times.
"""
from __future__ import annotations

from typing import Mapping, Sequence

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


# --------------------------------------------------------------------------- results of the fine-tuning runs


def mean_sd(values) -> str:
    """``"mean ± sd (n=k)"`` of a group of repeats (sd over repeats, ``ddof=1``; "—" for one run)."""
    values = np.asarray(list(values), dtype=float)
    if not len(values):
        return "—"
    sd = f"{values.std(ddof=1):.3f}" if len(values) > 1 else "—"
    return f"{values.mean():.3f} ± {sd} (n={len(values)})"


def repeats_table(results: pd.DataFrame, by: Sequence[str],
                  metrics: Sequence[str] = ("AUROC", "AUPRC")) -> pd.DataFrame:
    """One row per group ``by`` (e.g. fraction, model, init) with ``metric`` as ``mean ± sd (n=repeats)``."""
    missing = [c for c in (*by, *metrics) if c not in results]
    if missing:
        raise ValueError(f"repeats_table: results lack columns {missing}")
    return results.groupby(list(by), sort=False)[list(metrics)].agg(mean_sd).reset_index()


def per_pathology(results: pd.DataFrame) -> pd.DataFrame:
    """Long table of every run's per-label scores: ``fraction, model, init, repeat, pathology, AUROC, AUPRC, AP``.

    ``results`` has one row per fine-tuning run with its ``per_label`` dict (label -> metric -> value).
    """
    rows = [{"fraction": r.fraction, "model": r.model, "init": r.init, "repeat": r.repeat, "pathology": label,
             **values} for r in results.itertuples() for label, values in r.per_label.items()]
    return pd.DataFrame(rows)


def tl_vs_ri_per_pathology(results: pd.DataFrame, *, fraction: float, data_label: str,
                           metrics: Sequence[str] = ("AUROC", "AUPRC"), models: Sequence[str] | None = None):
    """The paper's Fig. 3: per-pathology TL vs RI bars for each model, one row per metric.

    Bars are the mean over repeats with the standard deviation as error bars (none for a single
    repeat); the hover text gives n. ``results`` as for :func:`per_pathology`; only runs on the
    training-set ``fraction`` are drawn. Returns a plotly figure with one subplot per (metric, model).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from paperkit import plots

    long = per_pathology(results)
    if long.empty or fraction not in set(long["fraction"]):
        raise ValueError(f"tl_vs_ri_per_pathology: no per-label results for fraction {fraction}")
    long = long[long.fraction == fraction]
    models = list(models or dict.fromkeys(long["model"]))
    stats = long.groupby(["model", "init", "pathology"], sort=False)[list(metrics)].agg(["mean", "std", "count"])
    fig = make_subplots(rows=len(metrics), cols=len(models), shared_yaxes=True, vertical_spacing=0.18,
                        horizontal_spacing=0.02, subplot_titles=[f"{model}: {metric}" for metric in metrics
                                                                 for model in models])
    for r, metric in enumerate(metrics, start=1):
        for c, model in enumerate(models, start=1):
            for init, color in (("RI", plots.COLORS[1]), ("TL", plots.COLORS[0])):
                if (model, init) not in stats.index.droplevel("pathology"):
                    continue
                part = stats.loc[(model, init)][metric]
                fig.add_trace(go.Bar(x=list(part.index), y=part["mean"], name=init, marker_color=color,
                                     error_y=dict(type="data", array=part["std"].fillna(0).to_numpy()),
                                     customdata=part["count"].to_numpy(), legendgroup=init,
                                     hovertemplate="%{x}: %{y:.3f} (n=%{customdata})",
                                     showlegend=(r == 1 and c == 1)), r, c)
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(barmode="group", height=360 * len(metrics),
                      title=f"Fig. 3, rebuilt: TL vs RI per pathology, {fraction:.0%} of the training set "
                            f"({data_label})")
    return fig


# --------------------------------------------------------------------------- split sizes beside the paper's


def split_counts_vs_paper(tables, dataset: str, all_rows: int | None = None):
    """This run's images per split beside the paper's CheXpert split (§2.3), or None for other datasets.

    Returns (reference rows, measured rows) for :func:`paperkit.plots.paper_vs_run` with settings
    ``train``, ``val``, ``test`` and ``all splits`` (the paper's row is the sum of its three splits:
    every view of CheXpert's train.csv), metric ``images``; with ``all_rows`` (the rows the loaded
    table held) a row ``train.csv rows loaded`` is measured too, beside the dataset's own count of
    train.csv's rows from the reference CSV.
    """
    from paperkit import reference

    if dataset not in ("synthetic", "chexpert"):
        return None
    ref = reference.load("rethink_transfer", metric="images")
    splits = ref[ref.setting.isin(["train", "val", "test"]) & (ref.source == "§2.3")]
    total = splits.iloc[[0]].assign(setting="all splits", value=splits["value"].sum(),
                                    note="sum of the paper's three splits")
    rows_ref = ref[ref.setting == "train.csv rows loaded"]
    paper = pd.concat([splits, total, rows_ref], ignore_index=True)
    counts = {name: len(t) for name, t in tables.items()}
    measured = [{"setting": name, "metric": "images", "value": float(counts[name])}
                for name in ("train", "val", "test") if name in counts]
    measured.append({"setting": "all splits", "metric": "images", "value": float(sum(counts.values()))})
    if all_rows is not None:
        measured.append({"setting": "train.csv rows loaded", "metric": "images", "value": float(all_rows)})
    return paper, pd.DataFrame(measured)
