"""Gradient saliency (Simonyan et al., 2014) for per-pixel segmentation networks.

A classifier's saliency is ``|d y_c / d x|``; a segmentation network has one score per pixel, so
the score explained here is the class-``c`` logit summed over the pixels the network itself
assigns to ``c`` (its own segmentation, detached). The map then answers "which input pixels
would change the network's LV region most", the per-pixel gradient view of the paper's §3.3.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["segmentation_saliency"]


def segmentation_saliency(model: nn.Module, x: torch.Tensor, target_class: int = 1) -> torch.Tensor:
    """``|d S_c / d x|`` per input pixel, shape ``(N, H, W)`` (maximum over input channels).

    ``S_c`` is the sum of class ``target_class``'s logits over the pixels whose argmax is that
    class; when an image has no such pixel, over all pixels (so the map is never silently zero).
    The model is put in eval mode and its parameters get no gradient.
    """
    if x.ndim != 4:
        raise ValueError(f"x has shape {tuple(x.shape)}: expected (N, C, H, W)")
    was_training = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            logits = model(x)
            if logits.ndim != 4 or not 0 <= target_class < logits.shape[1]:
                raise ValueError(f"model output {tuple(logits.shape)}: expected (N, classes, H, W) "
                                 f"with class {target_class}")
            region = (logits.argmax(1) == target_class).float()
            empty = region.flatten(1).sum(1) == 0
            region[empty] = 1.0
            score = (logits[:, target_class] * region).sum()
            (grad,) = torch.autograd.grad(score, x)
    finally:
        model.train(was_training)
    return grad.abs().amax(dim=1)
