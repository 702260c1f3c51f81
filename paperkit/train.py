"""The one training loop every chapter uses.

Explicit on purpose (nanoGPT-style): the caller builds the model, loss, optimizer and
scheduler; :func:`fit` runs epochs with

* a seeded, resumable batch order (:class:`paperkit.distributed.GlobalBatchSampler`),
* bf16 autocast on CUDA (``amp="auto"``), gradient accumulation, optional clipping,
* DistributedDataParallel when launched by ``torchrun`` (``batch_size`` is the global batch),
* an atomic checkpoint after every epoch and exact resume from it,
* evaluation, early stopping on a monitored metric, and per-epoch history,
* one tqdm bar with the running loss.

Every epoch's randomness is derived from ``(seed, epoch, rank)``, so a run killed after
epoch k and restarted ends with the same weights as an uninterrupted one (same device).
"""
from __future__ import annotations

import contextlib
import math
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

from . import distributed
from .atomic import torch_save
from .runtime import derive_seed, loader_generator, resolve_device, seed_everything, seed_worker

Batch = Any
ForwardFn = Callable[[nn.Module, Batch], tuple[Any, Any]]


def steps_per_epoch(n_samples: int, batch_size: int, accumulate: int = 1, drop_last: bool = False) -> int:
    """Optimizer steps in one epoch (what a per-step scheduler needs to know up front)."""
    batches = n_samples // batch_size if drop_last else math.ceil(n_samples / batch_size)
    return math.ceil(batches / accumulate)


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


def fit(
    model: nn.Module,
    train_data: Dataset,
    *,
    loss: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    scheduler: Any | None = None,
    scheduler_interval: str = "step",
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    monitor: str | None = None,
    mode: str = "max",
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = False,
    stop_if: Callable[[Mapping[str, Any]], bool] | None = None,
    accumulate: int = 1,
    grad_clip: float | None = None,
    forward: ForwardFn | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = True,
    device: str | torch.device = "auto",
    amp: str | None = "auto",
    channels_last: bool = False,
    num_workers: int = 0,
    collate_fn: Callable | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    on_epoch_end: Callable[[int, Mapping[str, Any]], None] | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs.

    Parameters
    ----------
    loss : ``loss(output, target) -> scalar``; ``forward(model, batch) -> (output, target)``
        adapts other batch layouts (the default takes ``batch[0], batch[1]``), and is where
        batch-level augmentation such as CutMix/MixUp goes.
    batch_size : the *global* batch per forward pass; with ``accumulate=k`` the optimizer
        sees ``k * batch_size`` samples per step. Under ``torchrun`` each process takes
        ``batch_size / world_size`` samples of every batch.
    scheduler, scheduler_interval : stepped after every optimizer step (``"step"``) or epoch
        (``"epoch"``); a ``ReduceLROnPlateau`` is stepped per epoch with ``monitor``'s value.
    evaluate : ``evaluate(model) -> {metric: value}``, run after each epoch on the main
        process, in eval mode under ``no_grad``; its results join the history.
    monitor, mode, patience, min_delta : early stopping on an evaluated metric;
        ``restore_best`` loads the best epoch's weights at the end.
    stop_if : ``stop_if(epoch_record) -> bool`` for other stopping rules (e.g. lr below a floor).
    checkpoint : file written atomically after every epoch (model, optimizer, scheduler,
        history, early-stopping state); with ``resume=True`` an existing one is continued.
        The best weights go to ``<checkpoint>.best.pt`` when ``monitor`` is set.
    amp : ``"auto"`` = bf16 autocast on CUDA, off on CPU; ``"bf16"`` forces it; ``"off"``.
    on_epoch_end : called as ``on_epoch_end(epoch, record)`` after the checkpoint is written.
    on_epoch_start : called as ``on_epoch_start(epoch)`` (0-based) before each epoch's first batch,
        also after a resume, e.g. to switch epoch-dependent augmentation such as mixing.

    On the CPU, ``fit`` turns on ``torch.set_flush_denormal`` for the process (denormal floats
    slow x86 arithmetic many times over; flushing them to zero leaves results unchanged here).
    """
    if epochs < 0:
        raise ValueError(f"epochs={epochs}: expected a non-negative number of epochs")
    if accumulate < 1:
        raise ValueError(f"accumulate={accumulate}: expected 1 or more micro-batches per optimizer step")
    if scheduler_interval not in ("step", "epoch"):
        raise ValueError(f"scheduler_interval={scheduler_interval!r}: expected 'step' or 'epoch'")
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if (patience is not None or restore_best or plateau) and monitor is None:
        raise ValueError("early stopping, restore_best and ReduceLROnPlateau need monitor= (an evaluated metric)")
    if monitor not in (None, "train_loss", "lr") and evaluate is None:
        raise ValueError(f"monitor={monitor!r} needs evaluate= to compute it")

    dev = resolve_device(device)
    if dev.type == "cpu":
        # Weights and gradients shrinking towards zero become denormal floats, which x86 CPUs handle many
        # times slower (an lv_segmentation run took 178 s instead of 52 s, same result); flush them to zero.
        torch.set_flush_denormal(True)
    ctx = distributed.setup(dev)
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if ctx.enabled:
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    forward = forward or _default_forward
    autocast_dtype = _autocast_dtype(amp, dev)
    early = EarlyStopping(monitor, mode, patience, min_delta) if monitor else None
    result = FitResult()
    start_epoch = 0

    ckpt_path = Path(checkpoint) if checkpoint else None
    best_path = ckpt_path.with_name(ckpt_path.name + ".best.pt") if ckpt_path else None
    best_state: dict | None = None
    if ckpt_path and resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if early and state.get("early"):
            early.load_state_dict(state["early"])
        result.history = list(state["history"])
        result.stopped_early = bool(state.get("stopped_early", False))
        start_epoch = result.resumed_from_epoch = int(state["epoch"])

    n_steps = len(distributed.GlobalBatchSampler(len(train_data), batch_size, drop_last=drop_last, ctx=ctx))
    remaining = 0 if result.stopped_early else max(0, epochs - start_epoch)
    bar = tqdm(total=remaining * n_steps, desc=desc or type(model).__name__, disable=not (progress and ctx.is_main),
               file=sys.stderr, mininterval=1.0, dynamic_ncols=False, ncols=100)

    for epoch in range(start_epoch, epochs):
        if result.stopped_early:
            break
        t0 = time.perf_counter()
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        seed_everything(derive_seed(seed, epoch, ctx.rank))
        sampler = distributed.GlobalBatchSampler(len(train_data), batch_size, shuffle=shuffle, drop_last=drop_last,
                                                 seed=seed, epoch=epoch, ctx=ctx)
        loader = DataLoader(train_data, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate_fn,
                            pin_memory=dev.type == "cuda", worker_init_fn=seed_worker,
                            generator=loader_generator(derive_seed(seed, epoch, ctx.rank, "workers")))
        net.train()
        loss_sum, n_batches = 0.0, len(loader)
        optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(loader):
            group_start = (i // accumulate) * accumulate
            group_size = min(accumulate, n_batches - group_start)
            last_in_group = i == group_start + group_size - 1
            batch = _to_device(batch, dev, channels_last)
            sync = contextlib.nullcontext() if (last_in_group or not ctx.enabled) else net.no_sync()
            with sync:
                with torch.autocast(dev.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
                    output, target = forward(net, batch)
                    value = loss(output, target)
                if not torch.isfinite(value):
                    raise FloatingPointError(f"loss became {value.item()} at epoch {epoch + 1}, batch {i + 1}; "
                                             "lower the learning rate or check the inputs")
                (value / group_size).backward()
            if last_in_group:
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if scheduler is not None and scheduler_interval == "step" and not plateau:
                    scheduler.step()
            loss_sum += float(value.detach())
            bar.update(1)
            bar.set_postfix_str(f"epoch {epoch + 1}/{epochs} loss {loss_sum / (i + 1):.4f}", refresh=False)

        record: dict[str, Any] = {"epoch": epoch + 1,
                                  "train_loss": distributed.mean_across(loss_sum / max(1, n_batches), ctx),
                                  "lr": optimizer.param_groups[0]["lr"]}
        if evaluate is not None:
            metrics = None
            if ctx.is_main:
                model.eval()
                with torch.no_grad():
                    metrics = {k: float(v) for k, v in evaluate(model).items()}
            record.update(distributed.broadcast_object(metrics, ctx))
        record["seconds"] = time.perf_counter() - t0

        improved = early.update(epoch + 1, record) if early else False
        if scheduler is not None and (scheduler_interval == "epoch" or plateau):
            scheduler.step(record[monitor]) if plateau else scheduler.step()
        result.history.append(record)
        result.stopped_early = bool((early and early.should_stop) or (stop_if and stop_if(record)))

        if ctx.is_main:
            if improved and restore_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if best_path:
                    torch_save(best_state, best_path)
            if ckpt_path:
                torch_save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict() if scheduler is not None else None,
                            "early": early.state_dict() if early else None, "history": result.history,
                            "stopped_early": result.stopped_early}, ckpt_path)
        distributed.barrier(ctx)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
    bar.close()

    if early:
        result.best, result.best_epoch = early.best, early.best_epoch
        if restore_best:
            if best_state is None and best_path and best_path.exists():
                best_state = torch.load(best_path, map_location=dev, weights_only=True)
            if ctx.enabled:
                best_state = distributed.broadcast_object(best_state, ctx)
            if best_state is not None:
                model.load_state_dict(best_state)
    return result


@torch.no_grad()
def predict(model: nn.Module, data: Dataset | DataLoader, *, batch_size: int = 32, device: str | torch.device = "auto",
            amp: str | None = "auto", forward: Callable[[nn.Module, Batch], Any] | None = None,
            progress: bool = False, desc: str = "predict") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``model`` over ``data`` in eval mode; return (outputs, targets) concatenated on the CPU.

    ``forward(model, batch) -> (output, target)`` adapts other batch layouts (default:
    ``batch[0]`` in, ``batch[1]`` as target if present).
    """
    dev = resolve_device(device)
    model.to(dev).eval()
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False)
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
