"""The lv_segmentation claims ledger's verdicts: pure functions of the result tables, unit-tested."""
from __future__ import annotations

# The model the paper proposes, and the one its lightweight claim is measured against.
GAP_NET, UNET = "gap_net", "unet"


def dice_above_90(summary, *, dataset: str, smoke: bool, report_name: str = "report") -> tuple[bool | None, str]:
    """Claim 1 (GAP net Dice above 90% on Sunnybrook) from :func:`challenge_summary` rows per model:
    ``(holds, evidence)``.

    ``summary`` is indexed by model with columns ``Dice all (%)``, ``images`` and ``good contours (%)``.
    Only a full run on Sunnybrook tests it: other data or the smoke profile is not testable.
    """
    if GAP_NET not in summary.index:
        return None, "gap_net was not trained in this run"
    dice_all = summary.loc[GAP_NET, "Dice all (%)"]
    if dataset != "sunnybrook" or smoke:
        return None, (f"gap_net Dice {dice_all:.1f}% (all images) on {dataset} data; the claim is about Sunnybrook "
                      "at full training (run dataset='sunnybrook', profile='paper')")
    return bool(dice_all > 90), (f"gap_net Dice {dice_all:.1f}% over all {int(summary.loc[GAP_NET, 'images'])} "
                                 f"{report_name} images "
                                 f"({summary.loc[GAP_NET, 'good contours (%)']:.0f}% good contours)")


def lighter_than_unet(published, summary, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 2 (fewer parameters than U-Net at about its Dice): ``(holds, evidence)``.

    ``published`` gives each model's ``parameters`` at width 1 (index: model), ``summary`` its
    ``Dice all (%)``. Holds with fewer parameters and a Dice at most 2 points below U-Net's.
    """
    if smoke or not {GAP_NET, UNET} <= set(summary.index):
        return None, "needs gap_net and unet trained beyond the smoke profile"
    p_gap, p_unet = published.loc[GAP_NET, "parameters"], published.loc[UNET, "parameters"]
    d_gap, d_unet = summary.loc[GAP_NET, "Dice all (%)"], summary.loc[UNET, "Dice all (%)"]
    return bool(p_gap < p_unet and d_gap >= d_unet - 2), (
        f"parameters at width 1: gap_net {p_gap / 1e6:.2f}M vs unet {p_unet / 1e6:.2f}M; "
        f"Dice (all images): gap_net {d_gap:.1f}% vs unet {d_unet:.1f}% (criterion: fewer parameters and "
        "Dice within 2 points or better)")


def pixel_accuracy_misleads(trap) -> tuple[bool | None, str]:
    """Claim 3 (pixel accuracy misleads) from the pixel-accuracy-vs-Dice table: ``(holds, evidence)``.

    ``trap``'s first row is the all-background prediction, the others the models (columns
    ``prediction``, ``pixel accuracy (%)``, ``Dice (%)``). Holds when answering background everywhere
    already scores at least 95% pixel accuracy. Not testable without a model row.
    """
    if len(trap) < 2:
        return None, "needs the all-background row and at least one model"
    bg = trap.iloc[0]
    best = trap.iloc[1:].sort_values("Dice (%)").iloc[-1]
    return bool(bg["pixel accuracy (%)"] >= 95), (
        f"all-background prediction: pixel accuracy {bg['pixel accuracy (%)']:.1f}%, Dice 0; "
        f"best model {best['prediction']}: {best['pixel accuracy (%)']:.1f}% accuracy, Dice {best['Dice (%)']:.1f}% "
        "(criterion: the all-background accuracy is at least 95%)")


def cam_points_at_lv(pointing: float | None, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 4 (the CAM finds the LV) from the pointing-game hit rate of gap_net's CAM: ``(holds, evidence)``.

    ``pointing`` is the share of report images whose CAM peak falls inside the LV (+2 px), None
    without a gap_net. Holds at 80% or more.
    """
    if pointing is None or smoke:
        return None, "needs gap_net trained beyond the smoke profile"
    return bool(pointing >= 0.8), (f"CAM peak inside the LV (+2 px) in {100 * pointing:.1f}% of the report images "
                                   "(criterion: at least 80%)")
