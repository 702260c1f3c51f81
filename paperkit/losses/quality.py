"""Supervised losses of the QA models (Sultan et al. 2023, Eqs. 1-3).

* :func:`qa_loss` (Eq. 1): binary cross-entropy over the 4-vector ``[a_mn, a_s, a_eat, y_qa]``
  (the three attribute logits and the QA logit against their binarised labels), averaged
  over the four outputs and the batch, as ``BCE`` of two 4-vectors is.
* :func:`dice_loss` (Eq. 2): soft Dice of the blood-pool mask logit (MONAI ``DiceLoss`` with
  a sigmoid, smoothing 1e-5, averaged over the batch).
* :func:`multitask_loss` (Eq. 3): ``qa_loss + dice_loss``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["dice_loss", "multitask_loss", "qa_loss"]


def _as_column(target: torch.Tensor, like: torch.Tensor, name: str, width: int) -> torch.Tensor:
    target = torch.as_tensor(target, device=like.device, dtype=like.dtype)
    if target.dim() == 1 and width == 1:
        target = target[:, None]
    if target.shape != like.shape:
        raise ValueError(f"qa_loss: {name} target of shape {tuple(target.shape)}; expected {tuple(like.shape)}")
    return target


def qa_loss(output, attributes: torch.Tensor, qa: torch.Tensor) -> torch.Tensor:
    """Eq. 1: mean BCE-with-logits over the 3 attribute logits and the QA logit of ``output``.

    ``output`` is a :class:`paperkit.models.lge_quality.QAOutput` (or anything with
    ``attributes`` (B, 3) and ``qa`` (B, 1) logits); ``attributes`` (B, 3) and ``qa`` (B,) or
    (B, 1) are 0/1 labels (1 = diagnostic).
    """
    attr_target = _as_column(attributes, output.attributes, "attributes", 3)
    qa_target = _as_column(qa, output.qa, "qa", 1)
    logits = torch.cat([output.attributes, output.qa], dim=1)
    return F.binary_cross_entropy_with_logits(logits, torch.cat([attr_target, qa_target], dim=1))


def dice_loss(mask_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 2: MONAI soft Dice loss (sigmoid on the logits) between (B, 1, H, W) logits and a 0/1 mask."""
    from monai.losses import DiceLoss

    mask = torch.as_tensor(mask, device=mask_logits.device, dtype=mask_logits.dtype)
    if mask.shape != mask_logits.shape:
        raise ValueError(f"dice_loss: mask of shape {tuple(mask.shape)}; expected {tuple(mask_logits.shape)}")
    return DiceLoss(sigmoid=True)(mask_logits, mask)


def multitask_loss(output, attributes: torch.Tensor, qa: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 3: :func:`qa_loss` + :func:`dice_loss` for a multi-task output (with a ``mask`` logit)."""
    if getattr(output, "mask", None) is None:
        raise ValueError("multitask_loss: the output has no mask logit; use a multitask_qa model (or qa_loss)")
    return qa_loss(output, attributes, qa) + dice_loss(output.mask, mask)
