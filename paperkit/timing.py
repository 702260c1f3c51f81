"""Wall-time measurements reported in the chapters (inference ms per sample, seconds per epoch).

These are measurements shown beside the papers' numbers, always with the device they ran on;
speed *targets* are checked in bench/, as ratios measured side by side, never here.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from .runtime import resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def inference_ms_per_sample(model: nn.Module, example: torch.Tensor, *, device: str | torch.device = "auto",
                            warmup: int = 2, repeats: int = 5) -> float:
    """Median wall time of ``model(example)`` in eval mode, divided by the batch size (ms).

    ``example`` is one batch (its first dimension is the batch). The median over ``repeats``
    timed calls after ``warmup`` untimed ones damps the noise of a shared machine.
    """
    if example.ndim < 2 or example.shape[0] < 1:
        raise ValueError(f"example has shape {tuple(example.shape)}: expected a batch (N, ...) with N >= 1")
    dev = resolve_device(device)
    was_training = model.training
    model.to(dev).eval()
    x = example.to(dev)
    for _ in range(warmup):
        model(x)
    _sync(dev)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    model.train(was_training)
    times.sort()
    return 1000.0 * times[len(times) // 2] / example.shape[0]
