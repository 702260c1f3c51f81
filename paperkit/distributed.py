"""DistributedDataParallel plumbing for runs launched by ``torchrun``.

``torchrun --nproc_per_node=N script.py`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`setup` joins the process group (NCCL on CUDA, gloo on CPU). The batch size given to
:func:`paperkit.train.fit` is always the *global* batch: each process takes its share of
every global batch (:class:`GlobalBatchSampler`), so N processes step through the same
samples as one process would.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from .runtime import derive_seed


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the environment says this process is one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device | None = None) -> DistContext:
    """Join the process group if launched by ``torchrun``; return this process's context.

    Safe to call more than once and in a plain single process (returns rank 0 of 1).
    """
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    if not launched_by_torchrun():
        return DistContext()
    use_nccl = device is not None and device.type == "cuda" and dist.is_nccl_available()
    dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def teardown() -> None:
    """Leave the process group (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every process (no-op in a single process)."""
    if ctx.enabled:
        dist.barrier()


def mean_across(value: float, ctx: DistContext) -> float:
    """Average a Python number over all processes."""
    if not ctx.enabled:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def broadcast_object(obj: object, ctx: DistContext) -> object:
    """Send a picklable object from rank 0 to every process."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class GlobalBatchSampler(Sampler[list[int]]):
    """Yields this process's share of each global batch, in an order fixed by (seed, epoch).

    The order is a seeded permutation of the dataset per epoch, so a resumed run replays
    exactly the batches an uninterrupted one would have seen. With several processes each
    global batch is cut into ``world_size`` contiguous shares; a final batch smaller than
    ``world_size`` is dropped (every process must take part in every gradient exchange).
    """

    def __init__(self, n_samples: int, batch_size: int, *, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0, epoch: int = 0, ctx: DistContext = DistContext()):
        if n_samples <= 0:
            raise ValueError(f"n_samples={n_samples}: the training set is empty")
        if batch_size <= 0:
            raise ValueError(f"batch_size={batch_size}: expected a positive global batch size")
        if batch_size % ctx.world_size:
            raise ValueError(f"batch_size={batch_size} is the global batch and must be divisible by "
                             f"the number of processes ({ctx.world_size})")
        self.n, self.batch_size, self.shuffle, self.drop_last = n_samples, batch_size, shuffle, drop_last
        self.seed, self.epoch, self.ctx = seed, epoch, ctx

    def _global_batches(self) -> list[np.ndarray]:
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, "order"))
            order = torch.randperm(self.n, generator=g).numpy()
        else:
            order = np.arange(self.n)
        n_batches = self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)
        batches = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(n_batches)]
        return [b for b in batches if len(b) >= self.ctx.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._global_batches():
            yield np.array_split(batch, self.ctx.world_size)[self.ctx.rank].tolist()

    def __len__(self) -> int:
        return len(self._global_batches())
