"""Initial weights found on disk and never downloaded: the one lookup of every pretrained model.

``weights`` in every builder of :mod:`paperkit.models.cbr`, :mod:`paperkit.models.truncated`
and :mod:`paperkit.models.lge_quality` is one of

* ``None``: random initialisation (the paper's "RI");
* ``"imagenet"``: torchvision's ImageNet checkpoint, read from the torch hub cache
  (``torch.hub.get_dir()/checkpoints/<file>``, the file torchvision itself would have
  downloaded there). This module never downloads: if the file is missing it raises
  :class:`FileNotFoundError` naming the exact path, and :func:`imagenet_weights_available`
  lets a chapter check first and choose its documented substitute;
* a path to a ``.pt``/``.pth`` state dict, e.g. a source model the chapter pretrained itself
  (a bare state dict, or a :func:`paperkit.train.fit` checkpoint with a ``"model"`` entry).

Either way the backbone is copied *strictly* (every backbone tensor must be present with the
right shape) and the classification head is left freshly initialised. A truncated model
(``res_t3``, ``dens_t1``...) takes the matching prefix of its parent's weights: the tensors
its parent has beyond the cut are ignored. With ``in_channels`` other than the source's,
the first convolution's RGB kernel is adapted by timm's rule (for ``in_channels=1``: the RGB
kernels are summed); see :func:`paperkit.models.stem.adapt_stem_weights`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .stem import adapt_stem_weights

# Which ImageNet checkpoint each registered name starts from. Truncated models share their
# parent's file and keep its prefix.
IMAGENET_PARENT: dict[str, str] = {
    "resnet50": "resnet50", "res_t1": "resnet50", "res_t2": "resnet50", "res_t3": "resnet50",
    "res_t4": "resnet50", "res_t5": "resnet50",
    "densenet121": "densenet121", "dens_t1": "densenet121", "dens_t2": "densenet121",
    "dens_t3": "densenet121",
    "cbr_large_t": "cbr_large_t", "cbr_large_w": "cbr_large_w", "cbr_small": "cbr_small",
    "cbr_tiny": "cbr_tiny",
    "resnet34": "resnet34",  # the lge_quality encoder
}

# Architectures for which torchvision publishes ImageNet weights.
TORCHVISION_ARCHS = ("resnet34", "resnet50", "densenet121")


def _torchvision_url(arch: str) -> str:
    # Reading the enum's URL is metadata only; no download API is called anywhere here.
    from torchvision.models import DenseNet121_Weights, ResNet34_Weights, ResNet50_Weights
    return {"resnet34": ResNet34_Weights.IMAGENET1K_V1.url, "resnet50": ResNet50_Weights.IMAGENET1K_V1.url,
            "densenet121": DenseNet121_Weights.IMAGENET1K_V1.url}[arch]


def imagenet_parent(arch: str) -> str:
    """The architecture whose ImageNet checkpoint ``arch`` uses (``"res_t3"`` -> ``"resnet50"``)."""
    if arch not in IMAGENET_PARENT:
        raise ValueError(f"arch={arch!r} has no ImageNet checkpoint mapping; expected one of {sorted(IMAGENET_PARENT)}")
    return IMAGENET_PARENT[arch]


def imagenet_checkpoint_path(arch: str) -> Path:
    """Where the ImageNet checkpoint of ``arch`` (or of its untruncated parent) is looked for.

    For ResNet-34, ResNet-50 and DenseNet-121 this is the file name torchvision downloads to
    (``resnet34-b627a593.pth``, ``resnet50-0676ba61.pth``, ``densenet121-a639ec97.pth``, from
    ``ResNet34_Weights.IMAGENET1K_V1.url`` etc.) in
    ``torch.hub.get_dir()/checkpoints/``. torchvision has no CBR weights; for those the
    conventional place for a self-trained ImageNet CBR is ``<arch>_imagenet.pth`` in the same folder.
    """
    parent = imagenet_parent(arch)
    # torch.hub.get_dir() is read at call time so TORCH_HOME / torch.hub.set_dir() take effect.
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    if parent in TORCHVISION_ARCHS:
        return folder / os.path.basename(_torchvision_url(parent))
    return folder / f"{parent}_imagenet.pth"


def imagenet_weights_available(arch: str) -> bool:
    """Whether ``weights="imagenet"`` can be honoured for ``arch`` without a download."""
    return imagenet_checkpoint_path(arch).is_file()


def _missing_imagenet_message(arch: str, path: Path) -> str:
    parent = imagenet_parent(arch)
    if parent in TORCHVISION_ARCHS:
        how = (f"copy torchvision's checkpoint ({_torchvision_url(parent)}, fetched on a machine with network "
               f"access) to exactly that path, or pass weights=<path to a .pt state dict>")
    else:
        how = (f"torchvision publishes no ImageNet weights for CBR models (Raghu et al. trained their own); "
               f"save the state dict of a {parent} trained on ImageNet to that path, or pass "
               f"weights=<path to a .pt state dict>")
    return (f"weights='imagenet' for {arch!r}: no checkpoint at {path}. Downloads are disabled in paperkit; "
            f"{how}. imagenet_weights_available({arch!r}) tells whether the file is there.")


# Old torchvision DenseNet checkpoints (densenet121-a639ec97.pth among them) name the dense
# layers' modules 'norm.1', 'conv.2'...; the current modules are 'norm1', 'conv2'.
_LEGACY_DENSE_KEY = re.compile(
    r"^(?P<layer>.*\.denselayer\d+)\.(?P<kind>norm|relu|conv)\.(?P<index>[12])"
    r"\.(?P<tensor>weight|bias|running_mean|running_var|num_batches_tracked)$")


def remap_legacy_densenet_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename old DenseNet keys (``...denselayer1.norm.1.weight`` -> ``...denselayer1.norm1.weight``)."""
    out = {}
    for key, value in state.items():
        m = _LEGACY_DENSE_KEY.match(key)
        out[f"{m['layer']}.{m['kind']}{m['index']}.{m['tensor']}" if m else key] = value
    return out


def load_imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """Read the cached ImageNet state dict of ``arch``'s parent (never downloads).

    Raises :class:`FileNotFoundError` naming the path looked in when the file is absent.
    """
    path = imagenet_checkpoint_path(arch)
    if not path.is_file():
        raise FileNotFoundError(_missing_imagenet_message(arch, path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return remap_legacy_densenet_keys(state)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict from ``path``: a bare one, or a checkpoint holding it under ``"model"``/``"state_dict"``.

    A ``module.`` prefix left by (Distributed)DataParallel is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights={str(path)!r}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in several types
        raise ValueError(f"weights={str(path)!r} could not be read as a tensor state dict "
                         f"(torch.load with weights_only=True): {err}") from err
    if isinstance(obj, Mapping):
        for wrapper in ("model", "state_dict"):
            if wrapper in obj and isinstance(obj[wrapper], Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"weights={str(path)!r} does not hold a state dict (a mapping of names to tensors)")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_backbone(model: nn.Module, state: Mapping[str, torch.Tensor], *, head: str, stem_conv: str,
                  source: str = "state dict") -> list[str]:
    """Copy every non-head tensor of ``model`` from ``state``, strictly; return the copied keys.

    ``head`` is the head module's name (its tensors keep their fresh initialisation) and
    ``stem_conv`` the first convolution's name (its kernel is adapted to ``model``'s input
    channels). Keys of ``state`` that ``model`` lacks (a parent's layers beyond a truncation,
    the source's own head) are ignored; a backbone tensor that ``state`` lacks or has with
    another shape is an error naming the keys. BatchNorm's ``num_batches_tracked`` counters,
    absent from old checkpoints, are optional.
    """
    target = model.state_dict()
    merged = dict(target)
    missing, mismatched, copied = [], [], []
    for key, value in target.items():
        if key.startswith(head + "."):
            continue
        if key not in state:
            if not key.endswith("num_batches_tracked"):
                missing.append(key)
            continue
        new = state[key]
        if key == f"{stem_conv}.weight" and new.dim() == 4 and new.shape[1] != value.shape[1]:
            new = adapt_stem_weights(new, value.shape[1], name=f"{source}, {key}")
        if new.shape != value.shape:
            mismatched.append(f"{key}: file {tuple(new.shape)} vs model {tuple(value.shape)}")
            continue
        merged[key] = new.to(dtype=value.dtype)
        copied.append(key)
    if missing or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} backbone tensor(s) missing (first: {', '.join(missing[:3])})")
        if mismatched:
            problems.append(f"{len(mismatched)} with another shape (first: {'; '.join(mismatched[:3])})")
        raise ValueError(f"{source} does not fit {type(model).__name__} {getattr(model, 'arch', '')}: "
                         f"{' and '.join(problems)}. A truncated model can start from a deeper parent's "
                         f"weights, not the reverse.")
    model.load_state_dict(merged, strict=True)
    return copied


def resolve_weights(weights: str | os.PathLike | None, arch: str) -> tuple[dict[str, torch.Tensor] | None, str]:
    """Read the state dict ``weights`` asks for ``arch``: ``(None, "")`` for ``None``, else ``(state, source)``.

    Builders call this before building, so a missing file or an unknown value fails at once.
    """
    if weights is None:
        return None, ""
    if isinstance(weights, str) and weights == "imagenet":
        return load_imagenet_state_dict(arch), f"ImageNet checkpoint {imagenet_checkpoint_path(arch)}"
    if isinstance(weights, (str, os.PathLike)) and Path(weights).is_file():
        return read_state_dict(weights), f"weights={str(weights)!r}"
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and (
            weights.endswith((".pt", ".pth")) or os.sep in weights or "/" in weights)):
        raise FileNotFoundError(f"weights={str(weights)!r}: no such file (expected a .pt/.pth state dict)")
    raise ValueError(f"weights={weights!r} is not understood for {arch!r}: expected None (random init), "
                     f"'imagenet' or a path to a .pt/.pth state dict")


def apply_weights(model: nn.Module, weights: str | os.PathLike | None, *, arch: str, head: str,
                  stem_conv: str) -> nn.Module:
    """Initialise an already built ``model`` (of architecture ``arch``) from ``weights``; see the module docstring."""
    state, source = resolve_weights(weights, arch)
    if state is not None:
        load_backbone(model, state, head=head, stem_conv=stem_conv, source=source)
    return model


def weights_identity(weights: str | os.PathLike | None) -> str | dict | None:
    """What a run key records of a model's initial weights: None, ``"imagenet"``, or a weights file's
    name and content fingerprint -- never its absolute path, so a run keeps its key when the file (or
    the run's out_dir) lies elsewhere, and changes it when the weights change."""
    if not weights:
        return None
    if str(weights) == "imagenet":
        return "imagenet"
    from paperkit.data.fingerprint import fingerprint

    path = Path(weights)
    return {"file": path.name, **fingerprint(path)}


def check_builder_args(arch: str, num_classes: int, in_channels: int) -> None:
    """Fail early, naming the argument, on a class or channel count that is not a positive int."""
    for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arch}: {name}={value!r}; expected a positive int")
