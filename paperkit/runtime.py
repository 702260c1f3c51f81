"""Where code runs and how it is made repeatable: device choice, seeding, environment capture."""
from __future__ import annotations

import hashlib
import os
import platform
import random
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

# Packages whose versions go into every run record.
TRACKED_PACKAGES = (
    "torch", "torchvision", "numpy", "scipy", "scikit-learn", "pandas", "monai",
    "nibabel", "pydicom", "h5py", "grad-cam", "umap-learn", "plotly", "paperkit",
)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` / ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / ``"mps"`` into a ``torch.device``.

    ``"auto"`` picks CUDA when available (the local rank's GPU under ``torchrun``), else CPU.
    Asking for a device that is not present fails with the list of available ones.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device={device!r} is not a device name; "
                         "expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available here; use device='auto' or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} requested but MPS is not available here")
    return dev


def derive_seed(*parts: object) -> int:
    """A 32-bit seed derived from any parts (e.g. base seed, epoch, rank), stable across runs."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=seed_worker)``: seed NumPy and ``random`` in each worker.

    torch already gives every worker ``base_seed + worker_id``; NumPy and ``random`` would
    otherwise repeat the same draws in every worker (and every epoch with forked workers).
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def default_num_workers(device: str | torch.device = "auto") -> int:
    """DataLoader worker processes when a caller does not choose: ``$PAPERKIT_NUM_WORKERS``, else by device.

    On CUDA, up to 8 workers (one core left for the training process) decode and resize while
    the GPU computes. On the CPU, 0: the model's own threads already use every core, and a
    worker would take its share from them (``bench/bench_training_loop.py`` measures both).
    """
    env = os.environ.get("PAPERKIT_NUM_WORKERS")
    if env is not None:
        if not env.isdigit():
            raise ValueError(f"PAPERKIT_NUM_WORKERS={env!r}: expected 0 or a positive number of worker processes")
        return int(env)
    if resolve_device(device).type != "cuda":
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def loader_generator(seed: int) -> torch.Generator:
    """A seeded generator for ``DataLoader(generator=...)`` so shuffling and worker seeds repeat."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def set_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (and cuDNN without autotuning).

    Same seed + same device then gives the same numbers. On CUDA some ops have no
    deterministic kernel; ``warn_only=True`` reports them instead of failing the run.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def package_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (``None`` for a package that is not installed)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(path: str | os.PathLike | None = None) -> dict[str, object]:
    """The git commit of the checkout holding ``path`` (default: this package) and whether it is dirty."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def device_info(device: str | torch.device = "auto") -> dict[str, object]:
    """Name, type and memory of ``device``, plus CPU thread count and CUDA/cuDNN versions."""
    dev = resolve_device(device)
    info: dict[str, object] = {
        "device": str(dev),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update(gpu_name=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    gpu_count=torch.cuda.device_count(), cudnn=torch.backends.cudnn.version())
    return info


def capture_environment(device: str | torch.device = "auto") -> dict[str, object]:
    """Everything a run record needs to say where its numbers came from."""
    return {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": platform.node(),
        "packages": package_versions(),
        "git": git_commit(),
        "world_size": int(os.environ.get("WORLD_SIZE", 1)),
        **device_info(device),
    }
