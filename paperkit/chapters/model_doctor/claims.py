"""The model_doctor claims ledger's verdicts: pure functions of the result tables, unit-tested.

Comparisons between two versions of a classifier (base, treated, the fine-tuning-only control) are
judged on their per-image test predictions (:func:`paperkit.chapters.model_doctor.experiment.prediction_table`)
with a paired bootstrap: a verdict needs the 95% interval of the accuracy difference on one side of
the margin, and the margin is never finer than one test image.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from paperkit.ledger import Verdict, compare
from paperkit.metrics.paired import Difference, paired_bootstrap

SMOKE = "needs training beyond the smoke profile"
CLAIMED_GAIN = 0.01   # Table 1: treatment improves accuracy by 1-5 points; the lower end is the margin
N_BOOT, SEED = 2000, 0


def sparse_kernels(sparsity: float, overlap: float, kernels: int, *, model: str, layer: str, classes_seen: int,
                   smoke: bool) -> Verdict:
    """Discovery 1 (each class uses a sparse, specific set of kernels) at the last diagnosed layer.

    ``sparsity`` is the mean fraction of ``layer``'s ``kernels`` holding 80% of a class's correlation,
    ``overlap`` the mean Jaccard index of two classes' kernel sets. Holds when both are at most 0.5
    (a uniform row needs 0.8 of the kernels); not testable in smoke or with fewer than two diagnosed classes.
    These are properties of the trained network's gradients, not of test images: no test-set margin applies.
    """
    criterion = "sparsity (share of kernels holding 80% of a class's correlation) and overlap both at most 0.5"
    if smoke or classes_seen < 2:
        return Verdict(None, "needs a classifier trained beyond the smoke profile and two diagnosed classes",
                       criterion)
    return Verdict(bool(sparsity <= 0.5 and overlap <= 0.5), (
        f"{model}, last layer {layer}: 80% of a class's correlation sits in {sparsity:.0%} of its {kernels} kernels "
        f"(uniform: 80%); mean overlap of two classes' kernel sets {overlap:.2f}"), criterion)


def share_interval(share: float, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share measured on ``n`` images. A per-image mean over noise draws lies in
    [0, 1], so its variance is at most that of a single draw: the interval is conservative for such shares."""
    if n < 1:
        raise ValueError(f"share_interval: n={n}; expected at least one image")
    z = norm.ppf(1 - (1 - level) / 2)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def noise_flips_adversarial(curves: pd.DataFrame | None, deltas, *, fooled_only: bool, smoke: bool) -> Verdict:
    """Discovery 2 (feature noise flips adversarial images back, normal ones stay) from the noise curves.

    ``curves`` is :func:`paperkit.explain.discovery2_curves`'s table (``kind`` normal/adversarial, ``delta``,
    ``kept``, ``accuracy``, ``n`` images) on images FGSM fooled (``fooled_only``). For each noise level
    δ > 0, Wilson intervals over the ``n`` images (at 95% jointly over the δ tried, Bonferroni) bound the
    share of normal images keeping their label and of adversarial ones flipped back. Supported when some δ
    has both lower bounds clearing 90% and 50%; not supported when at every δ an upper bound falls below
    its threshold; not testable otherwise, in smoke, or when FGSM fooled nothing.
    """
    criterion = ("some δ at which the 95% intervals (Bonferroni over the δ tried, images as the unit) of normal "
                 "images kept lie above 90% and of adversarial images flipped back above 50%; at every δ one "
                 "interval below its threshold: not supported")
    if smoke or not fooled_only or curves is None:
        return Verdict(None, "needs a trained classifier and images FGSM fools (not in this run)", criterion)
    nrm = curves[curves.kind == "normal"].set_index("delta")
    adv = curves[curves.kind == "adversarial"].set_index("delta")
    tried = [dl for dl in deltas if dl > 0]
    n = int(nrm.n.iloc[0])
    level = 1 - 0.05 / len(tried)
    bounds = {dl: (share_interval(nrm.loc[dl, "kept"], n, level=level),
                   share_interval(adv.loc[dl, "accuracy"], n, level=level)) for dl in tried}
    good = [dl for dl, (k, a) in bounds.items() if k[0] >= 0.9 and a[0] >= 0.5]
    bad = all(k[1] < 0.9 or a[1] < 0.5 for k, a in bounds.values())
    best = good[0] if good else max(tried, key=lambda dl: nrm.loc[dl, "kept"] + adv.loc[dl, "accuracy"])
    (k_lo, k_hi), (a_lo, a_hi) = bounds[best]
    holds = True if good else False if bad else None
    return Verdict(holds, (
        f"{n} fooled images; at δ={best}: normal images keep their label in {nrm.loc[best, 'kept']:.0%} "
        f"[{k_lo:.0%}, {k_hi:.0%}] of draws, adversarial ones flip back to the true label in "
        f"{adv.loc[best, 'accuracy']:.0%} [{a_lo:.0%}, {a_hi:.0%}] (still fooled {adv.loc[best, 'kept']:.0%})"),
        criterion, float(adv.loc[best, "accuracy"]), a_lo, a_hi, n)


def paired_difference(predictions: pd.DataFrame, model: str, a: str, b: str) -> Difference:
    """Accuracy of condition ``a`` minus condition ``b`` of ``model`` on the same test images, with a paired,
    class-stratified bootstrap interval (:func:`paperkit.metrics.paired.paired_bootstrap`).

    ``predictions`` has columns ``model``, ``condition``, ``item``, ``label``, ``predicted``.
    """
    rows = predictions[predictions.model == model]
    pa = rows[rows.condition == a].sort_values("item")
    pb = rows[rows.condition == b].sort_values("item")
    if len(pa) == 0 or len(pb) == 0:
        raise ValueError(f"paired_difference: {model} has no predictions for {a!r} or {b!r}")
    if not (np.array_equal(pa["item"], pb["item"]) and np.array_equal(pa["label"], pb["label"])):
        raise ValueError(f"paired_difference: {model} {a!r} and {b!r} predicted different test images; a paired "
                         "comparison needs the same images with the same labels")
    return paired_bootstrap(pa["label"].to_numpy(), pa["predicted"].to_numpy(), pb["predicted"].to_numpy(),
                            metric="accuracy", a=f"{model} +{a}" if a != "base" else f"{model} base",
                            b=f"{model} +{b}" if b != "base" else f"{model} base", n_boot=N_BOOT, seed=SEED)


def _combine(parts: list[Verdict]) -> bool | None:
    """False when any part is not supported, True when every part is supported, None otherwise."""
    if any(v.holds is False for v in parts):
        return False
    return True if parts and all(v.holds is True for v in parts) else None


def _claim(results: list[tuple[str, list[Verdict]]], criterion: str, extra: str = "") -> Verdict:
    """One verdict over every model's comparisons: not supported when any model's is, supported when all
    are, not testable otherwise. The effect shown is the deciding comparison's (the first refuted one, or
    the one with the lowest interval)."""
    per_model = [(_combine(parts), parts) for _, parts in results]
    holds = False if any(h is False for h, _ in per_model) else (
        True if all(h is True for h, _ in per_model) else None)
    flat = [v for _, parts in results for v in parts]
    deciding = next((v for v in flat if v.holds is False), None) or min(flat, key=lambda v: v.low)
    evidence = "; ".join(f"{name}: " + ", ".join(v.evidence for v in parts) for name, parts in results)
    return Verdict(holds, evidence + extra, criterion, deciding.effect, deciding.low, deciding.high, deciding.n)


def treatment_improves(predictions: pd.DataFrame, weights: pd.DataFrame | None = None, *, lead: str = "",
                       smoke: bool, margin: float = CLAIMED_GAIN) -> Verdict:
    """Table 1 (treatment improves the classifiers), judged image by image for **every** model.

    ``predictions`` (:func:`~paperkit.chapters.model_doctor.experiment.prediction_table`) holds each model's
    per-image test predictions under the conditions ``base``, ``none`` (the control: the same fine-tuning
    without constraints), ``channel`` and, with masks, ``all``. The treatment judged is decided in advance,
    not picked on the test set: ``all`` (the full method) where it ran, else ``channel``. A model's
    treatment is supported when the 95% paired interval of treated minus base accuracy lies above +1 point
    and that of treated minus control above zero (each margin at least one test image); it is not supported
    when either interval lies wholly below minus its margin. The claim holds when every model's treatment is
    supported, is not supported when any model's is not, and is not testable otherwise, in smoke, without
    any model with base, control and treatment predictions. ``weights`` (columns ``lambda_channel``,
    ``gain``; the +channel weight sweep of model ``lead``) is shown in the evidence but does not decide:
    picking the best weight on the test set would judge on the data that chose it.
    """
    criterion = (f"for every model, +all (else +channel) beats its base by the margin (+{margin:.2f} accuracy, at "
                 "least one test image) and the fine-tuning-only control by at least one test image: each 95% "
                 "paired-bootstrap interval above its margin; any interval below minus its margin: not supported")
    if smoke:
        return Verdict(None, SMOKE, criterion)
    results = []
    for model in dict.fromkeys(predictions["model"]):
        have = set(predictions.loc[predictions.model == model, "condition"])
        treatment = "all" if "all" in have else "channel" if "channel" in have else None
        if treatment is None or not {"base", "none"} <= have:
            continue
        results.append((f"{model} +{treatment}", [
            compare(paired_difference(predictions, model, treatment, "base"), margin=margin),
            compare(paired_difference(predictions, model, treatment, "none"))]))
    if not results:
        return Verdict(None, "no classifier with base, control and a +channel or +all treatment in this run", criterion)
    extra = ""
    if weights is not None and len(weights) > 1:
        extra = (f"; weight sweep ({lead}, shown, not deciding): +channel "
                 + ", ".join(f"{g:+.2f} points at λ={w:g}" for w, g in zip(weights.lambda_channel, weights.gain)))
    return _claim(results, criterion, extra)


def space_constraint(predictions: pd.DataFrame, *, size: int, small_images: int, synthetic: bool, masked: bool,
                     smoke: bool) -> Verdict:
    """Table 1's +space pattern (harmful on small images, helpful on larger cluttered ones), image by image.

    ``predictions`` as in :func:`treatment_improves`, with a ``space`` condition. Below ``small_images`` px
    only the first half is tested: for every model the base beats +space (the 95% paired interval of base
    minus +space above one test image). Otherwise only the second: +space beats both the base and the
    control. Not supported when any model's interval lies wholly the other way; not testable otherwise,
    without masks, or in smoke.
    """
    small = size < small_images
    criterion = ("small images: base beats +space for every model" if small else
                 "larger images: +space beats the base and the fine-tuning-only control for every model") + (
        " (95% paired-bootstrap intervals, margin one test image)")
    if smoke or not masked:
        return Verdict(None, "needs masks and training beyond the smoke profile", criterion)
    results = []
    for model in dict.fromkeys(predictions["model"]):
        have = set(predictions.loc[predictions.model == model, "condition"])
        if not {"base", "space"} <= have or (not small and "none" not in have):
            continue
        if small:
            parts = [compare(paired_difference(predictions, model, "base", "space"))]
        else:
            parts = [compare(paired_difference(predictions, model, "space", "base")),
                     compare(paired_difference(predictions, model, "space", "none"))]
        results.append((model, parts))
    if not results:
        return Verdict(None, "no classifier with base and +space predictions in this run", criterion)
    clutter = ", background cue in training" if synthetic else ", real backgrounds"
    scope = (f"small images only ({size} px): the first half is tested" if small
             else f"larger images ({size} px{clutter}): the second half is tested")
    verdict = _claim(results, criterion)
    return Verdict(verdict.holds, f"{scope}; {verdict.evidence}", criterion, verdict.effect, verdict.low,
                   verdict.high, verdict.n)
