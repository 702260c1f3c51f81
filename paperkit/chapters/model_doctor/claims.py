"""The model_doctor claims ledger's verdicts: pure functions of the result tables, unit-tested."""
from __future__ import annotations

import math

import pandas as pd

SMOKE = "needs training beyond the smoke profile"


def sparse_kernels(sparsity: float, overlap: float, kernels: int, *, model: str, layer: str, classes_seen: int,
                   smoke: bool) -> tuple[bool | None, str]:
    """Discovery 1 (each class uses a sparse, specific set of kernels) at the last diagnosed layer:
    ``(holds, evidence)``.

    ``sparsity`` is the mean fraction of ``layer``'s ``kernels`` holding 80% of a class's correlation,
    ``overlap`` the mean Jaccard index of two classes' kernel sets. Holds when both are at most 0.5;
    not testable in smoke or with fewer than two diagnosed classes.
    """
    if smoke or classes_seen < 2:
        return None, "needs a classifier trained beyond the smoke profile"
    return bool(sparsity <= 0.5 and overlap <= 0.5), (
        f"{model}, last layer {layer}: 80% of a class's correlation sits in {sparsity:.0%} of its {kernels} kernels "
        f"(uniform: 80%); mean overlap of two classes' kernel sets {overlap:.2f} (criterion: sparsity at most 0.5 "
        "and overlap at most 0.5)")


def noise_flips_adversarial(curves: pd.DataFrame | None, deltas, *, fooled_only: bool,
                            smoke: bool) -> tuple[bool | None, str]:
    """Discovery 2 (feature noise flips adversarial images back, normal ones stay) from the noise curves.

    ``curves`` is :func:`paperkit.explain.discovery2_curves`'s table (``kind`` normal/adversarial, ``delta``,
    ``kept``, ``accuracy``, ``n``) on images FGSM fooled (``fooled_only``). Holds when some ``delta`` > 0
    keeps at least 90% of normal images' labels and flips at least 50% of adversarial ones back.
    """
    if smoke or not fooled_only or curves is None:
        return None, "needs a trained classifier and images FGSM fools (not in this run)"
    nrm = curves[curves.kind == "normal"].set_index("delta")
    adv = curves[curves.kind == "adversarial"].set_index("delta")
    good = [dl for dl in deltas if dl > 0 and nrm.loc[dl, "kept"] >= 0.9 and adv.loc[dl, "accuracy"] >= 0.5]
    best = max((dl for dl in deltas if dl > 0), key=lambda dl: nrm.loc[dl, "kept"] + adv.loc[dl, "accuracy"])
    return bool(good), (
        f"{int(nrm.n.iloc[0])} fooled images; at δ={best}: normal images keep their label in "
        f"{nrm.loc[best, 'kept']:.0%} of draws, adversarial ones flip back to the true label in "
        f"{adv.loc[best, 'accuracy']:.0%} (still fooled {adv.loc[best, 'kept']:.0%}) (criterion: some δ with normal "
        "kept >= 90% and adversarial flipped back >= 50%)")


def treatment_improves(gains: pd.DataFrame, weights: pd.DataFrame | None = None, *, lead: str = "", step: float,
                       smoke: bool) -> tuple[bool | None, str]:
    """Table 1 (treatment improves the classifiers): ``(holds, evidence)``.

    ``gains`` (:func:`~paperkit.chapters.model_doctor.figures.treatment_gains`) has one row per model and the
    columns ``none`` (the unconstrained control), ``channel`` and ``all`` (NaN where not run). Holds when,
    for **every** model, the better of +channel/+all gains at least 1 point and more than the control; not
    testable in smoke or without any model to compare. ``weights`` (columns ``lambda_channel``, ``gain``;
    the +channel weight sweep of model ``lead``) and ``step`` (points per test image) only inform the evidence.
    """
    if smoke:
        return None, SMOKE
    parts, ok = [], []
    for name, row in gains.iterrows():
        options = [c for c in ("channel", "all") if c in row and not math.isnan(row[c])]
        if not options or math.isnan(row["none"]):
            continue
        best_c = max(options, key=lambda c: row[c])
        g, ctrl = row[best_c], row["none"]
        parts.append(f"{name}: +{best_c} {g:+.2f} points vs control {ctrl:+.2f}")
        ok.append(g >= 1.0 and g > ctrl)
    if not ok:
        return None, "no classifier with a +channel or +all treatment and a control in this run"
    if weights is not None and len(weights) > 1:
        best_w = weights.loc[weights.gain.idxmax()]
        parts.append(f"weight sweep ({lead}): best +channel {best_w.gain:+.2f} at λ={best_w.lambda_channel:g}")
    return bool(all(ok)), ("; ".join(parts) + f"; one test image is {step:.2f} points (criterion: for every model, "
                           "the better of +channel/+all gains at least 1 point and more than the unconstrained "
                           "fine-tuning)")


def space_constraint(gains: pd.DataFrame, *, size: int, small_images: int, synthetic: bool, masked: bool,
                     step: float, smoke: bool) -> tuple[bool | None, str]:
    """Table 1's +space pattern (harmful on small images, helpful on larger cluttered ones): ``(holds, evidence)``.

    ``gains`` as in :func:`treatment_improves`, with a ``space`` column. Below ``small_images`` px only
    the first half is tested (+space negative for every model); otherwise only the second (+space
    positive and above the control for every model). Not testable without masks or in smoke.
    """
    if smoke or not masked:
        return None, "needs masks and training beyond the smoke profile"
    g, ctrl = gains["space"].to_dict(), gains["none"].to_dict()
    if size < small_images:
        return bool(all(v < 0 for v in g.values())), (
            f"small images only ({size} px), so only the first half is tested: +space "
            + ", ".join(f"{n} {v:+.2f} points" for n, v in g.items()) + " (criterion: negative for every model)")
    clutter = "background cue in training" if synthetic else "real backgrounds"
    return bool(all(v > 0 and v > ctrl[n] for n, v in g.items())), (
        f"larger images ({size} px, {clutter}), so only the second half is tested: +space "
        + ", ".join(f"{n} {v:+.2f} points (control {ctrl[n]:+.2f})" for n, v in g.items())
        + f"; one test image is {step:.2f} points (criterion: positive and above the control for every model)")
