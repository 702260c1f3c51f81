"""Video-style augmentation for MRI volumes read as clips (Video4MRI §3.3, Table 3).

Two levels, both built on ``torchvision.transforms.v2``:

* **per volume** (:class:`VolumeTransform`): random resized crop, brightness and a rotation in
  [-15, 15] degrees. A volume ``(C, T, H, W)`` is handed to torchvision as a
  ``tv_tensors.Video`` ``(T, C, H, W)``, for which v2 draws its random parameters *once per
  call*: every frame (slice) gets the same crop, brightness and angle, so the volume stays
  spatially consistent along ``T``.
* **per batch** (:class:`BatchMix`): spatial CutMix with probability 0.6 or MixUp with
  probability 0.4 (``v2.RandomChoice``); the same box / weight applies to all frames of a clip.
  Targets become soft labels (rows summing to 1); train with :func:`soft_cross_entropy` (which is
  ``torch.nn.functional.cross_entropy``, accepting class indices or probabilities). The paper mixes
  only in the first 80 of 100 epochs (:func:`mix_epochs`, :meth:`BatchMix.set_epoch`) and
  ablates none / CutMix / MixUp / both (``mode``).

Settings the paper does not state, chosen here and exposed as arguments: crop scale
(0.5-1.0 of the slice area; torchvision's 0.08 would often cut most of the brain away),
brightness factor range 1 +/- 0.2, and Beta(1, 1) mixing weights (torchvision's default).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["CROP_SCALE", "MIX_MODES", "BatchMix", "RandomBrightness", "VolumeTransform", "mix_epochs",
           "soft_cross_entropy"]

MIX_MODES = ("none", "cutmix", "mixup", "both")


class RandomBrightness(v2.Transform):
    """Multiply intensities by one random factor in ``[1 - brightness, 1 + brightness]``.

    Unlike ``v2.ColorJitter(brightness=...)`` it does not clamp floats to [0, 1]: the paper feeds
    raw, unnormalised MRI intensities. One factor per call, hence per volume.
    """

    def __init__(self, brightness: float = 0.2):
        super().__init__()
        if not 0 <= brightness < 1:
            raise ValueError(f"brightness={brightness}: expected a value in [0, 1)")
        self.brightness = float(brightness)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        low, high = 1 - self.brightness, 1 + self.brightness
        return {"factor": float(torch.empty(()).uniform_(low, high))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return tv_tensors.wrap(inpt * params["factor"], like=inpt) if isinstance(inpt, tv_tensors.TVTensor) \
            else inpt * params["factor"]


# Area range of the training random resized crop. The Video4MRI paper names the crop but not its
# range; this is the upper half of torchvision's default (0.08, 1.0), milder for whole-brain frames.
CROP_SCALE: tuple[float, float] = (0.5, 1.0)


class VolumeTransform:
    """Per-volume transform for ``(C, T, H, W)`` clips, one random draw shared by all ``T`` frames.

    Args:
        size: output frame size (int or ``(H, W)``); None keeps the input size (no crop/resize).
        train: random augmentation if True; otherwise only a resize to ``size`` (if given).
        crop_scale: area range of :class:`v2.RandomResizedCrop` (None = no crop, plain resize).
        brightness: brightness factor half-range (0 disables).
        degrees: rotation range +/- degrees (0 disables; the paper uses 15).
        fill: value for the corners a rotation uncovers (0 suits raw or min-max scaled MRI,
            whose background is 0; for z-scored volumes pass their background value).

    A batch ``(B, C, T, H, W)`` is transformed volume by volume (each gets its own draw), which
    lets the augmentation run on the GPU after the batch is loaded.
    """

    def __init__(self, size: int | Sequence[int] | None = None, train: bool = True,
                 crop_scale: tuple[float, float] | None = CROP_SCALE, brightness: float = 0.2,
                 degrees: float = 15.0, fill: float = 0.0):
        if crop_scale is not None and not (0 < crop_scale[0] <= crop_scale[1] <= 1):
            raise ValueError(f"crop_scale={crop_scale}: expected 0 < low <= high <= 1")
        if degrees < 0:
            raise ValueError(f"degrees={degrees}: expected a non-negative rotation range")
        steps: list[v2.Transform] = []
        if train and size is not None and crop_scale is not None:
            steps.append(v2.RandomResizedCrop(size, scale=crop_scale, antialias=True))
        elif size is not None:
            steps.append(v2.Resize(size, antialias=True))
        if train and brightness > 0:
            steps.append(RandomBrightness(brightness))
        if train and degrees > 0:
            # Bilinear keeps the slice smooth; the fill should match the MRI background.
            steps.append(v2.RandomRotation(degrees, interpolation=v2.InterpolationMode.BILINEAR, fill=float(fill)))
        self.transform = v2.Compose(steps)

    def __call__(self, volume: torch.Tensor) -> torch.Tensor:
        if volume.ndim == 5:
            return torch.stack([self(v) for v in volume])
        if volume.ndim != 4:
            raise ValueError(f"VolumeTransform expects a volume (C, T, H, W) or a batch (B, C, T, H, W), "
                             f"got shape {tuple(volume.shape)}")
        video = tv_tensors.Video(volume.transpose(0, 1))  # (T, C, H, W): v2's video layout
        return self.transform(video).as_subclass(torch.Tensor).transpose(0, 1).contiguous()

    def __repr__(self) -> str:
        return f"VolumeTransform({self.transform})"


def mix_epochs(epochs: int, fraction: float = 0.8) -> int:
    """Number of leading epochs with mix-based augmentation (the paper: 80 of 100)."""
    return int(round(epochs * fraction))


class BatchMix:
    """Batch-level CutMix / MixUp for clips ``(B, C, T, H, W)`` with integer labels ``(B,)``.

    Args:
        num_classes: classes of the labels.
        mode: ``"both"`` (CutMix with probability ``cutmix_p``, else MixUp; the paper),
            ``"cutmix"``, ``"mixup"`` or ``"none"`` (Table 3's ablations).
        cutmix_p: probability of CutMix in ``"both"`` mode (0.6; MixUp gets the rest).
        alpha: Beta(alpha, alpha) parameter of the mixing weight.
        until_epoch: mixing is switched off from this epoch on (0-based; see :meth:`set_epoch`),
            e.g. ``mix_epochs(100)`` = 80. None: always on.

    Calling it returns ``(clips, soft_labels)``; soft labels are float ``(B, num_classes)`` rows
    summing to 1, also when mixing is off (then one-hot), so the loss sees one target type.
    """

    def __init__(self, num_classes: int = 2, mode: str = "both", cutmix_p: float = 0.6, alpha: float = 1.0,
                 until_epoch: int | None = None):
        if mode not in MIX_MODES:
            raise ValueError(f"mode={mode!r}: expected one of {', '.join(MIX_MODES)}")
        if not 0 <= cutmix_p <= 1:
            raise ValueError(f"cutmix_p={cutmix_p}: expected a probability in [0, 1]")
        self.num_classes, self.mode, self.until_epoch = num_classes, mode, until_epoch
        self.enabled = True
        cutmix, mixup = v2.CutMix(num_classes=num_classes, alpha=alpha), v2.MixUp(num_classes=num_classes, alpha=alpha)
        self.mixer = {"none": None, "cutmix": cutmix, "mixup": mixup,
                      "both": v2.RandomChoice([cutmix, mixup], p=[cutmix_p, 1 - cutmix_p])}[mode]

    def set_epoch(self, epoch: int) -> None:
        """Enable mixing for 0-based ``epoch`` iff it comes before ``until_epoch``.

        With :func:`paperkit.train.fit`, pass ``on_epoch_start=mix.set_epoch``: fit calls it with the
        0-based index before every epoch, including the first one after a resume.
        """
        self.enabled = self.until_epoch is None or epoch < self.until_epoch

    def __call__(self, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if clips.ndim != 5:
            raise ValueError(f"BatchMix expects clips (B, C, T, H, W), got shape {tuple(clips.shape)}")
        if labels.ndim != 1 or labels.shape[0] != clips.shape[0] or labels.is_floating_point():
            raise ValueError(f"BatchMix expects integer labels of shape ({clips.shape[0]},), "
                             f"got {labels.dtype} {tuple(labels.shape)}")
        if self.mixer is None or not self.enabled:
            return clips, F.one_hot(labels.long(), self.num_classes).to(clips.dtype)
        video = tv_tensors.Video(clips.transpose(1, 2))  # (B, T, C, H, W): one box / weight per clip pair
        mixed, soft = self.mixer(video, labels.long())
        return mixed.as_subclass(torch.Tensor).transpose(1, 2).contiguous(), soft.to(clips.dtype)

    def forward(self, model: torch.nn.Module, batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``fit(forward=mix.forward)``: mix ``batch[0], batch[1]`` and return ``(logits, soft_labels)``."""
        clips, soft = self(batch[0], batch[1])
        return model(clips), soft

    def __repr__(self) -> str:
        return f"BatchMix(mode={self.mode!r}, enabled={self.enabled}, until_epoch={self.until_epoch})"


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy for class-index targets ``(B,)`` or soft-label targets ``(B, K)`` (mixed labels).

    ``torch.nn.functional.cross_entropy`` handles both; this only checks the soft labels' shape
    so that a wrong target fails with a message rather than a silent broadcast.
    """
    if target.is_floating_point() and target.shape != logits.shape:
        raise ValueError(f"soft targets must have the logits' shape {tuple(logits.shape)}, got {tuple(target.shape)}")
    return F.cross_entropy(logits, target, label_smoothing=label_smoothing)
