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


# --------------------------------------------------------------------------- reuse_or_train


def _toy_training(calls, kill_after=None, epochs=3):
    """A ``train(run)`` callable for reuse_or_train: fit a small net, optionally dying after an epoch."""
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from paperkit.train import Batches, fit

    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=g)
    data = TensorDataset(x, (x[:, 0] > 0).long())

    def make():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))

    def train_fn(model):
        def train(run):
            calls.append(run.key)

            def die(epoch, record):
                if epoch == kill_after:
                    raise KeyboardInterrupt("killed")  # like a kill: the checkpoint of this epoch is on disk

            optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
            result = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
                         batches=Batches(8), checkpoint=run.checkpoint, device="cpu", seed=2, progress=False,
                         on_epoch_end=die)
            return {"final_loss": result.history[-1]["train_loss"]}, result.history
        return train

    return make, train_fn


def test_reuse_or_train_trains_once_then_loads_the_stored_weights(tmp_path):
    import torch

    calls = []
    make, train = _toy_training(calls)
    model = make()
    first = runs.reuse_or_train("demo", {"toy": 1}, model, train(model), name="toy", out_dir=tmp_path, device="cpu")
    assert isinstance(first, runs.TrainedModel) and not first.reused and first.model is model and not model.training
    assert first.run.done and first.run.path("model.pt").is_file() and not first.run.checkpoint.exists()
    assert list(first.history["epoch"]) == [1, 2, 3] and calls == [first.run.key]
    fresh = make()
    again = runs.reuse_or_train("demo", {"toy": 1}, fresh, train(fresh), name="toy", out_dir=tmp_path, device="cpu")
    assert again.reused and calls == [first.run.key] and again.model is fresh  # not trained again
    assert again.run.key == first.run.key and again.metrics == first.metrics
    assert list(again.history["train_loss"]) == list(first.history["train_loss"])
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), fresh.state_dict().values()))
    assert not list(tmp_path.rglob("*.tmp"))


def test_reuse_or_train_with_force_trains_again(tmp_path):
    calls = []
    make, train = _toy_training(calls)
    model = make()
    first = runs.reuse_or_train("demo", {"toy": 2}, model, train(model), name="toy", out_dir=tmp_path, device="cpu")
    model = make()
    forced = runs.reuse_or_train("demo", {"toy": 2}, model, train(model), name="toy", out_dir=tmp_path, device="cpu",
                                 force=True)
    assert not forced.reused and len(calls) == 2 and forced.metrics == first.metrics  # same seed, same numbers


def test_reuse_or_train_retrains_a_finished_record_without_its_weights(tmp_path):
    calls = []
    make, train = _toy_training(calls)
    model = make()
    first = runs.reuse_or_train("demo", {"toy": 3}, model, train(model), name="toy", out_dir=tmp_path, device="cpu")
    first.run.path("model.pt").unlink()  # e.g. a record copied without its weights
    model = make()
    again = runs.reuse_or_train("demo", {"toy": 3}, model, train(model), name="toy", out_dir=tmp_path, device="cpu")
    assert not again.reused and len(calls) == 2 and again.run.path("model.pt").is_file()


def test_reuse_or_train_resumes_a_killed_run_to_the_same_weights(tmp_path):
    import torch

    make, train = _toy_training([])
    _, dies_after_epoch_2 = _toy_training([], kill_after=2)
    model = make()
    whole = runs.reuse_or_train("demo", {"toy": 4}, model, train(model), name="toy", out_dir=tmp_path / "a",
                                device="cpu")
    model = make()
    with pytest.raises(KeyboardInterrupt):
        runs.reuse_or_train("demo", {"toy": 4}, model, dies_after_epoch_2(model), name="toy", out_dir=tmp_path / "b",
                            device="cpu")
    killed = runs.start_run("demo", {"toy": 4}, tmp_path / "b")
    assert not killed.done and killed.checkpoint.exists() and not killed.path("model.pt").exists()
    model = make()
    resumed = runs.reuse_or_train("demo", {"toy": 4}, model, train(model), name="toy", out_dir=tmp_path / "b",
                                  device="cpu")
    assert not resumed.reused and list(resumed.history["epoch"]) == [1, 2, 3]
    weights = zip(whole.model.state_dict().values(), resumed.model.state_dict().values())
    assert all(torch.equal(a, b) for a, b in weights)
