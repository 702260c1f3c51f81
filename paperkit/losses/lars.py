"""LARS for SupCon pretraining: ``timm.optim.Lars`` with the usual parameter groups.

Sultan et al. pretrain the encoder with LARS (You et al. 2017), lr 0.5, batch 512, 100 epochs.
With ``exclude_bias_and_norm`` (default), :func:`make_lars` puts biases and normalisation
parameters (every tensor with fewer than 2 dimensions) in a group with neither weight decay
nor the layer-wise trust ratio -- the common practice of SimCLR/SupCon LARS implementations --
and the weights in a group with ``weight_decay`` and the trust ratio (timm's per-group
``always_adapt``); otherwise every tensor gets both. The paper gives lr only; momentum 0.9,
weight decay 1e-6 and trust coefficient 0.001 are the usual SimCLR values.
"""
from __future__ import annotations

from torch import nn

__all__ = ["make_lars"]


def make_lars(model: nn.Module, lr: float = 0.5, momentum: float = 0.9, weight_decay: float = 1e-6,
              trust_coeff: float = 0.001, exclude_bias_and_norm: bool = True):
    """A ``timm.optim.Lars`` over ``model``'s trainable parameters (see the module docstring)."""
    from timm.optim import Lars

    if lr <= 0:
        raise ValueError(f"make_lars: lr={lr!r}; expected > 0")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("make_lars: the model has no trainable parameters")
    if exclude_bias_and_norm:
        # Per-group always_adapt: weights adapt even at weight_decay=0, biases/norms never do.
        groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay, "always_adapt": True},
                  {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0, "always_adapt": False}]
        groups = [g for g in groups if g["params"]]
    else:
        groups = [{"params": params, "weight_decay": weight_decay}]
    return Lars(groups, lr=lr, momentum=momentum, trust_coeff=trust_coeff, always_adapt=True)
