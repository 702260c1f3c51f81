"""Left-ventricle segmentation models: the paper's GAP network and the Table 1 comparison models.

Liu, Yuan, Yang, Song and Luo, *An interpretable CNN for the segmentation of the left ventricle
in cardiac MRI by real-time visualization* (CMES 2023). There is no official code, so
``gap_net`` is built from the paper's text; every builder returns per-pixel logits
``(N, num_classes, H, W)`` at the input resolution.

==================  ========================================================  ==============
name                what                                                      side multiple
==================  ========================================================  ==============
``gap_net``         the paper's network: conv/pool encoder, GAP context,      8
                    1x1 class scores (the CAM weights), deconvolution
``fcn8s``           FCN-8s on torchvision's VGG-16 (pool3/pool4 skips)        32
``unet``            MONAI ``BasicUNet`` (Ronneberger et al., 64-1024)         16
``unetpp``          MONAI ``BasicUNetPlusPlus`` (32-512 features)             16
``attention_unet``  MONAI ``AttentionUnet`` (64-1024 channels)                16
``unet_residual``   MONAI ``UNet`` (64-1024 channels, 2 residual units)       16
==================  ========================================================  ==============

Every builder takes ``width`` (default 1.0 = the published channel counts): a multiplier on all
channel counts, so ``width=0.25`` gives a CPU-sized model of the same layout. Inputs whose
height or width is not a multiple of the model's ``size_factor`` raise ``ValueError``.

What the paper specifies about its network
------------------------------------------
- Input: 256 x 256 grayscale images (one channel); label 256 x 256 x 2 (two classes,
  LV / not LV); one output score per class per pixel (§3.1, §3.2, §4.1).
- Layers: "convolution layers, pooling layers, an UnPool, and a combined layer" (Fig. 2).
- Convolutions are VGG-style stacks of three 3x3 layers in place of one 7x7 layer (Fig. 3).
- Global context: "A context vector was created by pooling a layer's feature map across the
  entire image. The context vector is normalized to create new feature maps of the same
  dimensions as the originals. The feature maps above were then concatenated" (§3.2). This
  is ParseNet's global-context module (GAP -> L2 norm -> unpool = replicate -> concatenate),
  which also explains Fig. 2's "UnPool" and "combined layer".
- No fully connected layer; class scores are ``S_c = sum_k w_k^c sum_xy f_k(x, y)`` and the
  class activation map is ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` (Eqs. 1-2, Fig. 4, Fig. 6).
- "Convolution layer 3": 3x3 kernel, 256 input and 384 output channels, 885,120 learned
  parameters (= 3*3*256*384 weights + 384 biases), shown in DIGITS (Fig. 5). These are exactly
  AlexNet's conv3, which with the DIGITS setting suggests an FCN-AlexNet-like layout.
- Trained from scratch, no pretraining (abstract, §1).
- Training (§4.5): 50 epochs, learning rate 0.02, decay rate 0.73, decay steps 10,000
  (``PAPER_TRAINING``).

Where the paper is silent (our choices, marked CHOICE in the code)
------------------------------------------------------------------
- Channel counts other than conv3: AlexNet's 96-256-384-384-256 (conv1..conv5), since conv3
  matches AlexNet's exactly.
- Which layers are the three-3x3 stacks: conv1 and conv2, where AlexNet has its large kernels
  (11x11, 5x5); conv3-conv5 are single 3x3 layers as in AlexNet (Fig. 5 shows conv3 as one
  layer). ``stack`` sets the stack depth.
- Pooling: 2x2 max-pooling after conv1, conv2 and conv5 (AlexNet's pooling positions; 2x2
  instead of AlexNet's overlapping 3x3/2 so sizes stay exact), and no stride-4 first layer:
  output stride 8, a 32 x 32 map for a 256 x 256 image.
- Activation ReLU; padding 1 ("same") everywhere; no dropout (AlexNet's dropout sat in the
  fully connected layers, which GAP removes).
- BatchNorm after every convolution (``batch_norm=True``): the paper trains from scratch with
  a high learning rate and does not mention normalisation. The convolutions keep their bias so
  that conv3 has the paper's 885,120 parameters.
- Global context on the last feature map (after pool5); only the context vector is
  L2-normalised (the paper's wording; ParseNet also normalises the local features), with a
  learnable per-channel scale initialised to sqrt(channels) so that each context channel starts
  with unit root-mean-square. ``context=False`` drops the branch.
- Class scores: a 1x1 convolution (``w_k^c``, bias ``b_c``) on the concatenated map ``f`` --
  the "fully convolutional" stand-in for the removed fully connected layers.
- Output map: a learned transposed convolution (kernel 16, stride 8), initialised to
  bilinear interpolation as in FCN, brings the class scores to the input resolution
  (``learned_upsampling=False``: fixed bilinear interpolation).
- GAP is an average, not the sum of Eq. 1, so ``S_c = mean_xy M_c(x, y) + b_c``.
- Optimiser, batch size, loss and initialisation are not stated. The training knobs
  (learning rate, decay rate, decay steps, epochs) are those of NVIDIA's DIGITS/TensorFlow
  Sunnybrook segmentation lab, which uses plain SGD, batch size 1, staircase exponential decay
  and per-pixel softmax cross-entropy; that is an inference, not the paper's statement.

Interpretability (``GapNet.cam``): ``f`` is the map feeding global average pooling, ``w`` the
1x1 class-score weights. ``cam(x)`` returns ``sum_k w_k^c f_k`` bilinearly upsampled to the
input; integer-factor bilinear upsampling preserves the spatial mean, so for every image and
class ``cam(x).mean((-2, -1)) + b == gap_logits(x)``. In this network the CAM is also the
coarse segmentation: the segmentation logits are the upsampled ``M_c + b_c``.

The comparison models (Table 1: FCN-8s, U-Net, UNet++, Attention U-Net) have no published
settings in the paper; ours use each method's original channel counts (U-Net and Attention
U-Net 64-1024, UNet++ 32-512, FCN-8s VGG-16's 64-512 with a 4096-channel fc6/fc7) and are
trained from scratch in the same harness (random initialisation; no weights are downloaded).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register

__all__ = ["GapNet", "FCN8s", "GlobalContext", "MonaiSegmenter", "MODEL_NAMES", "PAPER_TRAINING",
           "gap_net", "fcn8s", "unet", "unet_residual", "unetpp", "attention_unet", "check_input"]

CHAPTER = "lv_segmentation"
MODEL_NAMES = ("gap_net", "fcn8s", "unet", "unetpp", "attention_unet", "unet_residual")

# §4.5 of the paper; everything else about training is unstated (see the module docstring).
PAPER_TRAINING = {"epochs": 50, "learning_rate": 0.02, "decay_rate": 0.73, "decay_steps": 10_000,
                  "input_size": 256}

_ALEXNET_CHANNELS = (96, 256, 384, 384, 256)   # conv1..conv5; conv3 256 -> 384 is Fig. 5's layer
_UNET_CHANNELS = (64, 128, 256, 512, 1024)      # Ronneberger et al.
_UNETPP_FEATURES = (32, 64, 128, 256, 512, 32)  # Zhou et al.; the last is MONAI's final up-block


# ---------------------------------------------------------------------------------------------
# shared helpers

def check_input(x: torch.Tensor, *, in_channels: int, size_factor: int, model: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(N, in_channels, H, W)`` with H and W multiples of ``size_factor``."""
    if x.ndim != 4:
        raise ValueError(f"{model}: expected a batch of 2-D images shaped (N, {in_channels}, H, W), "
                         f"got a tensor of shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{model}: built with in_channels={in_channels} but the input has {x.shape[1]} "
                         f"channels (shape {tuple(x.shape)})")
    h, w = x.shape[-2:]
    if h % size_factor or w % size_factor:
        fix = tuple(size_factor * math.ceil(s / size_factor) for s in (h, w))
        raise ValueError(f"{model}: input height and width must be multiples of {size_factor} (the network "
                         f"downsamples by {size_factor}); got {h}x{w}. Pad or resize, e.g. to {fix[0]}x{fix[1]}.")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive integer")
    return value


def _scaled(channels: Sequence[int], width: float) -> tuple[int, ...]:
    """Channel counts times ``width``, rounded, at least 2 (attention gates halve them)."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0 or not math.isfinite(width):
        raise ValueError(f"width={width!r}: expected a positive number (1.0 = the published channel counts)")
    return tuple(max(2, int(round(c * width))) for c in channels)


def _conv_bn_relu(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    # CHOICE (gap_net): BatchNorm, unmentioned in the paper, for training from scratch.
    # The bias stays even with BatchNorm so that layer counts match the paper (conv3: 885,120).
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


def _stack(cin: int, cout: int, depth: int, batch_norm: bool) -> nn.Sequential:
    """``depth`` 3x3 conv layers (conv -> [BN] -> ReLU), the first one changing the channel count."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += _conv_bn_relu(cin if i == 0 else cout, cout, batch_norm)
    return nn.Sequential(*layers)


def _bilinear_kernel(size: int) -> torch.Tensor:
    """A ``size`` x ``size`` bilinear interpolation kernel for a transposed convolution of stride ``size // 2``."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    return ramp[:, None] * ramp[None, :]


def _upsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------------------------
# the paper's network

class GlobalContext(nn.Module):
    """ParseNet-style global context: GAP, L2-normalise, scale, unpool (replicate) and concatenate.

    Returns ``(N, 2C, H, W)``: the input followed by its normalised context vector copied to
    every position.
    """

    def __init__(self, channels: int, init_scale: float | None = None):
        super().__init__()
        # CHOICE: sqrt(C) gives every context channel unit RMS at the start, like BN'd features.
        scale = math.sqrt(channels) if init_scale is None else float(init_scale)
        self.scale = nn.Parameter(torch.full((channels,), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = F.normalize(x.mean(dim=(-2, -1)), dim=1, eps=1e-6) * self.scale
        return torch.cat([x, context[:, :, None, None].expand_as(x)], dim=1)


class GapNet(nn.Module):
    """The paper's interpretable FCN: conv/pool encoder, GAP context, 1x1 class scores, deconvolution.

    Layers (``width=1``, 256 x 256 input; see the module docstring for what is the paper's and
    what is ours)::

        conv1  3 x [3x3 conv 96, BN, ReLU]           256 x 256    (VGG stack, Fig. 3)
        pool1  2x2 max                                128 x 128
        conv2  3 x [3x3 conv 256, BN, ReLU]          128 x 128
        pool2  2x2 max                                 64 x 64
        conv3  3x3 conv 256 -> 384, BN, ReLU           64 x 64     (Fig. 5: 885,120 parameters)
        conv4  3x3 conv 384 -> 384, BN, ReLU           64 x 64
        conv5  3x3 conv 384 -> 256, BN, ReLU           64 x 64
        pool5  2x2 max                                 32 x 32
        context  GAP -> L2 norm -> unpool -> concat   32 x 32 x 512   = f (feeds GAP / CAM)
        score  1x1 conv 512 -> num_classes             32 x 32     (weights w_k^c of Eq. 1)
        upscore  16x16 deconv, stride 8 (bilinear init)  256 x 256 x num_classes

    Methods: ``forward`` (segmentation logits), ``features`` (``f``), ``gap_logits`` (image-level
    class scores ``S_c``), ``cam`` (class activation maps at input size) and ``explain`` (all of
    them from one pass).
    """

    size_factor = 8

    def __init__(self, in_channels: int = 1, num_classes: int = 2, channels: Sequence[int] = _ALEXNET_CHANNELS,
                 stack: int = 3, batch_norm: bool = True, context: bool = True, learned_upsampling: bool = True):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.num_classes = _positive_int(num_classes, "num_classes")
        _positive_int(stack, "stack")
        if len(channels) != 5:
            raise ValueError(f"channels={tuple(channels)!r}: expected 5 channel counts (conv1..conv5)")
        c1, c2, c3, c4, c5 = (_positive_int(c, "channels") for c in channels)
        self.conv1 = _stack(in_channels, c1, stack, batch_norm)     # CHOICE: stacks replace AlexNet's 11x11
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = _stack(c1, c2, stack, batch_norm)              # ... and 5x5 kernels
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Sequential(*_conv_bn_relu(c2, c3, batch_norm))
        self.conv4 = nn.Sequential(*_conv_bn_relu(c3, c4, batch_norm))
        self.conv5 = nn.Sequential(*_conv_bn_relu(c4, c5, batch_norm))
        self.pool5 = nn.MaxPool2d(2)   # CHOICE: 2x2 pools at AlexNet's three pool positions: stride 8
        self.context = GlobalContext(c5) if context else nn.Identity()   # CHOICE: context of the last map
        self.feature_channels = 2 * c5 if context else c5
        self.score = nn.Conv2d(self.feature_channels, num_classes, 1)
        if learned_upsampling:
            k = 2 * self.size_factor
            self.upscore = nn.ConvTranspose2d(num_classes, num_classes, k, stride=self.size_factor,
                                              padding=self.size_factor // 2, bias=False)
            with torch.no_grad():   # CHOICE: a learned deconvolution that starts as bilinear (as in FCN)
                self.upscore.weight.zero_()
                for c in range(num_classes):
                    self.upscore.weight[c, c] = _bilinear_kernel(k)
        else:
            self.upscore = None

    @property
    def class_weights(self) -> torch.Tensor:
        """The CAM weights ``w[c, k]`` of Eq. 1, shape ``(num_classes, feature_channels)``."""
        return self.score.weight.flatten(1)

    @property
    def class_bias(self) -> torch.Tensor:
        """The class-score bias ``b_c``, shape ``(num_classes,)``."""
        return self.score.bias

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The map ``f`` (N, feature_channels, H/8, W/8) that feeds global average pooling and the CAM."""
        check_input(x, in_channels=self.in_channels, size_factor=self.size_factor, model="gap_net")
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.pool5(self.conv5(self.conv4(self.conv3(x))))
        return self.context(x)

    def _head(self, f: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        scores = self.score(f)
        if self.upscore is None:
            return _upsample_to(scores, size)
        return self.upscore(scores)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._head(self.features(x), x.shape[-2:])

    def gap_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Image-level class scores ``S_c = w^c . GAP(f) + b_c`` (Eq. 1 with a mean), shape ``(N, num_classes)``."""
        return F.linear(self.features(x).mean(dim=(-2, -1)), self.class_weights, self.class_bias)

    def _cam(self, f: torch.Tensor, size: Sequence[int] | None) -> torch.Tensor:
        maps = torch.einsum("ck,nkhw->nchw", self.class_weights, f)
        return maps if size is None else _upsample_to(maps, size)

    def cam(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        """Class activation maps ``M_c = sum_k w_k^c f_k`` (Eq. 2), ``(N, num_classes, H, W)``.

        Bilinearly upsampled to the input size (``upsample=False``: at H/8 x W/8). Their spatial
        mean plus ``class_bias`` equals ``gap_logits(x)``.
        """
        return self._cam(self.features(x), x.shape[-2:] if upsample else None)

    def explain(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass giving ``logits``, ``cam`` (input size), ``gap_logits`` and ``features``."""
        f = self.features(x)
        return {"logits": self._head(f, x.shape[-2:]), "cam": self._cam(f, x.shape[-2:]),
                "gap_logits": F.linear(f.mean(dim=(-2, -1)), self.class_weights, self.class_bias),
                "features": f}


@register("gap_net", chapter=CHAPTER)
def gap_net(in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0, stack: int = 3,
            batch_norm: bool = True, context: bool = True, learned_upsampling: bool = True) -> GapNet:
    """The paper's interpretable GAP network (AlexNet-width conv/pool encoder, GAP context, deconvolution).

    ``width`` scales the channels 96-256-384-384-256; ``stack`` is the depth of the 3x3 stacks in
    conv1 and conv2; see :class:`GapNet` and the module docstring for the layer list and choices.
    Inputs: sides a multiple of 8.
    """
    return GapNet(in_channels, num_classes, _scaled(_ALEXNET_CHANNELS, width), stack=stack,
                  batch_norm=batch_norm, context=context, learned_upsampling=learned_upsampling)


# ---------------------------------------------------------------------------------------------
# FCN-8s

def _vgg16_features(in_channels: int, width: float, batch_norm: bool) -> nn.Sequential:
    """torchvision's VGG-16 convolutional layers (``vgg16().features``, or ``vgg16_bn``'s), random init.

    At ``width=1`` this is ``torchvision.models.vgg16(weights=None).features``; other widths scale
    every channel count of configuration "D" and build it with torchvision's ``make_layers``. The
    first convolution takes ``in_channels`` (VGG's takes 3).
    """
    from torchvision.models.vgg import cfgs, make_layers

    config = [v if v == "M" else _scaled((v,), width)[0] for v in cfgs["D"]]
    features = make_layers(config, batch_norm=batch_norm)
    if in_channels != 3:
        first = features[0]
        features[0] = nn.Conv2d(in_channels, first.out_channels, 3, padding=1)
    for m in features.modules():   # torchvision's VGG initialisation (make_layers alone leaves PyTorch's default)
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return features


def _bilinear_deconv(channels: int, factor: int, learned: bool) -> nn.ConvTranspose2d:
    """A ``factor``-times upsampling transposed convolution per channel, initialised to bilinear interpolation."""
    k = 2 * factor
    layer = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        for c in range(channels):
            layer.weight[c, c] = _bilinear_kernel(k)
    layer.weight.requires_grad_(learned)
    return layer


class FCN8s(nn.Module):
    """FCN-8s (Long, Shelhamer and Darrell, CVPR 2015) on torchvision's VGG-16, trained from scratch.

    ``features`` is torchvision's VGG-16 convolutional part (13 convolutions, five max-pools); as in
    the paper, fc6/fc7 become a 7x7 and a 1x1 convolution with ``head_channels`` (4096) channels and
    dropout, ``score_fr`` scores the classes at stride 32, and the skips add 1x1 class scores of
    pool4 (stride 16) and pool3 (stride 8)::

        score_fr -> 2x up (upscore2) + score_pool4 -> 2x up (upscore_pool4) + score_pool3 -> 8x up

    ``learned_upsampling=True`` (default, the paper's §4.2): the two 2x upsamplings are transposed
    convolutions initialised to bilinear interpolation and learned, the final 8x one is fixed
    bilinear; ``False``: all three are fixed bilinear interpolation. As in the paper the class
    scoring layers start at zero (the skips then begin as FCN-32s). ``batch_norm=True`` uses
    ``vgg16_bn``'s layers and BatchNorm after fc6/fc7. Differences from the paper's Caffe model:
    convolutions padded by 1 (fc6 by 3) instead of the 100-pixel input padding and crops, so inputs
    must have sides that are multiples of 32; random initialisation, never ImageNet weights.
    """

    size_factor = 32

    def __init__(self, in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0,
                 head_channels: int | None = None, batch_norm: bool = True, dropout: float = 0.5,
                 learned_upsampling: bool = True):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.num_classes = _positive_int(num_classes, "num_classes")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout!r}: expected a probability in [0, 1)")
        head_channels = _scaled((4096,), width)[0] if head_channels is None else _positive_int(head_channels,
                                                                                                 "head_channels")
        self.features = _vgg16_features(in_channels, width, batch_norm)
        pools = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        self._pool3, self._pool4 = pools[2], pools[3]
        c3, c4, c5 = (self._out_channels(p) for p in pools[2:])
        head: list[nn.Module] = [nn.Conv2d(c5, head_channels, 7, padding=3)]
        head += [nn.BatchNorm2d(head_channels)] if batch_norm else []
        head += [nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Conv2d(head_channels, head_channels, 1)]
        head += [nn.BatchNorm2d(head_channels)] if batch_norm else []
        head += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.head = nn.Sequential(*head)   # fc6, fc7 as convolutions
        self.score_fr = nn.Conv2d(head_channels, num_classes, 1)
        self.score_pool4 = nn.Conv2d(c4, num_classes, 1)
        self.score_pool3 = nn.Conv2d(c3, num_classes, 1)
        for layer in (self.score_fr, self.score_pool4, self.score_pool3):   # zero-initialised, as Long et al.
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.learned_upsampling = bool(learned_upsampling)
        if self.learned_upsampling:
            self.upscore2 = _bilinear_deconv(num_classes, 2, learned=True)
            self.upscore_pool4 = _bilinear_deconv(num_classes, 2, learned=True)
            self.upscore8 = _bilinear_deconv(num_classes, 8, learned=False)

    def _out_channels(self, index: int) -> int:
        return next(m.out_channels for m in reversed(self.features[:index]) if isinstance(m, nn.Conv2d))

    def _up(self, layer: str, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return getattr(self, layer)(x) if self.learned_upsampling else _upsample_to(x, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, size_factor=self.size_factor, model="fcn8s")
        pool3 = self.features[:self._pool3 + 1](x)
        pool4 = self.features[self._pool3 + 1:self._pool4 + 1](pool3)
        pool5 = self.features[self._pool4 + 1:](pool4)
        scores = self.score_fr(self.head(pool5))
        scores = self._up("upscore2", scores, pool4.shape[-2:]) + self.score_pool4(pool4)
        scores = self._up("upscore_pool4", scores, pool3.shape[-2:]) + self.score_pool3(pool3)
        return self._up("upscore8", scores, x.shape[-2:])


@register("fcn8s", chapter=CHAPTER)
def fcn8s(in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0, batch_norm: bool = True,
          dropout: float = 0.5, learned_upsampling: bool = True) -> FCN8s:
    """FCN-8s on torchvision's VGG-16 (random init): conv fc6/fc7 with 4096 channels, pool3/pool4 skips.

    ``width`` scales every channel count (``width=0.25``: VGG 16-128 and a 1024-channel head).
    ``batch_norm`` (default True, CHOICE: trained from scratch, not from ImageNet as Long et al.)
    uses ``vgg16_bn``'s layers; ``learned_upsampling`` see :class:`FCN8s`. Inputs: sides a multiple of 32.
    """
    return FCN8s(in_channels, num_classes, width=width, batch_norm=batch_norm, dropout=dropout,
                 learned_upsampling=learned_upsampling)


# ---------------------------------------------------------------------------------------------
# MONAI comparison models

class MonaiSegmenter(nn.Module):
    """A MONAI 2-D segmentation network with an input-size check and a single logits output.

    ``BasicUNetPlusPlus`` returns a list of outputs; the last (the full nested path, x_0_4)
    is kept.
    """

    def __init__(self, net: nn.Module, *, in_channels: int, size_factor: int, name: str):
        super().__init__()
        self.net = net
        self.in_channels = in_channels
        self.size_factor = size_factor
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, size_factor=self.size_factor, model=self.name)
        out = self.net(x)
        return out[-1] if isinstance(out, (list, tuple)) else out


@register("unet", chapter=CHAPTER)
def unet(in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0, dropout: float = 0.0,
         norm: str = "batch") -> MonaiSegmenter:
    """U-Net as Ronneberger et al.: MONAI ``BasicUNet``, 2-D, features 64-128-256-512-1024 (x ``width``).

    Per level two 3x3 convolutions, 2x2 max-pooling down, 2x2 transposed convolutions up with
    concatenated skips, a 1x1 class layer; 64 features in the last up-block, as in the paper.
    Padded convolutions (outputs at the input size, Ronneberger et al.'s are unpadded); ``norm``
    ``"batch"`` (CHOICE: the original has no normalisation; from scratch it helps; ``"instance"`` is
    MONAI's default) and MONAI's LeakyReLU. ``unet_residual`` is the residual variant.
    Inputs: sides a multiple of 16.
    """
    from monai.networks.nets import BasicUNet  # slow import (seconds): only when built

    _positive_int(in_channels, "in_channels")
    _positive_int(num_classes, "num_classes")
    if norm not in ("batch", "instance"):
        raise ValueError(f"norm={norm!r}: expected 'batch' or 'instance'")
    features = _scaled(_UNET_CHANNELS + (_UNET_CHANNELS[0],), width)
    net = BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=num_classes, features=features,
                    norm=norm, dropout=dropout)
    return MonaiSegmenter(net, in_channels=in_channels, size_factor=16, name="unet")


@register("unet_residual", chapter=CHAPTER)
def unet_residual(in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0, num_res_units: int = 2,
                  dropout: float = 0.0) -> MonaiSegmenter:
    """Residual U-Net: MONAI ``UNet``, 2-D, channels 64-128-256-512-1024 (x ``width``), strides 2, 2 residual units.

    The chapter's U-Net before issue #21, kept as an option: MONAI defaults otherwise (instance
    norm, PReLU, strided-conv downsampling, transposed-conv upsampling, residual units), so it
    departs from Ronneberger et al.'s layout (``unet``). Inputs: sides a multiple of 16.
    """
    from monai.networks.nets import UNet

    _positive_int(in_channels, "in_channels")
    _positive_int(num_classes, "num_classes")
    net = UNet(spatial_dims=2, in_channels=in_channels, out_channels=num_classes,
               channels=_scaled(_UNET_CHANNELS, width), strides=(2, 2, 2, 2),
               num_res_units=num_res_units, dropout=dropout)
    return MonaiSegmenter(net, in_channels=in_channels, size_factor=16, name="unet_residual")


@register("unetpp", chapter=CHAPTER)
def unetpp(in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0, dropout: float = 0.0) -> MonaiSegmenter:
    """UNet++: MONAI ``BasicUNetPlusPlus``, 2-D, features 32-64-128-256-512 (+32 final) x ``width``, final output only.

    Zhou et al.'s filter counts (MONAI's default is the smaller 32-32-64-128-256); no deep
    supervision. Inputs: sides a multiple of 16.
    """
    from monai.networks.nets import BasicUNetPlusPlus

    _positive_int(in_channels, "in_channels")
    _positive_int(num_classes, "num_classes")
    net = BasicUNetPlusPlus(spatial_dims=2, in_channels=in_channels, out_channels=num_classes,
                            features=_scaled(_UNETPP_FEATURES, width), deep_supervision=False, dropout=dropout)
    return MonaiSegmenter(net, in_channels=in_channels, size_factor=16, name="unetpp")


@register("attention_unet", chapter=CHAPTER)
def attention_unet(in_channels: int = 1, num_classes: int = 2, *, width: float = 1.0,
                   dropout: float = 0.0) -> MonaiSegmenter:
    """Attention U-Net: MONAI ``AttentionUnet``, 2-D, channels 64-128-256-512-1024 (x ``width``), strides 2.

    Same channel counts as ``unet`` so that the attention gates are the difference.
    Inputs: sides a multiple of 16.
    """
    from monai.networks.nets import AttentionUnet

    _positive_int(in_channels, "in_channels")
    _positive_int(num_classes, "num_classes")
    net = AttentionUnet(spatial_dims=2, in_channels=in_channels, out_channels=num_classes,
                        channels=_scaled(_UNET_CHANNELS, width), strides=(2, 2, 2, 2), dropout=dropout)
    return MonaiSegmenter(net, in_channels=in_channels, size_factor=16, name="attention_unet")
