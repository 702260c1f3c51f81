"""What a network's layers do during training: activation statistics and gradient norms.

The paper watches each layer's activations (shape, mean, standard deviation; its Fig. 5, a
DIGITS screen) and gradients while training to see when a layer dies or explodes.
:func:`activation_statistics` gives the first for one batch; :class:`GradientNorms` records the
second at every backward pass, cheaply, through tensor hooks on the layers' weights.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = ["weighted_layers", "activation_statistics", "GradientNorms"]

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def weighted_layers(model: nn.Module, max_layers: int | None = None) -> list[tuple[str, nn.Module]]:
    """The convolution / linear layers of ``model`` in definition order, as ``(name, module)``.

    With ``max_layers``, that many layers spread evenly from the first to the last (a U-Net has
    dozens; a plot of eight tells the same story).
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, _WEIGHTED)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no convolution or linear layer to watch")
    if max_layers is not None and len(layers) > max_layers:
        keep = np.unique(np.linspace(0, len(layers) - 1, max_layers).round().astype(int))
        layers = [layers[i] for i in keep]
    return layers


@torch.no_grad()
def activation_statistics(model: nn.Module, x: torch.Tensor, layers: list[tuple[str, nn.Module]] | None = None
                          ) -> pd.DataFrame:
    """Output shape, mean, std and share of exact zeros of each layer for the batch ``x`` (eval mode).

    One row per layer in ``layers`` (default: :func:`weighted_layers`), plus its parameter count.
    """
    layers = layers if layers is not None else weighted_layers(model)
    rows: dict[str, dict] = {}

    def record(name: str, module: nn.Module):
        def hook(_module, _inputs, output):
            out = output.float()
            rows[name] = {"layer": name, "type": type(module).__name__,
                          "output shape": "x".join(map(str, out.shape[1:])),
                          "mean": float(out.mean()), "std": float(out.std()),
                          "zeros (%)": float((out == 0).float().mean() * 100),
                          "parameters": sum(p.numel() for p in module.parameters())}
        return hook

    handles = [m.register_forward_hook(record(name, m)) for name, m in layers]
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return pd.DataFrame([rows[name] for name, _ in layers if name in rows])


class GradientNorms:
    """Record the L2 norm of each watched layer's weight gradient at every backward pass.

    >>> norms = GradientNorms(model, max_layers=8)   # doctest: +SKIP
    >>> ...train one epoch...
    >>> norms.epoch_means()      # {"grad_norm:conv1.0": 0.12, ...}, then starts a new epoch

    The hooks stay until :meth:`remove` (or the end of a ``with`` block).
    """

    prefix = "grad_norm:"

    def __init__(self, model: nn.Module, layers: list[tuple[str, nn.Module]] | None = None,
                 max_layers: int | None = 8):
        self.layers = layers if layers is not None else weighted_layers(model, max_layers)
        self._values: dict[str, list[float]] = defaultdict(list)
        self._handles = []
        for name, module in self.layers:
            weight = getattr(module, "weight", None)
            if weight is None or not weight.requires_grad:
                continue
            self._handles.append(weight.register_hook(self._recorder(name)))

    def _recorder(self, name: str):
        def hook(grad: torch.Tensor):
            self._values[name].append(float(grad.detach().float().norm()))
        return hook

    @property
    def names(self) -> list[str]:
        """The watched layers' names, in order."""
        return [name for name, _ in self.layers]

    def epoch_means(self, reset: bool = True) -> dict[str, float]:
        """Mean gradient norm per layer since the last call, keyed ``grad_norm:<layer>``."""
        means = {f"{self.prefix}{name}": float(np.mean(self._values[name])) for name in self.names
                 if self._values.get(name)}
        if reset:
            self._values.clear()
        return means

    def remove(self) -> None:
        """Detach the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> "GradientNorms":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
