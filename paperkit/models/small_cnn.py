"""A four-convolution CNN small enough for a classroom CPU: the model_doctor chapter's stand-in.

Not one of the paper's 16 classifiers (those are in :mod:`paperkit.models.classifiers`); the
classroom profile trains it because the paper's networks take too long on a 2-core CPU.
"""
from __future__ import annotations

import torch
from torch import nn

from .registry import register

__all__ = ["SmallCNN", "small_cnn"]


class SmallCNN(nn.Module):
    """Four 3x3 conv-BN-ReLU blocks (w, 2w, 4w, 4w channels), max-pools between them, GAP and a linear layer.

    From 64 px up the first convolution has stride 2, so the last map stays small (8x8 at 64 px).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, width: int = 16):
        super().__init__()
        if num_classes < 2 or in_channels not in (1, 3) or image_size < 16:
            raise ValueError(f"SmallCNN(num_classes={num_classes}, in_channels={in_channels}, "
                             f"image_size={image_size}): expected >= 2 classes, 1 or 3 channels and at least 16 px")
        widths = [width, 2 * width, 4 * width, 4 * width]
        stride = 2 if image_size >= 64 else 1
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c_out in enumerate(widths):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=stride if i == 0 else 1, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register("small_cnn", chapter="model_doctor")
def small_cnn(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """A four-convolution CNN (16-32-64-64 channels): the classroom stand-in for the paper's classifiers."""
    return SmallCNN(num_classes, in_channels, image_size)
