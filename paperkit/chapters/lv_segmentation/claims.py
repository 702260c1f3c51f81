"""The lv_segmentation claims ledger's verdicts: pure functions of the result tables, unit-tested.

Every verdict rests on what this run's models did: per-image scores of the report set (resampled by
patient for a 95% interval, since slices of one heart are not independent) or, for "pixel accuracy
misleads", the per-epoch validation metrics in the training history. A threshold is judged on the
interval, not on the mean, so one image cannot flip a verdict.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from paperkit.ledger import Verdict, compare
from paperkit.metrics.paired import Difference

# The model the paper proposes, and the one its lightweight claim is measured against.
GAP_NET, UNET = "gap_net", "unet"
# Table 1's four deep-learning baselines, which the paper says its network is superior to.
BASELINES = ("fcn8s", "unet", "unetpp", "attention_unet")
DICE_CLAIMED = 0.90        # claim 1: "Dice above 0.9"
COMPARABLE_DICE = 0.02     # claim 2: "comparable Dice" = at most 2 Dice points below U-Net (never finer than one image)
FAILS_BELOW = 0.5          # claim 3: a checkpoint with Dice below this does not segment the LV ...
SEGMENTS_FROM = 0.8        # ... and one at or above this does
POINTING_CLAIMED = 0.8     # claim 4: the CAM peak falls inside the LV on at least 80% of the images
MIN_PATIENTS = 3           # fewer patients give at most three distinct resampled means: no interval
N_BOOT, SEED = 2000, 0


def patient_bootstrap(values, patients, *, n_boot: int = N_BOOT, level: float = 0.95,
                      seed: int = SEED) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of per-image ``values`` and its ``level`` percentile interval when
    whole patients are resampled with replacement (a cluster bootstrap: a heart's slices move together)."""
    values, patients = np.asarray(values, dtype=float), np.asarray(patients)
    if len(values) != len(patients) or len(values) == 0:
        raise ValueError(f"patient_bootstrap: {len(values)} values for {len(patients)} patient ids; expected the "
                         "same non-zero number")
    if not np.all(np.isfinite(values)):
        raise ValueError("patient_bootstrap: values must be finite")
    ids, index = np.unique(patients, return_inverse=True)
    sums, counts = np.bincount(index, weights=values), np.bincount(index)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(n_boot, len(ids)))
    means = sums[draws].sum(1) / counts[draws].sum(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def _patients(frame: pd.DataFrame) -> int:
    return int(frame["patient"].nunique())


def dice_above_90(per_image: Mapping[str, pd.DataFrame], *, dataset: str, smoke: bool,
                  report_name: str = "report") -> Verdict:
    """Claim 1 (the GAP net's Dice is above 0.9 on Sunnybrook) from gap_net's per-image Dice of the report set.

    ``per_image[model]`` has one row per report image with columns ``patient`` and ``dice`` (0-1).
    Supported when the 95% patient-bootstrap interval of the mean Dice lies above 0.9, not supported
    when it lies at or below 0.9, not testable when it straddles 0.9, with fewer than three report
    patients, without gap_net, in smoke, or on other data than Sunnybrook (the interval is shown).
    """
    criterion = (f"the 95% interval of gap_net's mean Dice over the {report_name} images (patients resampled) lies "
                 f"above {DICE_CLAIMED:.2f}; at or below it: not supported; Sunnybrook only")
    frame = per_image.get(GAP_NET)
    if frame is None or len(frame) == 0:
        return Verdict(None, "gap_net was not trained in this run", criterion)
    if _patients(frame) < MIN_PATIENTS:
        return Verdict(None, f"{_patients(frame)} {report_name} patient(s): too few for an interval "
                             f"(at least {MIN_PATIENTS})", criterion, n=len(frame))
    mean, low, high = patient_bootstrap(frame["dice"], frame["patient"])
    evidence = (f"gap_net mean Dice {mean:.3f} [{low:.3f}, {high:.3f}] over {len(frame)} {report_name} images of "
                f"{_patients(frame)} patients ({dataset})")
    if smoke:
        return Verdict(None, evidence + "; smoke profile: the model is barely trained", criterion, mean, low, high,
                       len(frame))
    if dataset != "sunnybrook":
        return Verdict(None, evidence + "; the claim is about Sunnybrook (run dataset='sunnybrook')", criterion,
                       mean, low, high, len(frame))
    holds = True if low > DICE_CLAIMED else False if high <= DICE_CLAIMED else None
    return Verdict(holds, evidence, criterion, mean, low, high, len(frame))


def dice_difference(per_image: Mapping[str, pd.DataFrame], a: str, b: str, *, n_boot: int = N_BOOT,
                    level: float = 0.95, seed: int = SEED) -> Difference:
    """Mean Dice of ``a`` minus ``b`` on the same report images, with a paired patient-bootstrap interval.

    The images must be the same (same patient and instance, same order). The resolution, the finest
    margin a verdict may use, is one image's worth: ``1/n`` (one image's Dice moves the mean by up to that).
    """
    fa, fb = per_image[a], per_image[b]
    keys = ["patient", "instance"] if "instance" in fa and "instance" in fb else ["patient"]
    if len(fa) != len(fb) or not fa[keys].reset_index(drop=True).equals(fb[keys].reset_index(drop=True)):
        raise ValueError(f"dice_difference: {a} and {b} were scored on different images; a paired comparison needs "
                         "the same report images in the same order")
    diff = fa["dice"].to_numpy(float) - fb["dice"].to_numpy(float)
    effect, low, high = patient_bootstrap(diff, fa["patient"], n_boot=n_boot, level=level, seed=seed)
    return Difference("Dice", a, b, effect, low, high, len(diff), n_boot, level, 1.0 / len(diff))


def lighter_than_unet(published: pd.DataFrame, per_image: Mapping[str, pd.DataFrame], *, smoke: bool) -> Verdict:
    """Claim 2 (fewer parameters than U-Net at comparable Dice).

    ``published`` gives each model's ``parameters`` at width 1 (index: model); ``per_image[model]`` the
    per-image Dice of the report set (columns ``patient``, ``instance``, ``dice``). Supported when gap_net
    has fewer parameters and the 95% paired interval of its Dice minus U-Net's lies above -0.02 (two
    Dice points, or one image's worth if that is more); not supported with more parameters or an
    interval wholly below that; not testable otherwise, in smoke, or without both models.
    """
    criterion = (f"fewer parameters at width 1, and gap_net is no worse than unet: the 95% paired interval of the "
                 f"Dice difference lies above -{COMPARABLE_DICE:.2f} (or one image's worth)")
    if smoke or not {GAP_NET, UNET} <= set(per_image):
        return Verdict(None, "needs gap_net and unet trained beyond the smoke profile", criterion)
    p_gap, p_unet = published.loc[GAP_NET, "parameters"], published.loc[UNET, "parameters"]
    sizes = f"parameters at width 1: gap_net {p_gap / 1e6:.2f}M vs unet {p_unet / 1e6:.2f}M"
    frame = per_image[GAP_NET]
    if _patients(frame) < MIN_PATIENTS:
        return Verdict(False if p_gap >= p_unet else None,
                       f"{sizes}; {_patients(frame)} report patient(s): too few for a Dice interval", criterion)
    verdict = compare(dice_difference(per_image, GAP_NET, UNET), margin=COMPARABLE_DICE, claim="matches")
    holds = False if p_gap >= p_unet else verdict.holds
    return Verdict(holds, f"{sizes}; {verdict.evidence}", f"{criterion} ({verdict.criterion})", verdict.effect,
                   verdict.low, verdict.high, verdict.n)


def pixel_accuracy_misleads(histories: Mapping[str, pd.DataFrame], background_accuracy: float, *,
                            smoke: bool) -> Verdict:
    """Claim 3 (pixel accuracy misleads under class imbalance), decided by this run's training checkpoints.

    ``histories[model]`` is a training history with one row per epoch and the columns ``epoch``,
    ``val_dice`` and ``val_pixel_accuracy`` (means over the validation images); ``background_accuracy``
    is what answering "background" everywhere scores on those images. Pixel accuracy misleads when a
    checkpoint that does not segment the LV (Dice below 0.5) scores at least that accuracy, i.e. reads
    as high as a trivial answer, in a run whose models do learn to segment (some checkpoint reaches
    Dice 0.8): supported. Not supported when every failing checkpoint's accuracy is below the
    all-background one (accuracy flagged them). Not testable in smoke, without those columns, when no
    checkpoint segments the LV (an untrained network shows nothing about the metric: a model that
    never learns scores a low Dice and a high accuracy whatever the metric's merits) or none fails.
    """
    criterion = (f"some checkpoint with validation Dice below {FAILS_BELOW} has pixel accuracy at least the "
                 f"all-background prediction's, in a run where a checkpoint reaches Dice {SEGMENTS_FROM}; every "
                 "failing checkpoint below the all-background accuracy: not supported")
    if smoke:
        return Verdict(None, "smoke profile: an (almost) untrained network tells nothing about the metric", criterion)
    rows = []
    for name, history in histories.items():
        if not {"epoch", "val_dice", "val_pixel_accuracy"} <= set(history.columns):
            return Verdict(None, f"the history of {name} lacks per-epoch validation Dice and pixel accuracy",
                           criterion)
        rows.append(history[["epoch", "val_dice", "val_pixel_accuracy"]].assign(model=name))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if table.empty:
        return Verdict(None, "no training history in this run", criterion)
    best = table.loc[table.val_dice.idxmax()]
    best_text = (f"best checkpoint {best.model} epoch {int(best.epoch)}: Dice {best.val_dice:.3f}, pixel accuracy "
                 f"{best.val_pixel_accuracy:.2%}; all-background prediction: {background_accuracy:.2%}")
    if best.val_dice < SEGMENTS_FROM:
        return Verdict(None, f"no checkpoint segments the LV ({best_text})", criterion)
    failing = table[table.val_dice < FAILS_BELOW]
    if failing.empty:
        return Verdict(None, f"every checkpoint has Dice of at least {FAILS_BELOW}: no failing one to mislead "
                             f"({best_text})", criterion)
    worst = failing.loc[failing.val_pixel_accuracy.idxmax()]  # the failing checkpoint accuracy flatters most
    holds = bool(worst.val_pixel_accuracy >= background_accuracy)
    return Verdict(holds, (f"{worst.model} epoch {int(worst.epoch)}: Dice {worst.val_dice:.3f} with pixel accuracy "
                           f"{worst.val_pixel_accuracy:.2%}; {len(failing)} of {len(table)} checkpoints fail; "
                           f"{best_text}"), criterion)


def cam_points_at_lv(hits: pd.DataFrame | None, *, smoke: bool) -> Verdict:
    """Claim 4 (the CAM finds the LV) from the pointing game of gap_net's CAM on the report images.

    ``hits`` has one row per report image with columns ``patient`` and ``hit`` (the CAM peak falls
    inside the LV grown by two pixels), None without a gap_net. Supported when the 95% patient-bootstrap
    interval of the hit rate lies at or above 0.8, not supported when it lies below 0.8, not testable
    when it straddles 0.8, with fewer than three patients, or in smoke.
    """
    criterion = (f"the 95% interval of the share of report images whose CAM peak is inside the LV (+2 px; patients "
                 f"resampled) lies at or above {POINTING_CLAIMED:.0%}; below it: not supported")
    if hits is None or len(hits) == 0:
        return Verdict(None, "needs gap_net (not trained in this run)", criterion)
    if _patients(hits) < MIN_PATIENTS:
        return Verdict(None, f"{_patients(hits)} report patient(s): too few for an interval", criterion, n=len(hits))
    rate, low, high = patient_bootstrap(hits["hit"].astype(float), hits["patient"])
    evidence = (f"CAM peak inside the LV (+2 px) in {rate:.1%} [{low:.1%}, {high:.1%}] of {len(hits)} report images "
                f"({_patients(hits)} patients)")
    if smoke:
        return Verdict(None, evidence + "; smoke profile: the model is barely trained", criterion, rate, low, high,
                       len(hits))
    holds = True if low >= POINTING_CLAIMED else False if high < POINTING_CLAIMED else None
    return Verdict(holds, evidence, criterion, rate, low, high, len(hits))


def superior_to_baselines(per_image: Mapping[str, pd.DataFrame], *, smoke: bool,
                          baselines: tuple[str, ...] = BASELINES) -> Verdict:
    """Claim 5 (the GAP network is superior to all four baselines of Table 1), judged per baseline.

    ``per_image[model]`` is each trained model's per-image Dice on the same report images (columns
    ``patient``, ``instance``, ``dice``; from the run records' stored predictions). For every baseline
    the mean Dice of gap_net minus the baseline's gets a paired 95% interval with patients resampled
    (:func:`dice_difference`); the baseline is beaten when the whole interval lies at or above one
    image's worth (``1/n``, the finest margin a verdict may use; :func:`paperkit.ledger.compare`).
    Supported when all four are beaten. Not supported when a trained baseline is not beaten (its
    interval reaches below the margin: the data do not show gap_net ahead of it). Not testable in
    smoke, without gap_net, with fewer than three report patients, or while a baseline was not
    trained and every trained one is beaten (the evidence names the missing ones). The effect and
    interval shown are those of the baseline closest to gap_net (the lowest interval bound).
    """
    criterion = (f"gap_net beats each of {', '.join(baselines)}: the 95% paired interval (patients resampled) of "
                 "its mean Dice minus the baseline's lies above one image's worth (1/n); any baseline whose "
                 "interval does not: not supported; a baseline not trained: not testable")
    if GAP_NET not in per_image or len(per_image[GAP_NET]) == 0:
        return Verdict(None, "gap_net was not trained in this run", criterion)
    trained = [b for b in baselines if b in per_image]
    skipped = [b for b in baselines if b not in per_image]
    skipped_text = f"not trained in this run: {', '.join(skipped)}" if skipped else ""
    if smoke:
        return Verdict(None, "smoke profile: the models are barely trained" +
                       (f"; {skipped_text}" if skipped else ""), criterion)
    frame = per_image[GAP_NET]
    if _patients(frame) < MIN_PATIENTS:
        return Verdict(None, f"{_patients(frame)} report patient(s): too few for an interval (at least "
                             f"{MIN_PATIENTS})", criterion, n=len(frame))
    if not trained:
        return Verdict(None, f"no baseline was trained in this run ({skipped_text})", criterion)
    differences = {b: dice_difference(per_image, GAP_NET, b) for b in trained}
    beaten = {b: compare(d, claim="beats").holds is True for b, d in differences.items()}
    closest = min(differences.values(), key=lambda d: d.low)
    parts = [f"{d.describe()}: {'beaten' if beaten[b] else 'not beaten'} (margin {d.margin():.3f})"
             for b, d in differences.items()]
    if skipped:
        parts.append(skipped_text)
    evidence = "; ".join(parts)
    holds = False if not all(beaten.values()) else None if skipped else True
    return Verdict(holds, evidence, criterion, closest.effect, closest.low, closest.high, closest.n)
