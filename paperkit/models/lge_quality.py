"""Models of the lge_quality chapter (Sultan et al., 2023): the two-stage LGE-MRI quality assessor.

==================  =========================================================================
model               what
==================  =========================================================================
``unet_la``         stage 1: MONAI ``BasicUNet`` (2D, 1 channel in, 1 logit out) segmenting
                    the left-atrial blood pool slice by slice (sigmoid + threshold ``t``
                    then selects slices, :func:`paperkit.chapters.lge_quality.experiment.slices_with_atrium`)
``qa_resnet34``     stage 2 "Baseline QA": torchvision ResNet-34 encoder -> three attribute
                    heads (myocardium nulling, sharpness, enhancement of aorta and valve),
                    each one logit -> concatenated -> QA head (one logit)
``multitask_qa``    "Multi-Task QA": the same plus a UNet decoder (MONAI ``UNetDecoder``,
                    as in ``FlexibleUNet``) from the encoder's five scales to a blood-pool
                    mask logit at input resolution
``supcon_resnet34`` "QA & Contrastive" pretraining: the same encoder + a projection head
                    (Linear-ReLU-Linear, 512 -> 512 -> 128, Khosla et al.), returning
                    L2-normalised projections; its ``encoder`` is copied into a QA model with
                    :meth:`QAResNet34.load_encoder` and frozen with :meth:`QAResNet34.freeze_encoder`
==================  =========================================================================

What the QA head sees (``qa_input``). The paper's text (Sec. 3.2.1) says the QA module
"concatenates the output of these 3 attribute classifiers ... and then predicts y_qa"; its
Fig. 1 (an image, not in the text we hold) draws the attribute modules as projections of the
embedding "to a latent space". So the default, ``qa_input="logits"``, feeds the three
attribute logits (3 numbers) to the QA head: the QA decision is a learned function of the
attribute decisions, which is what "concatenates the output" says. Two documented
alternatives: ``"latents"`` feeds the three attribute heads' hidden vectors (3 x ``hidden``),
and ``"latents+features"`` adds the 512-d encoder embedding (the design of the first author's
prototype, github arf111/Left_Atrium_QC, where the overall head also sees the encoder).

Attribute heads are Linear(512, hidden) -> ReLU -> Dropout -> Linear(hidden, 1); the QA head
is Linear(in, hidden) -> ReLU -> Linear(hidden, 1). The paper gives no widths; ``hidden=64``.

Input channels: ``in_channels=1`` (grey MRI slices) replaces ResNet's first convolution by a
1-channel one; with ImageNet weights its kernel is the sum of the RGB kernels, so a grey
image gives the response the RGB net gives to that image replicated three times.
``in_channels=3`` keeps torchvision's stem. ``weights="imagenet"`` reads torchvision's
``resnet34-b627a593.pth`` from the torch hub cache (``torch.hub.get_dir()/checkpoints``),
never downloading (``paperkit.models.pretrained.imagenet_checkpoint_path("resnet34")``); a path
to a state dict also works.

Width: every QA/SupCon builder takes ``width`` (default 1.0, the paper's network). Below 1 the
encoder keeps ResNet-34's 34-layer layout with every stage's channels scaled (0.25: 16-32-64-128,
a 128-d embedding) and the multi-task decoder narrows with it; the chapter's CPU profiles use it.

Every QA model returns a :class:`QAOutput` named tuple: ``attributes`` (B, 3) logits in the
order of :data:`ATTRIBUTES`, ``qa`` (B, 1) logit, ``embedding`` (B, 512 at width 1) pooled encoder
features, and ``mask`` (B, 1, H, W) logit (multi-task model only, else ``None``).
"""
from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .pretrained import load_backbone, resolve_weights
from .registry import register
from .stem import replace_stem_conv

__all__ = [
    "ATTRIBUTES", "QA_INPUTS", "QAOutput", "ResNet34Encoder", "AttributeHead", "QAResNet34",
    "MultiTaskQA", "ProjectionHead", "SupConResNet34",
    "unet_la", "qa_resnet34", "multitask_qa", "supcon_resnet34",
]

ATTRIBUTES = ("myocardium_nulling", "sharpness", "enhancement_aorta_valve")
QA_INPUTS = ("logits", "latents", "latents+features")
EMBEDDING_DIM = 512
# The encoder's five feature scales (stem, layer1..layer4) and their channels.
ENCODER_CHANNELS = (64, 64, 128, 256, 512)


class QAOutput(NamedTuple):
    """What a QA model returns; ``mask`` is only set by :class:`MultiTaskQA`."""

    attributes: torch.Tensor
    qa: torch.Tensor
    embedding: torch.Tensor
    mask: torch.Tensor | None = None


# --------------------------------------------------------------------------- encoder


def _narrow_resnet34(in_channels: int, widths: Sequence[int]) -> nn.Module:
    """ResNet-34's layout (stem, 3-4-6-3 basic blocks) with stage widths ``widths`` instead of 64-128-256-512.

    Built from torchvision's own ``BasicBlock`` under torchvision's attribute names (``conv1``,
    ``layer1``..``layer4``, ``avgpool``, ``fc``) and initialised as torchvision initialises ResNets.
    """
    from torchvision.models.resnet import BasicBlock, conv1x1

    net = nn.Module()
    net.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.relu = nn.ReLU(inplace=True)
    net.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    inplanes = widths[0]
    for i, (planes, blocks, stride) in enumerate(zip(widths, (3, 4, 6, 3), (1, 2, 2, 2)), start=1):
        downsample = None
        if stride != 1 or inplanes != planes:
            downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
        layer = [BasicBlock(inplanes, planes, stride, downsample)]
        layer += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
        setattr(net, f"layer{i}", nn.Sequential(*layer))
        inplanes = planes
    net.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    net.fc = nn.Identity()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    return net


class ResNet34Encoder(nn.Module):
    """torchvision ResNet-34 without its classifier: multi-scale features and a pooled embedding.

    ``self.net`` is a plain ``torchvision.models.resnet34`` whose ``fc`` is an identity, so
    torchvision checkpoints load into it by name. ``width`` < 1 scales every stage's channels
    (0.25: 16-32-64-128, embedding 128) keeping the 34-layer depth, for CPU classrooms; ImageNet
    weights exist for ``width=1`` only.
    """

    def __init__(self, in_channels: int = 1, weights: str | os.PathLike | None = None, width: float = 1.0):
        super().__init__()
        from torchvision.models import resnet34

        if in_channels not in (1, 3):
            raise ValueError(f"in_channels={in_channels!r}: expected 1 (grey slices) or 3 (RGB)")
        if not 0 < width <= 1:
            raise ValueError(f"width={width!r}: expected a channel multiplier in (0, 1]")
        if width != 1 and weights is not None:
            raise ValueError(f"width={width!r} with weights={weights!r}: pretrained weights exist for width=1 only")
        self.channels = tuple(max(4, int(round(c * width))) for c in ENCODER_CHANNELS)
        if width == 1:
            state, source = resolve_weights(weights, "resnet34")  # fail before building
            net = resnet34(weights=None)
            if in_channels != 3:
                # PyTorch's default init here, not torchvision's Kaiming fan-out (kept: same numbers as before)
                net.conv1 = replace_stem_conv(net.conv1, in_channels)
            net.fc = nn.Identity()
            if state is not None:
                load_backbone(net, state, head="fc", stem_conv="conv1", source=source)
        else:
            net = _narrow_resnet34(in_channels, self.channels[1:])
        self.net = net
        self.in_channels = in_channels
        self.width = width
        self.out_features = self.channels[-1]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five scales ``[stem (H/2), layer1 (H/4), layer2 (H/8), layer3 (H/16), layer4 (H/32)]``."""
        n = self.net
        stem = n.relu(n.bn1(n.conv1(x)))
        l1 = n.layer1(n.maxpool(stem))
        l2 = n.layer2(l1)
        l3 = n.layer3(l2)
        l4 = n.layer4(l3)
        return [stem, l1, l2, l3, l4]

    def pool(self, deepest: torch.Tensor) -> torch.Tensor:
        """Global average pooling of the deepest map: the (B, ``out_features``) embedding."""
        return torch.flatten(self.net.avgpool(deepest), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)[-1])


# --------------------------------------------------------------------------- heads


class AttributeHead(nn.Module):
    """Linear -> ReLU -> Dropout -> Linear(1): one attribute's diagnostic logit; ``latent`` is the hidden vector."""

    def __init__(self, in_features: int = EMBEDDING_DIM, hidden: int = 64, dropout: float = 0.2):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.classify = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.project(x)
        return latent, self.classify(latent)


class ProjectionHead(nn.Sequential):
    """SupCon projection head: Linear(512, 512) -> ReLU -> Linear(512, 128), as in Khosla et al."""

    def __init__(self, in_features: int = EMBEDDING_DIM, hidden: int = 512, out_features: int = 128):
        super().__init__(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_features))


# --------------------------------------------------------------------------- QA models


class QAResNet34(nn.Module):
    """Baseline QA: encoder -> 3 attribute heads -> concatenation -> QA head (see module docstring)."""

    def __init__(self, in_channels: int = 1, weights: str | os.PathLike | None = None, qa_input: str = "logits",
                 hidden: int = 64, dropout: float = 0.2, width: float = 1.0):
        super().__init__()
        if qa_input not in QA_INPUTS:
            raise ValueError(f"qa_input={qa_input!r}: expected one of {', '.join(QA_INPUTS)}")
        self.qa_input = qa_input
        self.encoder = ResNet34Encoder(in_channels, weights, width)
        dim = self.encoder.out_features
        self.attribute_heads = nn.ModuleList(AttributeHead(dim, hidden, dropout) for _ in ATTRIBUTES)
        qa_in = {"logits": len(ATTRIBUTES), "latents": len(ATTRIBUTES) * hidden,
                 "latents+features": len(ATTRIBUTES) * hidden + dim}[qa_input]
        self.qa_head = nn.Sequential(nn.Linear(qa_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def _heads(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latents, logits = zip(*(head(embedding) for head in self.attribute_heads))
        attributes = torch.cat(logits, dim=1)
        if self.qa_input == "logits":
            qa_in = attributes
        elif self.qa_input == "latents":
            qa_in = torch.cat(latents, dim=1)
        else:
            qa_in = torch.cat([*latents, embedding], dim=1)
        return attributes, self.qa_head(qa_in)

    def forward(self, x: torch.Tensor) -> QAOutput:
        embedding = self.encoder(x)
        attributes, qa = self._heads(embedding)
        return QAOutput(attributes, qa, embedding)

    def freeze_encoder(self, frozen: bool = True) -> "QAResNet34":
        """Stop (or restart) training the encoder, as after SupCon pretraining.

        Frozen parameters get ``requires_grad=False``; call ``model.encoder.eval()`` too if its
        BatchNorm statistics must stay fixed (``train()`` switches them back on).
        """
        for p in self.encoder.parameters():
            p.requires_grad_(not frozen)
        return self

    def load_encoder(self, source: nn.Module | dict) -> "QAResNet34":
        """Copy a pretrained encoder (a :class:`ResNet34Encoder`, a model with ``.encoder``, or its state dict)."""
        if isinstance(source, nn.Module):
            source = getattr(source, "encoder", source).state_dict()
        self.encoder.load_state_dict(source, strict=True)
        return self


class MultiTaskQA(QAResNet34):
    """Multi-Task QA: :class:`QAResNet34` plus a UNet decoder to a blood-pool mask logit.

    The decoder is MONAI's ``UNetDecoder`` with ``FlexibleUNet``'s defaults (decoder channels
    256-128-64-32-16, BatchNorm, ReLU, nearest upsampling, skips from layer3..stem) and a 3x3
    convolution to one channel; the mask has the input's spatial size, whose sides must be
    multiples of 32 (the encoder's stride).
    """

    def __init__(self, in_channels: int = 1, weights: str | os.PathLike | None = None, qa_input: str = "logits",
                 hidden: int = 64, dropout: float = 0.2,
                 decoder_channels: Sequence[int] = (256, 128, 64, 32, 16), width: float = 1.0):
        super().__init__(in_channels, weights, qa_input, hidden, dropout, width)
        from monai.networks.nets.flexible_unet import UNetDecoder

        if len(decoder_channels) != len(ENCODER_CHANNELS):
            raise ValueError(f"decoder_channels={tuple(decoder_channels)}: expected {len(ENCODER_CHANNELS)} widths")
        # The decoder narrows with the encoder (width 0.25: 64-32-16-8-4).
        decoder_channels = tuple(max(4, int(round(c * width))) for c in decoder_channels)
        self.decoder = UNetDecoder(
            spatial_dims=2, encoder_channels=(in_channels, *self.encoder.channels), decoder_channels=decoder_channels,
            act=("relu", {"inplace": True}), norm=("batch", {"eps": 1e-3, "momentum": 0.1}), dropout=0.0,
            bias=False, upsample="nontrainable", pre_conv="default", interp_mode="nearest",
            align_corners=None, is_pad=True)
        self.mask_head = nn.Conv2d(decoder_channels[-1], 1, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> QAOutput:
        if any(side % 32 for side in x.shape[-2:]):
            raise ValueError(f"multitask_qa: input of {tuple(x.shape[-2:])} px; the decoder needs sides divisible "
                             f"by 32 (the encoder's total stride), e.g. the paper's 128 x 128")
        scales = self.encoder.features(x)
        embedding = self.encoder.pool(scales[-1])
        attributes, qa = self._heads(embedding)
        mask = self.mask_head(self.decoder([x, *scales], len(scales) - 1))
        return QAOutput(attributes, qa, embedding, mask)


class SupConResNet34(nn.Module):
    """Encoder + projection head for supervised contrastive pretraining; returns L2-normalised (B, 128)."""

    def __init__(self, in_channels: int = 1, weights: str | os.PathLike | None = None, projection_dim: int = 128,
                 width: float = 1.0):
        super().__init__()
        self.encoder = ResNet34Encoder(in_channels, weights, width)
        dim = self.encoder.out_features
        self.projection = ProjectionHead(dim, dim, projection_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.encoder(x)), dim=1)


# --------------------------------------------------------------------------- builders


@register("unet_la", chapter="lge_quality")
def unet_la(in_channels: int = 1, out_channels: int = 1,
            features: Sequence[int] = (32, 32, 64, 128, 256, 32)) -> nn.Module:
    """Stage-1 left-atrium UNet: MONAI BasicUNet, 2D, returns a blood-pool logit per pixel."""
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=out_channels, features=tuple(features))


@register("qa_resnet34", chapter="lge_quality")
def qa_resnet34(in_channels: int = 1, weights: str | os.PathLike | None = None, qa_input: str = "logits",
                hidden: int = 64, dropout: float = 0.2, width: float = 1.0) -> QAResNet34:
    """Baseline QA: ResNet-34 encoder, three attribute heads, QA head on their concatenated outputs."""
    return QAResNet34(in_channels, weights, qa_input, hidden, dropout, width)


@register("multitask_qa", chapter="lge_quality")
def multitask_qa(in_channels: int = 1, weights: str | os.PathLike | None = None, qa_input: str = "logits",
                 hidden: int = 64, dropout: float = 0.2,
                 decoder_channels: Sequence[int] = (256, 128, 64, 32, 16), width: float = 1.0) -> MultiTaskQA:
    """Multi-Task QA: Baseline QA plus a UNet decoder segmenting the blood pool."""
    return MultiTaskQA(in_channels, weights, qa_input, hidden, dropout, decoder_channels, width)


@register("supcon_resnet34", chapter="lge_quality")
def supcon_resnet34(in_channels: int = 1, weights: str | os.PathLike | None = None,
                    projection_dim: int = 128, width: float = 1.0) -> SupConResNet34:
    """SupCon pretraining net: ResNet-34 encoder + projection head, L2-normalised output."""
    return SupConResNet34(in_channels, weights, projection_dim, width)
