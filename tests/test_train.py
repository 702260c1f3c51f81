"""The training loop: learning, accumulation, early stopping, resume after a kill, DDP."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from paperkit.schedules import WarmupCosine, warmup_cosine
from paperkit.train import Batches, EarlyStopping, Evaluation, Steps, fit, predict, steps_per_epoch

SCRIPT = Path(__file__).parent / "scripts" / "fit_toy.py"
sys.path.insert(0, str(SCRIPT.parent))
from fit_toy import toy_data, toy_model  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}


def _weights_equal(a, b, atol=0.0):
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=0) for k in a)


def test_fit_learns_and_records_history():
    data = toy_data(256)
    model = toy_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = data.tensors
    res = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=8, batches=Batches(32), device="cpu",
              progress=False,
              evaluation=Evaluation(lambda m: {"acc": (m(x).argmax(1) == y).float().mean().item()}, monitor="acc"))
    assert [r["epoch"] for r in res.history] == list(range(1, 9))
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.best >= 0.9 and res.best_epoch is not None
    out, tgt = predict(model, data, device="cpu")
    assert out.shape == (256, 2) and torch.equal(tgt, y)


def test_accumulation_matches_larger_batch():
    """Two micro-batches of 8 accumulated = one batch of 16 (same samples, mean loss, no BN)."""
    def run(batch, accumulate):
        data, model = toy_data(64), toy_model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=3, batches=Batches(batch),
            steps=Steps(accumulate=accumulate), device="cpu", progress=False, seed=1)
        return model.state_dict()
    assert _weights_equal(run(16, 1), run(8, 2), atol=1e-6)
    assert not _weights_equal(run(16, 1), run(8, 1), atol=1e-6)


def test_early_stopping_stops_and_restores_best(tmp_path):
    data, model = toy_data(32), toy_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.6, 0.9, 0.9])
    res = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=7, batches=Batches(8), device="cpu",
              progress=False, evaluation=Evaluation(lambda m: {"auc": next(scores)}, monitor="auc", patience=3,
                                                    restore_best=True), checkpoint=tmp_path / "ck.pt")
    assert len(res.history) == 5 and res.stopped_early
    assert res.best == 0.7 and res.best_epoch == 2
    best = torch.load(tmp_path / "ck.pt.best.pt", weights_only=True)
    assert _weights_equal(model.state_dict(), best)
    # Resuming a run that stopped early trains no further.
    again = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=7, batches=Batches(8), device="cpu",
                progress=False, evaluation=Evaluation(lambda m: {"auc": 0.0}, monitor="auc", patience=3),
                checkpoint=tmp_path / "ck.pt")
    assert len(again.history) == 5 and again.resumed_from_epoch == 5


def test_early_stopping_rejects_unknown_metric_and_mode():
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping("auc", mode="up")
    with pytest.raises(KeyError, match="auc"):
        EarlyStopping("auc").update(1, {"acc": 1.0})


def test_bad_arguments_are_named():
    data, model = toy_data(16), toy_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="monitor"):
        fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, batches=Batches(4),
            evaluation=Evaluation(patience=2))
    with pytest.raises(ValueError, match="amp"):
        fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, batches=Batches(4),
            steps=Steps(amp="fp8"), device="cpu", progress=False)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="monitor"):
        fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, scheduler=plateau, epochs=1, batches=Batches(4))
    with pytest.raises(ValueError, match="epochs=-1"):
        fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=-1, batches=Batches(4))
    with pytest.raises(TypeError, match=r"batches=4: expected a paperkit.train.Batches"):
        fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=1, batches=4)


@pytest.mark.parametrize("make, message", [
    (lambda: Batches(0), r"Batches\(size=0\)"),
    (lambda: Batches(True), r"Batches\(size=True\)"),
    (lambda: Batches(8, num_workers=-1), "num_workers=-1"),
    (lambda: Steps(accumulate=0), "accumulate=0"),
    (lambda: Steps(grad_clip=0.0), "grad_clip=0.0"),
    (lambda: Steps(amp="fp16"), "amp='fp16'"),
    (lambda: Steps(scheduler_interval="batch"), "scheduler_interval='batch'"),
    (lambda: Evaluation(mode="up"), "mode='up'"),
    (lambda: Evaluation(monitor="auc", patience=-1, evaluate=dict), "patience=-1"),
    (lambda: Evaluation(monitor="auc", min_delta=-0.1, evaluate=dict), "min_delta=-0.1"),
    (lambda: Evaluation(restore_best=True), "need monitor="),
    (lambda: Evaluation(monitor="auc"), "needs evaluate="),
])
def test_settings_refuse_bad_values_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_settings_accept_their_documented_values():
    assert Batches(8).shuffle and not Batches(8).drop_last
    assert Steps(amp="off").accumulate == 1 and Steps(amp="bf16", scheduler_interval="epoch").grad_clip is None
    assert Evaluation(monitor="train_loss", mode="min", patience=0).restore_best is False  # no evaluate= needed
    assert Evaluation(evaluate=dict, monitor="auc", restore_best=True).monitor == "auc"


def test_non_finite_loss_stops_with_a_clear_error():
    data, model = toy_data(16), toy_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1"):
        fit(model, data, loss=lambda out, y: out.sum() * float("nan"), optimizer=opt, epochs=1, batches=Batches(4),
            device="cpu", progress=False)


def test_bf16_autocast_runs_on_cpu():
    data, model = toy_data(32), toy_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    res = fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=2, batches=Batches(8),
              steps=Steps(amp="bf16"), device="cpu", progress=False)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in res.history)
    assert next(model.parameters()).dtype == torch.float32  # autocast, not a cast of the weights


def test_warmup_cosine_shape():
    f = WarmupCosine(warmup_steps=4, total_steps=14)
    values = [f(s) for s in range(15)]
    assert values[:4] == sorted(values[:4]) and values[3] < 1.0
    assert values[4] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(values[4:], values[5:]))
    opt = torch.optim.SGD(toy_model().parameters(), lr=0.5)
    sched = warmup_cosine(opt, 2, 10)
    assert "lr_lambdas" in sched.state_dict()
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(20, 10)
    assert steps_per_epoch(10, 4) == 3 and steps_per_epoch(10, 4, drop_last=True) == 2
    assert steps_per_epoch(10, 4, accumulate=2) == 2


def _run(args, **kw):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after epoch 2, restart: final weights equal an uninterrupted run's, bit for bit."""
    common = ["--epochs", 5, "--dropout", 0.3]
    ref = _run([tmp_path / "ref.pt", tmp_path / "ref_ck.pt", *common])
    assert ref.returncode == 0, ref.stderr
    killed = _run([tmp_path / "res.pt", tmp_path / "res_ck.pt", *common, "--kill-after", 2])
    assert killed.returncode == -9 and not (tmp_path / "res.pt").exists()
    assert torch.load(tmp_path / "res_ck.pt", weights_only=True)["epoch"] == 2
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written checkpoint left behind
    resumed = _run([tmp_path / "res.pt", tmp_path / "res_ck.pt", *common])
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "ref.pt", weights_only=True)
    b = torch.load(tmp_path / "res.pt", weights_only=True)
    assert _weights_equal(a, b)
    ck = torch.load(tmp_path / "res_ck.pt", weights_only=True)
    assert [r["epoch"] for r in ck["history"]] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    """torchrun with 2 gloo processes on the CPU, global batch 8 = one process with batch 8."""
    single = _run([tmp_path / "one.pt", "-", "--epochs", 3, "--batch", 8])
    assert single.returncode == 0, single.stderr
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(SCRIPT), str(tmp_path / "two.pt"), "-", "--epochs", "3", "--batch", "8"]
    two = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a = torch.load(tmp_path / "one.pt", weights_only=True)
    b = torch.load(tmp_path / "two.pt", weights_only=True)
    assert _weights_equal(a, b, atol=1e-5)
    moved = toy_model().state_dict()
    assert not _weights_equal(a, moved, atol=1e-3)  # training really changed the weights
