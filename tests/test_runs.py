import json

import pandas as pd
import pytest

from paperkit import runs


def test_key_ignores_key_order_and_changes_with_values():
    a = runs.config_key({"model": "tsn_r18", "lr": 5e-5, "aug": {"cutmix": 0.6, "mixup": 0.4}})
    b = runs.config_key({"aug": {"mixup": 0.4, "cutmix": 0.6}, "lr": 5e-5, "model": "tsn_r18"})
    assert a == b and len(a) == runs.KEY_LENGTH
    assert runs.config_key({"model": "tsn_r18", "lr": 1e-4, "aug": {"cutmix": 0.6, "mixup": 0.4}}) != a


def test_bad_config_values_are_named():
    with pytest.raises(TypeError, match=r"config.model"):
        runs.config_key({"model": object()})
    with pytest.raises(ValueError, match="finite"):
        runs.config_key({"lr": float("nan")})


def test_record_lifecycle_and_reuse(tmp_path):
    cfg = {"model": "cbr_tiny", "epochs": 2, "seed": 0}
    run = runs.start_run("demo", cfg, tmp_path, device="cpu")
    assert not run.done and run.dir == tmp_path / "demo" / runs.config_key(cfg)
    env = run.environment
    assert env["device"] == "cpu" and "torch" in env["packages"]
    run.finish({"auroc": 0.91, "per_class": {"a": 0.5}}, history=[{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}])
    again = runs.start_run("demo", dict(reversed(list(cfg.items()))), tmp_path)
    assert again.done and again.metrics["auroc"] == 0.91
    assert list(again.history["loss"]) == [1.0, 0.5]
    forced = runs.start_run("demo", cfg, tmp_path, force=True)
    assert not forced.done and not forced.path("history.csv").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_same_key_with_other_params_is_refused(tmp_path):
    run = runs.start_run("demo", {"a": 1}, tmp_path)
    (run.dir / "params.json").write_text(json.dumps({"a": 2}))
    with pytest.raises(RuntimeError, match="differs"):
        runs.start_run("demo", {"a": 1}, tmp_path)


def test_load_runs_returns_one_row_per_finished_run(tmp_path):
    for lr in (1e-3, 1e-4):
        runs.start_run("demo", {"lr": lr, "opt": {"name": "adam"}}, tmp_path).finish({"auroc": lr * 100, "lr": 9})
    runs.start_run("demo", {"lr": 1.0}, tmp_path)  # unfinished
    df = runs.load_runs("demo", tmp_path)
    assert isinstance(df, pd.DataFrame) and len(df) == 2
    assert {"key", "lr", "opt.name", "auroc", "metrics.lr", "device", "git_commit"} <= set(df.columns)
    assert sorted(df["auroc"]) == [0.01, 0.1]
    assert len(runs.load_runs("demo", tmp_path, include_unfinished=True)) == 3
    assert runs.load_runs("nothing", tmp_path).empty


def test_build_folder_is_atomic_and_reused(tmp_path):
    from paperkit.atomic import build_folder, manifest_params

    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "a.txt").write_text("x")
        return {"files": 1}

    root = build_folder(tmp_path, "set-1", {"n": 1}, build)
    assert (root / "a.txt").read_text() == "x" and manifest_params(root) == {"n": 1}
    assert build_folder(tmp_path, "set-1", {"n": 1}, build) == root and len(calls) == 1  # reused

    def broken(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build_folder(tmp_path, "set-2", {"n": 2}, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set-1"]  # nothing half-written left
    build_folder(tmp_path, "set-1", {"n": 3}, build)  # other params: rebuilt in place
    assert manifest_params(root) == {"n": 3} and len(calls) == 2


def test_finish_removes_the_resume_checkpoint_unless_asked(tmp_path):
    run = runs.start_run("demo", {"a": 1}, tmp_path)
    run.checkpoint.write_bytes(b"weights and optimizer")
    run.finish({"acc": 0.5})
    assert run.done and not run.checkpoint.exists()
    kept = runs.start_run("demo", {"a": 2}, tmp_path)
    kept.checkpoint.write_bytes(b"x")
    kept.finish({"acc": 0.5}, keep_checkpoint=True)
    assert kept.checkpoint.exists()
