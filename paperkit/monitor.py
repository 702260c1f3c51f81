"""A live training monitor: loss, validation metrics and per-layer gradient norms, redrawn in place.

The paper's "real-time visualisation" is a DIGITS dashboard. Here a plotly figure is shown once
with a Jupyter display handle and replaced after every epoch (``on_epoch_end`` of
:func:`paperkit.train.fit`), so the plot grows while the model trains; the last state stays in
the notebook and in the rendered book. Outside Jupyter nothing is displayed and the figure is
still available as :attr:`LiveMonitor.figure`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .explain.layer_stats import GradientNorms
from .plots import COLORS, BookRenderer

__all__ = ["LiveMonitor"]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class LiveMonitor:
    """Plot training progress per epoch, updating one figure in place.

    ``metrics`` are history keys drawn in the middle panel (e.g. ``val_dice``); every key that
    starts with ``grad_norm:`` (see :class:`GradientNorms`) becomes a line in the right panel.
    """

    def __init__(self, title: str, metrics: Sequence[str] = ("val_dice", "val_pixel_accuracy"), *,
                 display: bool | None = None):
        self.title = title
        self.metrics = list(metrics)
        self.records: list[dict] = []
        self._display = _in_notebook() if display is None else display
        self._handle = None

    def __call__(self, epoch: int, record: Mapping) -> None:
        """``on_epoch_end`` hook for :func:`paperkit.train.fit`."""
        self.update(record)

    def update(self, record: Mapping) -> None:
        """Add one epoch's record and redraw."""
        self.records.append(dict(record))
        self._redraw()

    def show_history(self, history: pd.DataFrame) -> None:
        """Draw a finished run's stored history (a reused run record) in one go."""
        self.records = history.to_dict("records")
        self._redraw()

    @property
    def figure(self) -> go.Figure:
        """The current figure."""
        frame = pd.DataFrame(self.records)
        fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                            subplot_titles=("training loss", "validation", "gradient norm per layer"))
        if not frame.empty:
            fig.add_trace(go.Scatter(x=frame["epoch"], y=frame["train_loss"], mode="lines+markers",
                                     name="train loss", line=dict(color=COLORS[0])), 1, 1)
            for metric, color in zip(self.metrics, COLORS[1:]):
                if metric in frame:
                    fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[metric], mode="lines+markers",
                                             name=metric.removeprefix("val_").replace("_", " "),
                                             line=dict(color=color)), 1, 2)
            grads = [c for c in frame.columns if c.startswith(GradientNorms.prefix)]
            for i, column in enumerate(grads):
                fig.add_trace(go.Scatter(x=frame["epoch"], y=frame[column], mode="lines",
                                         name=column.removeprefix(GradientNorms.prefix), legendgroup="grad",
                                         legendgrouptitle_text="layer" if i == 0 else None,
                                         line=dict(color=COLORS[i % len(COLORS)],
                                                   dash="dot" if i >= len(COLORS) else None)),
                              1, 3)
        fig.update_xaxes(title_text="epoch")
        fig.update_yaxes(range=[0, 1.02], row=1, col=2)
        fig.update_yaxes(type="log", row=1, col=3)
        # Legend below the plots: long layer names (MONAI's nested "submodule"s) beside them squeeze the panels.
        fig.update_layout(title=self.title, height=480, legend=dict(orientation="h", yanchor="top", y=-0.3))
        return fig

    def _redraw(self) -> None:
        if not self._display:
            return
        from IPython.display import display

        # A plotly figure displays itself through _ipython_display_, which ignores display ids;
        # sending its MIME bundle raw lets the handle replace the output in place.
        bundle = BookRenderer().to_mimebundle(self.figure.to_dict())
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
