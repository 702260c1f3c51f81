"""Figures and tables of the model_doctor chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from paperkit.chapters.model_doctor.spec import PAPER_MODELS
from paperkit.explain import FeatureTaps, correlation_sparsity

CONSTRAINTS = ("none", "channel", "space", "all")  # "none": the control, fine-tuning without a constraint


def as_rgb8(tiles: Sequence[np.ndarray]) -> np.ndarray:
    """A list of (H, W, 3) images, floats in [0, 1] or already uint8, as one uint8 stack for plotly."""
    stack = np.stack(tiles)
    if stack.dtype == np.uint8:
        return stack
    return (255 * np.clip(stack, 0, 1)).round().astype(np.uint8)


def as_rgb(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) image tensor with 1 or 3 channels as a float (H, W, 3) array."""
    img = image.permute(1, 2, 0).detach().cpu().numpy()
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def cam_overlay(image: torch.Tensor, heat: np.ndarray) -> np.ndarray:
    """grad-cam's ``show_cam_on_image``: a [0, 1] heat map (H, W) in the jet colormap over ``image`` (C, H, W),
    as uint8 RGB."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = np.clip(as_rgb(image), 0, 1).astype(np.float32)  # grad-cam wants [0, 1]; normalised inputs are clipped
    return show_cam_on_image(rgb, np.clip(heat, 0, 1), use_rgb=True)


def top_sets(values: torch.Tensor, mass: float = 0.8) -> list[set[int]]:
    """Per class (row of ``values``, classes x kernels), the kernels that hold ``mass`` of its correlation."""
    sets = []
    for row in values.double():
        order = torch.argsort(row, descending=True)
        share = row[order].cumsum(0) / row.sum().clamp(min=1e-30)
        sets.append(set(order[: int((share < mass).sum()) + 1].tolist()))
    return sets


def mean_overlap(sets: Sequence[set]) -> float:
    """Mean Jaccard index over all pairs of ``sets`` (1: every class uses the same kernels); NaN below two sets."""
    pairs = [(a, b) for i, a in enumerate(sets) for b in sets[i + 1:]]
    return float(np.mean([len(a & b) / max(1, len(a | b)) for a, b in pairs])) if pairs else float("nan")


def layer_sparsity(values: Mapping[str, torch.Tensor], layers: Sequence[str],
                   seen: torch.Tensor) -> dict[str, tuple[float, float, int]]:
    """Discovery 1 in numbers per layer: ``(mean sparsity, mean overlap, kernels)``.

    ``values`` maps a layer to its class-kernel correlation (classes x kernels); ``seen`` selects the
    classes with at least one diagnosed image (the others have no row to measure).
    """
    return {n: (float(correlation_sparsity(values[n][seen]).mean()), mean_overlap(top_sets(values[n][seen])),
                values[n].shape[1]) for n in layers}


def derivative_maps(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed derivative map |dy_label/dm_k| over ``layer``'s kernels, upsampled to the image, and the softmax.

    Returns ``(maps (N, H, W), probabilities (N, classes))``, both detached; the model is put in eval mode.
    """
    model.eval()
    with FeatureTaps(model, [layer]) as taps:
        logits = model(images)
        feats = taps.features[layer]
        (g,) = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), feats)
    maps = torch.nn.functional.interpolate(g.abs().sum(1, keepdim=True), size=images.shape[-2:], mode="bilinear")
    return maps[:, 0].detach(), logits.softmax(1).detach()


def background_share(heat: torch.Tensor, mask: torch.Tensor | None) -> float:
    """The share of a map's mass on the background (``mask`` 0), or NaN without a mask."""
    if mask is None:
        return float("nan")
    heat = torch.as_tensor(heat).cpu()
    return float((heat * (1 - mask)).sum() / heat.sum().clamp(min=1e-12))


def derivative_tiles(images: torch.Tensor, maps: torch.Tensor, confidence: torch.Tensor, groups,
                     masks: torch.Tensor | None) -> tuple[list[np.ndarray], list[str]]:
    """Fig. 2b's tiles: each image of ``groups`` (name -> indices) under its derivative map, with a title.

    The title gives the confidence and, with ``masks``, the map's share on the background.
    """
    tiles, titles = [], []
    for group, idx in groups:
        for i in idx:
            heat = (maps[i] / maps[i].max().clamp(min=1e-12)).cpu().numpy()
            tiles.append(cam_overlay(images[i], heat))
            share = background_share(maps[i], None if masks is None else masks[i])
            titles.append(f"{group} p={float(confidence[i]):.2f}" + ("" if math.isnan(share) else f", bg {share:.0%}"))
    return tiles, titles




# --------------------------------------------------------------------------- repeats, draws and Fig. 4


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for one value) of the runs' numbers."""
    v = np.asarray([float(x) for x in values], dtype=float)
    if v.size == 0:
        raise ValueError("mean_sd: no values; expected one number per run")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def _pm(values: Sequence[float]) -> str:
    mean, sd = mean_sd(values)
    return f"{mean:.2f}" if math.isnan(sd) else f"{mean:.2f} ± {sd:.2f}"


def table1_runs(runs: Sequence[Mapping]) -> pd.DataFrame:
    """Table 1 over repeated runs: per model, base accuracy (%) and each treatment's change in points, mean ± sd.

    ``runs`` has one entry per (model, draw, repeat): ``model``, ``draw``, ``repeat``, ``base`` (accuracy, a
    fraction) and ``gains`` (condition -> change in points). The paper averages three runs, and on
    mini-ImageNet the ten category draws too; here every run of a model counts once. Columns: model, runs,
    base, +none, +channel, +space, +all ('-' for a condition that did not run).
    """

    if not runs:
        raise ValueError("table1_runs: no runs; expected one entry per (model, draw, repeat)")
    rows = []
    for model in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == model]
        row = {"model": model, "runs": len(mine), "base": _pm([100 * r["base"] for r in mine])}
        for c in CONSTRAINTS:
            gains = [r["gains"][c] for r in mine if c in r["gains"]]
            row[f"+{c}"] = _pm(gains) if gains else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def per_category(classes: Sequence[str], base_runs: Sequence[Sequence[float | None]],
                 treated_runs: Mapping[str, Sequence[Sequence[float | None]]]) -> pd.DataFrame:
    """Fig. 4's numbers: each category's base accuracy (%) and its change (points) under each constraint.

    ``base_runs`` holds one per-class accuracy list per run (the runs' ``per_class`` metric, fractions,
    None for a class without test images); ``treated_runs[condition]`` the same for the treated runs of
    those runs, in the same order. Values are means over the runs; the rows are sorted by base accuracy,
    as the paper's figure, so the gains of the weakest categories come first.
    """

    def mean_of(runs, k):
        vals = [r[k] for r in runs if r[k] is not None]
        return float(np.mean(vals)) * 100 if vals else float("nan")

    if not base_runs or any(len(r) != len(classes) for r in base_runs):
        raise ValueError(f"per_category: expected per-class accuracies of the {len(classes)} classes for each run")
    for condition, runs in treated_runs.items():
        if len(runs) != len(base_runs) or any(len(r) != len(classes) for r in runs):
            raise ValueError(f"per_category: {condition!r} has {len(runs)} runs; expected {len(base_runs)} of "
                             f"{len(classes)} per-class accuracies, paired with the base runs")
    rows = []
    for k, name in enumerate(classes):
        row = {"category": name, "base accuracy (%)": mean_of(base_runs, k)}
        for condition, runs in treated_runs.items():
            row[f"+{condition} (points)"] = mean_of(runs, k) - row["base accuracy (%)"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values("base accuracy (%)", kind="stable").reset_index(drop=True)


def fig4(table: "pd.DataFrame", *, title: str):
    """Fig. 4: bars of each category's base accuracy, and its change under each constraint (second axis)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from paperkit import plots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["base accuracy (%)", "change after treatment (points)"])
    fig.add_trace(go.Bar(x=table["category"], y=table["base accuracy (%)"], name="base",
                         marker_color="lightgray"), 1, 1)
    gains = [c for c in table.columns if c.startswith("+")]
    for k, col in enumerate(gains):
        fig.add_trace(go.Bar(x=table["category"], y=table[col], name=col.replace(" (points)", ""),
                             marker_color=plots.COLORS[k % len(plots.COLORS)]), 2, 1)
    fig.update_layout(title=title, barmode="group", height=460)
    return fig


# --------------------------------------------------------------------------- settings and differences

PAPER, CHOICE, DIFFERS, OFFICIAL = ("as in the paper", "choice: the paper does not state it", "differs from the paper",
                                    "official code (official=True)")


def _paper_fact(metric: str) -> float:
    from paperkit import reference

    rows = reference.load("model_doctor", metric=metric)
    if len(rows) != 1:
        raise ValueError(f"reference/model_doctor.csv: expected one row for {metric!r}, found {len(rows)}")
    value = float(rows["value"].iloc[0])
    return int(value) if value.is_integer() else value


def settings_rows(S, cfg, *, hooked: Sequence[str], image_size: int, sgd: Mapping[str, float]) -> list[dict]:
    """The run's settings beside the paper's, each labelled: as in the paper, a choice (the paper is silent),
    different from the paper, or the official code's (``S.official``).

    ``S`` is the chapter's settings, ``cfg`` the :class:`~paperkit.explain.DoctorConfig` of this run,
    ``hooked`` the modules the constraints act on, ``sgd`` the optimiser's momentum and weight decay.
    Paper values come from ``reference/model_doctor.csv`` (never typed here); None where the paper
    gives none. Rows: ``setting``, ``this run``, ``paper``, ``status``, ``note``.
    """
    official = bool(S.official)
    mini = S.dataset == "mini-imagenet"

    def row(setting, this, paper, *, equal=None, note="", official_value=False):
        if official and official_value:
            status = OFFICIAL
        elif paper is None:
            status = CHOICE
        else:
            same = (str(this) == str(paper)) if equal is None else equal
            status = PAPER if same else DIFFERS
        return {"setting": setting, "this run": str(this), "paper": "not stated" if paper is None else str(paper),
                "status": status, "note": note}

    paper_models = len(PAPER_MODELS)
    t_paper, j_paper = _paper_fact("images per class T"), _paper_fact("noise draws J")
    conv_point = cfg.point == "conv"
    return [
        row("classifiers", ", ".join(S.models), f"{paper_models} mainstream CNNs (Table 1)",
            equal=all(m in PAPER_MODELS for m in S.models),
            note="small_cnn is a classroom stand-in, not one of the paper's classifiers"),
        row("training epochs", S.epochs, None),
        row("training learning rate", S.lr, None, note="SGD, one cosine cycle"),
        row("momentum, weight decay", f"{sgd['momentum']}, {sgd['weight_decay']}", None),
        row("batch size", S.batch_size, None),
        row("treatment optimiser and learning rate", f"SGD, constant {S.treat_lr}",
            "the same as the original classifier's", equal=S.treat_lr == S.lr,
            note="the paper fine-tunes with the training settings; a constant rate here"),
        row("treatment epochs", S.treat_epochs, None),
        row("runs averaged", S.repeats, _paper_fact("runs averaged"), note="seeds seed, seed+1, ..."),
        row("categories per draw (mini-ImageNet)", S.categories if mini else "all classes of the set",
            _paper_fact("categories per draw"), equal=(not mini) or S.categories == _paper_fact("categories per draw"),
            note="the paper draws categories on mini-ImageNet only"),
        row("category draws (mini-ImageNet)", S.category_draws if mini else "one (all classes)",
            _paper_fact("category draws"), equal=(not mini) or S.category_draws == _paper_fact("category draws")),
        row("feature map constrained", "convolution output" if conv_point else "after the activation",
            "after the activation (Eq. 1: m = f(c * m'))", equal=not conv_point, official_value=conv_point),
        row("layers constrained", ", ".join(hooked), None, official_value=official,
            note="the paper: 'the deep layers', no number" + ("; official code: the last Conv2d" if official else "")),
        row("noise draws J", cfg.effective_draws, j_paper, official_value=official),
        row("images per class T", cfg.per_class, t_paper, official_value=official),
        row("minimum confidence", cfg.min_confidence if cfg.selection == "confidence" else "the most confident T",
            _paper_fact("minimum confidence"), official_value=official),
        row("noise range δ", cfg.noise, None, official_value=official),
        row("channel threshold v", "class mean" if cfg.threshold is None else cfg.threshold, None,
            official_value=official,
            note="of the per-class min-max normalised correlation" if cfg.mask == "minmax" else
            "kernels below their class's mean correlation count as uncorrelated"),
        row("constraint weights (channel, space)", f"{cfg.lambda_channel:g}, {cfg.lambda_space:g}",
            f"{_paper_fact('constraint weight')}, {_paper_fact('constraint weight')}",
            equal=cfg.lambda_channel == cfg.lambda_space == _paper_fact("constraint weight"),
            official_value=official),
        row("mask expansion (px)", f"{cfg.expand} at {image_size} px", f"{_paper_fact('mask expansion')} "
            "(image size not stated)", equal=cfg.expand == _paper_fact("mask expansion"), official_value=official,
            note="scaled to the image side as 30/224 unless expand is given"),
        row("annotated images per category (Table 1)", S.annotated_per_class,
            _paper_fact("annotated low-confidence images per category")),
    ]


# What this chapter does that is no setting of the paper's (the differences table lists them after the settings).
ADDITIONS = (
    {"setting": "control treatment", "paper": "none", "this run": "+none: the same fine-tuning without constraints",
     "status": "addition", "note": "separates the constraints' effect from that of the extra epochs"},
    {"setting": "claims", "paper": "mean accuracies", "this run": "paired bootstrap on the first run's test images",
     "status": "addition", "note": "the ledger judges the first run (seed, first draw) image by image; Table 1 "
                                   "shows every run's mean ± sd"},
    {"setting": "treatment start", "paper": "the trained classifier", "this run": "the trained classifier",
     "status": "official code differs", "note": "the official treatment script retrains from scratch"},
    {"setting": "constraint gradients", "paper": "trained (Eq. 7)", "this run": "create_graph=True, tested",
     "status": "official code differs",
     "note": "until May 2023 the official code took them without create_graph: the constraints moved no weight"},
    {"setting": "official=True", "paper": "-", "this run": "DoctorConfig.official()",
     "status": "official code", "note": "ReLU of the gradient, top-T images, no noise, min-max masks, the label "
                                        "and its confusing class, its weight; the Method section's first table"},
    {"setting": "WideResNet-28", "paper": "WideResNet-28",
     "this run": "torchvision's Wide ResNet-50-2 (md_wide_resnet50)", "status": "stand-in",
     "note": "paper profile only"},
)


def differences(rows: Sequence[Mapping], *, extra: Sequence[Mapping] = ADDITIONS) -> pd.DataFrame:
    """The chapter's differences section: every settings row (:func:`settings_rows`) not as in the paper,
    then ``extra`` rows (:data:`ADDITIONS`: what the chapter adds or replaces), as a table: what, the paper,
    this run, kind, note."""

    kept = [r for r in rows if r["status"] != PAPER] + list(extra)
    return pd.DataFrame([{"what": r["setting"], "paper": r["paper"], "this run": r["this run"],
                          "kind": r["status"], "note": r["note"]} for r in kept],
                        columns=["what", "paper", "this run", "kind", "note"])
