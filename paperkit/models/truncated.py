"""ResNet-50, DenseNet-121 and their truncations (Peng et al., *Rethink transfer learning*, §2.2).

The backbones are torchvision's, cut after a number of blocks; module names are kept, so
state-dict keys equal torchvision's and a truncated model takes the matching prefix of its
parent's weights (:mod:`paperkit.models.pretrained`). Every model ends in global average
pooling -> Linear(num_classes).

**Res-T1..T5** keep the first 25, 37, 43, 46, 49 *main-path* convolutions of ResNet-50
(the stem conv plus three per bottleneck; the four 1x1 shortcut "downsample" convs are not
counted, as in the "50" of ResNet-50 = 49 convs + fc). Stages hold 3, 4, 6, 3 bottlenecks
(9, 12, 18, 9 convs):

========  ===================  ======================================  =====  ========
model     bottlenecks kept     count                                   convs  % of 50
========  ===================  ======================================  =====  ========
res_t1    3 + 4 + 1 + 0        1 + 9 + 12 + 3                          25     50 %
res_t2    3 + 4 + 5 + 0        1 + 9 + 12 + 15                         37     74 %
res_t3    3 + 4 + 6 + 1        1 + 9 + 12 + 18 + 3                     43     86 %
res_t4    3 + 4 + 6 + 2        1 + 9 + 12 + 18 + 6                     46     92 %
res_t5    3 + 4 + 6 + 3        1 + 9 + 12 + 18 + 9                     49     98 %
resnet50  3 + 4 + 6 + 3        49 convs + fc                           50     100 %
========  ===================  ======================================  =====  ========

The percentages are the paper's, which confirms the counting. Res-T5 therefore keeps every
convolution: it *is* ResNet-50 with a new head (same parameter count); the paper lists it
anyway. The official TTL code does not cut inside a stage: its ``resnet50(trunc=T)`` keeps
the stem plus stages 1..T (10, 22, 40, 49 convs), and its layer-wise variant cuts after any
bottleneck (the counts above are its cuts after 8, 12, 14, 15, 16 bottlenecks).

**Dens-T1..T3** keep the stem plus the first 1, 2, 3 dense blocks *with the transition
layer after each kept block* (TTL keeps "dense block / transition" pairs:
``features.children()[:4 + 2T]``). Counting convolutions (stem + 2 per dense layer + 1 per
transition) gives 14, 39, 88 of DenseNet-121's 121 layers = 12 %, 32 %, 73 %; the paper's
12 % and 32 % match this (without the last transition they would be 11 % and 31 %), and its
"3 (88 %)" for Dens-T3 looks like the layer count 88 printed as a percentage. The full
DenseNet-121 keeps torchvision's final BatchNorm + ReLU; truncated ones end on a transition
(conv + 2x2 average pool) and get only GAP + Linear, as the paper appends only the fully
connected layer.

Differences from TTL: TTL's head flattens the whole final map into the Linear layer (so its
size depends on the input size) unless its ``--pooling`` flag is set; here the head always
pools globally, as torchvision's models do.

``in_channels=1`` replaces the first convolution by a one-channel one; with pretrained
weights its kernel is the sum of the RGB kernels (timm's rule, :mod:`paperkit.models.stem`).
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torchvision.models import densenet121 as _tv_densenet121
from torchvision.models import resnet50 as _tv_resnet50

from .pretrained import check_builder_args, load_backbone, resolve_weights
from .registry import register
from .stem import KAIMING_FAN_OUT, replace_stem_conv

__all__ = [
    "TruncatedResNet50", "TruncatedDenseNet121", "RES_T_BLOCKS", "DENS_T_BLOCKS",
    "count_main_path_convs", "count_dense_blocks",
    "resnet50", "res_t1", "res_t2", "res_t3", "res_t4", "res_t5",
    "densenet121", "dens_t1", "dens_t2", "dens_t3",
]

RESNET50_STAGES = (3, 4, 6, 3)

# Bottlenecks kept per stage (layer1..layer4); main-path convs = 1 + 3 * sum.
RES_T_BLOCKS: dict[str, tuple[int, int, int, int]] = {
    "res_t1": (3, 4, 1, 0),   # 25 convs
    "res_t2": (3, 4, 5, 0),   # 37
    "res_t3": (3, 4, 6, 1),   # 43
    "res_t4": (3, 4, 6, 2),   # 46
    "res_t5": (3, 4, 6, 3),   # 49 (all of them)
    "resnet50": (3, 4, 6, 3),
}

# Dense blocks kept (each with its following transition, except block 4 which has none).
DENS_T_BLOCKS: dict[str, int] = {"dens_t1": 1, "dens_t2": 2, "dens_t3": 3, "densenet121": 4}


class TruncatedResNet50(nn.Module):
    """ResNet-50 keeping ``blocks[i]`` bottlenecks of stage ``i + 1``, then GAP -> Linear.

    Args:
        blocks: bottlenecks kept per stage, e.g. ``(3, 4, 1, 0)``; a stage may be partial only
            if every later stage is empty.
        num_classes: outputs of the Linear head (logits).
        in_channels: channels of the input image.
        arch: name used in messages and for the ImageNet checkpoint.
    """

    head_name = "fc"
    stem_conv_name = "conv1"

    def __init__(self, blocks: Sequence[int] = RESNET50_STAGES, *, num_classes: int = 1, in_channels: int = 3,
                 arch: str = "resnet50"):
        super().__init__()
        blocks = tuple(blocks)
        if (len(blocks) != 4 or any(not 0 <= b <= full for b, full in zip(blocks, RESNET50_STAGES))
                or blocks[0] == 0
                or any(blocks[i + 1] > 0 and blocks[i] < RESNET50_STAGES[i] for i in range(3))):
            raise ValueError(f"{arch}: blocks={blocks!r}; expected a prefix of ResNet-50's stages {RESNET50_STAGES}, "
                             f"e.g. (3, 4, 1, 0)")
        self.arch, self.blocks = arch, blocks
        base = _tv_resnet50(weights=None)
        if in_channels != 3:
            # The same initialisation torchvision gives its ResNet convolutions.
            base.conv1 = replace_stem_conv(base.conv1, in_channels, init=KAIMING_FAN_OUT)
        self.conv1, self.bn1, self.relu, self.maxpool = base.conv1, base.bn1, base.relu, base.maxpool
        self.stages: list[str] = []
        out_channels = 64
        for i, n in enumerate(blocks, start=1):
            if n:
                # Slicing keeps the child names "0", "1"..., so keys stay torchvision's.
                stage = getattr(base, f"layer{i}")[:n]
                setattr(self, f"layer{i}", stage)
                self.stages.append(f"layer{i}")
                out_channels = stage[-1].conv3.out_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stages:
            x = getattr(self, name)(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TruncatedDenseNet121(nn.Module):
    """DenseNet-121 keeping the stem and the first ``num_blocks`` dense blocks (with transitions), then GAP -> Linear.

    With ``num_blocks=4`` it is torchvision's DenseNet-121 (final BatchNorm + ReLU before the pool).

    Args:
        num_blocks: dense blocks kept, 1..4.
        num_classes: outputs of the Linear head (logits).
        in_channels: channels of the input image.
        arch: name used in messages and for the ImageNet checkpoint.
    """

    head_name = "classifier"
    stem_conv_name = "features.conv0"

    def __init__(self, num_blocks: int = 4, *, num_classes: int = 1, in_channels: int = 3, arch: str = "densenet121"):
        super().__init__()
        if num_blocks not in (1, 2, 3, 4):
            raise ValueError(f"{arch}: num_blocks={num_blocks!r}; expected 1, 2, 3 or 4")
        self.arch, self.num_blocks = arch, num_blocks
        base = _tv_densenet121(weights=None)
        if in_channels != 3:
            base.features.conv0 = replace_stem_conv(base.features.conv0, in_channels,
                                                    init=nn.init.kaiming_normal_)  # torchvision's DenseNet init
        children = list(base.features.named_children())
        if num_blocks < 4:
            last = [name for name, _ in children].index(f"transition{num_blocks}")
            children = children[:last + 1]
        self.features = nn.Sequential(OrderedDict(children))
        # The untruncated net ends on norm5, which needs the ReLU torchvision applies in forward.
        self.final_relu = num_blocks == 4
        last_module = children[-1][1]
        out_channels = last_module.num_features if num_blocks == 4 else last_module.conv.out_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(out_channels, num_classes)
        nn.init.constant_(self.classifier.bias, 0)  # as torchvision initialises its classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if self.final_relu:
            x = torch.relu(x)
        return self.classifier(torch.flatten(self.avgpool(x), 1))


def count_main_path_convs(model: nn.Module) -> int:
    """Number of ``nn.Conv2d`` layers of ``model`` outside residual shortcuts.

    For a ResNet these are the stem and bottleneck convolutions the paper counts (torchvision's
    shortcut convs live under ``downsample`` and are excluded): 49 for ResNet-50, 25/37/43/46/49
    for Res-T1..T5. A DenseNet has no shortcut convs, so this is all its convolutions
    (stem, dense layers, transitions): 14/39/88 for Dens-T1..T3, 120 for DenseNet-121.
    """
    return sum(1 for name, m in model.named_modules()
               if isinstance(m, nn.Conv2d) and "downsample" not in name.split("."))


def count_dense_blocks(model: nn.Module) -> int:
    """Number of dense blocks ``model`` keeps (1/2/3 for Dens-T1..T3, 4 for DenseNet-121)."""
    return sum(1 for name, _ in model.named_modules() if re.fullmatch(r"(.*\.)?denseblock\d+", name))


def _resnet(arch: str, num_classes: int, in_channels: int, weights: str | os.PathLike | None) -> TruncatedResNet50:
    check_builder_args(arch, num_classes, in_channels)
    state, source = resolve_weights(weights, arch)  # before building: a bad value fails at once
    model = TruncatedResNet50(RES_T_BLOCKS[arch], num_classes=num_classes, in_channels=in_channels, arch=arch)
    if state is not None:
        load_backbone(model, state, head=model.head_name, stem_conv=model.stem_conv_name, source=source)
    return model


def _densenet(arch: str, num_classes: int, in_channels: int, weights: str | os.PathLike | None) -> TruncatedDenseNet121:
    check_builder_args(arch, num_classes, in_channels)
    state, source = resolve_weights(weights, arch)
    model = TruncatedDenseNet121(DENS_T_BLOCKS[arch], num_classes=num_classes, in_channels=in_channels, arch=arch)
    if state is not None:
        load_backbone(model, state, head=model.head_name, stem_conv=model.stem_conv_name, source=source)
    return model




@register("resnet50", chapter="rethink_transfer")
def resnet50(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> TruncatedResNet50:
    """ResNet-50 (torchvision) with a new Linear head: 49 main-path convs + fc.

    ``weights``: ``None``, ``"imagenet"`` (torchvision's checkpoint from the hub cache, never
    downloaded) or a path to a state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _resnet("resnet50", num_classes, in_channels, weights)


@register("res_t1", chapter="rethink_transfer")
def res_t1(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> TruncatedResNet50:
    """Res-T1: ResNet-50 cut after its first 25 main-path convs (stages 1-2 + 1 block of stage 3).

    ``weights``: ``None``, ``"imagenet"`` (the ResNet-50 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _resnet("res_t1", num_classes, in_channels, weights)


@register("res_t2", chapter="rethink_transfer")
def res_t2(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> TruncatedResNet50:
    """Res-T2: ResNet-50 cut after its first 37 main-path convs (stages 1-2 + 5 of 6 blocks of stage 3).

    ``weights``: ``None``, ``"imagenet"`` (the ResNet-50 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _resnet("res_t2", num_classes, in_channels, weights)


@register("res_t3", chapter="rethink_transfer")
def res_t3(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> TruncatedResNet50:
    """Res-T3: ResNet-50 cut after its first 43 main-path convs (stages 1-3 + 1 block of stage 4).

    ``weights``: ``None``, ``"imagenet"`` (the ResNet-50 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _resnet("res_t3", num_classes, in_channels, weights)


@register("res_t4", chapter="rethink_transfer")
def res_t4(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> TruncatedResNet50:
    """Res-T4: ResNet-50 cut after its first 46 main-path convs (stages 1-3 + 2 blocks of stage 4).

    ``weights``: ``None``, ``"imagenet"`` (the ResNet-50 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _resnet("res_t4", num_classes, in_channels, weights)


@register("res_t5", chapter="rethink_transfer")
def res_t5(num_classes: int = 1, in_channels: int = 3, weights: str | os.PathLike | None = None) -> TruncatedResNet50:
    """Res-T5: ResNet-50's first 49 main-path convs, i.e. all of them (same network as resnet50).

    ``weights``: ``None``, ``"imagenet"`` or a path to a parent's state dict; see
    :mod:`paperkit.models.pretrained`.
    """
    return _resnet("res_t5", num_classes, in_channels, weights)


@register("densenet121", chapter="rethink_transfer")
def densenet121(num_classes: int = 1, in_channels: int = 3,
                weights: str | os.PathLike | None = None) -> TruncatedDenseNet121:
    """DenseNet-121 (torchvision) with a new Linear head: 120 convs + fc.

    ``weights``: ``None``, ``"imagenet"`` (torchvision's checkpoint from the hub cache, never
    downloaded; old key names are remapped) or a path to a state dict; see
    :mod:`paperkit.models.pretrained`.
    """
    return _densenet("densenet121", num_classes, in_channels, weights)


@register("dens_t1", chapter="rethink_transfer")
def dens_t1(num_classes: int = 1, in_channels: int = 3,
            weights: str | os.PathLike | None = None) -> TruncatedDenseNet121:
    """Dens-T1: DenseNet-121 cut after dense block 1 and its transition (14 of 121 layers).

    ``weights``: ``None``, ``"imagenet"`` (the DenseNet-121 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _densenet("dens_t1", num_classes, in_channels, weights)


@register("dens_t2", chapter="rethink_transfer")
def dens_t2(num_classes: int = 1, in_channels: int = 3,
            weights: str | os.PathLike | None = None) -> TruncatedDenseNet121:
    """Dens-T2: DenseNet-121 cut after dense block 2 and its transition (39 of 121 layers).

    ``weights``: ``None``, ``"imagenet"`` (the DenseNet-121 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _densenet("dens_t2", num_classes, in_channels, weights)


@register("dens_t3", chapter="rethink_transfer")
def dens_t3(num_classes: int = 1, in_channels: int = 3,
            weights: str | os.PathLike | None = None) -> TruncatedDenseNet121:
    """Dens-T3: DenseNet-121 cut after dense block 3 and its transition (88 of 121 layers).

    ``weights``: ``None``, ``"imagenet"`` (the DenseNet-121 checkpoint's prefix) or a path to a
    parent's state dict; see :mod:`paperkit.models.pretrained`.
    """
    return _densenet("dens_t3", num_classes, in_channels, weights)
