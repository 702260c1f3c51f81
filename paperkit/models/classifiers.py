"""The classifiers of Model Doctor's Table 1, registered as ``md_*`` for the ``model_doctor`` chapter.

Every builder takes ``num_classes``, ``in_channels`` (1 or 3) and ``image_size`` and returns a
randomly initialised network (no weights are ever downloaded):

* torchvision: AlexNet, VGG-16, ResNet-34/50, Wide ResNet-50-2, ResNeXt-50 (32x4d),
  DenseNet-121, EfficientNetV2-S, GoogLeNet, MobileNetV2, Inception-v3, ShuffleNetV2 (1.0x),
  SqueezeNet 1.0, MnasNet 1.0;
* timm: Xception (``legacy_xception``, Chollet 2017) and SENet-34 (``legacy_seresnet34``);
* SimpleNet-v1 (HasanPour et al. 2016), written here: 13 conv layers (3x3 except two 1x1),
  BN + ReLU, five max-pools, global max-pool and one linear classifier, 5.5 M parameters.

Small inputs (``image_size < 64``: MNIST 28 px, CIFAR/SVHN 32 px) get the stems CIFAR
variants use: the first convolution becomes 3x3 with stride 1 and the early max-pools are
removed, so 28-32 px images are not reduced to 1 px before the last stages. AlexNet and
VGG-16 get compact heads below 224 px (global pooling and 1024/512-wide layers instead of
4096-wide ones on a 6x6/7x7 grid); 28-px VGG/SimpleNet use ceil-mode pooling.
Differences from the paper's list: "WideResNet-28" (a CIFAR WRN-28-10) is stood in for by
torchvision's Wide ResNet-50-2 (``md_wide_resnet50``); ``md_resnet34`` is an extra.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from paperkit.models.registry import register
from paperkit.models.stem import replace_stem_conv

CHAPTER = "model_doctor"
SMALL = 64  # below this input size the CIFAR-style stem is used


def _check(num_classes: int, in_channels: int, image_size: int) -> bool:
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: expected at least 2")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels={in_channels}: expected 1 (grey) or 3 (colour)")
    if image_size < 16:
        raise ValueError(f"image_size={image_size}: expected at least 16 pixels")
    return image_size < SMALL


def _resnet_family(factory: Callable[..., nn.Module], num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    small = _check(num_classes, in_channels, image_size)
    net = factory(weights=None, num_classes=num_classes)
    net.conv1 = replace_stem_conv(net.conv1, in_channels, small=small)
    if small:
        net.maxpool = nn.Identity()
    return net


class FeaturesHead(nn.Module):
    """``features -> avgpool -> flatten -> classifier``, the layout of torchvision's AlexNet and VGG."""

    def __init__(self, features: nn.Module, avgpool: nn.Module, classifier: nn.Module):
        super().__init__()
        self.features, self.avgpool, self.classifier = features, avgpool, classifier
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _compact_head(width: int, hidden: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(0.5), nn.Linear(width, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, num_classes))


@register("md_alexnet", chapter=CHAPTER)
def md_alexnet(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012); compact head below 224 px."""
    from torchvision.models import alexnet

    small = _check(num_classes, in_channels, image_size)
    if image_size >= 224:
        net = alexnet(weights=None, num_classes=num_classes)
        net.features[0] = replace_stem_conv(net.features[0], in_channels)
        return net
    stem = (nn.Conv2d(in_channels, 64, 3, stride=1, padding=1) if small
            else nn.Conv2d(in_channels, 64, 11, stride=4, padding=2))
    features = nn.Sequential(
        stem, nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    return FeaturesHead(features, nn.AdaptiveAvgPool2d(2), _compact_head(256 * 4, 1024, num_classes))


@register("md_vgg16", chapter=CHAPTER)
def md_vgg16(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """VGG-16 with batch norm (Simonyan & Zisserman 2014); compact head below 224 px."""
    from torchvision.models import vgg16_bn
    from torchvision.models.vgg import cfgs, make_layers

    small = _check(num_classes, in_channels, image_size)
    if image_size >= 224:
        net = vgg16_bn(weights=None, num_classes=num_classes)
        net.features[0] = replace_stem_conv(net.features[0], in_channels)
        return net
    features = make_layers(cfgs["D"], batch_norm=True)
    features[0] = replace_stem_conv(features[0], in_channels)
    if small:
        for m in features:
            if isinstance(m, nn.MaxPool2d):
                m.ceil_mode = True  # 28 px: 28-14-7-4-2-1 instead of reaching 0
    return FeaturesHead(features, nn.AdaptiveAvgPool2d(1), _compact_head(512, 512, num_classes))


@register("md_resnet34", chapter=CHAPTER)
def md_resnet34(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """ResNet-34 (He et al. 2016)."""
    from torchvision.models import resnet34
    return _resnet_family(resnet34, num_classes, in_channels, image_size)


@register("md_resnet50", chapter=CHAPTER)
def md_resnet50(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """ResNet-50 (He et al. 2016)."""
    from torchvision.models import resnet50
    return _resnet_family(resnet50, num_classes, in_channels, image_size)


@register("md_wide_resnet50", chapter=CHAPTER)
def md_wide_resnet50(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """Wide ResNet-50-2 (Zagoruyko & Komodakis 2016), standing in for the paper's WRN-28."""
    from torchvision.models import wide_resnet50_2
    return _resnet_family(wide_resnet50_2, num_classes, in_channels, image_size)


@register("md_resnext50", chapter=CHAPTER)
def md_resnext50(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """ResNeXt-50 32x4d (Xie et al. 2017)."""
    from torchvision.models import resnext50_32x4d
    return _resnet_family(resnext50_32x4d, num_classes, in_channels, image_size)


@register("md_densenet121", chapter=CHAPTER)
def md_densenet121(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """DenseNet-121 (Huang et al. 2017)."""
    from torchvision.models import densenet121

    small = _check(num_classes, in_channels, image_size)
    net = densenet121(weights=None, num_classes=num_classes)
    net.features.conv0 = replace_stem_conv(net.features.conv0, in_channels, small=small)
    if small:
        net.features.pool0 = nn.Identity()
    return net


@register("md_efficientnetv2_s", chapter=CHAPTER)
def md_efficientnetv2_s(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """EfficientNetV2-S (Tan & Le 2021)."""
    from torchvision.models import efficientnet_v2_s

    small = _check(num_classes, in_channels, image_size)
    net = efficientnet_v2_s(weights=None, num_classes=num_classes)
    net.features[0][0] = replace_stem_conv(net.features[0][0], in_channels, small=small)
    return net


@register("md_googlenet", chapter=CHAPTER)
def md_googlenet(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """GoogLeNet / Inception-v1 (Szegedy et al. 2015), without auxiliary heads."""
    from torchvision.models import googlenet

    small = _check(num_classes, in_channels, image_size)
    net = googlenet(weights=None, num_classes=num_classes, aux_logits=False, init_weights=True, transform_input=False)
    # Only the convolution is new: the stem's BatchNorm is as a fresh one would be.
    net.conv1.conv = replace_stem_conv(net.conv1.conv, in_channels, small=small)
    if small:
        net.maxpool1 = nn.Identity()
        net.maxpool2 = nn.Identity()
    return net


@register("md_inceptionv3", chapter=CHAPTER)
def md_inceptionv3(num_classes: int = 10, in_channels: int = 3, image_size: int = 299) -> nn.Module:
    """Inception-v3 (Szegedy et al. 2016), without the auxiliary head.

    Its own stem shrinks an image 8-fold before the first Inception block and needs at least 75 px, so
    below 75 px (not only below :data:`SMALL`) the small stem is used.
    """
    from torchvision.models import inception_v3

    small = _check(num_classes, in_channels, image_size) or image_size < 75
    net = inception_v3(weights=None, num_classes=num_classes, aux_logits=False, init_weights=True,
                       transform_input=False)
    # Only the convolutions are new: their BatchNorms are as fresh ones would be.
    net.Conv2d_1a_3x3.conv = replace_stem_conv(net.Conv2d_1a_3x3.conv, in_channels, small=small)
    if small:  # also pad the two unpadded 3x3 convolutions of the stem
        net.Conv2d_2a_3x3.conv = replace_stem_conv(net.Conv2d_2a_3x3.conv, small=True)
        net.Conv2d_4a_3x3.conv = replace_stem_conv(net.Conv2d_4a_3x3.conv, small=True)
        net.maxpool1 = nn.Identity()
        net.maxpool2 = nn.Identity()
    return net


@register("md_mobilenetv2", chapter=CHAPTER)
def md_mobilenetv2(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """MobileNetV2 (Sandler et al. 2018; the paper cites Howard et al. 2017)."""
    from torchvision.models import mobilenet_v2

    small = _check(num_classes, in_channels, image_size)
    net = mobilenet_v2(weights=None, num_classes=num_classes)
    net.features[0][0] = replace_stem_conv(net.features[0][0], in_channels, small=small)
    return net


@register("md_shufflenetv2", chapter=CHAPTER)
def md_shufflenetv2(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """ShuffleNetV2 1.0x (Ma et al. 2018; the paper cites Zhang et al. 2017)."""
    from torchvision.models import shufflenet_v2_x1_0

    small = _check(num_classes, in_channels, image_size)
    net = shufflenet_v2_x1_0(weights=None, num_classes=num_classes)
    net.conv1[0] = replace_stem_conv(net.conv1[0], in_channels, small=small)
    if small:
        net.maxpool = nn.Identity()
    return net


@register("md_squeezenet", chapter=CHAPTER)
def md_squeezenet(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """SqueezeNet 1.0 (Iandola et al. 2016)."""
    from torchvision.models import squeezenet1_0

    small = _check(num_classes, in_channels, image_size)
    net = squeezenet1_0(weights=None, num_classes=num_classes)
    net.features[0] = replace_stem_conv(net.features[0], in_channels, small=small)
    if small:
        net.features[2] = nn.Identity()
    return net


@register("md_mnasnet", chapter=CHAPTER)
def md_mnasnet(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """MnasNet 1.0 (Tan et al. 2019)."""
    from torchvision.models import mnasnet1_0

    small = _check(num_classes, in_channels, image_size)
    net = mnasnet1_0(weights=None, num_classes=num_classes)
    net.layers[0] = replace_stem_conv(net.layers[0], in_channels, small=small)
    return net


@register("md_xception", chapter=CHAPTER)
def md_xception(num_classes: int = 10, in_channels: int = 3, image_size: int = 299) -> nn.Module:
    """Xception (Chollet 2017), timm's ``legacy_xception``."""
    import timm

    small = _check(num_classes, in_channels, image_size)
    net = timm.create_model("legacy_xception", pretrained=False, num_classes=num_classes, in_chans=in_channels)
    if small:
        net.conv1 = replace_stem_conv(net.conv1, small=True)
        net.conv2 = replace_stem_conv(net.conv2, small=True)
    return net


@register("md_senet34", chapter=CHAPTER)
def md_senet34(num_classes: int = 10, in_channels: int = 3, image_size: int = 224) -> nn.Module:
    """SE-ResNet-34 (Hu et al. 2018), timm's ``legacy_seresnet34``."""
    import timm

    small = _check(num_classes, in_channels, image_size)
    net = timm.create_model("legacy_seresnet34", pretrained=False, num_classes=num_classes, in_chans=in_channels)
    if small:
        net.layer0.conv1 = replace_stem_conv(net.layer0.conv1, small=True)
        net.pool0 = nn.Identity()
    return net


# --------------------------------------------------------------------------- SimpleNet-v1

# (out_channels, kernel) per conv; "M" = 2x2 max-pool followed by Dropout2d(0.1).
SIMPLENET_V1 = [(64, 3), (128, 3), (128, 3), (128, 3), "M", (128, 3), (128, 3), (256, 3), "M",
                (256, 3), (256, 3), "M", (512, 3), "M", (2048, 1), (256, 1), "M", (256, 3)]


class SimpleNetV1(nn.Module):
    """SimpleNet-v1 (HasanPour et al. 2016, "Lets keep it simple"): 13 convs, no FC but the classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.1):
        super().__init__()
        small = _check(num_classes, in_channels, image_size)
        layers: list[nn.Module] = []
        c_in, first = in_channels, True
        for item in SIMPLENET_V1:
            if item == "M":
                layers += [nn.MaxPool2d(2, 2, ceil_mode=True), nn.Dropout2d(dropout)]
                continue
            c_out, k = item
            stride = 2 if first and not small else 1  # large inputs: stride-2 first conv
            layers += [nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
                       nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.05), nn.ReLU(inplace=True)]
            c_in, first = c_out, False
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))


@register("md_simplenetv1", chapter=CHAPTER)
def md_simplenetv1(num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> nn.Module:
    """SimpleNet-v1 (HasanPour et al. 2016), 13 conv layers, written in paperkit."""
    return SimpleNetV1(num_classes, in_channels, image_size)


MD_MODELS = ["md_alexnet", "md_vgg16", "md_resnet34", "md_resnet50", "md_wide_resnet50", "md_resnext50",
             "md_densenet121", "md_efficientnetv2_s", "md_googlenet", "md_mobilenetv2", "md_inceptionv3",
             "md_shufflenetv2", "md_squeezenet", "md_mnasnet", "md_simplenetv1", "md_xception", "md_senet34"]
