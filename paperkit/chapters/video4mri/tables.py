"""The paper's Table 2 and Table 3 layouts filled from every run record under ``out_dir``.

A researcher runs the chapter once per dataset (one papermill call each); every call leaves its
run records in ``out_dir/video4mri/<key>/`` (:mod:`paperkit.runs`). :func:`run_records` reads them
all, and :func:`table2` / :func:`table3` / :func:`k_table` lay them out as the paper does -- models
(or augmentations, or K) down, datasets across -- each dataset with the paper's number beside ours.

A cell of ours says where it came from: ``this run`` (trained or reused by the execution showing the
table: its record key is in ``current``) or ``record`` (found under ``out_dir``, written by another
execution), and on which data (dataset, data fingerprint or synthetic cohort, K, frame size, epochs,
model). A cell nobody ran says ``not run``. Datasets the paper does not have (the synthetic cohort,
MedMNIST) get columns of their own, so no synthetic number sits under a paper column.

When several records fit one cell (e.g. a classroom run at K=8 and a K-ablation run at K=4), the
one closest to the paper's setting is shown -- most of the paper's K, frame size and epochs matched,
then K nearest the paper's (on a log scale), then more epochs, then larger frames -- and the cell
says how many others there were.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from paperkit import reference
from paperkit.chapters.video4mri.spec import AUGMENTATION_ROWS, PAPER_DATASET
from paperkit.models.video import PAPER_NAMES
from paperkit.runs import load_runs

__all__ = ["PAPER_SETTINGS", "k_table", "run_records", "table2", "table3"]

CHAPTER = "video4mri"
# The paper's K, frame size and epochs (§3.2, §3.4): the setting a cell's record is ranked against.
PAPER_SETTINGS = {"segments": 32, "frame_size": 224, "epochs": 100}
PAPER_COLUMNS = ["PPMI", "ADNI", "OASIS-1", "OASIS-2"]  # Table 2's dataset order
TABLE3_ROWS = {"basic": "TSM", "rotate": "TSM+rotate", "mix": "TSM+MixUp/CutMix", "rotate+mixup": "TSM+rotate+MixUp",
               "rotate+cutmix": "TSM+rotate+CutMix", "rotate+mix": "TSM+rotate+MixUp/CutMix"}
NEEDED = ["key", "stage", "model", "augmentation", "data.dataset", "data.segments", "epochs", "boot_mean", "boot_low",
          "boot_high"]


def run_records(out_dir: str | Path) -> pd.DataFrame:
    """Every finished classification run of the chapter under ``out_dir`` (one row each), with ``column``
    (the table column: a paper dataset name, or the dataset's own name), ``K``, ``frame_size`` and ``data``
    (what it ran on, for the cell's label). Empty (with those columns) when there is none."""
    runs = load_runs(CHAPTER, out_dir)
    if runs.empty or "stage" not in runs:
        return pd.DataFrame(columns=[*NEEDED, "column", "K", "frame_size", "data"])
    runs = runs[runs["stage"] == "classify"].copy()
    missing = [c for c in NEEDED if c not in runs]
    if missing:
        raise ValueError(f"{Path(out_dir) / CHAPTER}: classification records without {missing}; expected records "
                         "written by paperkit.chapters.video4mri.experiment.train_video_classifier")
    runs["column"] = [PAPER_DATASET.get(d, d) for d in runs["data.dataset"]]
    runs["K"] = runs["data.segments"].astype(int)
    runs["frame_size"] = runs.get("data.frame_size", pd.Series([None] * len(runs), index=runs.index))
    runs["data"] = [_data_label(r) for _, r in runs.iterrows()]
    return runs.reset_index(drop=True)


def _value(row: Mapping, name: str):
    value = row.get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _number(row: Mapping, name: str) -> str:
    """A count stored in a record (read back as a float by pandas) as an integer text; "?" when absent."""
    value = _value(row, name)
    return "?" if value is None else f"{float(value):g}"


def _data_label(row: Mapping) -> str:
    """What a record ran on: the dataset and its identity, then K, frame size, epochs and model."""
    dataset = row["data.dataset"]
    if dataset == "synthetic":
        what = (f"synthetic cohort ({_number(row, 'data.n_subjects')} subjects, difficulty "
                f"{_value(row, 'data.difficulty')}; not a paper dataset)")
    elif dataset == "medmnist3d":
        what = f"{_value(row, 'data.flag')} {_number(row, 'data.size')}³ (MedMNIST; not a paper dataset)"
    else:
        sha = _value(row, "data.data.sha256")
        name = PAPER_DATASET.get(dataset, dataset)
        what = f"{name} ({_number(row, 'data.data.files')} files, sha256 {str(sha)[:8]})" if sha else name
    size = _value(row, "data.frame_size")
    return (f"{what}, K={int(row['data.segments'])}" + (f", {int(size)} px" if size else "")
            + f", {int(row['epochs'])} epochs, {row['model']}")


def _closeness(row: Mapping) -> tuple:
    """Sort key (smaller first) of a record against the paper's setting (module docstring)."""
    k, size, epochs = int(row["K"]), _value(row, "frame_size"), int(row["epochs"])
    matched = (k == PAPER_SETTINGS["segments"]) + (size == PAPER_SETTINGS["frame_size"]) + \
        (epochs == PAPER_SETTINGS["epochs"])
    return (-matched, abs(math.log2(k / PAPER_SETTINGS["segments"])), -epochs, -(size or 0), row["key"])


def _cell(candidates: pd.DataFrame, current: set[str]) -> dict:
    """The shown record of one cell and its label (``not run`` when there is none)."""
    if candidates.empty:
        return {"ours": "not run", "key": None}
    ranked = sorted((r for _, r in candidates.iterrows()), key=_closeness)
    best = ranked[0]
    where = "this run" if best["key"] in current else "record"
    others = f"; {len(ranked) - 1} other record(s)" if len(ranked) > 1 else ""
    text = (f"{best['boot_mean']:.3f} [{best['boot_low']:.3f}, {best['boot_high']:.3f}] "
            f"({where}: {best['data']}{others})")
    return {"ours": text, "key": best["key"], "mean": float(best["boot_mean"]), "where": where}


def _paper(source: str) -> pd.DataFrame:
    """``setting`` x ``dataset`` -> "acc (CI)" text of the paper's accuracy rows of ``source``."""
    rows = reference.load(CHAPTER, source=source)
    acc = rows[rows.metric == "accuracy"].pivot(index="setting", columns="dataset", values="value")
    ci = rows[rows.metric == "accuracy CI"].pivot(index="setting", columns="dataset", values="value")
    text = acc.astype(object)
    for setting in acc.index:
        for dataset in acc.columns:
            text.loc[setting, dataset] = f"{acc.loc[setting, dataset]:.3f} ({ci.loc[setting, dataset]:.3f})"
    return text


def _layout(records: pd.DataFrame, rows: Mapping[str, tuple[str, pd.Series]], paper: pd.DataFrame,
            paper_columns: list[str], row_name: str, current: Iterable[str]) -> pd.DataFrame:
    """One table row per ``rows`` item (label -> (paper row name, mask of records)); for each of
    ``paper_columns`` a paper and an ours column, then an ours column per other dataset recorded."""
    current = set(current)
    others = sorted(c for c in records["column"].unique() if c not in paper_columns) if len(records) else []
    table = []
    for label, (paper_row, mask) in rows.items():
        line = {row_name: label}
        for column in [*paper_columns, *others]:
            if column in paper_columns:
                line[f"{column}: paper"] = (paper.loc[paper_row, column] if paper_row in paper.index
                                            and column in paper.columns else "—")
            chosen = records[mask & (records["column"] == column)] if len(records) else records
            line[f"{column}: here"] = _cell(chosen, current)["ours"]
        table.append(line)
    return pd.DataFrame(table)


def _mask(records: pd.DataFrame, **equal) -> pd.Series:
    mask = pd.Series(True, index=records.index)
    for column, value in equal.items():
        mask &= records[column] == value
    return mask


def table2(records: pd.DataFrame, *, current: Iterable[str] = (), augmentation: str = "rotate+mix") -> pd.DataFrame:
    """The paper's Table 2: the seven models down, PPMI / ADNI / OASIS-1 / OASIS-2 across (paper's
    "acc (CI)" beside ours), then any other dataset recorded. Ours: records trained with
    ``augmentation`` (the paper's full recipe by default). ``current``: keys of this execution's runs."""
    paper = _paper("Table 2")
    rows = {PAPER_NAMES[m]: (PAPER_NAMES[m], _mask(records, model=m, augmentation=augmentation)
                              if len(records) else None) for m in PAPER_NAMES}
    return _layout(records, rows, paper, PAPER_COLUMNS, "model", current)


def table3(records: pd.DataFrame, model: str = "tsm_r50", *, current: Iterable[str] = ()) -> pd.DataFrame:
    """The paper's Table 3: the augmentation rows down, PPMI / ADNI across (the paper's TSM-Res50 beside
    ours with ``model``), then any other dataset recorded."""
    if model not in PAPER_NAMES:
        raise ValueError(f"model={model!r}: expected one of {', '.join(PAPER_NAMES)}")
    paper = _paper("Table 3")
    rows = {TABLE3_ROWS[a]: (TABLE3_ROWS[a], _mask(records, model=model, augmentation=a) if len(records) else None)
            for a in AUGMENTATION_ROWS}
    return _layout(records, rows, paper, ["PPMI", "ADNI"], "augmentation", current)


def k_table(records: pd.DataFrame, models: Iterable[str] = ("tsm_r50", "tsn_r50"), k_values: Iterable[int] = (),
            *, current: Iterable[str] = (), augmentation: str = "rotate+mix") -> pd.DataFrame:
    """Fig. 2's K ablation as a table: (model, K) down for the paper's K values and any K recorded, PPMI /
    ADNI across. The paper prints no numbers for it (only a plot), so its columns say so."""
    ks = sorted({*k_values, 8, 16, 32, 64, *(records["K"].astype(int) if len(records) else [])})
    rows = {}
    for m in models:
        for k in ks:
            mask = _mask(records, model=m, augmentation=augmentation, K=k) if len(records) else None
            rows[f"{PAPER_NAMES[m]}, K={k}"] = ("(figure only)", mask)
    paper = pd.DataFrame({"PPMI": ["plotted only (Fig. 2)"], "ADNI": ["plotted only (Fig. 2)"]},
                         index=["(figure only)"])
    return _layout(records, rows, paper, ["PPMI", "ADNI"], "model, K", current)
