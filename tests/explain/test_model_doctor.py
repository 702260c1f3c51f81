"""Model Doctor: hand-checked correlations, batched == per-image loop, masks, differentiable constraints,
treatment, FGSM and the feature-noise flip test. Tiny models and data: seconds on CPU."""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from paperkit.explain import (
    DoctorConfig,
    FeatureTaps,
    aggregate_correlation,
    aggregate_correlation_reference,
    background_mask,
    channel_masks,
    constraint_losses,
    correlation_sparsity,
    discovery2_curves,
    fgsm,
    runner_up_class,
    select_conv_layers,
    select_feature_layers,
    select_samples,
    treat,
)
from paperkit.explain.model_doctor import GRADIENTS, Correlation, DoctorObjective


def linear_head_net(channels=4, classes=3, relu=False):
    """conv -> [ReLU] -> global average -> linear: d y_n / d m_k = W[n, k] / HW everywhere."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, channels, 3, padding=1)] + ([nn.ReLU()] if relu else [])
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


def small_cnn(classes=3):
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def toy_data(n=24, classes=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, size, size, generator=g), torch.arange(n) % classes)


def test_correlation_equals_hand_computation_with_relu():
    net = linear_head_net(relu=True).eval()
    data = toy_data()
    cfg = DoctorConfig(noise=0.0)
    corr = aggregate_correlation(net, data, 3, layers="0", config=cfg, indices=range(len(data)), batch_size=5)
    x, y = data.tensors
    with torch.no_grad():
        positive = (net[0](x) > 0).float().mean((2, 3))          # fraction of the map where ReLU passes
    W = net[-1].weight.detach().abs()
    expected = torch.stack([(W[n] * positive[y == n]).mean(0) for n in range(3)])
    assert torch.allclose(corr.values["0"], expected, atol=1e-6)
    assert corr.counts.tolist() == [8, 8, 8]
    # official flag: ReLU of the signed gradient instead of its absolute value
    corr_relu = aggregate_correlation(net, data, 3, layers="0", config=DoctorConfig(noise=0.0, gradient="relu"),
                                      indices=range(len(data)))
    expected_relu = torch.stack([(net[-1].weight.detach()[n].relu() * positive[y == n]).mean(0) for n in range(3)])
    assert torch.allclose(corr_relu.values["0"], expected_relu, atol=1e-6)


def test_linear_head_correlation_is_weight_magnitude_under_noise():
    net = linear_head_net(relu=False).eval()
    corr = aggregate_correlation(net, toy_data(), 3, layers=1, config=DoctorConfig(noise=0.5, draws=4),
                                 indices=range(24))
    assert torch.allclose(corr.values["0"], net[-1].weight.detach().abs(), atol=1e-6)


def test_batched_matches_per_image_loop_with_noise():
    net = small_cnn()
    data = toy_data(n=20)
    cfg = DoctorConfig(noise=0.3, draws=3)
    a = aggregate_correlation(net, data, 3, layers=2, config=cfg, indices=range(20), batch_size=8, seed=4)
    b = aggregate_correlation_reference(net, data, 3, layers=2, config=cfg, indices=range(20), batch_size=8, seed=4)
    assert a.layers == b.layers == ["2", "6"]  # the paper's point: the ReLU after each of the last two convs
    for name in a.layers:
        assert (a.values[name] - b.values[name]).abs().max() < 1e-5
    assert net.training  # the model's mode is restored


def test_batched_equals_per_image_loop_in_float64():
    # float64 leaves no ReLU or max-pool tie to rounding, so batched and loop agree to rounding
    # error, for both gradient transforms (the batched one runs in place on the gradients).
    net, data = small_cnn().double(), toy_data(n=12)
    for gradient in GRADIENTS:
        cfg = DoctorConfig(noise=0.3, draws=3, gradient=gradient)
        a = aggregate_correlation(net, data, 3, layers=2, config=cfg, indices=range(12), batch_size=6, seed=3)
        b = aggregate_correlation_reference(net, data, 3, layers=2, config=cfg, indices=range(12), batch_size=6,
                                            seed=3)
        for name in a.layers:
            assert (a.values[name] - b.values[name]).abs().max() < 1e-12


class TwoTapHead(nn.Module):
    """Two parallel conv -> ReLU taps, added, then a spatial sum or mean."""

    def __init__(self, reduce, classes=3):
        super().__init__()
        torch.manual_seed(3)
        self.a, self.relu_a = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()  # each ReLU registered after its conv
        self.b, self.relu_b = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()
        self.head, self.reduce = nn.Linear(4, classes), reduce

    def forward(self, x):
        return self.head(getattr(self.relu_a(self.a(x)) + self.relu_b(self.b(x)), self.reduce)((2, 3)))


@pytest.mark.parametrize("reduce", [
    "sum",   # autograd hands both taps an expanded (stride 0) gradient
    "mean",  # autograd hands both taps one and the same contiguous gradient tensor
])
def test_batched_handles_expanded_and_shared_gradients(reduce):
    net, data = TwoTapHead(reduce).double(), toy_data(n=8)
    for gradient in GRADIENTS:
        cfg = DoctorConfig(noise=0.3, draws=2, gradient=gradient)
        a = aggregate_correlation(net, data, 3, layers=2, config=cfg, indices=range(8), batch_size=4)
        b = aggregate_correlation_reference(net, data, 3, layers=2, config=cfg, indices=range(8), batch_size=4)
        assert a.layers == ["relu_a", "relu_b"]
        for name in a.layers:
            assert (a.values[name] - b.values[name]).abs().max() < 1e-12


class SkipNet(nn.Module):
    """conv -> (x + conv(relu(conv(x)))) -> pool -> linear: the skip crosses the inner convs."""

    def __init__(self, classes=3):
        super().__init__()
        torch.manual_seed(2)
        self.stem, self.a, self.b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, classes))

    def forward(self, x):
        x = self.stem(x)
        return self.head(x + self.b(torch.relu(self.a(x))))


@pytest.mark.parametrize("make_net, layers, prefix, prefix_rows", [
    (small_cnn, 1, "0", [8, 8]),  # the last conv only: the first conv sees the 8 images, not 8 x 3 copies
    (SkipNet, ["a", "b"], "stem", [8, 24, 24]),  # the skip around a/b fails that try once: input repeated
])
def test_batched_runs_the_layers_before_the_first_tap_once_per_image(make_net, layers, prefix, prefix_rows):
    net, rows = make_net(), []
    dict(net.named_modules())[prefix].register_forward_hook(lambda m, i, o: rows.append(o.shape[0]))
    data, cfg = toy_data(n=16), DoctorConfig(noise=0.3, draws=3)
    a = aggregate_correlation(net, data, 3, layers=layers, config=cfg, indices=range(16), batch_size=8, seed=1)
    assert rows == prefix_rows  # two batches of 8 images, J = 3
    b = aggregate_correlation_reference(net, data, 3, layers=layers, config=cfg, indices=range(16), batch_size=8,
                                        seed=1)
    for name in a.layers:
        assert (a.values[name] - b.values[name]).abs().max() < 1e-5


def test_select_samples_confidence_and_top_rules():
    net = linear_head_net().eval()
    data = toy_data(n=60)
    with torch.no_grad():
        prob = net(data.tensors[0]).softmax(1)
    pred_p, pred = prob.max(1)
    correct = pred == data.tensors[1]
    paper = select_samples(net, data, 3, DoctorConfig(min_confidence=0.4, per_class=3), device="cpu")
    assert all(correct[i] and pred_p[i] > 0.4 for i in paper)
    assert max(sum(int(data.tensors[1][i]) == n for i in paper) for n in range(3)) <= 3
    top = select_samples(net, data, 3, DoctorConfig.official(per_class=2), device="cpu")
    for n in range(3):
        cands = [i for i in range(60) if correct[i] and data.tensors[1][i] == n]
        best = sorted(cands, key=lambda i: -float(pred_p[i]))[:2]
        assert sorted(i for i in top if data.tensors[1][i] == n) == sorted(best)


def test_channel_masks_threshold_and_minmax():
    values = torch.tensor([[0.0, 1.0, 2.0, 5.0], [4.0, 4.0, 0.0, 0.5]])
    corr = Correlation(["c"], {"c": values}, torch.tensor([3, 0]))
    paper = channel_masks(corr, mode="threshold")["c"]          # v = class mean (2.0)
    assert paper[0].tolist() == [0, 0, 1, 1]
    assert paper[1].tolist() == [1, 1, 1, 1]                    # class without images: unconstrained
    official = channel_masks(corr, mode="minmax", threshold=0.2)["c"]
    assert official[0].tolist() == [0, 1, 1, 1]                 # (v - 0) / 5 >= 0.2 keeps 1.0
    assert channel_masks(corr, mode="threshold", threshold=1.5)["c"][0].tolist() == [0, 0, 1, 1]


def test_background_mask_downsamples_and_expands():
    fg = torch.zeros(1, 16, 16)
    fg[0, 6:10, 6:10] = 1
    bg = background_mask(fg, (8, 8), expand=0)[0, 0]
    assert bg.shape == (8, 8) and bg[3:5, 3:5].sum() == 0 and bg.sum() == 60
    bg2 = background_mask(fg, (8, 8), expand=2)[0, 0]           # 2 input px = 1 feature cell
    assert bg2[2:6, 2:6].sum() == 0 and bg2.sum() == 48


def test_channel_loss_matches_hand_computation():
    net = linear_head_net(relu=False)
    x, y = toy_data(n=6).tensors
    masks = {"0": torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0]])}
    with FeatureTaps(net, ["0"]) as taps:
        logits = net(x)
        terms = constraint_losses(logits, dict(taps.features), y, masks, config=DoctorConfig())
        s = runner_up_class(logits, y)
    W = net[-1].weight.detach().abs()
    off = ((1 - masks["0"][y]) * W[y]).sum(1)
    expected = (off + W[s].sum(1)).mean()
    assert torch.allclose(terms["channel"], expected, atol=1e-6)
    with FeatureTaps(net, ["0"]) as taps:
        logits = net(x)
        conf = constraint_losses(logits, dict(taps.features), y, masks, config=DoctorConfig.official())
    expected_conf = (off + (masks["0"][s] * W[s]).sum(1)).mean()
    assert torch.allclose(conf["channel"], expected_conf, atol=1e-6)


def test_objective_constrains_the_prediction_in_the_paper_and_the_label_in_the_official_code():
    """Eq. 5 is written for the predicted class and the second prediction; the official code uses the label."""
    net = linear_head_net(relu=False)
    x, y = toy_data(n=12).tensors
    with torch.no_grad():
        predicted = net(x).argmax(1)
    assert (predicted != y).any()  # an untrained head gets some wrong: there the two rules differ
    masks = {"0": torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0]])}
    W = net[-1].weight.detach().abs()
    for config, target in ((DoctorConfig(noise=0.0), predicted), (DoctorConfig(noise=0.0, target="label"), y)):
        out, returned = DoctorObjective(net, ["0"], masks, config).forward(net, (x, y))
        s = runner_up_class(net(x), target)
        expected = ((1 - masks["0"][target]) * W[target]).sum(1) + W[s].sum(1)  # linear head: |dy/dm| = |W|
        assert torch.equal(returned, y)  # the cross-entropy always uses the label
        assert torch.allclose(out["channel"], expected.mean(), atol=1e-6), config.target


def test_constraints_carry_parameter_gradients():
    """Double backward: the official code's pre-2023 bug (no create_graph) gave the weights no gradient."""
    net = small_cnn().train()
    x, y = toy_data(n=6, size=8).tensors
    fg = torch.zeros(6, 1, 8, 8)
    fg[:, :, 2:6, 2:6] = 1
    layers = select_conv_layers(net, 2)
    masks = {n: torch.zeros(3, c) for n, c in zip(layers, (6, 8))}
    for term in ("channel", "space"):
        net.zero_grad()
        with FeatureTaps(net, layers) as taps:
            logits = net(x)
            terms = constraint_losses(logits, dict(taps.features), y, masks, foreground=fg,
                                      config=DoctorConfig(expand=0))
        assert terms[term].requires_grad and terms[term] > 0
        terms[term].backward()
        for name in ("9.weight", "4.weight", "5.weight"):  # head, upper conv and its BN
            grad = dict(net.named_parameters())[name].grad
            assert grad is not None and grad.abs().sum() > 0, (term, name)


def test_treat_fine_tunes_with_constraints():
    net = small_cnn()
    x, y = toy_data(n=24, size=8).tensors
    fg = torch.ones(24, 1, 8, 8)
    fg[:, :, :2] = 0
    data = TensorDataset(x, y, fg)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = DoctorConfig(min_confidence=0.0, draws=2, noise=0.1, expand=0)
    result = treat(net, data, 3, layers=1, config=cfg, epochs=1, batch_size=8, device="cpu", progress=False,
                   optimizer=lambda p: torch.optim.SGD(p, lr=0.05))
    assert result.correlation.layers == ["6"] and result.masks["6"].shape == (3, 8)  # the last conv's ReLU
    assert len(result.fit.history) == 1 and torch.isfinite(torch.tensor(result.fit.history[0]["train_loss"]))
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_fgsm_and_flip_test():
    net = small_cnn().eval()
    x = torch.rand(12, 1, 8, 8)
    y = torch.arange(12) % 3
    adv = fgsm(net, x, y, 0.1)
    assert adv.min() >= 0 and adv.max() <= 1
    assert ((adv - x).abs() <= 0.1 + 1e-6).all() and (adv != x).any()
    curves = discovery2_curves(net, x, y, epsilon=0.5, deltas=(0.0, 0.5), draws=3, successful_only=False)
    assert set(curves["kind"]) == {"normal", "adversarial"}
    assert (curves.loc[curves["delta"] == 0, "changed"] == 0).all()
    assert curves["accuracy"].between(0, 1).all()


def test_sparsity_and_config_validation():
    sparse = correlation_sparsity(torch.tensor([[10.0, 0, 0, 0, 0], [1, 1, 1, 1, 1]]), mass=0.8)
    assert sparse.tolist() == pytest.approx([0.2, 0.8])
    # a class that no image reached has an all-zero row: it needs every kernel, never more than all of them
    assert correlation_sparsity(torch.zeros(1, 4)).tolist() == [1.0]
    with pytest.raises(ValueError, match="gradient"):
        DoctorConfig(gradient="square")
    off = DoctorConfig.official()
    assert (off.gradient, off.per_class, off.mask, off.threshold, off.channel_rule, off.lambda_channel,
            off.effective_draws, off.target) == ("relu", 50, "minmax", 0.2, "confusing", 10.0, 1, "label")
    assert DoctorConfig.paper().target == "predicted"
    with pytest.raises(ValueError, match="target"):
        DoctorConfig(target="truth")
    with pytest.raises(ValueError, match="Conv2d"):
        select_conv_layers(small_cnn(), ["nope"])


def test_feature_point_paper_after_the_activation_official_at_the_conv():
    net = small_cnn()
    paper, official = DoctorConfig.paper(), DoctorConfig.official()
    assert (paper.point, official.point) == ("activation", "conv")
    assert select_feature_layers(net, 2, paper.point) == ["2", "6"]
    assert select_feature_layers(net, 1, official.point) == ["4"]
    with FeatureTaps(net, ["6"]) as taps:
        net(torch.rand(2, 1, 8, 8))
        assert taps.features["6"].min() >= 0  # a post-ReLU map
        assert taps.channels() == {"6": 8}
    with pytest.raises(ValueError, match="point='pool'"):
        select_feature_layers(net, 1, "pool")
    with pytest.raises(ValueError, match=r"\['5'\]"):
        select_feature_layers(net, ["5"])


def test_a_shared_activation_keeps_its_last_call_with_its_own_noise():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu = nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))

        def forward(self, x):
            h = self.relu(self.conv(x))
            return self.head(self.relu(h - 1.0))

    net, seen = Shared(), []
    with FeatureTaps(net, 1, point="activation", noise_fn=lambda key, out: seen.append(key)) as taps:
        net(torch.rand(2, 1, 6, 6))
        assert taps.layers == ["relu"] and seen == ["relu", "relu#1"]
