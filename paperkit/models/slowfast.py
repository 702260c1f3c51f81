"""SlowFast-R50 (Feichtenhofer et al., *SlowFast Networks for Video Recognition*, ICCV 2019).

Two 3D ResNet-50 pathways read the same clip at two frame rates:

* the **slow** pathway takes every ``alpha``-th frame (Video4MRI: 4 of 32 slices) with the full
  ResNet-50 widths (64, 256, 512, 1024, 2048) and temporal kernels 1, 1, 1, 3, 3 (stem, res2..res5);
* the **fast** pathway takes all ``T`` frames with ``beta = 1/8`` of the widths (8, 32, ... 256)
  and temporal kernels 5, 3, 3, 3, 3.

After the stem and after res2, res3 and res4 a **lateral connection** carries the fast features
into the slow pathway: Conv3d with kernel ``[5, 1, 1]`` and temporal stride ``alpha`` to twice the
fast channels, BatchNorm, ReLU, then concatenation along channels. The head average-pools
each pathway and classifies the concatenated 2048 + 256 features (dropout, then ``fc``).

This follows the defaults of facebookresearch/SlowFast (``SLOWFAST_8x8_R50``) and MMAction2's
``slowfast_r50``, written here from the paper. The slow frames are picked as the reference code picks
them (:func:`slow_frame_indices`): ``T // alpha`` frames spread evenly over the clip, first to last
(``linspace(0, T-1, T // alpha)`` truncated to integers; 32 frames give 0, 10, 20, 31). With
``T == alpha`` the slow pathway sees one frame, the first. ``slow_sampling="strided"`` takes frames
``0, alpha, 2 alpha, ...`` instead (the centres of the lateral convolution's strided windows).
``T`` must be a multiple of ``alpha`` so the lateral connections' output matches the slow frames.
"""
from __future__ import annotations

import torch
from torch import nn

from .registry import register
from .tsn_tsm import check_clip

__all__ = ["Bottleneck3d", "LateralFusion", "SLOW_SAMPLINGS", "SlowFast", "slow_frame_indices", "slowfast_r50"]

RESNET50_BLOCKS = (3, 4, 6, 3)
SLOW_SAMPLINGS = ("linspace", "strided")


def slow_frame_indices(frames: int, alpha: int, sampling: str = "linspace") -> torch.Tensor:
    """The frames (of ``frames``) the slow pathway reads: ``frames // alpha`` of them.

    ``"linspace"`` (the reference code's ``pack_pathway_output``): evenly spread from the first frame to
    the last, ``torch.linspace(0, frames - 1, frames // alpha).long()``. ``"strided"``: ``0, alpha, 2 alpha...``.
    """
    if sampling not in SLOW_SAMPLINGS:
        raise ValueError(f"slow_sampling={sampling!r}: expected one of {SLOW_SAMPLINGS}")
    if frames < alpha:
        raise ValueError(f"slowfast: {frames} frames, fewer than alpha={alpha}; the slow pathway would see none")
    if sampling == "strided":
        return torch.arange(0, frames, alpha)[: frames // alpha]
    return torch.linspace(0, frames - 1, frames // alpha).long()


def conv_bn_relu(dim_in: int, dim_out: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1),
                 relu: bool = True) -> nn.Sequential:
    """Conv3d ('same' padding, no bias) -> BatchNorm3d (-> ReLU)."""
    layers = [nn.Conv3d(dim_in, dim_out, kernel, stride=stride, padding=tuple(k // 2 for k in kernel), bias=False),
              nn.BatchNorm3d(dim_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck3d(nn.Module):
    """ResNet bottleneck with the temporal kernel in its first conv: [t,1,1] -> [1,3,3] (spatial stride) -> [1,1,1]."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, temporal_kernel: int, spatial_stride: int = 1):
        super().__init__()
        self.conv_a = conv_bn_relu(dim_in, dim_inner, (temporal_kernel, 1, 1))
        self.conv_b = conv_bn_relu(dim_inner, dim_inner, (1, 3, 3), stride=(1, spatial_stride, spatial_stride))
        self.conv_c = conv_bn_relu(dim_inner, dim_out, (1, 1, 1), relu=False)
        stride = (1, spatial_stride, spatial_stride)
        self.shortcut = (conv_bn_relu(dim_in, dim_out, (1, 1, 1), stride=stride, relu=False)
                         if dim_in != dim_out or spatial_stride != 1 else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv_c(self.conv_b(self.conv_a(x))) + self.shortcut(x))


def res_stage(dim_in: int, dim_inner: int, dim_out: int, blocks: int, temporal_kernel: int,
              spatial_stride: int) -> nn.Sequential:
    """``blocks`` bottlenecks; the first changes width and applies the spatial stride."""
    return nn.Sequential(*[Bottleneck3d(dim_in if i == 0 else dim_out, dim_inner, dim_out, temporal_kernel,
                                        spatial_stride if i == 0 else 1) for i in range(blocks)])


def stem(in_channels: int, dim_out: int, temporal_kernel: int) -> nn.Sequential:
    """Conv [t,7,7] with spatial stride 2, BN, ReLU, then max-pool [1,3,3] with spatial stride 2."""
    return nn.Sequential(conv_bn_relu(in_channels, dim_out, (temporal_kernel, 7, 7), stride=(1, 2, 2)),
                         nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))


class LateralFusion(nn.Module):
    """Fast -> slow lateral connection: Conv3d [5,1,1] with temporal stride ``alpha``, BN, ReLU, concatenated."""

    def __init__(self, fast_channels: int, alpha: int, fusion_ratio: int = 2, kernel: int = 5):
        super().__init__()
        self.conv = conv_bn_relu(fast_channels, fusion_ratio * fast_channels, (kernel, 1, 1), stride=(alpha, 1, 1))

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow, self.conv(fast)], dim=1)


class SlowFast(nn.Module):
    """SlowFast with ResNet-50 pathways and lateral fusion; input ``(B, C, T, H, W)``, ``T`` a multiple of ``alpha``.

    Args:
        num_classes: outputs (logits).
        in_channels: channels per frame (1 for raw MRI slices).
        alpha: frame-rate ratio fast/slow (8).
        beta_inv: channel ratio slow/fast (8, i.e. beta = 1/8).
        fusion_ratio: lateral output channels as a multiple of the fast channels (2).
        dropout: dropout before ``fc`` (0.4, Video4MRI's setting; the SlowFast repository uses 0.5).
        num_segments: if given, every input must have exactly this many frames.
        blocks: bottlenecks per stage res2..res5 (ResNet-50: 3, 4, 6, 3).
        slow_sampling: which frames the slow pathway reads (:func:`slow_frame_indices`; "linspace",
            the reference code's, by default).
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 1, alpha: int = 8, beta_inv: int = 8,
                 fusion_ratio: int = 2, dropout: float = 0.4, num_segments: int | None = None,
                 blocks: tuple[int, ...] = RESNET50_BLOCKS, slow_sampling: str = "linspace"):
        super().__init__()
        if slow_sampling not in SLOW_SAMPLINGS:
            raise ValueError(f"slow_sampling={slow_sampling!r}: expected one of {SLOW_SAMPLINGS}")
        self.slow_sampling = slow_sampling
        if num_segments is not None and (num_segments < alpha or num_segments % alpha):
            raise ValueError(f"slowfast: num_segments={num_segments} must be a positive multiple of alpha={alpha}")
        self.in_channels, self.alpha, self.num_segments = in_channels, alpha, num_segments
        slow_kernels, fast_kernels = (1, 1, 1, 3, 3), (5, 3, 3, 3, 3)  # stem, res2..res5
        inner = (64, 128, 256, 512)
        out = tuple(4 * w for w in inner)  # bottleneck expansion 4: 256, 512, 1024, 2048

        self.slow_stem = stem(in_channels, 64, slow_kernels[0])
        self.fast_stem = stem(in_channels, 64 // beta_inv, fast_kernels[0])
        self.fusions = nn.ModuleList([LateralFusion(64 // beta_inv, alpha, fusion_ratio)])
        self.slow_stages, self.fast_stages = nn.ModuleList(), nn.ModuleList()
        slow_in, fast_in = 64 + fusion_ratio * 64 // beta_inv, 64 // beta_inv
        for i, n in enumerate(blocks):
            stride = 1 if i == 0 else 2
            self.slow_stages.append(res_stage(slow_in, inner[i], out[i], n, slow_kernels[i + 1], stride))
            self.fast_stages.append(res_stage(fast_in, inner[i] // beta_inv, out[i] // beta_inv, n,
                                              fast_kernels[i + 1], stride))
            fast_in = out[i] // beta_inv
            slow_in = out[i] + fusion_ratio * fast_in
            if i < len(blocks) - 1:  # no fusion after res5
                self.fusions.append(LateralFusion(fast_in, alpha, fusion_ratio))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(out[-1] + out[-1] // beta_inv, num_classes)  # 2048 + 256
        for m in self.modules():  # Kaiming init, as the paper trains from scratch
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_clip(x, self.in_channels, self.num_segments, "slowfast")
        if x.shape[2] % self.alpha:
            raise ValueError(f"slowfast needs T (frames) to be a multiple of alpha={self.alpha}, got T={x.shape[2]}")
        slow_frames = slow_frame_indices(x.shape[2], self.alpha, self.slow_sampling).to(x.device)
        slow, fast = self.slow_stem(x.index_select(2, slow_frames)), self.fast_stem(x)
        slow = self.fusions[0](slow, fast)
        for i, (slow_stage, fast_stage) in enumerate(zip(self.slow_stages, self.fast_stages)):
            slow, fast = slow_stage(slow), fast_stage(fast)
            if i + 1 < len(self.fusions):
                slow = self.fusions[i + 1](slow, fast)
        features = torch.cat([self.pool(slow).flatten(1), self.pool(fast).flatten(1)], dim=1)
        return self.fc(self.dropout(features))


@register("slowfast_r50", chapter="video4mri")
def slowfast_r50(num_classes: int = 2, in_channels: int = 1, num_segments: int | None = None, alpha: int = 8,
                 dropout: float = 0.4, slow_sampling: str = "linspace") -> SlowFast:
    """SlowFast-R50 (alpha 8, beta 1/8, lateral fusion after stem and res2-res4)."""
    return SlowFast(num_classes, in_channels, alpha=alpha, dropout=dropout, num_segments=num_segments,
                    slow_sampling=slow_sampling)
