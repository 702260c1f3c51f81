"""The book's own record of how long each chapter took, per profile and dataset, and on what machine.

A chapter ends with :func:`record_execution`, which writes ``out_dir/<chapter>/executions.json``;
the next execution's header (:func:`execution_table`) shows those times, so no time in the book is
typed by hand. A profile never executed under ``out_dir`` says so instead of guessing.
"""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from paperkit.atomic import write_json

PROFILE_PURPOSE = {
    "smoke": "seconds, for CI: every code path runs on tiny data",
    "classroom": "minutes on a laptop CPU, synthetic data by default",
    "paper": "the paper's settings, meant for a GPU and real data",
}
FILE = "executions.json"


def machine_summary() -> str:
    """One line naming the machine: the GPU(s) if CUDA is present, else the CPU and its core count."""
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"{names[0]} × {len(names)}" if len(set(names)) == 1 else ", ".join(names)
    cpu = _cpu_model() or platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, no GPU"


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: platform.processor() is the fallback
        return None
    return None


def record_execution(out_dir: str | os.PathLike, chapter: str, *, profile: str, dataset: str, seconds: float,
                     machine: str | None = None) -> Path:
    """Store that ``chapter`` ran ``profile`` on ``dataset`` in ``seconds`` (replacing the same pair's entry)."""
    if seconds < 0:
        raise ValueError(f"seconds={seconds!r}: expected a non-negative duration")
    path = Path(out_dir) / chapter / FILE
    records = load_executions(out_dir, chapter)
    records[f"{profile}/{dataset}"] = {
        "profile": profile, "dataset": dataset, "seconds": round(float(seconds), 1),
        "machine": machine or machine_summary(),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return write_json(path, records)


def load_executions(out_dir: str | os.PathLike, chapter: str) -> dict:
    """``"profile/dataset"`` -> record of the chapter's last execution of that pair (empty when none)."""
    path = Path(out_dir) / chapter / FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not a readable execution record ({err}); delete it to start afresh") from err


def format_seconds(seconds: float) -> str:
    """``42 s`` below two minutes, ``3.4 min`` below two hours, else ``2.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def execution_table(out_dir: str | os.PathLike, chapter: str) -> str:
    """Markdown table of the profiles: what each is for and its last recorded execution under ``out_dir``."""
    records = load_executions(out_dir, chapter)
    rows = ["| profile | what it is for | last execution recorded here |", "|---|---|---|"]
    for profile, purpose in PROFILE_PURPOSE.items():
        done = [r for r in records.values() if r["profile"] == profile]
        text = "; ".join(f"{format_seconds(r['seconds'])} on {r['dataset']} ({r['machine']}, "
                         f"{r['finished_utc'][:10]})" for r in done) or "not executed here yet"
        rows.append(f"| `{profile}` | {purpose} | {text} |")
    return "\n".join(rows)
