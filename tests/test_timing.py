import pytest
import torch
from torch import nn

from paperkit.timing import inference_ms_per_sample, inference_step, time_side_by_side, training_step


class FakeClock:
    """A seconds counter that the fake steps advance, so timings are exact."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def step(self, seconds, first_extra=0.0):
        calls = []

        def run():
            self.now += seconds + (first_extra if not calls else 0.0)
            calls.append(1)
        return run


def test_inference_time_is_per_sample_and_restores_mode():
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 2))
    model.train()
    ms = inference_ms_per_sample(model, torch.randn(8, 64), device="cpu", repeats=3)
    assert 0 < ms < 1000 and model.training


def test_bad_example_is_named():
    with pytest.raises(ValueError, match="expected a batch"):
        inference_ms_per_sample(nn.Identity(), torch.tensor(1.0), device="cpu")


def test_side_by_side_keeps_rounds_after_warmup_and_rotates_who_goes_first():
    clock, order = FakeClock(), []
    steps = {name: (lambda n=name: order.append(n)) for name in ("a", "b", "c")}
    timed = time_side_by_side(steps, warmup=1, rounds=3, clock=clock)
    assert timed.rounds == 3 and timed.names == ["a", "b", "c"]
    assert [order[i] for i in (0, 3, 6, 9)] == ["a", "b", "c", "a"]  # the first of each round changes


@pytest.mark.parametrize("warmup", [0, 2])
def test_a_slow_first_call_does_not_move_the_ratio(warmup):
    """Regression (#17): the model timed first paid once for decoding the volumes (TSN at 3x TSM's
    seconds per epoch); the median of interleaved rounds is not moved by one slow call."""
    clock = FakeClock()
    steps = {"tsn_r18": clock.step(1.0, first_extra=30.0), "tsm_r18": clock.step(1.02)}
    ratio = time_side_by_side(steps, warmup=warmup, rounds=7, clock=clock).ratio("tsm_r18", "tsn_r18")
    assert ratio.value == pytest.approx(1.02) and ratio.q1 == pytest.approx(1.02)


def test_ratio_spread_and_errors():
    clock = FakeClock()
    timed = time_side_by_side({"a": clock.step(2.0), "b": clock.step(1.0)}, warmup=0, rounds=5, clock=clock)
    r = timed.ratio("a", "b")
    assert (r.value, r.q1, r.q3, r.rounds) == (pytest.approx(2.0), pytest.approx(2.0), pytest.approx(2.0), 5)
    assert "a/b 2.00x" in r.describe()
    with pytest.raises(KeyError, match="'c' was not timed"):
        timed.ratio("c", "a")
    with pytest.raises(ValueError, match="at least one step"):
        time_side_by_side({})
    with pytest.raises(ValueError, match="rounds=0"):
        time_side_by_side({"a": clock.step(1.0)}, rounds=0)


def test_training_and_inference_steps_run_and_set_the_mode():
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 0])
    before = model[0].weight.detach().clone()
    training_step(model, x, y)()
    assert model.training and not torch.equal(before, model[0].weight)
    inference_step(model, x)()
    assert not model.training
