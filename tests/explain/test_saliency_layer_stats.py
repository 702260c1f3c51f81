"""Layer statistics, gradient norms, segmentation saliency and the live monitor."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from paperkit import models
from paperkit.explain.layer_stats import GradientNorms, activation_statistics, weighted_layers
from paperkit.explain.saliency import segmentation_saliency
from paperkit.monitor import LiveMonitor


def tiny():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 2, 1))


def test_weighted_layers_spread_over_depth():
    net = models.create("unet", width=0.125)
    every = weighted_layers(net)
    some = weighted_layers(net, max_layers=5)
    assert len(every) > 5 and len(some) == 5
    assert some[0] == every[0] and some[-1] == every[-1]
    with pytest.raises(ValueError, match="no convolution"):
        weighted_layers(nn.ReLU())


def test_activation_statistics_match_a_direct_computation():
    torch.manual_seed(0)
    net, x = tiny(), torch.randn(3, 1, 8, 8)
    stats = activation_statistics(net, x)
    assert list(stats["layer"]) == ["0", "2", "4"]
    with torch.no_grad():
        direct = net[0](x)
    assert stats.loc[0, "mean"] == pytest.approx(float(direct.mean()), abs=1e-6)
    assert stats.loc[0, "std"] == pytest.approx(float(direct.std()), abs=1e-6)
    assert stats.loc[2, "output shape"] == "2x8x8" and stats.loc[0, "parameters"] == 4 * 9 + 4


def test_gradient_norms_are_recorded_per_backward_and_reset():
    torch.manual_seed(0)
    net = tiny()
    with GradientNorms(net, max_layers=None) as norms:
        for _ in range(3):
            net.zero_grad()
            net(torch.randn(2, 1, 8, 8)).pow(2).mean().backward()
        expected = float(net[4].weight.grad.norm())
        means = norms.epoch_means()
        assert set(means) == {"grad_norm:0", "grad_norm:2", "grad_norm:4"}
        assert norms._values == {}  # reset for the next epoch
        net.zero_grad()
        net(torch.randn(2, 1, 8, 8)).pow(2).mean().backward()
        assert norms.epoch_means()["grad_norm:4"] == pytest.approx(float(net[4].weight.grad.norm()))
    assert expected > 0 and means["grad_norm:4"] > 0
    net(torch.randn(2, 1, 8, 8)).sum().backward()  # hooks removed: nothing recorded any more
    assert norms.epoch_means() == {}


def test_saliency_is_the_input_gradient_of_the_lv_score():
    torch.manual_seed(0)
    net = tiny()
    x = torch.randn(2, 1, 8, 8)
    sal = segmentation_saliency(net, x)
    assert sal.shape == (2, 8, 8) and (sal >= 0).all() and sal.sum() > 0
    assert all(p.grad is None for p in net.parameters())
    xr = x.clone().requires_grad_(True)
    logits = net(xr)
    region = (logits.argmax(1) == 1).float()
    region[region.flatten(1).sum(1) == 0] = 1
    (logits[:, 1] * region).sum().backward()
    assert torch.allclose(sal, xr.grad.abs()[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        segmentation_saliency(net, torch.randn(8, 8))


def test_live_monitor_draws_every_epoch():
    monitor = LiveMonitor("t", display=False)
    for epoch in (1, 2):
        monitor(epoch, {"epoch": epoch, "train_loss": 1.0 / epoch, "val_dice": 0.3 * epoch,
                        "val_pixel_accuracy": 0.9, "grad_norm:conv1": 0.1, "grad_norm:score": 0.2})
    fig = monitor.figure
    names = [trace.name for trace in fig.data]
    assert names == ["train loss", "dice", "pixel accuracy", "conv1", "score"]
    assert list(fig.data[1].y) == pytest.approx([0.3, 0.6])
    monitor.show_history(pd.DataFrame([{"epoch": 1, "train_loss": 0.5}]))
    assert [trace.name for trace in monitor.figure.data] == ["train loss"]
