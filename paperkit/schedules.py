"""Learning-rate schedules shared by the chapters."""
from __future__ import annotations

import math

import torch


class WarmupCosine:
    """Multiplier for ``LambdaLR``: linear warm-up from 0 to 1, then one cosine cycle down.

    A callable object (not a lambda) so ``LambdaLR.state_dict()`` keeps its settings.
    """

    def __init__(self, warmup_steps: int, total_steps: int, final_fraction: float = 0.0):
        if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(f"warmup_steps={warmup_steps}, total_steps={total_steps}: "
                             "expected 0 <= warmup_steps <= total_steps and total_steps > 0")
        if not 0.0 <= final_fraction <= 1.0:
            raise ValueError(f"final_fraction={final_fraction}: expected a value in [0, 1]")
        self.warmup_steps, self.total_steps, self.final_fraction = warmup_steps, total_steps, final_fraction

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_fraction + (1.0 - self.final_fraction) * cosine


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                  final_fraction: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for ``warmup_steps`` optimizer steps, then cosine to ``final_fraction`` x base lr.

    Step it once per optimizer step (``fit(..., steps=Steps(scheduler_interval="step"))``, the default). For the
    Video4MRI recipe (5 warm-up epochs, one cosine cycle to zero over the rest):
    ``warmup_cosine(opt, 5 * steps, epochs * steps)`` with ``steps = steps_per_epoch(...)``.
    """
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, total_steps, final_fraction))
