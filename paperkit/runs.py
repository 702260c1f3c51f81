"""Run records: one folder per experiment, keyed by a hash of its configuration.

``out_dir/<chapter>/<key>/`` holds

* ``params.json``       the configuration (what the key hashes),
* ``environment.json``  package versions, device, git commit (see :mod:`paperkit.runtime`),
* ``history.csv``       one row per epoch,
* ``metrics.json``      final metrics; written last, so its presence means "finished",
* ``checkpoint.pt``     the training checkpoint (see :func:`paperkit.train.fit`), kept while the
  run is unfinished so a killed run resumes; :meth:`Run.finish` removes it (weights and optimiser
  state of every epoch are hundreds of MB; a harness stores the final weights it needs itself),

* ``model.pt``          the trained weights (see :func:`reuse_or_train`),

and anything else the chapter stores with :meth:`Run.path`. A finished record with the
same key is reused instead of retrained, so records copied in from a GPU sweep elsewhere
feed the book. Every file is written atomically.

Every chapter's experiment goes through :func:`reuse_or_train` and returns a :class:`TrainedModel`.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from . import step_cap
from .atomic import atomic_path, remove_stale_temporaries, torch_save, write_json
from .lock import folder_lock
from .runtime import capture_environment

KEY_LENGTH = 12


def _canonical(value: Any, where: str = "config") -> Any:
    """Plain-JSON form of ``value`` so equal configurations hash equally."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{where}.{k}") for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}={value!r}: run configurations must hold finite numbers")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where}={value!r} ({type(value).__name__}) cannot go into a run configuration; "
                    "use numbers, strings, booleans, None, lists and dicts")


def config_key(config: Mapping[str, Any]) -> str:
    """Short hex hash of the canonical JSON of ``config`` (key order does not matter)."""
    text = json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


@dataclass
class Run:
    """One experiment's record folder. Create it with :func:`start_run`."""

    chapter: str
    key: str
    dir: Path
    config: dict

    @property
    def done(self) -> bool:
        """True when the run finished (its ``metrics.json`` exists)."""
        return (self.dir / "metrics.json").exists()

    @property
    def checkpoint(self) -> Path:
        """Path of the training checkpoint for :func:`paperkit.train.fit`."""
        return self.dir / "checkpoint.pt"

    def path(self, name: str) -> Path:
        """Path of an extra artifact of this run (predictions, figures, ...)."""
        return self.dir / name

    def load_arrays(self, name: str, missing: str) -> dict:
        """The arrays of ``name`` (an ``.npz`` a harness stored in this record), read without pickles.

        A record without the file raises ``FileNotFoundError`` naming it, followed by ``missing``
        (what the file holds and how to get it written).
        """
        import numpy as np

        path = self.path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {missing}")
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}

    @property
    def metrics(self) -> dict:
        """Final metrics of a finished run."""
        if not self.done:
            raise RuntimeError(f"run {self.dir} has not finished: no metrics.json yet")
        return json.loads((self.dir / "metrics.json").read_text())

    @property
    def history(self) -> pd.DataFrame:
        """Per-epoch history (empty DataFrame when none was stored)."""
        path = self.dir / "history.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame()

    @property
    def environment(self) -> dict:
        """The environment captured when the run started."""
        return json.loads((self.dir / "environment.json").read_text())

    def finish(self, metrics: Mapping[str, Any], history: Iterable[Mapping[str, Any]] | pd.DataFrame | None = None,
               *, keep_checkpoint: bool = False) -> None:
        """Store the history and then the final metrics, which marks the run finished.

        The resume checkpoint is deleted afterwards unless ``keep_checkpoint``.
        """
        if history is not None:
            frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
            with atomic_path(self.dir / "history.csv") as tmp:
                frame.to_csv(tmp, index=False)
        write_json(self.dir / "metrics.json", _canonical(dict(metrics), "metrics"))
        if not keep_checkpoint:
            for path in (self.checkpoint, self.checkpoint.with_name(self.checkpoint.name + ".best.pt")):
                path.unlink(missing_ok=True)


def start_run(chapter: str, config: Mapping[str, Any], out_dir: str | Path = "runs", *,
              force: bool = False, device: str = "auto") -> Run:
    """Open (or reuse) the record of ``config`` under ``out_dir/chapter``.

    A finished record is returned as is (check ``run.done`` and skip training) unless
    ``force=True``, which deletes its metrics and checkpoint so training starts over.
    An unfinished record keeps its checkpoint, so training resumes where it stopped.
    Under a step cap (:mod:`paperkit.step_cap`) the cap joins the configuration, so a capped run
    has a record of its own.
    """
    if step_cap.current() is not None:  # a step-capped model must never be reused as a fully trained one
        config = {**config, "max_steps": step_cap.current()}
    canonical = _canonical(dict(config))
    key = config_key(canonical)
    run_dir = Path(out_dir) / chapter / key
    params_path = run_dir / "params.json"
    if params_path.exists():
        stored = json.loads(params_path.read_text())
        if stored != canonical:
            raise RuntimeError(f"{params_path}: stored configuration differs from the requested one "
                               f"under the same key {key}; delete the folder or use another out_dir")
    if force and run_dir.exists():
        for name in ("metrics.json", "history.csv", "checkpoint.pt"):
            (run_dir / name).unlink(missing_ok=True)
    run = Run(chapter=chapter, key=key, dir=run_dir, config=canonical)
    if not run.done:
        write_json(params_path, canonical)
        write_json(run_dir / "environment.json", capture_environment(device))
    return run


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(_flatten(v, name + "."))
        elif isinstance(v, list):
            flat[name] = json.dumps(v)
        else:
            flat[name] = v
    return flat


def load_runs(chapter: str, out_dir: str | Path = "runs", *, include_unfinished: bool = False) -> pd.DataFrame:
    """All run records of ``chapter`` as a DataFrame: one row per run.

    Columns: ``key``, ``finished``, ``device``, ``git_commit``, then the configuration
    (nested keys joined by ``.``), then the final metrics (a metric whose name clashes
    with a configuration column is prefixed ``metrics.``).
    """
    root = Path(out_dir) / chapter
    rows = []
    for run_dir in sorted(p for p in root.glob("*") if (p / "params.json").exists()):
        finished = (run_dir / "metrics.json").exists()
        if not finished and not include_unfinished:
            continue
        params = _flatten(json.loads((run_dir / "params.json").read_text()))
        env_path = run_dir / "environment.json"
        env = json.loads(env_path.read_text()) if env_path.exists() else {}
        row: dict[str, Any] = {"key": run_dir.name, "finished": finished, "device": env.get("device"),
                               "git_commit": (env.get("git") or {}).get("commit"), **params}
        if finished:
            for name, value in _flatten(json.loads((run_dir / "metrics.json").read_text())).items():
                row[f"metrics.{name}" if name in row else name] = value
        rows.append(row)
    return pd.DataFrame(rows)


History = Iterable[Mapping[str, Any]] | pd.DataFrame | None


@dataclass
class TrainedModel:
    """What every chapter's experiment returns: a trained network with its run record.

    ``name`` names the network (a model or method name), ``model`` is the network in eval
    mode, ``run`` its record (``run.key``, ``run.dir``, ``run.config``), ``metrics`` the final
    metrics, ``history`` one row per epoch, and ``reused`` is True when the record had already
    finished and its stored weights were loaded instead of training.
    """

    name: str
    model: Any  # torch.nn.Module; not imported here so that reading run records needs no torch
    run: Run
    metrics: dict
    history: pd.DataFrame
    reused: bool


def _load_weights(path: Path) -> dict:
    """A stored state dict, or an error naming the file and how to recover."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated or foreign file
        raise RuntimeError(f"{path}: the stored weights cannot be read as a PyTorch state dict "
                           f"({type(err).__name__}); delete {path.parent} (or pass force=True) to train this run "
                           "again") from err


def reuse_or_train(chapter: str, config: Mapping[str, Any], model: Any, train: Callable[[Run], tuple[Mapping, History]],
                   *, name: str, out_dir: str | Path = "runs", force: bool = False, device: Any = "auto",
                   weights: str = "model.pt") -> TrainedModel:
    """Reuse the finished record of ``config``, or train ``model`` through ``train`` and record it.

    Opens the record with :func:`start_run`. When it has finished and holds its weights
    (``run.path(weights)``), they are loaded into ``model`` (``torch.load(..., weights_only=True)``)
    and the stored metrics and history are returned with ``reused=True``. Otherwise (or with
    ``force=True``) ``train(run)`` trains ``model`` in place -- passing ``run.checkpoint`` to
    :func:`paperkit.train.fit`, so a killed run resumes -- and returns ``(metrics, history)``;
    the weights are then written atomically and the record finished. A finished record whose
    weights are missing is trained again from the start, as with ``force=True``.
    Training holds the record's lock (:func:`paperkit.lock.folder_lock`): a second process on
    the same record stops with the holder's name instead of training it too. It first removes
    the temporary files a killed save left.
    ``model`` must be built the same way in both cases (same architecture; the reused weights
    replace its initial ones). ``device`` is where a reused model is placed.
    """

    from .runtime import resolve_device

    dev = resolve_device(device)
    run = start_run(chapter, config, out_dir, force=force, device=str(dev))
    if run.done and not run.path(weights).exists():
        run = start_run(chapter, config, out_dir, force=True, device=str(dev))
    if run.done:
        model.load_state_dict(_load_weights(run.path(weights)))
        return TrainedModel(name, model.to(dev).eval(), run, run.metrics, run.history, reused=True)
    with folder_lock(run.dir, f"run record {chapter}/{run.key}"):
        remove_stale_temporaries(run.dir)  # what a killed save left; nobody else writes here now
        metrics, history = train(run)
        torch_save(model.state_dict(), run.path(weights))
        run.finish(metrics, history)
    frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history or []))
    return TrainedModel(name, model.eval(), run, dict(metrics), frame, reused=False)
