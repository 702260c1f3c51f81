"""The step cap (a chapter's ``max_steps``): training and evaluation stop after n steps, and say so."""
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from paperkit import step_cap
from paperkit.chapters.contract import ChapterSpec, Stopwatch, finish
from paperkit.runs import start_run
from paperkit.train import Batches, Evaluation, Steps, fit, predict

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
from fit_toy import toy_data, toy_model  # noqa: E402

SPEC = ChapterSpec(name="demo", title="Demo", datasets={"synthetic": "synthetic demo data"}, models=["a"],
                   profiles={p: {"models": ["a"], "epochs": 3} for p in ("smoke", "classroom", "paper")})


class CountingSGD(torch.optim.SGD):
    def __init__(self, params):
        super().__init__(params, lr=0.01)
        self.n = 0

    def step(self, closure=None):
        self.n += 1
        return super().step(closure)


@pytest.fixture(autouse=True)
def no_cap_left_behind():
    yield
    step_cap.set_cap(None)


def _fit(epochs=3, accumulate=1, evaluate=None):
    model = toy_model()
    opt = CountingSGD(model.parameters())
    res = fit(model, toy_data(64), loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=epochs, batches=Batches(8),
              steps=Steps(accumulate=accumulate), evaluation=Evaluation(evaluate), device="cpu", progress=False)
    return res, opt.n


def test_fit_makes_exactly_the_capped_number_of_optimizer_steps():
    res, steps = _fit()
    assert steps == 3 * 8 and not res.capped  # 64 items / batch 8, three epochs
    with step_cap.capped(2):
        res, steps = _fit()
    assert steps == 2 and res.capped and len(res.history) == 1  # one (short) epoch, then it stops
    with step_cap.capped(3):
        res, steps = _fit(accumulate=2)  # a capped step still sums `accumulate` batches
    assert steps == 3 and res.capped
    with step_cap.capped(100):  # a cap above the run's own steps changes nothing
        res, steps = _fit()
    assert steps == 24 and not res.capped
    assert step_cap.current() is None  # the context restored the previous state


def test_predict_is_never_cut_short_but_evaluation_loops_can_be():
    """predict's outputs are lined up with their data by callers (selections, per-item tables): no silent cut."""
    data = toy_data(64)
    model = toy_model()
    with step_cap.capped(2):
        out, target = predict(model, data, batch_size=8, device="cpu")
        assert len(list(step_cap.limit(range(10)))) == 2
    assert out.shape[0] == 64 and torch.equal(target, data.tensors[1])
    assert len(list(step_cap.limit(range(10)))) == 10


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_bad_cap_is_refused_by_name(bad, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=r"max_steps=.*expected a positive number of optimizer steps"):
        SPEC.resolve(profile="smoke", max_steps=bad, device="cpu")


def test_a_capped_run_has_its_own_record_and_is_never_reused_as_a_full_one(tmp_path):
    full = start_run("demo", {"model": "a", "epochs": 3}, tmp_path)
    with step_cap.capped(2):
        capped = start_run("demo", {"model": "a", "epochs": 3}, tmp_path)
    assert capped.key != full.key and capped.config["max_steps"] == 2 and "max_steps" not in full.config


def test_a_capped_chapter_says_so_and_does_not_record_the_profiles_time(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path / "cache"))
    settings = SPEC.resolve(profile="paper", max_steps=2, out_dir=str(tmp_path), device="cpu")
    assert "step-capped at 2 steps" in settings.data_label
    assert "max_steps" not in settings.as_config()  # start_run adds it while the cap is in force
    step_cap.set_cap(settings.max_steps)
    sentence = finish(settings, Stopwatch())
    assert "step-capped" in sentence and "not recorded" in sentence and step_cap.current() is None
    assert SPEC.header(tmp_path).count("not executed here yet") == 3
    plain = SPEC.resolve(profile="paper", out_dir=str(tmp_path), device="cpu")
    assert "step-capped" not in plain.data_label and plain.max_steps is None


def test_a_capped_fit_measures_what_the_full_stage_costs(tmp_path):
    from paperkit import cost

    cost.drain()
    model = nn.Linear(4, 3, bias=False)
    data = torch.utils.data.TensorDataset(torch.randn(40, 4), torch.randint(0, 3, (40,)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = dict(loss=nn.CrossEntropyLoss(), optimizer=opt, epochs=7, device="cpu", progress=False, desc="linear")
    fit(model, data, batches=Batches(8), **run)
    assert cost.drain() == []  # an uncapped run measures nothing
    with step_cap.capped(1):
        fit(model, data, batches=Batches(8), steps=Steps(accumulate=2), **run)
    (stage,) = cost.drain()
    # forward 2*B*in*out multiply-adds for the weight, the same again for its gradient (the input needs none);
    # a step is two accumulated batches of 8; 40 items make 5 batches, i.e. 3 steps per epoch
    assert stage.flops_per_step == 2 * (2 * 8 * 4 * 3) * 2
    assert (stage.stage, stage.batch_size, stage.steps_per_epoch, stage.epochs) == ("linear", 8, 3, 7)
    assert stage.total_steps == 21 and stage.total_flops == 21 * stage.flops_per_step and stage.peak_memory_mb > 0
    cost.save(tmp_path, "demo", [stage], profile="paper", data="synthetic demo data")
    table = cost.cost_table(tmp_path, share=0.4)
    assert table.loc[0, "training steps"] == 21 and table.loc[0, "PFLOPs"] == stage.total_flops / 1e15
    a100 = next(c for c in table.columns if "A100" in c)
    assert table.loc[0, a100] == stage.total_flops / (312e12 * 0.4) / 3600
    with pytest.raises(ValueError, match="share=0"):
        cost.cost_table(tmp_path, share=0)
    assert cost.cost_table(tmp_path / "none").empty


def test_a_capped_chapter_saves_its_stage_costs(tmp_path, monkeypatch):
    from paperkit import cost

    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path / "cache"))
    settings = SPEC.resolve(profile="paper", max_steps=1, out_dir=str(tmp_path), device="cpu")
    step_cap.set_cap(1)
    cost.drain()
    cost.record(cost.StageCost("a", 10.0, 4, 5, 2, 1.0, "process peak RSS (CPU, upper bound)"))
    finish(settings, Stopwatch())
    stages = cost.load_stages(tmp_path)
    assert list(stages["stage"]) == ["a"] and stages.loc[0, "total_flops"] == 100.0
    assert "step-capped" in stages.loc[0, "data"] and stages.loc[0, "profile"] == "paper"
    assert cost.cost_table(tmp_path).loc[0, "changed to fit the measuring machine"] == "none"
    assert cost.cost_table(tmp_path).loc[0, "totals"] == "the profile's"


def test_a_capped_run_with_a_lowered_setting_says_so_in_the_cost_table(tmp_path, monkeypatch):
    from paperkit import cost

    monkeypatch.setenv("PAPERKIT_CACHE", str(tmp_path / "cache"))
    settings = SPEC.resolve(profile="paper", max_steps=1, out_dir=str(tmp_path), device="cpu", epochs=1)
    assert settings.changed_from_profile() == {"epochs": 1}  # the profile's is 3
    step_cap.set_cap(1)
    cost.record(cost.StageCost("a", 10.0, 4, 5, 2, 1.0, "process peak RSS (CPU, upper bound)"))
    finish(settings, Stopwatch())
    assert cost.cost_table(tmp_path).loc[0, "changed to fit the measuring machine"] == "epochs=1"
    assert cost.cost_table(tmp_path).loc[0, "totals"] == "lower bound (stages left out)"  # fewer epochs: fewer steps
    assert cost.changes_text({"k_values": [32], "batch_size": 1}) == "batch_size=1; k_values=[32]"
    assert cost.totals_complete({"batch_size": 1, "supcon_batch_size": 64}) and cost.totals_complete({})
    assert not cost.totals_complete({"batch_size": 1, "k_values": [32]})


def test_timings_under_a_cap_skip_the_warm_up_and_keep_cap_rounds():
    from paperkit.timing import time_side_by_side

    calls = []
    with step_cap.capped(2):
        timed = time_side_by_side({"a": lambda: calls.append("a")}, warmup=3, rounds=7)
    assert calls == ["a", "a"] and timed.warmup == 0 and timed.rounds == 2
    timed = time_side_by_side({"a": lambda: calls.append("a")}, warmup=1, rounds=3)
    assert timed.rounds == 3 and len(calls) == 6


def test_head_cuts_an_evaluation_set_to_the_capped_batches():
    items = list(range(50))
    assert step_cap.head(items, 16) is items
    with step_cap.capped(2):
        assert step_cap.head(items, 16) == list(range(32)) and step_cap.head(items[:5], 16) == items[:5]
