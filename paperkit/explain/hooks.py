"""Forward hooks that expose (and optionally perturb) a classifier's conv feature maps.

:class:`FeatureTaps` registers one forward hook per chosen ``nn.Conv2d``. Each hook

* adds an optional noise tensor to the layer's output (the ``m + sigma`` of Model Doctor's Eq. 4),
* keeps the (noisy) map so gradients can be taken with respect to it, and
* passes a *clone* downstream, so an in-place ReLU after the conv cannot overwrite the
  kept tensor (the gradient is then taken at the conv output, as the official code does).

With ``repeat=J`` the first hooked layer reached in a forward pass repeats its output J times
along the batch (row ``j * B + i``) before the noise is added, so the layers before it run once
per image instead of once per noise draw (they see no noise, so the J copies would be equal).

Layers are chosen by name (``model.named_modules()`` names) or as "the last k Conv2d layers".
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
                 noise_fn: NoiseFn | None = None, repeat: int = 1):
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"repeat={repeat!r}: expected a positive integer")
        self.model = model
        self.layers = select_conv_layers(model, layers)
        self.noise_fn = noise_fn
        self.repeat = repeat
        self.features: dict[str, torch.Tensor] = {}
        self._handles: list = []
        self._repeated = False  # reset at the start of every forward pass of the model

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if self.repeat > 1 and not self._repeated:
                output = output.repeat(self.repeat, *([1] * (output.ndim - 1)))
                self._repeated = True
            noise = self.noise_fn(name, output) if self.noise_fn is not None else None
            kept = output + noise.to(output.dtype) if noise is not None else output
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
        modules = dict(self.model.named_modules())
        return {n: modules[n].out_channels for n in self.layers}
