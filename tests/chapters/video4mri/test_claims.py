"""The video4mri ledger's verdict functions on made result tables: supported, not supported, not testable."""
import pandas as pd
import pytest

from paperkit.chapters.video4mri import claims


def results(**rows):
    """Results (models as index) from ``model=(boot_mean, auroc, inference_ms, params_m, seconds_per_epoch)``."""
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["boot_mean", "auroc", "inference_ms", "params_m", "seconds_per_epoch"])


GOOD = dict(tsm_r18=(0.80, 0.85, 5.0, 11.2, 4.0), tsn_r18=(0.74, 0.80, 5.0, 11.2, 3.8),
            r3d_18=(0.70, 0.75, 20.0, 33.2, 6.0))


@pytest.mark.parametrize("rows, smoke, verdict", [
    (GOOD, False, True),
    ({**GOOD, "tsm_r18": (0.71, 0.85, 5.0, 11.2, 4.0)}, False, False),    # a lead of 0.01 is within the margin
    ({**GOOD, "r3d_18": (0.70, 0.55, 20.0, 33.2, 6.0)}, False, None),     # the 3D ResNet has not learnt
    ({k: v for k, v in GOOD.items() if k != "r3d_18"}, False, None),       # no 3D model
    (GOOD, True, None),
])
def test_video_beats_3d(rows, smoke, verdict):
    holds, text = claims.video_beats_3d(results(**rows), "synthetic", smoke=smoke)
    assert holds is verdict and text


@pytest.mark.parametrize("rows, smoke, verdict", [
    (GOOD, False, True),
    ({**GOOD, "tsm_r18": (0.80, 0.85, 25.0, 11.2, 4.0)}, False, False),   # slower than R3D-18
    ({**GOOD, "tsn_r18": (0.90, 0.90, 5.0, 11.2, 3.8)}, False, False),    # TSM 0.10 behind the best
    ({k: v for k, v in GOOD.items() if k != "tsm_r18"}, False, None),
    (GOOD, True, None),
])
def test_tsm_best_tradeoff(rows, smoke, verdict):
    holds, text = claims.tsm_best_tradeoff(results(**rows), smoke=smoke)
    assert holds is verdict and text


def ablation(basic, rotate, cutmix, mixup):
    values = {"basic": basic, "rotate": rotate, "rotate+cutmix": cutmix, "rotate+mixup": mixup, "crop": 0.5,
              "rotate+mix": 0.5}
    return pd.DataFrame({"augmentation": list(values), "boot_mean": list(values.values())})


@pytest.mark.parametrize("table, smoke, verdict", [
    (ablation(0.70, 0.72, 0.75, 0.68), False, True),
    (ablation(0.70, 0.72, 0.69, 0.68), False, False),   # CutMix below basic
    (ablation(0.70, 0.72, 0.75, 0.73), False, False),   # MixUp helps
    (ablation(0.70, 0.72, 0.75, 0.68).iloc[:4], False, None),
    (pd.DataFrame(), False, None),
    (ablation(0.70, 0.72, 0.75, 0.68), True, None),
])
def test_augmentation_helps(table, smoke, verdict):
    holds, text = claims.augmentation_helps(table, "tsm_r18", smoke=smoke)
    assert holds is verdict and text


@pytest.mark.parametrize("rows, verdict", [
    (GOOD, True),                                                          # 4.0 / 3.8 = 1.05
    ({**GOOD, "tsm_r18": (0.80, 0.85, 5.0, 11.2, 4.4)}, False),            # 1.16
    ({k: v for k, v in GOOD.items() if k != "tsn_r18"}, None),
])
def test_shift_costs_nothing(rows, verdict):
    holds, text = claims.shift_costs_nothing(results(**rows))
    assert holds is verdict and text


@pytest.mark.parametrize("rows, verdict", [
    (GOOD, True),
    ({**GOOD, "tsm_r18": (0.80, 0.85, 25.0, 11.2, 4.0)}, False),
    ({k: v for k, v in GOOD.items() if k != "r3d_18"}, None),
])
def test_tsm_faster_than_3d(rows, verdict):
    assert claims.tsm_faster_than_3d(results(**rows))[0] is verdict


@pytest.mark.parametrize("params, verdict", [
    ({"tsn_r18": 11.2, "tsm_r50": 23.5, "r3d_18": 33.2, "r3d_50": 46.2, "slowfast_r50": 33.6}, True),
    ({"tsn_r18": 11.2, "tsm_r50": 40.0, "r3d_18": 33.2}, False),
    ({"tsn_r18": 11.2, "slowfast_r50": 33.6}, None),
])
def test_video_models_smaller(params, verdict):
    assert claims.video_models_smaller(params)[0] is verdict


def test_unlearnt_note_names_the_models_below_the_threshold():
    frame = pd.DataFrame({"model": ["tsm_r18", "r3d_18"], "auroc": [0.8, 0.52]})
    assert "r3d_18 (AUROC 0.52)" in claims.unlearnt_note(frame) and "tsm_r18" not in claims.unlearnt_note(frame)
    assert claims.unlearnt_note(frame.iloc[:1]) is None
