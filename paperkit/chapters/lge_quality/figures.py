"""Figures and tables of the lge_quality chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import ndimage


class QALogit(torch.nn.Module):
    """A QA network seen as a one-logit classifier (what grad-cam explains)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).qa


def cam_maps(model: torch.nn.Module, images: torch.Tensor, *, device, layer: str = "layer3",
             kind=None) -> tuple[np.ndarray, list[int]]:
    """CAMs of the predicted QA label for ``images`` (N, 1, H, W) at the encoder's ``layer``, and the labels.

    ``kind`` is a grad-cam method class (default ``HiResCAM``); each map is scaled to [0, 1] by grad-cam.
    """
    from pytorch_grad_cam import HiResCAM
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    model = model.to(device).eval()
    images = images.to(device)
    with torch.no_grad():
        predicted = (model(images).qa[:, 0] > 0).long().tolist()
    with (kind or HiResCAM)(model=QALogit(model), target_layers=[getattr(model.encoder.net, layer)]) as cam:
        return cam(input_tensor=images, targets=[BinaryClassifierOutputTarget(p) for p in predicted]), predicted


def map_correlation(a, b) -> float:
    """Mean Pearson correlation of paired maps (flat maps, where it is undefined, are skipped; none left: NaN)."""
    values = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b) if x.std() > 0 and y.std() > 0]
    return float(np.mean(values)) if values else float("nan")


def atrium_shares(maps: np.ndarray, masks: np.ndarray) -> pd.DataFrame:
    """Per slice with atrium: the map's mass inside the atrium mask grown by 2 pixels, and the grown mask's area share.

    ``maps`` are (N, H, W) non-negative CAMs, ``masks`` the (N, H, W) atrium masks; slices without
    atrium are left out. Columns ``slice`` (the index into ``maps``), ``atrium share``, ``area share``.
    """
    rows = []
    for i, (cam, mask) in enumerate(zip(maps, masks)):
        if not mask.any():
            continue
        grown = ndimage.binary_dilation(mask, iterations=2)
        rows.append({"slice": i, "atrium share": float((cam * grown).sum() / max(cam.sum(), 1e-8)),
                     "area share": float(grown.mean())})
    return pd.DataFrame(rows, columns=["slice", "atrium share", "area share"])


def attention_table(models: Mapping[str, torch.nn.Module], names: Mapping[str, str], images: torch.Tensor,
                    masks: np.ndarray, *, device) -> tuple[pd.DataFrame, dict, dict]:
    """Where each QA network's HiResCAM falls, with its agreement with Grad-CAM: ``(table, maps, predictions)``.

    ``models`` maps a method to its trained network, ``names`` a method to the name shown; ``masks``
    are the atrium masks (N, H, W) of ``images``. The atrium share is the map's mass inside the mask
    grown by 2 pixels (slices without atrium left out), beside the share of the image it covers.
    HiResCAM and Grad-CAM are compared at layer3 and, on the first 8 images, at layer4.
    """
    from pytorch_grad_cam import GradCAM

    grown = np.stack([ndimage.binary_dilation(m, iterations=2) for m in masks])
    maps, preds, rows = {}, {}, []
    for method, model in models.items():
        maps[method], preds[method] = cam_maps(model, images, device=device)
        grad3, _ = cam_maps(model, images, device=device, kind=GradCAM)
        hires4, _ = cam_maps(model, images[:8], device=device, layer="layer4")  # a few suffice to show they agree
        grad4, _ = cam_maps(model, images[:8], device=device, layer="layer4", kind=GradCAM)
        share = atrium_shares(maps[method], masks)["atrium share"]
        rows.append({"model": names[method], "HiResCAM atrium share (layer3)": float(np.mean(share)),
                     "atrium area share (chance)": float(grown[grown.any(axis=(1, 2))].mean()),
                     "corr(HiResCAM, Grad-CAM) layer3": map_correlation(maps[method], grad3),
                     "corr(HiResCAM, Grad-CAM) layer4": map_correlation(hires4, grad4)})
    return pd.DataFrame(rows), maps, preds
