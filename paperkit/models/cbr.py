"""The CBR family of small convolutional nets (Raghu et al., *Transfusion*, NeurIPS 2019, App. A).

Each block is Conv (stride 1, no padding) -> BatchNorm -> ReLU, followed by a 3x3 max-pool of
stride 2 (CBR-LargeT: none after its last block); the head is global average pooling ->
Dropout(0.1) -> Linear. Peng et al. (*Rethink transfer learning*, §2.2) use them as the
"shallow networks".

=============  ======  ==========================  ==================
model          kernel  channels                    minimum input (px)
=============  ======  ==========================  ==================
cbr_large_t    7x7     32-64-128-256-512 (5)       217
cbr_large_w    7x7     64-128-256-512              121
cbr_small      7x7     32-64-128-256               121
cbr_tiny       5x5     64-128-256-512              91
=============  ======  ==========================  ==================

Unpadded convolutions and unpadded max-pools shrink the map, so each net needs a minimum
input side (computed in :attr:`CBRNet.min_input_size`); a smaller input fails in ``forward``
with a :class:`ValueError` naming the model, the size and the minimum. At 224x224 CBR-LargeT
ends on a 1x1 map.

Checked against the Transfusion appendix and the official TTL code (github PL97/TTL,
``utils/CBR.py``): same widths, kernels, pooling and head order. Details neither paper states
but TTL fixes, and which are followed here: convolutions keep their bias (``nn.Conv2d``'s
default, redundant before BatchNorm) and Dropout(0.1) sits before the Linear layer in every
CBR (the Transfusion appendix does not mention dropout). Peng et al. §2.2 says "5 (CBR-LargeW)"
convolution layers; it means CBR-LargeT.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from .pretrained import check_builder_args, load_backbone, resolve_weights
from .registry import register

__all__ = ["CBRBlock", "CBRNet", "cbr_large_t", "cbr_large_w", "cbr_small", "cbr_tiny"]

_POOL_KERNEL, _POOL_STRIDE = 3, 2


class CBRBlock(nn.Sequential):
    """Conv (stride 1, no padding, with bias as in TTL) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(OrderedDict([
            ("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0)),
            ("bn", nn.BatchNorm2d(out_channels)),
            ("relu", nn.ReLU(inplace=True)),
        ]))


def min_input_size(kernel_size: int, n_blocks: int, pool_after_last: bool) -> int:
    """Smallest input side for which every block and pool of a CBR net still has a >= 1 px map.

    Works backwards from a 1 px output: a k x k unpadded conv needs ``n + k - 1`` inputs for
    ``n`` outputs, a 3x3/2 unpadded max-pool ``2 (n - 1) + 3``.
    """
    need = 1
    for i in reversed(range(n_blocks)):
        if i < n_blocks - 1 or pool_after_last:
            need = _POOL_STRIDE * (need - 1) + _POOL_KERNEL
        need = need + kernel_size - 1
    return need


class CBRNet(nn.Module):
    """A CBR net: ``len(widths)`` CBR blocks, each followed by a 3x3/2 max-pool, then GAP -> Dropout -> Linear.

    Args:
        widths: output channels of the blocks, e.g. ``(32, 64, 128, 256, 512)``.
        kernel_size: square kernel of every convolution (7 or 5 in the paper).
        pool_after_last: whether the last block is followed by a max-pool (False for CBR-LargeT).
        num_classes: outputs of the Linear head (logits).
        in_channels: channels of the input image.
        dropout: dropout probability before the head (0.1 in TTL).
        arch: name used in messages (the registered builder name).
    """

    head_name = "fc"
    stem_conv_name = "features.cbr1.conv"

    def __init__(self, widths: Sequence[int], kernel_size: int, *, pool_after_last: bool = True,
                 num_classes: int = 1, in_channels: int = 3, dropout: float = 0.1, arch: str = "cbr"):
        super().__init__()
        if not widths:
            raise ValueError(f"{arch}: widths={widths!r}; expected at least one block width")
        self.arch = arch
        layers: list[tuple[str, nn.Module]] = []
        prev = in_channels
        for i, width in enumerate(widths, start=1):
            layers.append((f"cbr{i}", CBRBlock(prev, width, kernel_size)))
            if i < len(widths) or pool_after_last:
                layers.append((f"pool{i}", nn.MaxPool2d(_POOL_KERNEL, stride=_POOL_STRIDE)))
            prev = width
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(prev, num_classes)
        self.min_input_size = min_input_size(kernel_size, len(widths), pool_after_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < self.min_input_size:
            # Without this check the failure would be an opaque "output size is too small" deep inside.
            raise ValueError(f"{self.arch}: input of spatial size {h}x{w} is too small; the minimum is "
                             f"{self.min_input_size}x{self.min_input_size} (unpadded convolutions and max-pools "
                             f"shrink the map)")
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def _cbr(arch: str, widths: Sequence[int], kernel_size: int, pool_after_last: bool, num_classes: int,
         in_channels: int, weights: str | os.PathLike | None) -> CBRNet:
    check_builder_args(arch, num_classes, in_channels)
    state, source = resolve_weights(weights, arch)  # before building: a bad value fails at once
    model = CBRNet(widths, kernel_size, pool_after_last=pool_after_last, num_classes=num_classes,
                   in_channels=in_channels, arch=arch)
    if state is not None:
        load_backbone(model, state, head=model.head_name, stem_conv=model.stem_conv_name, source=source)
    return model


@register("cbr_large_t", chapter="rethink_transfer")
def cbr_large_t(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> CBRNet:
    """CBR-LargeT (Raghu et al. 2019): five 7x7 CBR blocks 32-64-128-256-512; input side >= 217 px.

    No max-pool after the fifth block. ``weights``: ``None``, ``"imagenet"`` (a self-trained
    checkpoint in the hub cache; torchvision has none) or a path to a state dict; see
    :mod:`paperkit.models.pretrained`.
    """
    return _cbr("cbr_large_t", (32, 64, 128, 256, 512), 7, False, num_classes, in_channels, weights)


@register("cbr_large_w", chapter="rethink_transfer")
def cbr_large_w(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> CBRNet:
    """CBR-LargeW (Raghu et al. 2019): four 7x7 CBR blocks 64-128-256-512; input side >= 121 px.

    ``weights``: ``None``, ``"imagenet"`` (a self-trained checkpoint in the hub cache) or a path
    to a state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _cbr("cbr_large_w", (64, 128, 256, 512), 7, True, num_classes, in_channels, weights)


@register("cbr_small", chapter="rethink_transfer")
def cbr_small(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> CBRNet:
    """CBR-Small (Raghu et al. 2019): four 7x7 CBR blocks 32-64-128-256; input side >= 121 px.

    ``weights``: ``None``, ``"imagenet"`` (a self-trained checkpoint in the hub cache) or a path
    to a state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _cbr("cbr_small", (32, 64, 128, 256), 7, True, num_classes, in_channels, weights)


@register("cbr_tiny", chapter="rethink_transfer")
def cbr_tiny(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> CBRNet:
    """CBR-Tiny (Raghu et al. 2019): four 5x5 CBR blocks 64-128-256-512; input side >= 91 px.

    ``weights``: ``None``, ``"imagenet"`` (a self-trained checkpoint in the hub cache) or a path
    to a state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _cbr("cbr_tiny", (64, 128, 256, 512), 5, True, num_classes, in_channels, weights)
