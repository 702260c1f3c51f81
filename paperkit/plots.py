"""Plotly set-up for the book, one consistent look, the "paper vs this run" table, and image traces.

Call :func:`setup` once at the top of a chapter. It registers a renderer that emits, next
to plotly's JSON mimetype, a ``text/html`` div that uses the page's own plotly.js (served
from ``book/_static``), so figures survive papermill + Jupyter Book and need no CDN: under
papermill plotly's default renderer emits only the JSON mimetype, which the book drops.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import MimetypeRenderer

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
TEMPLATE = "paperkit"
RENDERER = "paperkit"


class BookRenderer(MimetypeRenderer):
    """Emits the plotly JSON mimetype (JupyterLab, VS Code) and an HTML div (the book)."""

    def to_mimebundle(self, fig_dict):
        div = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False,
                          config={"displaylogo": False, "responsive": True}, validate=False)
        return {"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig_dict, validate=False)),
                "text/html": div}


def setup() -> None:
    """Register the paperkit template and renderer and make them the defaults (idempotent)."""
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(colorway=COLORS, font=dict(family="Helvetica, Arial, sans-serif", size=13),
                           title=dict(font=dict(size=15)), margin=dict(l=60, r=20, t=80, b=50),
                           legend=dict(bgcolor="rgba(255,255,255,0.6)"), hoverlabel=dict(namelength=-1))
    pio.templates[TEMPLATE] = template
    pio.templates.default = TEMPLATE
    pio.renderers[RENDERER] = BookRenderer()
    pio.renderers.default = RENDERER


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` shipped inside the installed plotly package (copied into the book)."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():
        raise FileNotFoundError(f"{path}: plotly.min.js not found in the installed plotly package")
    return path


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def paper_vs_run(reference: pd.DataFrame, measured: pd.DataFrame, *, run_data: str,
                 keys: Sequence[str] = ("setting", "metric"), digits: int = 3) -> pd.DataFrame:
    """Join the paper's numbers with this run's, naming the data behind each side.

    Parameters
    ----------
    reference : rows of :func:`paperkit.reference.load` (columns ``keys`` + ``value``,
        ``dataset``, ``source``).
    measured : this run's numbers, columns ``keys`` + ``value`` (float, or a string such as
        ``"0.71 [0.65, 0.77]"``).
    run_data : what this run ran on, e.g. ``"synthetic cohort (seed 0, classroom profile)"``.

    Returns a DataFrame with columns ``*keys, paper, paper data, paper source, this run,
    this run data``; rows missing on one side show "—" there.
    """
    keys = list(keys)
    for name, frame, need in (("reference", reference, keys + ["value", "dataset", "source"]),
                              ("measured", measured, keys + ["value"])):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} table lacks columns {missing}; it has {list(frame.columns)}")
    ref = reference[keys + ["value", "dataset", "source"]].rename(
        columns={"value": "paper", "dataset": "paper data", "source": "paper source"})
    ours = measured[keys + ["value"]].rename(columns={"value": "this run"})
    table = ref.merge(ours, on=keys, how="outer", sort=False)
    table["this run data"] = [run_data if not pd.isna(v) else "—" for v in table["this run"]]
    for col in ("paper", "this run"):
        table[col] = [_fmt(v, digits) for v in table[col]]
    return table[keys + ["paper", "paper data", "paper source", "this run", "this run data"]].fillna("—")


def table_html(table: pd.DataFrame, caption: str, *, note: str | None = None) -> str:
    """A captioned HTML table in the book's style (the caption should name the data)."""
    body = table.to_html(index=False, escape=True, border=0, classes="paperkit-table")
    foot = f'<p class="paperkit-note">{html.escape(note)}</p>' if note else ""
    return f'<figure class="paperkit"><figcaption><b>{html.escape(caption)}</b></figcaption>{body}{foot}</figure>'


def show_table(table: pd.DataFrame, caption: str, *, note: str | None = None) -> None:
    """Display :func:`table_html` in a notebook."""
    from IPython.display import HTML, display

    display(HTML(table_html(table, caption, note=note)))


def gray(image) -> go.Heatmap:
    """A grayscale image as a heatmap trace without colour bar or hover (flip the y axis to draw rows downwards)."""
    return go.Heatmap(z=image, colorscale="gray", showscale=False, hoverinfo="skip")


def mask_outline(mask, color: str, name: str, showlegend: bool = False) -> go.Scatter:
    """The boundary pixels of a binary ``mask`` (H, W) as a scatter trace of small markers."""
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    edge = np.argwhere(mask & ~ndimage.binary_erosion(mask))
    return go.Scatter(x=edge[:, 1], y=edge[:, 0], mode="markers", marker=dict(size=2, color=color), name=name,
                      legendgroup=name, showlegend=showlegend, hoverinfo="skip")


def contour_trace(contour, color: str, name: str, showlegend: bool = False, dash: str | None = None) -> go.Scatter:
    """A contour given as (N, 2) ``(x, y)`` points, drawn as a closed line."""
    contour = np.asarray(contour)
    if contour.ndim != 2 or contour.shape[1] != 2:
        raise ValueError(f"contour has shape {contour.shape}; expected (N, 2) x, y points")
    closed = np.vstack([contour, contour[:1]])
    return go.Scatter(x=closed[:, 0], y=closed[:, 1], mode="lines", line=dict(color=color, width=2, dash=dash),
                      name=name, legendgroup=name, showlegend=showlegend, hoverinfo="skip")
