"""The rethink_transfer claims ledger's verdicts: pure functions of the results, unit-tested.

Claims 2 and 3 compare models on the same test images: each is judged on the stored per-image test
predictions (``test_predictions.npz`` of every fine-tuning run) with a paired bootstrap of the mean
AUPRC over labels (:func:`paperkit.metrics.paired.paired_bootstrap`, ``metric="mean_auprc"``). A
verdict needs the 95% interval beyond a margin never finer than what one test image can move the
mean AUPRC (:func:`paperkit.ledger.compare`). Claim 1 is a simulation, judged on the share of its
draws with an exact binomial interval, so that it too cannot rest on fewer draws than it needs.

The secondary claims are judged the same way: §3.1's TL vs RI on deep and on shallow networks
(:func:`tl_vs_ri_by_depth`) by a paired bootstrap of the pooled runs, §4's rare-label point
(:func:`rare_label_gap`) by stratified bootstrap intervals of one model's AUROC and AUPRC per rare label.
A comparison across models whose TL weights come from different sources (ImageNet for some, a
substitute for others) is not judged (:func:`mixed_sources`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from paperkit.ledger import Verdict, compare, judge_interval
from paperkit.metrics.paired import _auprc_rows, _auroc_rows, mean_auprc, paired_bootstrap

SMOKE_TOO_SMALL = "the smoke profile is too small to test this claim; run the classroom profile"
# "TL at least matches RI" within a margin of m says little once m is large: on a test set where one image
# moves the mean AUPRC by more than this, the "matches" part is not testable (a choice of this chapter).
MAX_MATCH_MARGIN = 0.1
RUN_COLUMNS = ("fraction", "model", "init", "repeat", "y_score")
# §3.1 calls TL and RI on shallow models "very close"; this chapter reads "close" as within the largest standard
# deviation over repeats the paper reports for Fig. 3 (reference CSV), a choice: the paper gives no margin.
CLOSE_MARGIN = 0.017


def auprc_separates(study, share_needed: float = 0.95) -> Verdict:
    """Claim 1's verdict from the Fig. 2 construction.

    ``study`` is :func:`paperkit.chapters.rethink_transfer.figures.imbalance_study`'s table (one row per
    draw and classifier, columns ``draw``, ``classifier``, ``AUROC``, ``AUPRC``) with classifiers ``A``
    and ``B``. In each paired draw, "AUPRC separates" when A's lead in AUPRC exceeds ten times its lead
    in AUROC. Holds when the exact (Clopper-Pearson) 95% interval of the share of such draws lies at or
    above ``share_needed``; fails when it lies below; otherwise (too few draws to tell) None.
    """
    missing = {"draw", "classifier", "AUROC", "AUPRC"} - set(study.columns)
    if missing:
        raise ValueError(f"auprc_separates: study lacks columns {sorted(missing)}; "
                         "expected draw, classifier, AUROC, AUPRC")
    if not {"A", "B"} <= set(study["classifier"]):
        return Verdict(None, f"needs draws of classifiers A and B (this study has {sorted(set(study['classifier']))})")
    med = study.groupby("classifier")[["AUROC", "AUPRC"]].median()
    paired = study.pivot(index="draw", columns="classifier", values=["AUROC", "AUPRC"])
    separates = ((paired["AUPRC"]["A"] - paired["AUPRC"]["B"]) > 10 * (paired["AUROC"]["A"] - paired["AUROC"]["B"]))
    k, n = int(separates.sum()), len(separates)
    interval = binomtest(k, n).proportion_ci(0.95, method="exact")
    holds = judge_interval(interval.low, interval.high, supported_above=share_needed, refuted_below=share_needed)
    evidence = (f"median gap A-B: AUROC {med.loc['A', 'AUROC'] - med.loc['B', 'AUROC']:.3f} vs AUPRC "
                f"{med.loc['A', 'AUPRC'] - med.loc['B', 'AUPRC']:.3f}; the AUPRC gap exceeds 10x the AUROC gap in "
                f"{k} of {n} paired draws ({k / n:.1%}, 95% interval {interval.low:.1%} to {interval.high:.1%})")
    criterion = (f"the exact 95% interval of the share of draws in which A's AUPRC lead exceeds 10x its AUROC lead "
                 f"lies at or above {share_needed:.0%} (below it: not supported; straddling: too few draws)")
    return Verdict(holds, evidence, criterion, k / n, float(interval.low), float(interval.high), n)


def stacked_scores(runs: pd.DataFrame, **where) -> np.ndarray:
    """The ``y_score`` arrays of the runs matching ``where`` (e.g. ``init="TL"``), stacked as (n, labels, runs).

    ``runs`` has one row per fine-tuning run with columns ``fraction``, ``model``, ``init``, ``repeat``
    and ``y_score`` (the run's (n, labels) test scores); rows are taken in (model, repeat) order.
    """
    missing = [c for c in RUN_COLUMNS if c not in runs]
    if missing:
        raise ValueError(f"the runs table lacks columns {missing}; expected {list(RUN_COLUMNS)}")
    rows = runs
    for column, value in where.items():
        rows = rows[rows[column] == value]
    if rows.empty:
        raise ValueError(f"no run with {where}")
    return np.stack([np.asarray(s, float) for s in rows.sort_values(["model", "repeat"])["y_score"]], axis=-1)


def mixed_sources(kinds: Mapping[str, str] | None, models: Sequence[str] | None = None) -> str | None:
    """Why a comparison of ``models`` mixes TL weight sources, or None when they share one.

    ``kinds`` maps a model to the kind of its TL weights (``"ImageNet"``, ``"synthetic substitute"``,
    ``"image folder"``); ``models`` defaults to all of them. A pooled or head-to-head comparison across
    kinds measures the sources as much as the models, so it is flagged and its claim not testable.
    """
    if not kinds:
        return None
    chosen = {m: kinds[m] for m in (models if models is not None else kinds) if m in kinds}
    if len(set(chosen.values())) <= 1:
        return None
    by_kind = {}
    for model, kind in chosen.items():
        by_kind.setdefault(kind, []).append(model)
    return ("the TL weights come from different sources (" + "; ".join(f"{k}: {', '.join(v)}" for k, v in
                                                                       sorted(by_kind.items()))
            + "), so the comparison would measure the sources as much as the models; give every model ImageNet "
              "weights, or pass tl_weights='substitute'")


def transfer_claim(y_true, runs: pd.DataFrame, fractions: Sequence[float], *, smoke: bool,
                   kinds: Mapping[str, str] | None = None, n_boot: int = 2000) -> Verdict:
    """Claim 2's verdict: TL at least matches RI with all the data, and beats it with little.

    ``y_true`` is the test set's (n, labels) targets, shared by every run; ``runs`` as in
    :func:`stacked_scores`, ``fractions`` the profile's training-set fractions. Every model (and
    repeat) is pooled: the mean AUPRC over labels and models of the TL runs vs the RI runs, paired on
    the test images. With the largest fraction, TL must be no worse than RI by more than the margin
    (``compare(claim="matches")``); with the smallest, TL must beat RI by more than the margin. Either
    part clearing its margin the wrong way refutes the claim; an interval straddling it leaves the
    claim not testable, as do a test set so small that one image moves the mean AUPRC by more than
    :data:`MAX_MATCH_MARGIN`, a profile with a single fraction, the smoke profile, and TL weights of
    more than one kind among the pooled models (``kinds``, see :func:`mixed_sources`).
    """
    if smoke:  # a few images for one epoch show that the code runs, not what it finds
        return Verdict(None, SMOKE_TOO_SMALL)
    mixed = mixed_sources(kinds, sorted(set(runs["model"])) if "model" in runs else None)
    if mixed:
        return Verdict(None, f"not judged: {mixed}")
    rich, poor = max(fractions), min(fractions)
    d_rich = paired_bootstrap(y_true, stacked_scores(runs, init="TL", fraction=rich),
                              stacked_scores(runs, init="RI", fraction=rich), metric="mean_auprc",
                              a=f"TL ({rich:.0%})", b=f"RI ({rich:.0%})", n_boot=n_boot)
    v_rich = compare(d_rich, claim="matches")
    if v_rich.holds and d_rich.margin() > MAX_MATCH_MARGIN:  # a match within so wide a margin says nothing
        v_rich = Verdict(None, v_rich.evidence)
    criterion = ("mean AUPRC over labels and models, paired bootstrap over the test images: with all the data "
                 "the TL − RI interval lies above −margin, and with the smallest subset above +margin (the margin "
                 f"at least one test image's worth; a match needs that margin at most {MAX_MATCH_MARGIN})")
    if len(fractions) < 2:
        holds = False if v_rich.holds is False else None
        return Verdict(holds, f"{v_rich.evidence}; only one training-set size in this profile, the data-poor part "
                              "needs fractions=[1.0, 0.1]", criterion, d_rich.effect, d_rich.low, d_rich.high, d_rich.n)
    d_poor = paired_bootstrap(y_true, stacked_scores(runs, init="TL", fraction=poor),
                              stacked_scores(runs, init="RI", fraction=poor), metric="mean_auprc",
                              a=f"TL ({poor:.0%})", b=f"RI ({poor:.0%})", n_boot=n_boot)
    v_poor = compare(d_poor, claim="beats")
    parts = [(v_rich, d_rich), (v_poor, d_poor)]
    holds = [v.holds for v, _ in parts]
    decide = holds.index(False) if False in holds else holds.index(None) if None in holds else 1
    holds = False if False in holds else None if None in holds else True
    d = parts[decide][1]
    evidence = "; ".join(f"{d.describe()} (margin ±{d.margin():.3f})" for _, d in parts)
    return Verdict(holds, evidence, criterion, d.effect, d.low, d.high, d.n)


def truncated_best(y_true, scores: Mapping[str, np.ndarray], kinds: Mapping[str, str], *,
                   n_boot: int = 2000) -> Verdict:
    """Claim 3's verdict: the best truncated TL model beats the best other TL model in mean AUPRC.

    ``scores`` maps each TL model to its (n, labels) or (n, labels, repeats) test scores on the full
    training set, ``kinds`` a model to "truncated", "deep" or "shallow". The best of each group is the
    one with the higher mean AUPRC on the whole test set; the two are then compared by a paired
    bootstrap over the test images: holds when the interval lies above the margin (at least one test
    image's worth), fails when it lies below minus the margin, otherwise None; None as well without a
    truncated or without another model.
    """
    unknown = set(scores) - set(kinds)
    if unknown:
        raise ValueError(f"truncated_best: no kind for models {sorted(unknown)}")
    truncated = [m for m in scores if kinds[m] == "truncated"]
    others = [m for m in scores if kinds[m] != "truncated"]
    if not truncated or not others:
        return Verdict(None, f"no truncated-vs-full comparison in this run (models: {', '.join(scores) or 'none'})")
    best_t = max(truncated, key=lambda m: mean_auprc(y_true, scores[m]))
    best_o = max(others, key=lambda m: mean_auprc(y_true, scores[m]))
    d = paired_bootstrap(y_true, scores[best_t], scores[best_o], metric="mean_auprc", a=best_t,
                         b=f"{best_o} ({kinds[best_o]})", n_boot=n_boot)
    v = compare(d, claim="beats")
    return Verdict(v.holds, f"{v.evidence} (margin ±{d.margin():.3f})",
                   "the best truncated TL model vs the best other TL model (each picked by mean AUPRC on the test "
                   "set): " + v.criterion, v.effect, v.low, v.high, v.n)


def truncated_claim(y_true, scores: Mapping[str, np.ndarray], kinds: Mapping[str, str], *, smoke: bool,
                    sources: Mapping[str, str] | None = None, n_boot: int = 2000) -> Verdict:
    """Claim 3's verdict: :func:`truncated_best`; not testable in the smoke profile, nor when the models'
    TL weights (``sources``: model -> weight kind) come from more than one source (:func:`mixed_sources`)."""
    if smoke:
        return Verdict(None, SMOKE_TOO_SMALL)
    mixed = mixed_sources(sources, list(scores))
    if mixed:
        return Verdict(None, f"not judged: {mixed}")
    return truncated_best(y_true, scores, kinds, n_boot=n_boot)


# ----------------------------------------------------------------------------- secondary claims


def _pooled(runs: pd.DataFrame, models: Sequence[str], init: str, fraction: float) -> np.ndarray:
    """(n, labels, models x repeats) scores of ``models`` trained with ``init`` on ``fraction``."""
    return np.concatenate([stacked_scores(runs, init=init, fraction=fraction, model=m) for m in models], axis=-1)


def tl_vs_ri_by_depth(y_true, runs: pd.DataFrame, depth: Mapping[str, str], *, group: str, fraction: float,
                      smoke: bool, kinds: Mapping[str, str] | None = None, n_boot: int = 2000) -> Verdict:
    """§3.1's secondary claims on the full training set: on deep models (``group="deep"``, full and
    truncated networks) TL beats RI; on shallow ones (``group="shallow"``) TL and RI are very close.

    ``depth`` maps a model to "shallow", "deep" or "truncated"; ``runs`` as in :func:`stacked_scores`.
    The TL and RI runs of the group's models are pooled and compared by a paired bootstrap of the
    mean AUPRC over the test images. "deep": holds when the TL - RI interval lies above the margin
    (one test image's worth at least), fails below minus it. "shallow" (close): holds when the whole
    interval lies within ± the margin, where the margin is the larger of one test image's worth and
    the largest standard deviation over repeats the paper reports for Fig. 3
    (:data:`CLOSE_MARGIN`), fails when it lies wholly outside; a margin above :data:`MAX_MATCH_MARGIN`
    says nothing, so that is not testable. No model of the group, the smoke profile or mixed TL
    weight sources: not testable.
    """
    if group not in ("deep", "shallow"):
        raise ValueError(f"group={group!r}: expected 'deep' or 'shallow'")
    if smoke:
        return Verdict(None, SMOKE_TOO_SMALL)
    present = sorted(set(runs["model"]))
    unknown = [m for m in present if m not in depth]
    if unknown:
        raise ValueError(f"tl_vs_ri_by_depth: no depth for models {unknown}")
    members = [m for m in present if (depth[m] == "shallow") == (group == "shallow")]
    if not members:
        return Verdict(None, f"no {group} model in this run (models: {', '.join(present)})")
    mixed = mixed_sources(kinds, members)
    if mixed:
        return Verdict(None, f"not judged: {mixed}")
    d = paired_bootstrap(y_true, _pooled(runs, members, "TL", fraction), _pooled(runs, members, "RI", fraction),
                         metric="mean_auprc", a=f"TL ({', '.join(members)})", b="RI", n_boot=n_boot)
    if group == "deep":
        v = compare(d, claim="beats")
        return Verdict(v.holds, f"{v.evidence} (margin ±{d.margin():.3f})", v.criterion, v.effect, v.low, v.high,
                       v.n)
    m = d.margin(CLOSE_MARGIN)
    if m > MAX_MATCH_MARGIN:
        return Verdict(None, f"{d.describe()}; one test image moves the mean AUPRC by {d.resolution:.3f}, so "
                             "'close' cannot be told apart here", effect=d.effect, low=d.low, high=d.high, n=d.n)
    holds = True if -m <= d.low and d.high <= m else False if (d.low > m or d.high < -m) else None
    criterion = (f"the 95% interval of TL − RI (mean AUPRC, {', '.join(members)} pooled) lies within ±{m:.3f} "
                 "(the paper's largest repeat sd for Fig. 3, or one test image's worth if larger); wholly outside: "
                 "not supported")
    return Verdict(holds, f"{d.describe()} (margin ±{m:.3f})", criterion, d.effect, d.low, d.high, d.n)


def _stratified_interval(y: np.ndarray, s: np.ndarray, rows, n_boot: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of ``rows(y, s)`` (a per-row metric) over draws resampling positives and
    negatives separately (every draw keeps the label's counts)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    idx = np.concatenate([pos[rng.integers(0, len(pos), (n_boot, len(pos)))],
                          neg[rng.integers(0, len(neg), (n_boot, len(neg)))]], axis=1)
    values = rows(y[idx].astype(float), s[idx].astype(float))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def rare_label_gap(y_true, y_score, labels: Sequence[str], *, rare_ratio: float, auroc_above: float,
                   auprc_below: float, model: str = "the model", smoke: bool = False, n_boot: int = 1000,
                   seed: int = 0) -> Verdict:
    """§4's point: on rare labels a decent AUROC goes with a very low AUPRC, so AUPRC must be reported.

    ``y_true``/``y_score`` are one model's (n, labels) test targets and scores (a repeat axis is averaged);
    a label is *rare* when the test set holds at least ``rare_ratio`` negatives per positive (the paper's
    rare labels start at 1:19.8). For each rare label, a stratified bootstrap over the test images gives
    95% intervals of AUROC and trapezoid AUPRC; the thresholds are widened by one test image's worth.
    Holds when on every rare label AUROC lies above ``auroc_above`` and AUPRC below ``auprc_below``;
    fails when on some rare label with AUROC above ``auroc_above`` the AUPRC lies above ``auprc_below``
    (a decent AUROC that AUPRC confirms); otherwise, or without a rare label, not testable (the paper's
    premise, a decent AUROC, must be shown before the gap can be). Not testable in the smoke profile.
    """
    if smoke:
        return Verdict(None, SMOKE_TOO_SMALL)
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=float)
    if s.ndim == 3:
        s = s.mean(axis=-1)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(labels):
        raise ValueError(f"rare_label_gap: y_true {y.shape} and y_score {s.shape} must both be (n, {len(labels)})")
    parts, verdicts = [], []
    for j, name in enumerate(labels):
        n_pos = int(y[:, j].sum())
        n_neg = len(y) - n_pos
        if n_pos == 0 or n_neg / n_pos < rare_ratio:
            continue
        step = 1.0 / n_pos  # one positive moved past every negative changes AUROC by 1/n_pos, AUPRC by up to it
        roc = _stratified_interval(y[:, j], s[:, j], _auroc_rows, n_boot, seed)
        prc = _stratified_interval(y[:, j], s[:, j], _auprc_rows, n_boot, seed)
        decent = roc[0] > auroc_above + step
        if decent and prc[1] < auprc_below - step:
            verdicts.append(True)
        elif decent and prc[0] > auprc_below + step:
            verdicts.append(False)
        else:
            verdicts.append(None)
        parts.append(f"{name} (1:{n_neg / n_pos:.1f}, {n_pos} positives): AUROC [{roc[0]:.2f}, {roc[1]:.2f}], "
                     f"AUPRC [{prc[0]:.2f}, {prc[1]:.2f}]")
    criterion = (f"every label with at least {rare_ratio:g} negatives per positive: the 95% interval of AUROC above "
                 f"{auroc_above:g} and of AUPRC below {auprc_below:g} (each widened by one positive's worth); a "
                 f"label with AUROC above {auroc_above:g} and AUPRC above {auprc_below:g}: not supported")
    if not parts:
        return Verdict(None, f"no test label of {model} is as rare as 1:{rare_ratio:g}", criterion)
    holds = False if False in verdicts else None if None in verdicts else True
    return Verdict(holds, f"{model}: " + "; ".join(parts), criterion, n=len(y))
