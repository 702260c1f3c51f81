"""Figures and tables of the model_doctor chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

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


