"""Swapping a network's input convolution, and carrying pretrained RGB kernels over to it.

Chapters rebuild the first convolution of torchvision, timm and MONAI networks for two reasons:
another channel count (grey MRI slices instead of RGB) and, for 28-32 px images, a small stem
(3x3, stride 1) so that the image is not reduced to one pixel before the last stages.
:func:`replace_stem_conv` does both; :func:`adapt_stem_weights` turns a pretrained RGB kernel
into one for another channel count with timm's rule.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

__all__ = ["KAIMING_FAN_OUT", "replace_stem_conv", "adapt_stem_weights"]

# torchvision's ResNet and VideoResNet initialisation of their convolutions.
KAIMING_FAN_OUT = partial(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")


def replace_stem_conv(conv: nn.Conv2d | nn.Conv3d, in_channels: int | None = None, *, small: bool = False,
                      init: Callable[[torch.Tensor], object] | None = None) -> nn.Conv2d | nn.Conv3d:
    """A fresh convolution shaped like ``conv``, taking ``in_channels`` inputs (default: ``conv``'s).

    ``small=True`` makes it 3x3 with stride 1 and padding 1 (the stem CIFAR variants use);
    otherwise kernel, stride and padding are ``conv``'s. Output channels, dilation, bias and
    padding mode are always ``conv``'s. The new layer gets PyTorch's default initialisation,
    then ``init(weight)`` if given (e.g. :data:`KAIMING_FAN_OUT`), drawn from the global RNG
    in that order: a seeded build gives the weights that writing the layer by hand gives.
    """
    if not isinstance(conv, (nn.Conv2d, nn.Conv3d)):
        raise TypeError(f"replace_stem_conv: expected an nn.Conv2d or nn.Conv3d, got {type(conv).__name__}")
    if conv.groups != 1:
        raise ValueError(f"replace_stem_conv: {conv} is grouped (groups={conv.groups}); expected an ungrouped stem")
    if in_channels is not None and in_channels < 1:
        raise ValueError(f"replace_stem_conv: in_channels={in_channels!r}; expected a positive int")
    kernel_size, stride, padding = (3, 1, 1) if small else (conv.kernel_size, conv.stride, conv.padding)
    new = type(conv)(in_channels or conv.in_channels, conv.out_channels, kernel_size, stride=stride,
                     padding=padding, dilation=conv.dilation, bias=conv.bias is not None,
                     padding_mode=conv.padding_mode)
    if init is not None:
        init(new.weight)
    return new


def adapt_stem_weights(kernel: torch.Tensor, in_channels: int, *, name: str = "stem kernel") -> torch.Tensor:
    """A pretrained RGB first-conv kernel ``(out, 3, kh, kw)`` made into one for ``in_channels`` inputs.

    timm's ``adapt_input_conv`` rule: one channel sums the RGB kernels (a grey image then gives
    the response the RGB net gives to that image replicated three times); other counts repeat
    the RGB kernels cyclically and scale by ``3 / in_channels``. Anything but a 4-D RGB kernel
    is a ValueError naming ``name``.
    """
    from timm.models import adapt_input_conv  # imported here: timm is slow to import

    if kernel.dim() != 4 or kernel.shape[1] != 3:
        raise ValueError(f"{name}: a kernel shaped {tuple(kernel.shape)} cannot be adapted to {in_channels} input "
                         f"channel(s); expected pretrained RGB weights shaped (out, 3, kh, kw). Build the model "
                         f"with in_channels={kernel.shape[1] if kernel.dim() == 4 else '?'} to load them as they are")
    return adapt_input_conv(in_channels, kernel)
