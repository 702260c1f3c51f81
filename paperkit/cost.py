"""What a profile's training will cost on a GPU, from a step-capped run of it on any machine.

In a step-capped run (:mod:`paperkit.step_cap`) every :func:`paperkit.train.fit` call measures
its first optimizer step: the floating-point operations of forward and backward
(``torch.utils.flop_counter.FlopCounterMode``; the optimizer update and data loading are not
counted) and the peak memory (allocated CUDA memory, or on a CPU the process's peak resident set,
an upper bound). It also knows how many steps the uncapped stage would make: its epochs times its
optimizer steps per epoch on this run's data. ``contract.finish`` saves the stages to
``out_dir/<chapter>/cost.json``; :func:`cost_table` turns them into total PFLOPs and hours on
named GPUs at a stated share of their peak (``paperkit/reference/hardware/gpus.csv``, with the
vendor's datasheet as source). Evaluation passes and early stopping are not counted: the table is
the cost of the training steps the profile asks for.
"""
from __future__ import annotations

import json
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from .atomic import write_json

FILE = "cost.json"
GPUS_CSV = Path(__file__).parent / "reference" / "hardware" / "gpus.csv"
_log: list["StageCost"] = []


@dataclass(frozen=True)
class StageCost:
    """One training stage (one ``fit`` call) as measured on its first optimizer step."""

    stage: str
    flops_per_step: float
    batch_size: int
    steps_per_epoch: int
    epochs: int
    peak_memory_mb: float | None
    memory: str

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def total_flops(self) -> float:
        return self.flops_per_step * self.total_steps


def measure(step: Callable[[], object], device: torch.device) -> tuple[float, float | None, str]:
    """Run ``step`` once; return its FLOPs, the peak memory in MB and what that memory figure is."""
    from torch.utils.flop_counter import FlopCounterMode

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with FlopCounterMode(display=False) as counter:
        step()
    if device.type == "cuda":
        return float(counter.get_total_flops()), torch.cuda.max_memory_allocated(device) / 2**20, "CUDA allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return float(counter.get_total_flops()), rss / (2**20 if sys.platform == "darwin" else 2**10), \
        "process peak RSS (CPU, upper bound)"


def record(cost: StageCost) -> None:
    """Add a stage to the costs of the current chapter run."""
    _log.append(cost)


def drain() -> list[StageCost]:
    """The stages recorded since the last drain, and forget them."""
    stages = list(_log)
    _log.clear()
    return stages


def save(out_dir: str | Path, chapter: str, stages: list[StageCost], **context) -> Path | None:
    """Write ``out_dir/<chapter>/cost.json`` (e.g. ``profile=``, ``data=`` as context); nothing without stages."""
    if not stages:
        return None
    payload = {"chapter": chapter, "context": context, "stages": [asdict(s) for s in stages]}
    return write_json(Path(out_dir) / chapter / FILE, payload)


def load_stages(out_dir: str | Path) -> pd.DataFrame:
    """Every saved stage under ``out_dir``, one row per stage, with its chapter and context."""
    rows = []
    for path in sorted(Path(out_dir).glob(f"*/{FILE}")):
        try:
            payload = json.loads(path.read_text())
        except ValueError as err:
            raise ValueError(f"{path}: not a readable cost record ({err}); delete it and rerun the capped chapter") \
                from err
        for stage in payload["stages"]:
            cost = StageCost(**stage)
            rows.append({"chapter": payload["chapter"], **asdict(cost), "total_steps": cost.total_steps,
                         "total_flops": cost.total_flops, **payload.get("context", {})})
    return pd.DataFrame(rows)


def changes_text(changed) -> str:
    """The settings a capped run changed from its profile, as ``k=v; ...`` ("none" when it ran the profile as is).

    A lowered batch leaves the total FLOPs as they are (more steps of fewer items); a shortened list of
    sub-experiments (e.g. fewer frame counts) leaves their stages out, so the totals are then a lower bound.
    """
    if not isinstance(changed, dict) or not changed:
        return "none"
    return "; ".join(f"{k}={v}" for k, v in sorted(changed.items()))


def totals_complete(changed) -> bool:
    """Whether a run with these changes from its profile still trains every stage of it on every item.

    Only batch sizes may change (their keys end in ``batch_size``): the same items pass in more, smaller
    steps, so the FLOPs add up to the profile's. Any other change (fewer models, frame counts or repeats)
    leaves stages out, and the totals are a lower bound.
    """
    return not isinstance(changed, dict) or all(k.endswith("batch_size") for k in changed)


def gpus() -> pd.DataFrame:
    """Named GPUs with their dense peak TFLOPS (``reference/hardware/gpus.csv``, datasheet as source)."""
    return pd.read_csv(GPUS_CSV)


def cost_table(out_dir: str | Path, *, share: float = 0.4) -> pd.DataFrame:
    """Per chapter: training steps of the full profile run, total PFLOPs, peak memory, hours per named GPU.

    Hours assume the GPU sustains ``share`` of its dense bf16 peak over the whole run.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share={share!r}: expected the fraction of a GPU's peak it sustains, in (0, 1]")
    stages = load_stages(out_dir)
    columns = ["chapter", "profile", "changed to fit the measuring machine", "totals", "stages", "training steps",
               "PFLOPs", "peak memory (MB)", "memory measured as"]
    table = gpus()
    hours = [f"hours on {g} at {share:.0%} of bf16 peak" for g in table["gpu"]]
    if stages.empty:
        return pd.DataFrame(columns=columns + hours)
    rows = []
    for chapter, group in stages.groupby("chapter", sort=True):
        flops = float(group["total_flops"].sum())
        changed = group["changed"].iloc[0] if "changed" in group else None
        row = {"chapter": chapter, "profile": group["profile"].iloc[0] if "profile" in group else "",
               "changed to fit the measuring machine": changes_text(changed),
               "totals": "the profile's" if totals_complete(changed) else "lower bound (stages left out)",
               "stages": len(group), "training steps": int(group["total_steps"].sum()), "PFLOPs": flops / 1e15,
               "peak memory (MB)": float(group["peak_memory_mb"].max()), "memory measured as": group["memory"].iloc[0]}
        for label, peak in zip(hours, table["peak_tflops"]):
            row[label] = flops / (peak * 1e12 * share) / 3600
        rows.append(row)
    return pd.DataFrame(rows, columns=columns + hours)
