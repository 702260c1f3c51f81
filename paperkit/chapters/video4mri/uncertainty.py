"""What the paper's single "95% CI" number can be, and ours from the same resampling.

The paper (§3.4) draws 40% of the test set with replacement, 100 times, and reports "the mean
accuracy and its 95% confidence interval" as one number in parentheses (Table 2, Table 3). One
number is not an interval: it could be the spread of the resampled accuracies (their SD), the
interval's half-width or its full width. Under that protocol the resampled accuracies of a test set
of ``n`` items with accuracy ``p`` have SD ``sqrt(p (1 - p) / m)``, ``m = round(0.4 n)`` (a draw with
replacement from the test set's right/wrong items). So each paper cell can be read against that SD:

* :func:`protocol_sd` is that SD; the test set has about 30% of the dataset's images (the 7:3 split
  by subject of Table 1's image counts, so an approximation);
* :func:`simulate_protocol` runs the paper's protocol many times on such a test set and gives the
  range (2.5th-97.5th percentile) of what each reading (SD, half-width, width) comes out as with
  only 100 draws;
* :func:`read_paper_ci` does this for every accuracy cell of Table 2 and Table 3 and says which
  readings each number is consistent with; :func:`summary` gives the ranges for the page.

Our runs use the same resampling (:func:`paperkit.metrics.classification.bootstrap_accuracy`, the
same fraction, draws and seed as their stored metrics); :func:`our_spread` gives their SD,
half-width and width from the stored per-item predictions.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from paperkit import reference
from paperkit.metrics.classification import bootstrap_accuracy

__all__ = ["READINGS", "our_spread", "protocol_sd", "read_paper_ci", "simulate_protocol", "summary"]

READINGS = ("SD", "half-width", "width")
CHAPTER = "video4mri"


def _protocol() -> dict:
    """The paper's evaluation protocol from the reference CSV (§3.4): test share, draw share, draws, level."""
    rows = reference.load(CHAPTER, source="§3.4")
    value = {(r.dataset, r.setting, r.metric): r.value for r in rows.itertuples()}
    return {"test_share": value[("evaluation", "train/test split", "test share")] / 100,
            "fraction": value[("evaluation", "bootstrap accuracy", "test share per draw")] / 100,
            "n_boot": int(value[("evaluation", "bootstrap accuracy", "draws")]),
            "level": value[("evaluation", "bootstrap accuracy", "confidence level")] / 100}


def protocol_sd(accuracy: float, n_test: int, fraction: float = 0.4) -> float:
    """SD of the accuracy of ``round(fraction * n_test)`` items drawn with replacement from a test set of
    ``n_test`` items with accuracy ``accuracy``: ``sqrt(p (1 - p) / m)``."""
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy={accuracy!r}: expected a fraction in [0, 1]")
    m = int(round(fraction * n_test))
    if m < 1:
        raise ValueError(f"n_test={n_test!r}, fraction={fraction!r}: a draw of {m} items; expected at least one")
    return math.sqrt(accuracy * (1 - accuracy) / m)


def simulate_protocol(accuracy: float, n_test: int, *, fraction: float = 0.4, n_boot: int = 100,
                      level: float = 0.95, reps: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """The paper's protocol run ``reps`` times on a test set of ``n_test`` items, ``round(accuracy * n_test)``
    right: each time ``n_boot`` draws of ``fraction`` of it (:func:`bootstrap_accuracy`). Returns, per
    repetition, the resampled accuracies' ``SD`` and the ``level`` percentile interval's ``half-width`` and
    ``width`` (arrays of ``reps`` values)."""
    if n_test < 1:
        raise ValueError(f"n_test={n_test!r}: expected a positive number of test items")
    right = int(round(accuracy * n_test))
    y = np.ones(n_test, int)
    pred = np.r_[np.ones(right, int), np.zeros(n_test - right, int)]
    sd, width = np.empty(reps), np.empty(reps)
    for r in range(reps):
        boot = bootstrap_accuracy(y, pred, fraction=fraction, n_boot=n_boot, ci=level, seed=seed + r)
        sd[r], width[r] = np.std(boot.samples, ddof=1), boot.high - boot.low
    return {"SD": sd, "half-width": width / 2, "width": width}


def read_paper_ci(*, reps: int = 400, seed: int = 0) -> pd.DataFrame:
    """Every accuracy cell of the paper's Tables 2 and 3 read against its protocol (module docstring).

    Columns: ``source``, ``dataset``, ``setting``, ``accuracy``, ``paper CI`` (the printed number),
    ``test items`` (about ``test share`` of Table 1's images), ``draw`` (items per draw), ``protocol SD``,
    ``ratio`` (the printed number / protocol SD), for each reading its simulated 95% range as a multiple
    of the protocol SD (``<reading> low``/``high``), and ``consistent with`` (the readings whose range
    holds the ratio, or ``"none"``).
    """
    protocol = _protocol()
    images = reference.load(CHAPTER, source="Table 1", metric="images").set_index("dataset")["value"]
    rows = reference.load(CHAPTER)
    rows = rows[rows.source.isin(["Table 2", "Table 3"]) & rows.metric.isin(["accuracy", "accuracy CI"])]
    cells = rows.pivot_table(index=["source", "dataset", "setting"], columns="metric", values="value").reset_index()
    out = []
    for _, c in cells.iterrows():
        p, number = float(c["accuracy"]), float(c["accuracy CI"])
        n_test = int(round(images[c["dataset"]] * protocol["test_share"]))
        sd = protocol_sd(p, n_test, protocol["fraction"])
        sim = simulate_protocol(p, n_test, fraction=protocol["fraction"], n_boot=protocol["n_boot"],
                                level=protocol["level"], reps=reps, seed=seed)
        ratio = number / sd
        row = {"source": c["source"], "dataset": c["dataset"], "setting": c["setting"], "accuracy": p,
               "paper CI": number, "test items": n_test, "draw": int(round(protocol["fraction"] * n_test)),
               "protocol SD": sd, "ratio": ratio}
        consistent = []
        for reading in READINGS:
            low, high = np.percentile(sim[reading] / sd, [2.5, 97.5])
            row[f"{reading} low"], row[f"{reading} high"] = float(low), float(high)
            if low <= ratio <= high:
                consistent.append(reading)
        row["consistent with"] = ", ".join(consistent) or "none"
        out.append(row)
    return pd.DataFrame(out)


def summary(reading: pd.DataFrame) -> dict:
    """The ranges the page states: the printed numbers' ratio to the protocol SD (min, max), each reading's
    simulated range (lowest low, highest high over the cells), the number of cells, how many are
    consistent with each reading or with none, and how many lie below the half-width's range."""
    out = {"cells": len(reading), "ratio_min": float(reading["ratio"].min()),
           "ratio_max": float(reading["ratio"].max())}
    consistent = [set(text.split(", ")) for text in reading["consistent with"]]
    for reading_name in READINGS:
        key = reading_name.replace("-", "_").lower()
        out[f"{key}_low"] = float(reading[f"{reading_name} low"].min())
        out[f"{key}_high"] = float(reading[f"{reading_name} high"].max())
        out[f"{key}_cells"] = sum(reading_name in c for c in consistent)
    out["below_half_width_cells"] = int((reading["ratio"] < reading["half-width low"]).sum())
    out["none_cells"] = int((reading["consistent with"] == "none").sum())
    return out


def our_spread(y_true, probabilities, *, fraction: float = 0.4, n_boot: int = 100, level: float = 0.95,
               seed: int = 0) -> dict[str, float]:
    """Our run's bootstrap accuracy with the paper's resampling (the settings of its stored metrics):
    ``mean``, ``low``, ``high``, and the three readings ``SD``, ``half-width``, ``width``."""
    boot = bootstrap_accuracy(y_true, probabilities, fraction=fraction, n_boot=n_boot, ci=level, seed=seed)
    return {"mean": boot.mean, "low": boot.low, "high": boot.high, "SD": float(np.std(boot.samples, ddof=1)),
            "half-width": (boot.high - boot.low) / 2, "width": boot.high - boot.low}
