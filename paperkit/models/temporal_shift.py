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
    clips = x.reshape(nt // num_segments, num_segments, c, h, w)
    return _Shift.apply(clips, c // shift_div).view(nt, c, h, w)


def _shifted(clips: torch.Tensor, fold: int, back: slice, forward: slice) -> torch.Tensor:
    """``clips`` (B, T, C, H, W) with channels ``back`` moved one frame back in time (t <- t + 1) and
    ``forward`` one frame forward (t <- t - 1), vacated frames zero, the other channels copied.

    One pass over the tensor: it is written into ``empty_like`` and only the two vacated frame
    slices are zeroed, instead of zero-filling the whole output first.
    """
    out = torch.empty_like(clips)
    out[:, :-1, back] = clips[:, 1:, back]
    out[:, -1, back] = 0
    out[:, 1:, forward] = clips[:, :-1, forward]
    out[:, 0, forward] = 0
    out[:, :, 2 * fold:] = clips[:, :, 2 * fold:]
    return out


class _Shift(torch.autograd.Function):
    """The shift with its adjoint as the backward: the opposite shift of the incoming gradient.

    Autograd's own backward of the sliced copies allocates a zero tensor per slice and sums them;
    the opposite shift is one pass and gives the same gradient.
    """

    @staticmethod
    def forward(ctx, clips: torch.Tensor, fold: int) -> torch.Tensor:
        ctx.fold = fold
        return _shifted(clips, fold, back=slice(0, fold), forward=slice(fold, 2 * fold))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        fold = ctx.fold  # what moved back in time returns forward, and the other way round
        return _shifted(grad.contiguous(), fold, back=slice(fold, 2 * fold), forward=slice(0, fold)), None


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
