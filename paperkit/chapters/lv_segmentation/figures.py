"""Figures and tables of the lv_segmentation chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from paperkit import plots

# This chapter's model names -> the names of the paper's Table 1 rows.
PAPER_NAMES = {"gap_net": "Ours", "fcn8s": "FCN-8s", "unet": "U-Net", "unetpp": "UNet++",
               "attention_unet": "AttenU-Net"}
# The per-model summary columns (experiment.challenge_summary) of the "APD two ways" table.
APD_COLUMNS = ["good contours (%)", "APD good (mm)", "good contours, mask (%)", "APD good, mask (mm)",
               "APD all, median (mm)", "APD all, median, mask (mm)", "undefined normals (% of points)",
               "undefined normals, mask (% of points)", "no contour (images)", "nearest all (mm)",
               "Hausdorff median (mm)"]


def crop(image, box: tuple[int, int, int]):
    """The square ``(top, left, side)`` of a 2D ``image`` (a dataset's ``crop_box``)."""
    top, left, side = box
    return image[top:top + side, left:left + side]


def model_color(index: int) -> str:
    """The colour of the ``index``-th model of a run (the expert contour keeps ``plots.COLORS[2]``)."""
    palette = [c for i, c in enumerate(plots.COLORS) if i != 2]
    return palette[index % len(palette)]


def table_label(name: str) -> str:
    """The Table 1 row name of model ``name`` (its own name when the paper has no such row)."""
    return PAPER_NAMES.get(name, name)


def table1(paper_rows: pd.DataFrame, summary: pd.DataFrame, *, run_data: str) -> pd.DataFrame:
    """Every row of the paper's Table 1 beside this run's APD and Dice over good contours.

    ``paper_rows`` are the reference rows of Table 1 (:func:`paperkit.reference.load`): the paper's
    network, its four deep-learning baselines and the literature rows it quotes. ``summary`` has one
    row per trained model (index: model name) with the columns of
    :func:`~paperkit.chapters.lv_segmentation.experiment.challenge_summary`; its APD is the sub-pixel
    one. Rows keep the paper's order; a model the paper has no row for comes last. ``row`` says
    whether this run trained the method, whether the chapter has it but this run did not train it,
    or the paper only quotes it; "good contours (%)" and "no contour (images)" belong with the
    good-contour means.
    """
    missing = [c for c in ("APD good (mm)", "Dice good (%)", "good contours (%)", "no contour (images)")
               if c not in summary.columns]
    if missing:
        raise ValueError(f"table1: summary lacks columns {missing}; expected experiment.challenge_summary's")
    measured = pd.DataFrame([{"setting": table_label(name), "metric": metric, "value": summary.loc[name, column]}
                             for name in summary.index
                             for metric, column in (("APD", "APD good (mm)"), ("Dice", "Dice good (%)"))],
                            columns=["setting", "metric", "value"])
    table = plots.paper_vs_run(paper_rows, measured, run_data=run_data, digits=2)
    trained = {table_label(name) for name in summary.index}
    extra = summary[["good contours (%)", "no contour (images)"]].rename(index=table_label).round(2)
    table = table.merge(extra.reset_index().rename(columns={"index": "setting"}), on="setting", how="left")
    chapter_models = set(PAPER_NAMES.values())
    table.insert(1, "row", ["trained in this run" if s in trained else
                            "a model of this chapter, not trained in this run" if s in chapter_models else
                            "quoted by the paper (not a model of this chapter)" for s in table["setting"]])
    order = {s: i for i, s in enumerate(dict.fromkeys(paper_rows["setting"]))}
    rank = table["setting"].map(lambda s: order.get(s, len(order)))
    table = table.assign(_rank=rank).sort_values(["_rank", "metric"], kind="stable").drop(columns="_rank")
    return table.astype(object).fillna("—").reset_index(drop=True)


def apd_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per model: APD on the sub-pixel contour and on the binary mask's staircase (:data:`APD_COLUMNS`)."""
    missing = [c for c in APD_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"apd_table: summary lacks columns {missing}; expected experiment.challenge_summary's")
    return summary[APD_COLUMNS].astype(float).round(2).rename_axis("model").reset_index()


def skipped_baselines(models: Sequence[str], baselines: Sequence[str]) -> list[str]:
    """The baselines of Table 1 a run with ``models`` does not train (its "superior to all four" claim then
    is not testable), in ``baselines``' order."""
    return [b for b in baselines if b not in set(models)]


def describe_list(names: Sequence[str], *, none: str = "none") -> str:
    """``"a, b and c"`` (or ``none`` for an empty list), for computed prose."""
    names = list(names)
    if not names:
        return none
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

