"""How big a model is: its parameter count, and a table of counts for several registered models."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping

from torch import nn

from .registry import create

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["count_parameters", "parameter_table"]


def count_parameters(model: nn.Module, *, trainable_only: bool) -> int:
    """Number of parameters of ``model``; with ``trainable_only=True`` only those with ``requires_grad``.

    The keyword has no default on purpose: a frozen encoder counts in one table and not in
    another, so every caller says which count it means.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_table(names: Iterable[str] | str, *, paper_m: Mapping[str, float] | None = None,
                    **builder_kwargs) -> "pd.DataFrame":
    """Trainable parameters of each registered model in ``names``, built with ``builder_kwargs``.

    Columns: ``name``, ``parameters`` (trainable), ``params_m`` (the same in millions) and
    ``mb_fp32`` (parameters x 4 bytes, in MB = 10^6 bytes). With ``paper_m`` (model name ->
    the paper's count in millions) also ``paper_params_m`` and ``relative_diff``
    (``(params_m - paper_params_m) / paper_params_m``); a name missing from it is an error.
    """
    import pandas as pd  # imported here: only tables need it

    names = [names] if isinstance(names, str) else list(names)
    if paper_m is not None:
        missing = [name for name in names if name not in paper_m]
        if missing:
            raise ValueError(f"parameter_table: paper_m has no count for {missing}; it has {sorted(paper_m)}")
    rows = []
    for name in names:
        count = count_parameters(create(name, **builder_kwargs), trainable_only=True)
        row = {"name": name, "parameters": count, "params_m": count / 1e6, "mb_fp32": count * 4 / 1e6}
        if paper_m is not None:
            paper = paper_m[name]
            row.update(paper_params_m=paper, relative_diff=(row["params_m"] - paper) / paper)
        rows.append(row)
    columns = ["name", "parameters", "params_m", "mb_fp32"]
    return pd.DataFrame(rows, columns=columns + (["paper_params_m", "relative_diff"] if paper_m is not None else []))
