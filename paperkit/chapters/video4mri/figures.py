"""Figures and tables of the video4mri chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations

import re

import pandas as pd

from paperkit import reference

CHAPTER = "video4mri"


def interval(row) -> str:
    """A result row's bootstrap accuracy as ``mean [low, high]``
    (attributes ``boot_mean``, ``boot_low``, ``boot_high``)."""
    return f"{row.boot_mean:.3f} [{row.boot_low:.3f}, {row.boot_high:.3f}]"


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 rows from the reference CSV, in the layout of
    :func:`paperkit.data.brain_mri.table1_row`: ``Dataset`` (``"paper: PPMI"``), ``Total subjects``
    (disease class first, ``"97(PD):81(NC)"``), ``Total images`` and ``View`` (from the images row's
    ``view: <plane>`` note)."""
    rows = reference.load(CHAPTER, source="Table 1")
    out = []
    for dataset, part in rows.groupby("dataset", sort=False):
        subjects = part[part.metric.str.startswith("subjects")]
        subjects = subjects.iloc[sorted(range(len(subjects)), key=lambda i: subjects.metric.iloc[i].endswith("NC"))]
        images = part[part.metric == "images"].iloc[0]
        view = re.match(r"view: (\w+)", images.note)
        if view is None:
            raise ValueError(f"paperkit/reference/{CHAPTER}.csv: Table 1 {dataset} images row has no 'view: <plane>' "
                             f"note (note: {images.note!r})")
        counts = ":".join(f"{int(r.value)}({r.metric.split()[-1]})" for r in subjects.itertuples())
        out.append({"Dataset": f"paper: {dataset}", "Total subjects": counts, "Total images": int(images.value),
                    "View": view.group(1)})
    return pd.DataFrame(out)


def fig1(results: pd.DataFrame, models, dataset: str, paper_dataset: str = "PPMI"):
    """Fig. 1, accuracy vs trainable parameters (marker size: inference time), this run beside the paper.

    ``results`` has one row per model run here (``model``, ``params_m``, ``boot_mean``/``low``/``high``,
    ``inference_ms``); ``models`` orders the colours. The paper panel takes every number from the
    reference CSV (Table 2's accuracy on ``paper_dataset``, its parameter counts and inference times).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from paperkit import plots
    from paperkit.models.video import PAPER_NAMES

    models = list(models)
    paper = reference.load(CHAPTER, source="Table 2")
    acc = paper[(paper.metric == "accuracy") & (paper.dataset == paper_dataset)].set_index("setting")["value"]
    params = paper[paper.metric == "params"].set_index("setting")["value"]
    infer = paper[paper.metric == "inference time"].set_index("setting")["value"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"this run ({dataset})", f"paper ({paper_dataset}, Table 2)"),
                        horizontal_spacing=0.1)
    for r in results.itertuples():
        color = plots.COLORS[models.index(r.model) % len(plots.COLORS)]
        fig.add_trace(go.Scatter(x=[r.params_m], y=[r.boot_mean], mode="markers+text", text=[r.model],
                                 textposition="top center", name=r.model,
                                 marker=dict(size=8 + r.inference_ms / max(results.inference_ms) * 20, color=color),
                                 error_y=dict(type="data", symmetric=False, array=[r.boot_high - r.boot_mean],
                                              arrayminus=[r.boot_mean - r.boot_low])), 1, 1)
    for k, name in enumerate(models):
        p = PAPER_NAMES[name]
        fig.add_trace(go.Scatter(x=[params[p]], y=[acc[p]], mode="markers+text", text=[name], textposition="top center",
                                 showlegend=False, marker=dict(size=8 + infer[p] / infer.max() * 20,
                                                               color=plots.COLORS[k % len(plots.COLORS)])), 1, 2)
    fig.update_xaxes(title_text="trainable parameters (M)")
    fig.update_yaxes(title_text="bootstrap accuracy", col=1)
    fig.update_layout(title="Fig. 1: accuracy vs parameters (marker size: inference time)", height=440,
                      showlegend=False)
    return fig


def slow_path_note(segments: int, alpha: int = 8) -> str:
    """What SlowFast's slow pathway reads at K = ``segments``: the frame indices, and a warning when it is one."""
    from paperkit.models.slowfast import slow_frame_indices

    if segments < alpha or segments % alpha:
        return (f"With K={segments} SlowFast cannot run: its lateral connections need K to be a multiple of "
                f"alpha={alpha}.")
    frames = slow_frame_indices(segments, alpha).tolist()
    text = (f"With K={segments} and alpha={alpha}, SlowFast's fast pathway reads all {segments} frames and its slow "
            f"pathway {len(frames)} of them (frames {', '.join(map(str, frames))}, spread over the clip as the "
            "reference code picks them).")
    if len(frames) == 1:
        text += (" The slow pathway sees a single frame here: its temporal kernels see no neighbour, so in this "
                 "profile SlowFast's wide pathway is a 2D network on one slice plus what the lateral connections "
                 "bring from the fast pathway.")
    return text
