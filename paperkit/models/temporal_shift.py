"""The temporal shift of TSM (Lin, Gan & Han, *TSM: Temporal Shift Module*, ICCV 2019).

A 2D network sees the ``T`` frames of a clip as a batch of ``B * T`` images. The shift moves a
fraction of the channels one frame along time, so the next 2D convolution mixes neighbouring
frames at no extra parameters or FLOPs:

* channels ``[0, C/shift_div)``: shifted one step *back* in time (frame ``t`` receives frame ``t + 1``),
* channels ``[C/shift_div, 2C/shift_div)``: shifted one step *forward* (frame ``t`` receives ``t - 1``),
* the remaining channels are untouched; the vacated end frames are filled with zeros.

This is the canonical shift (mit-han-lab/temporal-shift-module ``ops/temporal_shift.py``,
MMAction2 ``ResNetTSM(shift_div=8)``). Baidu's PP-Care (PaddleVideo) shifts
``1/num_segments`` of the channels each way instead, the same only at 8 segments; pass
``shift_div=num_segments`` to reproduce it.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["temporal_shift", "TemporalShift"]


def temporal_shift(x: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """Shift 1/``shift_div`` of the channels of ``x`` back and 1/``shift_div`` forward in time.

    Args:
        x: frames stacked clip by clip, shape ``(B * num_segments, C, H, W)``.
        num_segments: frames per clip ``T``.
        shift_div: the reciprocal of the fraction shifted each way (8 in TSM).

    Returns:
        A new tensor of the same shape (``x`` is not modified).
    """
    if x.ndim != 4:
        raise ValueError(f"temporal_shift expects (B*T, C, H, W) frames, got shape {tuple(x.shape)}")
    if num_segments < 1 or x.shape[0] % num_segments:
        raise ValueError(f"temporal_shift: {x.shape[0]} frames is not a whole number of clips of "
                         f"num_segments={num_segments}")
    if shift_div < 2:
        raise ValueError(f"shift_div={shift_div}: expected 2 or more (1/shift_div of the channels go each way)")
    nt, c, h, w = x.shape
    clips = x.view(nt // num_segments, num_segments, c, h, w)
    fold = c // shift_div
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]                  # back: t <- t + 1
    out[:, 1:, fold:2 * fold] = clips[:, :-1, fold:2 * fold]  # forward: t <- t - 1
    out[:, :, 2 * fold:] = clips[:, :, 2 * fold:]             # unshifted
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Temporal shift followed by ``layer`` (TSM's residual-branch shift wraps a block's ``conv1``).

    ``num_segments`` is the number of frames per clip. The TSM network sets it from each input's
    ``T`` before the forward pass, so one model runs on clips of any length.
    """

    def __init__(self, layer: nn.Module | None = None, num_segments: int = 8, shift_div: int = 8):
        super().__init__()
        self.layer = layer if layer is not None else nn.Identity()
        self.num_segments = int(num_segments)
        self.shift_div = int(shift_div)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(temporal_shift(x, self.num_segments, self.shift_div))

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, shift_div={self.shift_div}"
