"""The lv_segmentation ledger's verdict functions on made result tables: supported, not supported, not testable."""
import pandas as pd
import pytest

from paperkit.chapters.lv_segmentation import claims


def summary(**dice):
    """Challenge summaries of models with the given Dice over all images (%)."""
    return pd.DataFrame({"Dice all (%)": dice, "images": {m: 96 for m in dice},
                         "good contours (%)": {m: 90.0 for m in dice}})


@pytest.mark.parametrize("dice, dataset, smoke, verdict", [
    ({"gap_net": 94.5}, "sunnybrook", False, True),
    ({"gap_net": 85.0}, "sunnybrook", False, False),
    ({"gap_net": 90.0}, "sunnybrook", False, False),   # "above 90" is strict
    ({"gap_net": 94.5}, "synthetic", False, None),     # not Sunnybrook
    ({"gap_net": 94.5}, "sunnybrook", True, None),     # smoke
    ({"unet": 94.5}, "sunnybrook", False, None),       # no gap_net
])
def test_dice_above_90(dice, dataset, smoke, verdict):
    holds, text = claims.dice_above_90(summary(**dice), dataset=dataset, smoke=smoke, report_name="validation")
    assert holds is verdict and text


PUBLISHED = pd.DataFrame({"parameters": {"gap_net": 3.1e6, "unet": 31.0e6}})


@pytest.mark.parametrize("dice, published, smoke, verdict", [
    ({"gap_net": 90.0, "unet": 91.5}, PUBLISHED, False, True),     # within 2 points, ten times smaller
    ({"gap_net": 88.0, "unet": 91.5}, PUBLISHED, False, False),    # 3.5 points behind
    ({"gap_net": 95.0, "unet": 91.5}, PUBLISHED[::-1].set_axis(["gap_net", "unet"]), False, False),  # larger
    ({"gap_net": 90.0, "unet": 91.5}, PUBLISHED, True, None),      # smoke
    ({"gap_net": 90.0}, PUBLISHED, False, None),                   # no unet
])
def test_lighter_than_unet(dice, published, smoke, verdict):
    holds, text = claims.lighter_than_unet(published, summary(**dice), smoke=smoke)
    assert holds is verdict and text


def trap(background_accuracy, *models):
    rows = [{"prediction": "all background", "pixel accuracy (%)": background_accuracy, "Dice (%)": 0.0}]
    rows += [{"prediction": name, "pixel accuracy (%)": acc, "Dice (%)": dice} for name, acc, dice in models]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("table, verdict", [
    (trap(97.0, ("gap_net", 99.0, 85.0), ("unet", 99.2, 90.0)), True),
    (trap(80.0, ("gap_net", 95.0, 85.0)), False),   # the LV is a fifth of the image: accuracy is not fooled
    (trap(97.0), None),                             # no model
])
def test_pixel_accuracy_misleads(table, verdict):
    holds, text = claims.pixel_accuracy_misleads(table)
    assert holds is verdict
    if verdict is not None:
        assert "best model unet" in text or "best model gap_net" in text


@pytest.mark.parametrize("pointing, smoke, verdict", [
    (0.9, False, True), (0.8, False, True), (0.5, False, False), (None, False, None), (0.9, True, None)])
def test_cam_points_at_lv(pointing, smoke, verdict):
    assert claims.cam_points_at_lv(pointing, smoke=smoke)[0] is verdict
