"""BatchNorm statistics recomputed on data after training."""
import torch
from torch.utils.data import TensorDataset

from paperkit.batchnorm import recalibrate_batchnorm


def test_recalibrate_batchnorm_sets_statistics_of_the_data_and_keeps_weights():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    data = TensorDataset(3.0 + 2.0 * torch.randn(40, 1, 8, 8), torch.zeros(40))
    weights = net[0].weight.detach().clone()
    recalibrate_batchnorm(net, data, batch_size=20, device="cpu")  # equal batches: equal weights
    with torch.no_grad():
        features = net[0](data.tensors[0])
    assert torch.allclose(net[1].running_mean, features.mean((0, 2, 3)), atol=1e-4)
    assert net[1].momentum == 0.1 and torch.equal(net[0].weight, weights)


def test_under_a_step_cap_the_statistics_come_from_cap_batches():
    from paperkit import step_cap

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    first, rest = torch.randn(10, 1, 8, 8), 50.0 + torch.randn(30, 1, 8, 8)  # the later batches are far off
    data = TensorDataset(torch.cat([first, rest]), torch.zeros(40))
    with step_cap.capped(1):
        recalibrate_batchnorm(net, data, batch_size=10, device="cpu")
    with torch.no_grad():
        features = net[0](first)
    assert torch.allclose(net[1].running_mean, features.mean((0, 2, 3)), atol=1e-4)
