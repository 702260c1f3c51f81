"""Wall-time measurements: models timed side by side, and the inference time per sample shown in tables.

A cost claim ("the temporal shift adds no cost over TSN", "TSM infers faster than a 3D ResNet") is
judged on :func:`time_side_by_side`: the models run one step each in turn on the same input, after a
warm-up, for several rounds, so that both see the same machine load, caches and decoded data; the
median step of each model and the ratio of two medians, with the interquartile range of the
per-round ratios as its spread (:class:`Ratio`), are the measurement. Training wall time per epoch is
not: whichever model trains first pays for decoding the volumes. ``bench/`` uses the same helper.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from . import step_cap
from .runtime import resolve_device

__all__ = ["Ratio", "SideBySide", "inference_ms_per_sample", "inference_step", "time_side_by_side", "training_step"]


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Ratio:
    """``median(a) / median(b)`` of a :class:`SideBySide` measurement, with the interquartile range
    ``[q1, q3]`` of the per-round ratios ``a_i / b_i`` as its spread."""

    a: str
    b: str
    value: float
    q1: float
    q3: float
    rounds: int

    def describe(self) -> str:
        return (f"{self.a}/{self.b} {self.value:.2f}x (per-round ratios' interquartile range "
                f"{self.q1:.2f}-{self.q3:.2f}, {self.rounds} interleaved rounds)")


@dataclass(frozen=True)
class SideBySide:
    """Seconds per step of several models timed in interleaved rounds: ``seconds[name][i]`` is round ``i``.

    ``what`` says what one step is (e.g. a training step on clips of a given shape), ``device`` where it ran.
    """

    seconds: Mapping[str, tuple[float, ...]]
    warmup: int
    device: str = "cpu"
    what: str = ""

    @property
    def names(self) -> list[str]:
        return list(self.seconds)

    @property
    def rounds(self) -> int:
        return min((len(v) for v in self.seconds.values()), default=0)

    def median(self, name: str) -> float:
        """The median seconds per step of ``name``."""
        if name not in self.seconds:
            raise KeyError(f"{name!r} was not timed here; timed: {', '.join(self.seconds)}")
        return float(statistics.median(self.seconds[name]))

    def ratio(self, a: str, b: str) -> Ratio:
        """``a``'s median step over ``b``'s, with the interquartile range of the per-round ratios."""
        value = self.median(a) / self.median(b)  # a KeyError names a model that was not timed
        per_round = np.asarray(self.seconds[a], dtype=float) / np.asarray(self.seconds[b], dtype=float)
        q1, q3 = np.percentile(per_round, [25, 75])
        return Ratio(a, b, value, float(q1), float(q3), len(per_round))


def time_side_by_side(steps: Mapping[str, Callable[[], object]], *, warmup: int = 2, rounds: int = 7,
                      device: str | torch.device | None = None, what: str = "",
                      clock: Callable[[], float] = time.perf_counter) -> SideBySide:
    """Time each callable of ``steps`` (name -> one step) once per round, interleaved, after ``warmup`` rounds.

    The model that goes first changes from round to round, so no model always pays for a cold
    cache; the warm-up rounds are run and not kept. On CUDA the device is synchronised around
    every step. ``clock`` is a seconds counter (a fake one in tests). Under a step cap
    (:mod:`paperkit.step_cap`) there is no warm-up and at most ``cap`` rounds: the run only checks.
    """
    if not steps:
        raise ValueError("time_side_by_side: expected at least one step to time")
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds={rounds}, warmup={warmup}: expected rounds >= 1 and warmup >= 0")
    if step_cap.current() is not None:
        warmup, rounds = 0, min(rounds, step_cap.current())
    dev = None if device is None else resolve_device(device)
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + rounds):
        first = r % len(names)
        for name in names[first:] + names[:first]:
            _sync(dev)
            t0 = clock()
            steps[name]()
            _sync(dev)
            if r >= warmup:
                times[name].append(clock() - t0)
    return SideBySide({n: tuple(t) for n, t in times.items()}, warmup, str(dev or "cpu"), what)


def training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float = 1e-3) -> Callable[[], None]:
    """One training step of ``model`` on ``(x, y)`` as a callable: forward, cross-entropy, backward, Adam step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def inference_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One forward pass of ``model`` on ``x`` in eval mode without gradients, as a callable."""

    @torch.no_grad()
    def step() -> None:
        model.eval()
        model(x)

    return step


def inference_ms_per_sample(model: nn.Module, example: torch.Tensor, *, device: str | torch.device = "auto",
                            warmup: int = 2, repeats: int = 5) -> float:
    """Median wall time of ``model(example)`` in eval mode, divided by the batch size (ms).

    ``example`` is one batch (its first dimension is the batch); the model's train/eval mode is restored.
    This is the single-model column of the chapters' tables; comparisons use :func:`time_side_by_side`.
    """
    if example.ndim < 2 or example.shape[0] < 1:
        raise ValueError(f"example has shape {tuple(example.shape)}: expected a batch (N, ...) with N >= 1")
    dev = resolve_device(device)
    was_training = model.training
    model.to(dev)
    timed = time_side_by_side({"model": inference_step(model, example.to(dev))}, warmup=warmup, rounds=repeats,
                              device=dev)
    model.train(was_training)
    return 1000.0 * timed.median("model") / example.shape[0]
