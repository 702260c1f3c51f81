"""A memorising baseline: answer each query with the label of its nearest stored example.

Used to show leakage: when slices of one patient sit on both sides of a split, the nearest
training image of a test slice is often the same heart's neighbouring slice, and copying its mask
scores far better than it would on an unseen patient.
"""
from __future__ import annotations

import torch


def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor, *, exclude: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Index into ``pool`` of each query's nearest item (Euclidean distance over all but the first dimension).

    ``queries`` is ``(N, ...)`` and ``pool`` ``(M, ...)`` with the same trailing shape. ``exclude`` gives, per
    query, one pool index it may not pick (the query itself when the pool holds it: leave-one-out).
    """
    if queries.shape[1:] != pool.shape[1:]:
        raise ValueError(f"nearest_neighbours: queries of shape {tuple(queries.shape[1:])} and pool items of shape "
                         f"{tuple(pool.shape[1:])}; expected the same shape")
    need = 1 + int(exclude is not None)
    if len(pool) < need:
        raise ValueError(f"nearest_neighbours: the pool has {len(pool)} item(s); expected at least {need}")
    distances = torch.cdist(queries.flatten(1).double(), pool.flatten(1).double())
    if exclude is not None:
        exclude = torch.as_tensor(exclude, dtype=torch.long)
        if exclude.shape != (len(queries),) or exclude.min() < 0 or exclude.max() >= len(pool):
            raise ValueError(f"nearest_neighbours: exclude must hold one pool index (0..{len(pool) - 1}) per query "
                             f"({len(queries)}); got shape {tuple(exclude.shape)}")
        distances[torch.arange(len(queries)), exclude] = float("inf")
    return distances.argmin(1)


def dice_per_item(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice of each pair of binary masks ``(N, ...)``; 1.0 where both are empty."""
    if pred.shape != target.shape:
        raise ValueError(f"dice_per_item: shapes {tuple(pred.shape)} and {tuple(target.shape)} differ")
    p, t = pred.flatten(1).bool(), target.flatten(1).bool()
    both = (p & t).sum(1).double()
    total = (p.sum(1) + t.sum(1)).double()
    return torch.where(total > 0, 2 * both / total.clamp(min=1), torch.ones_like(total))
