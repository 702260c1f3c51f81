"""The 3D ResNet baselines of Video4MRI: 3DResNet-18 (torchvision) and 3DResNet-50 (MONAI).

* ``r3d_18``: ``torchvision.models.video.r3d_18`` (Tran et al., CVPR 2018), random init, its
  stem convolution rebuilt for ``in_channels``.
* ``r3d_50``: ``monai.networks.nets.resnet50(spatial_dims=3)``, the MedicalNet-compatible 3D
  ResNet-50 (Hara et al., 2018) with shortcut type B (1x1x1 projection convs).

Both take ``(B, C, T, H, W)`` (``T`` = slices, treated as depth) and return logits. Neither
library's head has dropout; Video4MRI trains every model with one recipe, dropout 0.4 before the
final FC included (its §3.4), so ``dropout`` (default 0.4) adds ``nn.Dropout`` after the global
average pool (``model.avgpool`` becomes pool -> dropout; ``dropout=0`` leaves the library's head).
The parameters and their names are unchanged, and the classifier is ``model.fc`` in both.
"""
from __future__ import annotations

from torch import nn
from torchvision.models.video import VideoResNet
from torchvision.models.video import r3d_18 as torchvision_r3d_18

from .registry import register
from .stem import KAIMING_FAN_OUT, replace_stem_conv

__all__ = ["r3d_18", "r3d_50"]


def _with_dropout(model: nn.Module, dropout: float) -> nn.Module:
    """``model`` with ``nn.Dropout(dropout)`` after its ``avgpool`` (before ``fc``); unchanged for 0."""
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout={dropout}: expected a probability in [0, 1)")
    if dropout > 0:
        model.avgpool = nn.Sequential(model.avgpool, nn.Dropout(dropout))
    return model


@register("r3d_18", chapter="video4mri")
def r3d_18(num_classes: int = 2, in_channels: int = 1, dropout: float = 0.4) -> VideoResNet:
    """3DResNet-18 (torchvision r3d_18, no pretrained weights), dropout before ``fc``."""
    if in_channels < 1:
        raise ValueError(f"in_channels={in_channels}: expected 1 or more")
    model = torchvision_r3d_18(weights=None, num_classes=num_classes)
    if in_channels != 3:
        model.stem[0] = replace_stem_conv(model.stem[0], in_channels, init=KAIMING_FAN_OUT)
    return _with_dropout(model, dropout)


@register("r3d_50", chapter="video4mri")
def r3d_50(num_classes: int = 2, in_channels: int = 1, dropout: float = 0.4) -> nn.Module:
    """3DResNet-50 (MONAI resnet50, spatial_dims=3, shortcut B, no pretrained weights), dropout before ``fc``."""
    from monai.networks.nets import resnet50 as monai_resnet50  # imported here: MONAI is slow to import

    if in_channels < 1:
        raise ValueError(f"in_channels={in_channels}: expected 1 or more")
    model = monai_resnet50(spatial_dims=3, n_input_channels=in_channels, num_classes=num_classes, shortcut_type="B")
    return _with_dropout(model, dropout)
