import pytest
import torch
from torch import nn

from paperkit.timing import inference_ms_per_sample


def test_inference_time_is_per_sample_and_restores_mode():
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 2))
    model.train()
    ms = inference_ms_per_sample(model, torch.randn(8, 64), device="cpu", repeats=3)
    assert 0 < ms < 1000 and model.training


def test_bad_example_is_named():
    with pytest.raises(ValueError, match="expected a batch"):
        inference_ms_per_sample(nn.Identity(), torch.tensor(1.0), device="cpu")
