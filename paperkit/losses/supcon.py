"""Supervised contrastive loss (Khosla et al., NeurIPS 2020), Eq. 4 of Sultan et al. (2023).

For anchors ``i`` over all ``2N`` projected views ``z`` (L2-normalised here), with
``P(i)`` the other views carrying ``i``'s label (``i`` itself excluded)::

    L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / tau) / sum_{a != i} exp(z_i.z_a / tau) )

Implementation notes, following the reference code (HobbitLong/SupContrast ``losses.py``):
the row maximum is subtracted from the logits before exponentiating (it cancels in the
ratio, and avoids overflow at tau = 0.07); the denominator runs over every other view, positives
included. Two choices the paper leaves open, made explicit here:

* ``reduction="mean"`` (default) averages ``L_i`` over anchors, as the reference code does;
  ``"sum"`` is Eq. 4 literally (a sum over ``i``). The reference code's extra factor
  ``tau / base_tau`` is 1 at the default tau = base_tau = 0.07 and is not applied.
* An anchor whose label no other view shares has ``|P(i)| = 0``; its term is undefined and
  it is left out (the reference code's newer versions count it as 0 in the mean instead).
  A batch where no anchor has a positive gives a loss of 0 that still carries a graph.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SupConLoss", "multi_label_supcon_loss", "supcon_loss"]


def _flatten_views(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D) or (B, V, D) features + (B,) labels -> (B*V, D) and (B*V,), views of a sample adjacent."""
    if features.dim() == 2:
        flat = features
        views = 1
    elif features.dim() == 3:
        views = features.shape[1]
        flat = features.reshape(-1, features.shape[-1])
    else:
        raise ValueError(f"supcon: features of shape {tuple(features.shape)}; expected (B, D) or (B, views, D)")
    labels = torch.as_tensor(labels, device=features.device).reshape(-1)
    if labels.numel() != features.shape[0]:
        raise ValueError(f"supcon: {labels.numel()} labels for a batch of {features.shape[0]}; expected one per sample")
    return flat, labels.repeat_interleave(views)


def supcon_loss(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07,
                reduction: str = "mean") -> torch.Tensor:
    """Supervised contrastive loss of ``features`` (B, D) or (B, views, D) with one label per sample.

    Features are L2-normalised here; positives of an anchor are the other views with its
    label. See the module docstring for ``reduction`` and anchors without positives.
    """
    if temperature <= 0:
        raise ValueError(f"supcon: temperature={temperature!r}; expected > 0")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"supcon: reduction={reduction!r}; expected 'mean' or 'sum'")
    z, labels = _flatten_views(features, labels)
    z = F.normalize(z, dim=1)
    n = z.shape[0]
    logits = z @ z.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    not_self = ~torch.eye(n, dtype=torch.bool, device=z.device)
    positives = (labels[:, None] == labels[None, :]) & not_self
    # log of the denominator over a != i; self excluded by filling with -inf before logsumexp.
    log_denominator = torch.logsumexp(logits.masked_fill(~not_self, float("-inf")), dim=1, keepdim=True)
    log_prob = logits - log_denominator
    n_pos = positives.sum(dim=1)
    has_pos = n_pos > 0
    per_anchor = -(log_prob * positives).sum(dim=1)[has_pos] / n_pos[has_pos]
    if per_anchor.numel() == 0:
        return logits.sum() * 0.0
    return per_anchor.mean() if reduction == "mean" else per_anchor.sum()


def multi_label_supcon_loss(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07,
                            reduction: str = "mean") -> torch.Tensor:
    """Eq. 5: the sum over label sets of :func:`supcon_loss` on the same projections.

    ``labels`` is (B, K): one column per label set (the chapter uses K = 4: myocardium
    nulling, sharpness, enhancement of aorta and valve, and QA, each binarised).
    """
    labels = torch.as_tensor(labels, device=features.device)
    if labels.dim() != 2:
        raise ValueError(f"multi_label_supcon: labels of shape {tuple(labels.shape)}; expected (B, K)")
    return sum(supcon_loss(features, labels[:, k], temperature, reduction) for k in range(labels.shape[1]))


class SupConLoss(nn.Module):
    """Module form: ``SupConLoss(temperature)(features, labels)``; (B, K) labels give the Eq. 5 sum."""

    def __init__(self, temperature: float = 0.07, reduction: str = "mean"):
        super().__init__()
        self.temperature = temperature
        self.reduction = reduction

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = torch.as_tensor(labels)
        if labels.dim() == 2:
            return multi_label_supcon_loss(features, labels, self.temperature, self.reduction)
        return supcon_loss(features, labels, self.temperature, self.reduction)
