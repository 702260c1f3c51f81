"""The one training loop every chapter uses.

Explicit on purpose (nanoGPT-style): the caller builds the model, loss, optimizer and
scheduler; :func:`fit` runs epochs with

* a seeded, resumable batch order (:class:`paperkit.distributed.GlobalBatchSampler`),
* bf16 autocast on CUDA (``amp="auto"``), gradient accumulation, optional clipping,
* DistributedDataParallel when launched by ``torchrun`` (the batch size is the global batch),
* an atomic checkpoint after every epoch and exact resume from it,
* evaluation, early stopping on a monitored metric, and per-epoch history,
* one tqdm bar with the running loss.

Its settings come in three small groups: :class:`Batches` (how the data is cut into batches),
:class:`Steps` (how each optimizer step is made) and :class:`Evaluation` (what happens after
each epoch: evaluate, stop early, keep the best weights).

Every epoch's randomness is derived from ``(seed, epoch, rank)``, so a run killed after
epoch k and restarted ends with the same weights as an uninterrupted one (same device).
"""
from __future__ import annotations

import contextlib
import math
import numbers
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from . import cost, distributed, step_cap
from .atomic import torch_save
from .runtime import default_num_workers, derive_seed, loader_generator, resolve_device, seed_everything, seed_worker

Batch = Any
ForwardFn = Callable[[nn.Module, Batch], tuple[Any, Any]]
AMP_CHOICES = ("auto", "bf16", "off", None)


def steps_per_epoch(n_samples: int, batch_size: int, accumulate: int = 1, drop_last: bool = False) -> int:
    """Optimizer steps in one epoch (what a per-step scheduler needs to know up front)."""
    batches = n_samples // batch_size if drop_last else math.ceil(n_samples / batch_size)
    return math.ceil(batches / accumulate)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Batches:
    """How :func:`fit` cuts the training set into batches.

    ``size`` is the *global* batch per forward pass: under ``torchrun`` each process takes
    ``size / world_size`` samples of every batch. ``shuffle`` draws a new seeded order every
    epoch; ``drop_last`` drops a final short batch; ``num_workers`` and ``collate_fn`` go to the
    ``DataLoader`` (``num_workers=None``: :func:`paperkit.runtime.default_num_workers`, i.e. worker
    processes on CUDA, none on the CPU). The loader is made afresh each epoch, its workers seeded
    from ``(seed, epoch, rank)``, so a resumed run draws the same augmentations; workers are
    therefore not persistent (their start-up is paid once per epoch, small beside a GPU epoch).
    """

    size: int
    shuffle: bool = True
    drop_last: bool = False
    num_workers: int | None = None
    collate_fn: Callable | None = None

    def __post_init__(self):
        if not _is_int(self.size) or self.size < 1:
            raise ValueError(f"Batches(size={self.size!r}): expected a positive number of samples per batch")
        if self.num_workers is not None and (not _is_int(self.num_workers) or self.num_workers < 0):
            raise ValueError(f"Batches(num_workers={self.num_workers!r}): expected 0 (load in this process), more, "
                             "or None (the device's default)")


@dataclass(frozen=True)
class Steps:
    """How :func:`fit` makes each optimizer step.

    ``accumulate=k`` sums the gradients of k batches per step (the optimizer then sees
    ``k * Batches.size`` samples); ``grad_clip`` clips their total norm; ``amp`` is ``"auto"``
    (bf16 autocast on CUDA, off on CPU), ``"bf16"`` (forced) or ``"off"``; ``channels_last`` puts
    the model and 4-D inputs in that memory layout (faster 2D convolutions on CUDA); the
    scheduler is stepped after every optimizer step (``scheduler_interval="step"``) or every
    epoch (``"epoch"``). A ``ReduceLROnPlateau`` is always stepped per epoch with the monitored value.
    """

    accumulate: int = 1
    grad_clip: float | None = None
    amp: str | None = "auto"
    channels_last: bool = False
    scheduler_interval: str = "step"

    def __post_init__(self):
        if not _is_int(self.accumulate) or self.accumulate < 1:
            raise ValueError(f"Steps(accumulate={self.accumulate!r}): expected 1 or more batches per optimizer step")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"Steps(grad_clip={self.grad_clip!r}): expected a positive gradient norm, or None")
        if self.amp not in AMP_CHOICES and self.amp is not False:
            raise ValueError(f"Steps(amp={self.amp!r}): expected 'auto' (bf16 on CUDA), 'bf16' or 'off'")
        if self.scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"Steps(scheduler_interval={self.scheduler_interval!r}): expected 'step' or 'epoch'")


@dataclass(frozen=True)
class Evaluation:
    """What :func:`fit` does after each epoch, besides writing the checkpoint.

    ``evaluate(model) -> {metric: value}`` runs on the main process, in eval mode under
    ``no_grad``; its results join the history. ``monitor`` (an evaluated metric, or
    ``"train_loss"``/``"lr"``) with ``mode`` ``"max"``/``"min"`` tracks the best epoch (an
    improvement must exceed ``min_delta``); ``patience`` stops after that many epochs without
    one; ``restore_best`` loads the best epoch's weights at the end. ``stop_if(epoch_record) ->
    bool`` is any other stopping rule (e.g. the learning rate below a floor).
    """

    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None
    monitor: str | None = None
    mode: str = "max"
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = False
    stop_if: Callable[[Mapping[str, Any]], bool] | None = None

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise ValueError(f"Evaluation(mode={self.mode!r}): expected 'max' or 'min'")
        if self.patience is not None and (not _is_int(self.patience) or self.patience < 0):
            raise ValueError(f"Evaluation(patience={self.patience!r}): expected a number of epochs (0 or more), "
                             "or None")
        if not self.min_delta >= 0:
            raise ValueError(f"Evaluation(min_delta={self.min_delta!r}): expected 0 or a positive margin")
        if (self.patience is not None or self.restore_best) and self.monitor is None:
            raise ValueError("Evaluation: early stopping (patience=) and restore_best need monitor= "
                             "(an evaluated metric)")
        if self.monitor not in (None, "train_loss", "lr") and self.evaluate is None:
            raise ValueError(f"Evaluation(monitor={self.monitor!r}) needs evaluate= to compute it")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# --------------------------------------------------------------------------- state and results


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs."""

    monitor: str
    mode: str = "max"
    patience: int | None = None
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0

    def __post_init__(self):
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode={self.mode!r}: expected 'max' or 'min'")

    def update(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        """Record this epoch's metrics; return True if it is the best so far."""
        if self.monitor not in metrics:
            raise KeyError(f"monitor={self.monitor!r} is not among the epoch's metrics {sorted(metrics)}")
        value = float(metrics[self.monitor])
        better = self.best is None or (value > self.best + self.min_delta if self.mode == "max"
                                       else value < self.best - self.min_delta)
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


@dataclass
class FitResult:
    """What :func:`fit` returns: the per-epoch history and how training ended."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best: float | None = None
    stopped_early: bool = False
    resumed_from_epoch: int | None = None
    capped: bool = False  # stopped by the process-wide step cap (paperkit.step_cap), not by its epochs

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)


def _to_device(batch: Batch, device: torch.device, channels_last: bool) -> Batch:
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device, channels_last) for v in batch)
    return batch


def _default_forward(model: nn.Module, batch: Batch) -> tuple[Any, Any]:
    if not isinstance(batch, (list, tuple)) or len(batch) < 2:
        raise TypeError("fit() without forward= expects batches (inputs, targets, ...); "
                        "pass forward=lambda model, batch: (output, target) for other batch layouts")
    return model(batch[0]), batch[1]


def _autocast_dtype(amp: str | None, device: torch.device) -> torch.dtype | None:
    if amp in (None, "off", False):
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    raise ValueError(f"amp={amp!r}: expected 'auto' (bf16 on CUDA), 'bf16' or 'off'")


@dataclass
class _Loop:
    """What the steps of one :func:`fit` call share: the model, its optimizer and the settings."""

    model: nn.Module
    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    data: Dataset
    loss: Callable[[Any, Any], torch.Tensor]
    forward: ForwardFn
    optimizer: torch.optim.Optimizer
    scheduler: Any
    batches: Batches
    steps: Steps
    evaluation: Evaluation
    device: torch.device
    ctx: distributed.DistContext
    autocast_dtype: torch.dtype | None
    seed: int
    epochs: int
    checkpoint: Path | None
    early: EarlyStopping | None = None
    best_state: dict | None = None  # the best epoch's weights, kept in memory for restore_best
    steps_done: int = 0  # optimizer steps made by this call (the step cap counts them)
    desc: str = ""  # the stage's name in progress bars and cost records

    @property
    def plateau(self) -> bool:
        return isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    @property
    def best_path(self) -> Path | None:
        return self.checkpoint.with_name(self.checkpoint.name + ".best.pt") if self.checkpoint else None


# --------------------------------------------------------------------------- the loop


def fit(
    model: nn.Module,
    train_data: Dataset,
    *,
    loss: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batches: Batches,
    scheduler: Any | None = None,
    steps: Steps = Steps(),
    evaluation: Evaluation = Evaluation(),
    forward: ForwardFn | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = True,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[int, Mapping[str, Any]], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs; return the history and how it ended.

    ``loss(output, target) -> scalar``; ``forward(model, batch) -> (output, target)`` adapts other
    batch layouts (the default takes ``batch[0], batch[1]``), and is where batch-level
    augmentation such as CutMix/MixUp goes. ``batches``, ``steps`` and ``evaluation`` are the
    settings of :class:`Batches`, :class:`Steps` and :class:`Evaluation`.
    ``checkpoint`` is written atomically after every epoch (model, optimizer, scheduler, history,
    early-stopping state); with ``resume=True`` an existing one is continued. The best weights go
    to ``<checkpoint>.best.pt`` when ``evaluation.restore_best`` is set.
    ``on_epoch_start(epoch)`` (0-based) runs before each epoch's first batch, also after a resume
    (e.g. to switch epoch-dependent augmentation); ``on_epoch_end(epoch, record)`` after the
    checkpoint is written. Under a step cap (:mod:`paperkit.step_cap`, a chapter's ``max_steps``)
    the call stops after that many optimizer steps, ends the epoch it is in and sets ``result.capped``.

    On the CPU, ``fit`` turns on ``torch.set_flush_denormal`` for the process (denormal floats
    slow x86 arithmetic many times over; flushing them to zero leaves results unchanged here).
    """
    if epochs < 0:
        raise ValueError(f"epochs={epochs}: expected a non-negative number of epochs")
    settings = (("batches", batches, Batches), ("steps", steps, Steps), ("evaluation", evaluation, Evaluation))
    for name, value, kind in settings:
        if not isinstance(value, kind):
            raise TypeError(f"{name}={value!r}: expected a paperkit.train.{kind.__name__}(...)")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and evaluation.monitor is None:
        raise ValueError("a ReduceLROnPlateau scheduler needs Evaluation(monitor=...) (the metric it watches)")
    loop = _start(model, train_data, loss=loss, forward=forward, optimizer=optimizer, scheduler=scheduler,
                  batches=batches, steps=steps, evaluation=evaluation, device=device, seed=seed, epochs=epochs,
                  checkpoint=checkpoint, desc=desc or type(model).__name__)
    result = _restore(loop) if resume else FitResult()
    start_epoch = result.resumed_from_epoch or 0
    bar = _progress_bar(loop, start_epoch, result.stopped_early, progress, loop.desc)
    for epoch in range(start_epoch, epochs):
        if result.stopped_early or result.capped:
            break
        started = time.perf_counter()
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        train_loss = _train_one_epoch(loop, epoch, bar)
        result.capped = step_cap.current() is not None and loop.steps_done >= step_cap.current()
        record = _end_epoch(loop, epoch, train_loss, started, result)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
    bar.close()
    _finish(loop, result)
    return result


def _start(model: nn.Module, data: Dataset, *, device: str | torch.device, steps: Steps, evaluation: Evaluation,
           forward: ForwardFn | None, checkpoint: str | Path | None, **settings) -> _Loop:
    """Place the model on its device (wrapped in DDP under ``torchrun``) and gather the loop's state."""
    dev = resolve_device(device)
    if dev.type == "cpu":
        # Weights and gradients shrinking towards zero become denormal floats, which x86 CPUs handle many
        # times slower (an lv_segmentation run took 178 s instead of 52 s, same result); flush them to zero.
        torch.set_flush_denormal(True)
    ctx = distributed.setup(dev)
    model.to(dev)
    if steps.channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if ctx.enabled:
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    early = None
    if evaluation.monitor:
        early = EarlyStopping(evaluation.monitor, evaluation.mode, evaluation.patience, evaluation.min_delta)
    return _Loop(model=model, net=net, data=data, forward=forward or _default_forward, steps=steps,
                 evaluation=evaluation, device=dev, ctx=ctx, autocast_dtype=_autocast_dtype(steps.amp, dev),
                 checkpoint=Path(checkpoint) if checkpoint else None, early=early, **settings)


def _restore(loop: _Loop) -> FitResult:
    """Continue from ``loop.checkpoint`` if it exists: weights, optimizer, scheduler, early stopping, history."""
    result = FitResult()
    if loop.checkpoint is None or not loop.checkpoint.exists():
        return result
    try:
        state = torch.load(loop.checkpoint, map_location=loop.device, weights_only=True)
    except Exception as err:  # truncated, corrupt or foreign file: say which and how to recover
        raise RuntimeError(f"{loop.checkpoint}: the training checkpoint cannot be read ({type(err).__name__}; "
                           "a save that was cut short?); delete this file to train from the first epoch") from err
    loop.model.load_state_dict(state["model"])
    loop.optimizer.load_state_dict(state["optimizer"])
    if loop.scheduler is not None and state.get("scheduler") is not None:
        loop.scheduler.load_state_dict(state["scheduler"])
    if loop.early and state.get("early"):
        loop.early.load_state_dict(state["early"])
    result.history = list(state["history"])
    result.stopped_early = bool(state.get("stopped_early", False))
    result.resumed_from_epoch = int(state["epoch"])
    return result


def _progress_bar(loop: _Loop, start_epoch: int, stopped: bool, progress: bool, desc: str) -> tqdm:
    """One bar over the batches still to run (on the main process only)."""
    n_steps = len(distributed.GlobalBatchSampler(len(loop.data), loop.batches.size,
                                                 drop_last=loop.batches.drop_last, ctx=loop.ctx))
    remaining = 0 if stopped else max(0, loop.epochs - start_epoch) * n_steps
    if step_cap.current() is not None:
        remaining = min(remaining, step_cap.current() * loop.steps.accumulate)
    return tqdm(total=remaining, desc=desc, disable=not (progress and loop.ctx.is_main), file=sys.stderr,
                mininterval=1.0, dynamic_ncols=False, ncols=100)


def _loader(loop: _Loop, epoch: int) -> DataLoader:
    """This epoch's batches: a seeded order shared by every process, each taking its share."""
    b = loop.batches
    sampler = distributed.GlobalBatchSampler(len(loop.data), b.size, shuffle=b.shuffle, drop_last=b.drop_last,
                                             seed=loop.seed, epoch=epoch, ctx=loop.ctx)
    workers = default_num_workers(loop.device) if b.num_workers is None else b.num_workers
    return DataLoader(loop.data, batch_sampler=sampler, num_workers=workers, collate_fn=b.collate_fn,
                      pin_memory=loop.device.type == "cuda", worker_init_fn=seed_worker,
                      generator=loader_generator(derive_seed(loop.seed, epoch, loop.ctx.rank, "workers")))


def _train_one_epoch(loop: _Loop, epoch: int, bar: tqdm) -> float:
    """One pass over the training data; returns this process's mean batch loss."""
    seed_everything(derive_seed(loop.seed, epoch, loop.ctx.rank))
    loader = _loader(loop, epoch)
    loop.net.train()
    accumulate, loss_sum, n_batches, done = loop.steps.accumulate, 0.0, len(loader), 0
    cap = step_cap.current()
    loop.optimizer.zero_grad(set_to_none=True)
    for i, batch in enumerate(loader):
        group_start = (i // accumulate) * accumulate
        group_size = min(accumulate, n_batches - group_start)  # the last group may be short
        last_in_group = i == group_start + group_size - 1
        where = f"epoch {epoch + 1}, batch {i + 1}"
        if cap is not None and loop.steps_done == 0 and i == 0:  # a capped run measures what a full one costs
            value = _measured_backward(loop, batch, group_size, last_in_group, where, n_batches)
        else:
            value = _backward(loop, batch, group_size, last_in_group, where)
        if last_in_group:
            _optimizer_step(loop)
            loop.steps_done += 1
        loss_sum, done = loss_sum + float(value.detach()), done + 1
        bar.update(1)
        bar.set_postfix_str(f"epoch {epoch + 1}/{loop.epochs} loss {loss_sum / done:.4f}", refresh=False)
        if cap is not None and loop.steps_done >= cap:
            break
    return loss_sum / max(1, done)


def _backward(loop: _Loop, batch: Batch, group_size: int, last_in_group: bool, where: str) -> torch.Tensor:
    """Forward and backward of one batch; gradients are synchronised across processes only on a group's last."""
    batch = _to_device(batch, loop.device, loop.steps.channels_last)
    sync = contextlib.nullcontext() if (last_in_group or not loop.ctx.enabled) else loop.net.no_sync()
    with sync:
        dtype = loop.autocast_dtype
        with torch.autocast(loop.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            output, target = loop.forward(loop.net, batch)
            value = loop.loss(output, target)
        if not torch.isfinite(value):
            raise FloatingPointError(f"loss became {value.item()} at {where}; "
                                     "lower the learning rate or check the inputs")
        (value / group_size).backward()
    return value


def _measured_backward(loop: _Loop, batch: Batch, group_size: int, last_in_group: bool, where: str,
                       n_batches: int) -> torch.Tensor:
    """:func:`_backward` under a FLOP counter; records the stage's cost (:mod:`paperkit.cost`) on the main process."""
    out = []
    flops, peak_mb, memory = cost.measure(lambda: out.append(_backward(loop, batch, group_size, last_in_group, where)),
                                          loop.device)
    if loop.ctx.is_main:  # one batch of one process measured: a step is `accumulate` batches on every process
        k = loop.steps.accumulate
        cost.record(cost.StageCost(stage=loop.desc, flops_per_step=flops * k * loop.ctx.world_size,
                                   batch_size=loop.batches.size, steps_per_epoch=math.ceil(n_batches / k),
                                   epochs=loop.epochs, peak_memory_mb=peak_mb, memory=memory))
    return out[0]


def _optimizer_step(loop: _Loop) -> None:
    if loop.steps.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(loop.model.parameters(), loop.steps.grad_clip)
    loop.optimizer.step()
    loop.optimizer.zero_grad(set_to_none=True)
    if loop.scheduler is not None and loop.steps.scheduler_interval == "step" and not loop.plateau:
        loop.scheduler.step()


def _end_epoch(loop: _Loop, epoch: int, train_loss: float, started: float, result: FitResult) -> dict[str, Any]:
    """Evaluate, track the best epoch, step a per-epoch scheduler, decide on stopping and write the checkpoint."""
    record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": distributed.mean_across(train_loss, loop.ctx),
                              "lr": loop.optimizer.param_groups[0]["lr"]}
    record.update(_evaluate(loop))
    record["seconds"] = time.perf_counter() - started
    improved = loop.early.update(epoch + 1, record) if loop.early else False
    if loop.scheduler is not None and (loop.steps.scheduler_interval == "epoch" or loop.plateau):
        loop.scheduler.step(record[loop.evaluation.monitor]) if loop.plateau else loop.scheduler.step()
    result.history.append(record)
    stop_if = loop.evaluation.stop_if
    result.stopped_early = bool((loop.early and loop.early.should_stop) or (stop_if and stop_if(record)))
    if loop.ctx.is_main:
        _save(loop, epoch + 1, result, improved)
    distributed.barrier(loop.ctx)
    return record


def _evaluate(loop: _Loop) -> dict[str, float]:
    """``evaluation.evaluate`` on the main process, shared with the others; {} without one."""
    if loop.evaluation.evaluate is None:
        return {}
    metrics = None
    if loop.ctx.is_main:
        loop.model.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in loop.evaluation.evaluate(loop.model).items()}
    return distributed.broadcast_object(metrics, loop.ctx)


def _save(loop: _Loop, epoch: int, result: FitResult, improved: bool) -> None:
    """Keep the best weights (for restore_best) and write the resume checkpoint, both atomically."""
    if improved and loop.evaluation.restore_best:
        loop.best_state = {k: v.detach().clone() for k, v in loop.model.state_dict().items()}
        if loop.best_path:
            torch_save(loop.best_state, loop.best_path)
    if loop.checkpoint:
        torch_save({"epoch": epoch, "model": loop.model.state_dict(), "optimizer": loop.optimizer.state_dict(),
                    "scheduler": loop.scheduler.state_dict() if loop.scheduler is not None else None,
                    "early": loop.early.state_dict() if loop.early else None, "history": result.history,
                    "stopped_early": result.stopped_early}, loop.checkpoint)


def _finish(loop: _Loop, result: FitResult) -> None:
    """Report the best epoch and, with restore_best, load its weights (from memory or ``<checkpoint>.best.pt``)."""
    if loop.early is None:
        return
    result.best, result.best_epoch = loop.early.best, loop.early.best_epoch
    if not loop.evaluation.restore_best:
        return
    best_state = loop.best_state
    if best_state is None and loop.best_path and loop.best_path.exists():
        best_state = torch.load(loop.best_path, map_location=loop.device, weights_only=True)
    if loop.ctx.enabled:
        best_state = distributed.broadcast_object(best_state, loop.ctx)
    if best_state is not None:
        loop.model.load_state_dict(best_state)


@torch.no_grad()
def predict(model: nn.Module, data: Dataset | DataLoader, *, batch_size: int = 32, device: str | torch.device = "auto",
            amp: str | None = "auto", forward: Callable[[nn.Module, Batch], Any] | None = None,
            progress: bool = False, desc: str = "predict") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``model`` over ``data`` in eval mode; return (outputs, targets) concatenated on the CPU.

    ``forward(model, batch) -> (output, target)`` adapts other batch layouts (default:
    ``batch[0]`` in, ``batch[1]`` as target if present). A step cap (:mod:`paperkit.step_cap`) does
    not shorten it: callers line its outputs up with their data (selections, per-item tables), so an
    evaluation set is cut before it is predicted (:func:`paperkit.step_cap.head`).
    """
    dev = resolve_device(device)
    model.to(dev).eval()
    if not isinstance(data, DataLoader):  # workers decode while the device computes; pinned pages copy async
        data = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=default_num_workers(dev),
                          pin_memory=dev.type == "cuda")
    loader = data
    autocast_dtype = _autocast_dtype(amp, dev)
    outputs, targets = [], []
    for batch in tqdm(loader, desc=desc, disable=not progress, file=sys.stderr, mininterval=1.0, ncols=100):
        batch = _to_device(batch, dev, False)
        with torch.autocast(dev.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            if forward is not None:
                out, tgt = forward(model, batch)
            elif isinstance(batch, (list, tuple)):
                out, tgt = model(batch[0]), (batch[1] if len(batch) > 1 else None)
            else:
                out, tgt = model(batch), None
        outputs.append(out.float().cpu())
        if tgt is not None:
            targets.append(tgt.cpu())
    return torch.cat(outputs), (torch.cat(targets) if targets else None)
