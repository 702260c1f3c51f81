"""The lv_segmentation ledger's verdict functions on made result tables: supported, not supported, not testable."""
import numpy as np
import pandas as pd
import pytest

from paperkit.chapters.lv_segmentation import claims


def images(dice, patients=6, per_patient=8, spread=0.0, seed=0):
    """Per-image report rows: ``patients`` x ``per_patient`` images with Dice around ``dice``."""
    rng = np.random.default_rng(seed)
    n = patients * per_patient
    values = np.clip(dice + spread * rng.standard_normal(n), 0, 1)
    return pd.DataFrame({"patient": np.repeat([f"P{i:02d}" for i in range(patients)], per_patient),
                         "instance": np.tile(np.arange(per_patient), patients), "dice": values})


def test_patient_bootstrap_resamples_patients_not_images():
    # two patients of 50 images, one perfect and one failed: images look like 100 draws, patients are two
    frame = pd.DataFrame({"patient": ["a"] * 50 + ["b"] * 50, "dice": [1.0] * 50 + [0.0] * 50})
    mean, low, high = claims.patient_bootstrap(frame.dice, frame.patient)
    assert mean == 0.5 and low == 0.0 and high == 1.0
    with pytest.raises(ValueError, match="same non-zero number"):
        claims.patient_bootstrap([0.5, 0.5], ["a"])


@pytest.mark.parametrize("frames, dataset, smoke, verdict", [
    ({"gap_net": images(0.95, spread=0.01)}, "sunnybrook", False, True),
    ({"gap_net": images(0.85, spread=0.01)}, "sunnybrook", False, False),
    ({"gap_net": images(0.895, spread=0.002)}, "sunnybrook", False, False),  # just below, but surely below
    ({"gap_net": images(0.91, spread=0.15, patients=3)}, "sunnybrook", False, None),  # interval straddles 0.9
    ({"gap_net": images(0.95, patients=2)}, "sunnybrook", False, None),    # two patients: no interval
    ({"gap_net": images(0.95, spread=0.01)}, "synthetic", False, None),    # not Sunnybrook
    ({"gap_net": images(0.95, spread=0.01)}, "sunnybrook", True, None),    # smoke
    ({"gap_net": images(0.04, spread=0.01)}, "sunnybrook", True, None),    # smoke, an untrained net: never supported
    ({"unet": images(0.95)}, "sunnybrook", False, None),                   # no gap_net
])
def test_dice_above_90(frames, dataset, smoke, verdict):
    result = claims.dice_above_90(frames, dataset=dataset, smoke=smoke, report_name="validation")
    assert result.holds is verdict and result.evidence and result.criterion
    if "gap_net" in frames and frames["gap_net"].patient.nunique() >= claims.MIN_PATIENTS:
        assert result.low <= result.effect <= result.high and result.n == len(frames["gap_net"])


PUBLISHED = pd.DataFrame({"parameters": {"gap_net": 3.1e6, "unet": 31.0e6}})
SWAPPED = PUBLISHED[::-1].set_axis(["gap_net", "unet"])


@pytest.mark.parametrize("gap, unet, published, smoke, verdict", [
    (images(0.90, spread=0.02, seed=1), images(0.91, spread=0.02, seed=2), PUBLISHED, False, True),  # within 2 points
    (images(0.85, spread=0.02, seed=1), images(0.91, spread=0.02, seed=2), PUBLISHED, False, False),  # 6 points behind
    (images(0.95, spread=0.02, seed=1), images(0.91, spread=0.02, seed=2), SWAPPED, False, False),    # larger
    (images(0.91, patients=3).assign(dice=lambda f: f.dice + np.repeat([0.05, -0.15, 0.0], 8)),
     images(0.91, patients=3), PUBLISHED, False, None),            # patients disagree: the interval straddles -0.04
    (images(0.90, patients=2), images(0.91, patients=2), PUBLISHED, False, None),                     # two patients
    (images(0.90), images(0.91), PUBLISHED, True, None),                                             # smoke
    (images(0.90), None, PUBLISHED, False, None),                                                    # no unet
])
def test_lighter_than_unet(gap, unet, published, smoke, verdict):
    frames = {"gap_net": gap, **({"unet": unet} if unet is not None else {})}
    result = claims.lighter_than_unet(published, frames, smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion


def test_lighter_than_unet_margin_is_never_finer_than_one_image():
    # 4 images: one image is 0.25 of mean Dice, so a 0.1 shortfall is within the margin however certain
    gap = images(0.80, patients=4, per_patient=1)
    unet = images(0.90, patients=4, per_patient=1)
    difference = claims.dice_difference({"gap_net": gap, "unet": unet}, "gap_net", "unet")
    assert difference.resolution == 0.25 and difference.margin(claims.COMPARABLE_DICE) == 0.25
    assert claims.lighter_than_unet(PUBLISHED, {"gap_net": gap, "unet": unet}, smoke=False).holds is True


def test_dice_difference_needs_the_same_images():
    with pytest.raises(ValueError, match="different images"):
        claims.dice_difference({"a": images(0.9), "b": images(0.9).iloc[::-1]}, "a", "b")


def history(*epochs):
    """A training history from ``(val_dice, val_pixel_accuracy)`` per epoch."""
    return pd.DataFrame([{"epoch": i + 1, "train_loss": 0.1, "val_dice": d, "val_pixel_accuracy": a}
                         for i, (d, a) in enumerate(epochs)])


BACKGROUND = 0.9646  # all-background accuracy of the validation images


@pytest.mark.parametrize("histories, smoke, verdict", [
    # the paper's Fig. 7: early epochs predict background everywhere (Dice 0, accuracy = all-background), later 0.93
    ({"gap_net": history((0.0, BACKGROUND), (0.3, 0.975), (0.93, 0.996))}, False, True),
    ({"gap_net": history((0.93, 0.996)), "unet": history((0.2, 0.97), (0.9, 0.995))}, False, True),  # across models
    # every failing checkpoint scores below the all-background accuracy: accuracy flagged it
    ({"gap_net": history((0.3, 0.90), (0.45, 0.95), (0.93, 0.996))}, False, False),
    # regression (issue #17): an untrained network (Dice 4%, accuracy near all-background) decides nothing
    ({"gap_net": history((0.04, BACKGROUND))}, False, None),
    ({"gap_net": history((0.04, BACKGROUND))}, True, None),
    ({"gap_net": history((0.0, BACKGROUND), (0.93, 0.996))}, True, None),     # smoke never decides
    ({"gap_net": history((0.6, 0.98), (0.93, 0.996))}, False, None),          # no failing checkpoint
    ({"gap_net": history((0.0, BACKGROUND), (0.7, 0.99))}, False, None),      # no checkpoint segments the LV
    ({"gap_net": pd.DataFrame({"epoch": [1], "train_loss": [0.1]})}, False, None),  # history lacks the metrics
    ({}, False, None),                                                         # nothing trained
])
def test_pixel_accuracy_misleads(histories, smoke, verdict):
    result = claims.pixel_accuracy_misleads(histories, BACKGROUND, smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion


def test_pixel_accuracy_misleads_is_decided_by_the_models_not_the_masks():
    # the same masks (all-background accuracy) give both verdicts: only the checkpoints differ
    misled = claims.pixel_accuracy_misleads({"gap_net": history((0.1, 0.97), (0.9, 0.99))}, 0.96, smoke=False)
    flagged = claims.pixel_accuracy_misleads({"gap_net": history((0.1, 0.95), (0.9, 0.99))}, 0.96, smoke=False)
    assert misled.holds is True and flagged.holds is False
    assert "epoch 1: Dice 0.100 with pixel accuracy 97.00%" in misled.evidence


def hits(rate, patients=6, per_patient=10):
    n_hit = round(rate * per_patient)
    return pd.DataFrame({"patient": np.repeat([f"P{i}" for i in range(patients)], per_patient),
                         "hit": np.tile([True] * n_hit + [False] * (per_patient - n_hit), patients)})


MIXED = pd.concat([hits(1.0, patients=2), hits(0.6, patients=2).assign(patient=lambda f: f.patient + "b")])


@pytest.mark.parametrize("table, smoke, verdict", [
    (hits(0.9), False, True),
    (hits(0.8), False, True),       # at 0.8 everywhere: the interval is [0.8, 0.8]
    (hits(0.5), False, False),
    (MIXED, False, None),           # two patients hit always, two 60%: the interval straddles 0.8
    (hits(0.9, patients=2), False, None),
    (None, False, None),
    (hits(0.9), True, None),
])
def test_cam_points_at_lv(table, smoke, verdict):
    result = claims.cam_points_at_lv(table, smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion


def five_models(gap=0.93, others=(0.85, 0.86, 0.87, 0.88), **kwargs):
    frames = {"gap_net": images(gap, spread=0.01, seed=1, **kwargs)}
    for k, (name, dice) in enumerate(zip(claims.BASELINES, others)):
        frames[name] = images(dice, spread=0.01, seed=2 + k, **kwargs)
    return frames


def without(frames, *names):
    return {k: v for k, v in frames.items() if k not in names}


@pytest.mark.parametrize("frames, smoke, verdict", [
    (five_models(), False, True),                                        # every interval clears one image
    (five_models(others=(0.85, 0.86, 0.87, 0.96)), False, False),        # attention_unet is ahead
    (five_models(others=(0.85, 0.86, 0.87, 0.925)), False, False),       # within one image (1/48) of gap_net
    (without(five_models(), "unetpp"), False, None),                     # a baseline not trained
    (without(five_models(others=(0.95, 0.86, 0.87, 0.88)), "unetpp"), False, False),  # ... but fcn8s is ahead
    (five_models(), True, None),                                         # smoke
    (without(five_models(), "gap_net"), False, None),                    # no gap_net
    (five_models(patients=2), False, None),                              # two patients: no interval
    ({"gap_net": images(0.93)}, False, None),                            # no baseline at all
])
def test_superior_to_baselines(frames, smoke, verdict):
    result = claims.superior_to_baselines(frames, smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion


def test_superior_to_baselines_names_each_baseline_and_the_skipped_ones():
    result = claims.superior_to_baselines(without(five_models(others=(0.85, 0.86, 0.87, 0.96)), "unetpp"),
                                          smoke=False)
    assert result.holds is False
    for name in ("fcn8s", "unet", "attention_unet"):
        assert f"gap_net − {name}" in result.evidence
    assert "attention_unet" in result.evidence.split("not beaten")[0].split(";")[-1]
    assert result.evidence.endswith("not trained in this run: unetpp")
    assert result.low < 0 < result.high or result.high < 0     # the closest baseline's interval is shown
    assert result.n == 48
    skipped = claims.superior_to_baselines(without(five_models(), "unetpp", "fcn8s"), smoke=False)
    assert skipped.holds is None and "not trained in this run: fcn8s, unetpp" in skipped.evidence
