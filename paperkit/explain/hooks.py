"""Forward hooks that expose (and optionally perturb) a classifier's conv feature maps.

:class:`FeatureTaps` registers one forward hook per chosen ``nn.Conv2d``. Each hook

* adds an optional noise tensor to the layer's output (the ``m + sigma`` of Model Doctor's Eq. 4),
* keeps the (noisy) map so gradients can be taken with respect to it, and
* passes a *clone* downstream, so an in-place ReLU after the conv cannot overwrite the
  kept tensor (the gradient is then taken at the conv output, as the official code does).

With ``repeat=J`` the first hooked layer reached in a forward pass repeats its output J times
along the batch (row ``j * B + i``) before the noise is added, so the layers before it run once
per image instead of once per noise draw (they see no noise, so the J copies would be equal).

Layers are chosen by name (``model.named_modules()`` names) or as "the last k Conv2d layers",
at one of two points (:func:`feature_point_names`):

* ``point="conv"``: the Conv2d's own output, before BatchNorm and the activation (the official
  code's hook point);
* ``point="activation"``: the output of the activation module registered after the Conv2d and
  before the next one (the paper's Eq. 1, ``m = f(c * m')`` with f the activation). A Conv2d with
  no activation of its own before the next Conv2d is tapped at its output. An activation module
  a network calls several times per forward (torchvision's ResNet blocks reuse one ``relu``)
  keeps the output of its last call (the block's output); noise is added at every call.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

NoiseFn = Callable[[str, torch.Tensor], torch.Tensor | None]


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names of every ``nn.Conv2d`` of ``model`` in registration (roughly forward) order."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def select_conv_layers(model: nn.Module, layers: Sequence[str] | str | int | None = 1) -> list[str]:
    """Resolve a layer choice to Conv2d names.

    ``layers`` is an int k (the last k Conv2d layers), a name or a list of names. Unknown
    names, or names that are not ``nn.Conv2d``, raise ``ValueError`` listing the choices.
    """
    convs = conv_layer_names(model)
    if not convs:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer to hook")
    if layers is None:
        layers = 1
    if isinstance(layers, int):
        if not 1 <= layers <= len(convs):
            raise ValueError(f"layers={layers}: expected 1..{len(convs)} (the model has {len(convs)} Conv2d layers)")
        return convs[-layers:]
    names = [layers] if isinstance(layers, str) else list(layers)
    unknown = [n for n in names if n not in convs]
    if unknown:
        shown = ", ".join(convs[-8:])
        raise ValueError(f"layers {unknown} are not Conv2d layers of {type(model).__name__}; "
                         f"expected names from conv_layer_names(model) (the last ones: {shown})")
    return names


POINTS = ("conv", "activation")
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Hardswish, nn.Hardtanh, nn.Sigmoid, nn.Tanh)


def activation_after(model: nn.Module) -> dict[str, str | None]:
    """Each Conv2d name -> the activation module registered after it and before the next Conv2d (None if none)."""
    found: dict[str, str | None] = {}
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            last = name
            found[name] = None
        elif last is not None and found[last] is None and isinstance(module, ACTIVATIONS):
            found[last] = name
    return found


def feature_point_names(model: nn.Module, point: str = "conv") -> dict[str, str]:
    """Each Conv2d name -> the module whose output is tapped at ``point`` (``"conv"`` or ``"activation"``)."""
    if point not in POINTS:
        raise ValueError(f"point={point!r}: expected one of {POINTS}")
    if point == "conv":
        return {c: c for c in conv_layer_names(model)}
    return {c: a or c for c, a in activation_after(model).items()}


def select_feature_layers(model: nn.Module, layers: Sequence[str] | str | int | None = 1,
                          point: str = "conv") -> list[str]:
    """Resolve a layer choice to the module names to tap.

    An int k means the last k Conv2d layers, each at ``point`` (:func:`feature_point_names`; two
    Conv2d sharing a tap give one name). Names may be Conv2d names or tap names of either point,
    and are used as given. Unknown names raise ``ValueError`` listing the choices.
    """
    taps = feature_point_names(model, point)
    if isinstance(layers, int) or layers is None:
        convs = select_conv_layers(model, layers)
        return list(dict.fromkeys(taps[c] for c in convs))
    names = [layers] if isinstance(layers, str) else list(layers)
    valid = set(taps) | set(feature_point_names(model, "activation").values())
    unknown = [n for n in names if n not in valid]
    if unknown:
        shown = ", ".join(list(taps.values())[-8:])
        raise ValueError(f"layers {unknown} are not Conv2d layers of {type(model).__name__} or the activations "
                         f"after them; expected names from feature_point_names(model) (the last ones: {shown})")
    return names


def tap_channels(model: nn.Module, names: Sequence[str]) -> dict[str, int]:
    """Output channels of each tap: a Conv2d's own, or the Conv2d's whose activation it is."""
    modules = dict(model.named_modules())
    owner = {a: c for c, a in activation_after(model).items() if a is not None}
    return {n: modules[n if isinstance(modules[n], nn.Conv2d) else owner[n]].out_channels for n in names}


class FeatureTaps:
    """Context manager hooking the named Conv2d layers of ``model``.

    After a forward pass, ``taps.features[name]`` holds each layer's output (plus noise, if
    ``noise_fn(name, output)`` returned a tensor), part of the autograd graph, so
    ``torch.autograd.grad(score, taps.features[name])`` is the gradient of Model Doctor's Eq. 2.
    ``noise_fn`` can be changed between passes; ``None`` means no noise. ``repeat`` (>= 1) is
    described in the module docstring; a tensor made before the first hooked layer and used
    after it (a skip connection) then has the wrong batch size and the forward raises.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str] | str | int | None = 1,
                 noise_fn: NoiseFn | None = None, repeat: int = 1, point: str = "conv"):
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"repeat={repeat!r}: expected a positive integer")
        self.model = model
        self.layers = select_feature_layers(model, layers, point)
        self._calls: dict[str, int] = {}
        self.noise_fn = noise_fn
        self.repeat = repeat
        self.features: dict[str, torch.Tensor] = {}
        self._handles: list = []
        self._repeated = False  # reset at the start of every forward pass of the model

    def _hook(self, name: str):
        def hook(module, inputs, output):
            repeated = self.repeat > 1 and not self._repeated
            if repeated:
                output = output.repeat(self.repeat, *([1] * (output.ndim - 1)))
                self._repeated = True
            call = self._calls.get(name, 0)
            self._calls[name] = call + 1
            key = name if call == 0 else f"{name}#{call}"  # a module called again gets its own noise
            noise = self.noise_fn(key, output) if self.noise_fn is not None else None
            if noise is None:
                kept = output
            elif repeated:  # the repeated copy is ours (no autograd node saves it): add in place
                kept = output.add_(noise.to(output.dtype))
            else:
                kept = output + noise.to(output.dtype)
            self.features[name] = kept
            return kept.clone()  # downstream in-place ops must not touch the kept tensor
        return hook

    def __enter__(self) -> "FeatureTaps":
        modules = dict(self.model.named_modules())
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in self.layers]
        self._handles.append(self.model.register_forward_pre_hook(self._new_pass))
        return self

    def _new_pass(self, module, inputs) -> None:
        self._repeated = False
        self._calls = {}

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove the hooks and drop the kept feature maps."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.features = {}

    def channels(self) -> dict[str, int]:
        """Output channels of each hooked layer."""
        return tap_channels(self.model, self.layers)
