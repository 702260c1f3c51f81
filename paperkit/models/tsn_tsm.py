"""TSN and TSM: a 2D ResNet applied to every frame (slice) of a clip, logits averaged over frames.

* **TSN** (Wang et al., ECCV 2016): torchvision's ResNet-18/50 (random Kaiming init, no
  pretrained weights) runs on each of the ``T`` frames; dropout and a Linear layer give
  per-frame logits, and the segmental consensus is their average. (Averaging logits equals
  applying the Linear layer to the averaged features, as Video4MRI §3.2 describes it.)
* **TSM** (Lin et al., ICCV 2019): the same network with a temporal shift on the residual
  branch of every block, before its ``conv1`` (:mod:`paperkit.models.temporal_shift`).

Input ``(B, C, T, H, W)`` (``T`` = frames = MRI slices), output logits ``(B, num_classes)``.
The classifier is ``model.fc`` (Video4MRI puts weight decay on it alone), after ``model.dropout``.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18, resnet50

from .registry import register
from .stem import KAIMING_FAN_OUT, replace_stem_conv
from .temporal_shift import TemporalShift

__all__ = ["FrameResNet", "tsn_r18", "tsn_r50", "tsm_r18", "tsm_r50"]

_RESNETS = {18: resnet18, 50: resnet50}


def check_clip(x: torch.Tensor, in_channels: int, num_segments: int | None, model: str) -> None:
    """Raise a ValueError naming ``model`` unless ``x`` is ``(B, in_channels, T, H, W)``,
    ``T == num_segments`` if set."""
    if x.ndim != 5 or x.shape[1] != in_channels:
        raise ValueError(f"{model} expects clips shaped (B, C={in_channels}, T, H, W), got {tuple(x.shape)}")
    if num_segments is not None and x.shape[2] != num_segments:
        raise ValueError(f"{model} was built for num_segments={num_segments} frames, got T={x.shape[2]}")


class FrameResNet(nn.Module):
    """A torchvision ResNet run frame by frame, with TSN's average consensus of per-frame logits.

    Args:
        depth: 18 or 50.
        num_classes: outputs (logits).
        in_channels: channels of each frame (1 for raw MRI slices, 3 for RGB).
        dropout: dropout probability before ``fc`` (0.4 in Video4MRI).
        shift: add TSM's temporal shift before ``conv1`` of every residual block.
        shift_div: 1/``shift_div`` of the channels shifted each way (canonical TSM: 8;
            PP-Care: ``num_segments``).
        num_segments: if given, every input must have exactly this many frames; if None
            (default), any ``T`` is accepted (e.g. 8 training and 16 test segments, as in PP-Care).
    """

    def __init__(self, depth: int = 18, num_classes: int = 2, in_channels: int = 1, dropout: float = 0.4,
                 shift: bool = False, shift_div: int = 8, num_segments: int | None = None):
        super().__init__()
        if depth not in _RESNETS:
            raise ValueError(f"depth={depth}: expected one of {sorted(_RESNETS)}")
        if in_channels < 1:
            raise ValueError(f"in_channels={in_channels}: expected 1 or more")
        if num_segments is not None and num_segments < 1:
            raise ValueError(f"num_segments={num_segments}: expected a positive number of frames or None")
        self.in_channels, self.num_segments = in_channels, num_segments
        self.name = f"{'tsm' if shift else 'tsn'}_r{depth}"

        backbone = _RESNETS[depth](weights=None)  # torchvision inits convs with Kaiming normal (fan_out)
        if in_channels != 3:
            backbone.conv1 = replace_stem_conv(backbone.conv1, in_channels, init=KAIMING_FAN_OUT)
        feature_dim = backbone.fc.in_features
        backbone.fc = nn.Identity()
        if shift:
            for stage in (backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4):
                for block in stage:
                    block.conv1 = TemporalShift(block.conv1, num_segments or 8, shift_div)
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_clip(x, self.in_channels, self.num_segments, self.name)
        b, c, t, h, w = x.shape
        for module in self.modules():  # each shift must know where one clip's frames end
            if isinstance(module, TemporalShift):
                module.num_segments = t
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        per_frame = self.fc(self.dropout(self.backbone(frames)))
        return per_frame.view(b, t, -1).mean(dim=1)


@register("tsn_r18", chapter="video4mri")
def tsn_r18(num_classes: int = 2, in_channels: int = 1, num_segments: int | None = None,
            dropout: float = 0.4) -> FrameResNet:
    """TSN with a ResNet-18 backbone (average of per-frame logits)."""
    return FrameResNet(18, num_classes, in_channels, dropout, shift=False, num_segments=num_segments)


@register("tsn_r50", chapter="video4mri")
def tsn_r50(num_classes: int = 2, in_channels: int = 1, num_segments: int | None = None,
            dropout: float = 0.4) -> FrameResNet:
    """TSN with a ResNet-50 backbone (average of per-frame logits)."""
    return FrameResNet(50, num_classes, in_channels, dropout, shift=False, num_segments=num_segments)


@register("tsm_r18", chapter="video4mri")
def tsm_r18(num_classes: int = 2, in_channels: int = 1, num_segments: int | None = None, shift_div: int = 8,
            dropout: float = 0.4) -> FrameResNet:
    """TSM with a ResNet-18 backbone (temporal shift before conv1 of every block).

    ``shift_div=8`` is the canonical TSM; Baidu's PP-Care shifts 1/num_segments of the channels
    (``shift_div=num_segments``), equal to it only at 8 segments.
    """
    return FrameResNet(18, num_classes, in_channels, dropout, shift=True, shift_div=shift_div,
                       num_segments=num_segments)


@register("tsm_r50", chapter="video4mri")
def tsm_r50(num_classes: int = 2, in_channels: int = 1, num_segments: int | None = None, shift_div: int = 8,
            dropout: float = 0.4) -> FrameResNet:
    """TSM with a ResNet-50 backbone (temporal shift before conv1 of every block).

    ``shift_div=8`` is the canonical TSM; Baidu's PP-Care shifts 1/num_segments of the channels
    (``shift_div=num_segments``), equal to it only at 8 segments.
    """
    return FrameResNet(50, num_classes, in_channels, dropout, shift=True, shift_div=shift_div,
                       num_segments=num_segments)
