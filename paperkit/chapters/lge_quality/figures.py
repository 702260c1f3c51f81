"""Figures and tables of the lge_quality chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import torch
from scipy import ndimage


def score_generator(root) -> str | None:
    """The paperkit generator that wrote the scores under ``root`` (its manifest's ``generator``), or None.

    A folder made by :mod:`paperkit.data.synthetic.lge` carries a ``manifest.json`` naming its generator;
    a researcher's own LA 2018 folder with a scores CSV has none.
    """
    from pathlib import Path

    from paperkit.atomic import manifest_params

    params = manifest_params(Path(root))
    return params.get("generator") if isinstance(params, dict) else None


def score_correlations(cases, root) -> tuple[pd.DataFrame, str, str]:
    """Spearman correlations of the four 1-5 scores over ``cases``, and what they are evidence of.

    Returns ``(table, caption, reading)``. When the scores were written by a paperkit generator
    (:func:`score_generator` of ``root``) the correlations are a property of that generator -- every
    scan's defect levels share one drawn scan quality (:func:`paperkit.data.synthetic.lge_degrade.sample_levels`)
    and the overall score is computed from them -- so they are labelled as such and not as
    corroboration of the paper's Table 1. Only scores from outside paperkit (your own CSV) can be set beside it.
    """
    from paperkit.data.datasets.la2018 import ATTRIBUTE_COLUMNS, QA_COLUMN, cases_table

    scores = cases_table(cases)[[*ATTRIBUTE_COLUMNS, QA_COLUMN]]
    table = scores.corr(method="spearman").round(2).reset_index().rename(columns={"index": "score"})
    generator = score_generator(root)
    if generator:
        caption = (f"Spearman correlation of the 1-5 scores over {len(scores)} scans: a PROPERTY OF THE GENERATOR "
                   f"({generator}), not evidence for the paper's Table 1")
        reading = (f"These scores were written by `{generator}`: each scan's defect levels share one drawn scan "
                   "quality and the fibrosis-quality score is computed from the levels, so the correlations below "
                   "are built in by the generator. They show how the synthetic labels were made; they do not "
                   "corroborate the paper's Table 1, which reports the correlation of real expert scores.")
    else:
        caption = (f"Spearman correlation of the 1-5 scores over {len(scores)} scans: your scores (not made by "
                   "paperkit), comparable with the paper's Table 1")
        reading = ("These scores come from your scores CSV, not from paperkit, so their correlations can be read "
                   "beside the paper's Table 1 (the correlation of the attributes with the fibrosis-quality score).")
    return table, caption, reading


def preview_slices(cases, image_size: int, n: int = 4):
    """``n`` scans from the worst to the best fibrosis-quality score, and one slice of each.

    Returns ``(picks, images (n, H, W), masks (n, H, W) bool)``: the middle slice of the atrium mask,
    or the middle slice of the volume for a scan without a mask (its mask is then empty).
    """
    from paperkit.data.datasets.la2018 import QA_COLUMN, LGESlices

    by_score = sorted(cases, key=lambda c: c.scores[QA_COLUMN])
    picks = [by_score[int(i)] for i in np.linspace(0, len(by_score) - 1, min(n, len(by_score))).round()]
    images, masks = [], []
    for case in picks:
        view = LGESlices([case], image_size, slices="mask" if case.has_mask else "all")
        k = len(view) // 2
        images.append(view.images[k, 0].numpy())
        masks.append(view.masks[k, 0].numpy() > 0)
    return picks, np.stack(images), np.stack(masks)


def strip_title(case, scores_of: Mapping[str, str]) -> str:
    """A two-line subplot title for a scan in a strip of slices: its id, then its scores (short names)."""
    return f"{case.case_id}<br>" + " ".join(f"{short} {case.scores[col]}" for col, short in scores_of.items())


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
