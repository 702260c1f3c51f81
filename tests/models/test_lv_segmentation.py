"""The LV-segmentation chapter's models: the paper's GAP network and the Table 1 comparison models."""
import pytest
import torch
import torch.nn.functional as F

import paperkit.models.lv_segmentation as lv  # registers the builders
from paperkit import models
from paperkit.models.parameters import parameter_table

NAMES = ["gap_net", "fcn8s", "unet", "unetpp", "attention_unet", "unet_residual"]
# The side multiple each model documents (its total downsampling).
FACTORS = {"gap_net": 8, "fcn8s": 32, "unet": 16, "unetpp": 16, "attention_unet": 16, "unet_residual": 16}
SMALL = 0.125   # width multiplier for CPU-sized tests


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_every_model_is_registered_for_the_chapter_with_a_summary():
    assert models.list_models(chapter="lv_segmentation") == sorted(NAMES)
    assert list(lv.MODEL_NAMES) == NAMES
    for name in NAMES:
        assert models.model_info(name).summary, name
    # explicit options: the registry catches a misspelt one instead of ignoring it
    with pytest.raises(TypeError, match="widht"):
        models.create("gap_net", widht=0.5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("in_channels, num_classes, shape", [(1, 2, (2, 1, 96, 96)), (3, 4, (1, 3, 64, 128))])
def test_logits_have_the_input_resolution(name, in_channels, num_classes, shape):
    torch.manual_seed(0)
    net = models.create(name, in_channels=in_channels, num_classes=num_classes, width=SMALL).eval()
    assert net.size_factor == FACTORS[name]
    with torch.no_grad():
        out = net(torch.randn(shape))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (shape[0], num_classes, *shape[2:])
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_sizes_are_refused_naming_the_factor(name):
    factor = FACTORS[name]
    net = models.create(name, width=SMALL).eval()
    with pytest.raises(ValueError, match=rf"{name}: input height and width must be multiples of {factor}\b.*"
                                         rf"got {2 * factor}x{2 * factor + 4}"):
        net(torch.zeros(1, 1, 2 * factor, 2 * factor + 4))
    with pytest.raises(ValueError, match=r"in_channels=1 but the input has 3 channels"):
        net(torch.zeros(1, 3, 2 * factor, 2 * factor))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net(torch.zeros(2 * factor, 2 * factor))


def test_gap_net_conv3_has_the_885120_parameters_of_fig5():
    net = lv.gap_net()
    conv3 = net.conv3[0]
    assert (conv3.in_channels, conv3.out_channels, conv3.kernel_size) == (256, 384, (3, 3))
    assert _n_params(conv3) == 885_120
    # the layer list of the module docstring: three 3x3 layers in conv1 and conv2, single ones after
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.conv1) == 3
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.conv2) == 3
    assert net.feature_channels == 512 and net.score.kernel_size == (1, 1)


def test_gap_net_is_the_lightest_model_at_the_published_widths():
    # The paper: GAP instead of fully connected layers makes the model lightweight, lighter than
    # the transfer-learning style models; the chapter's claim is "lighter than U-Net".
    table = parameter_table(lv.MODEL_NAMES).set_index("name")
    assert list(table.index) == NAMES
    counts = table["parameters"].to_dict()
    assert counts["gap_net"] == 4_672_706   # our own layout, pinned
    # the published sizes: FCN-8s (VGG-16 + 4096-channel fc6/fc7, BatchNorm adds 0.03M) 134M, U-Net 31M
    assert round(counts["fcn8s"] / 1e6) == 134 and round(counts["unet"] / 1e6) == 31
    assert counts["gap_net"] < counts["unet"] / 5
    assert all(counts["gap_net"] < counts[other] for other in NAMES[1:])
    assert table.loc["unet", "mb_fp32"] == pytest.approx(counts["unet"] * 4 / 1e6)
    # width shrinks every model; one name may be given as a string
    small = parameter_table("unet", width=0.25)
    assert list(small["name"]) == ["unet"] and small["parameters"][0] < counts["unet"] / 10


@pytest.mark.parametrize("options", [{}, {"context": False}, {"learned_upsampling": False, "stack": 2}])
def test_gap_net_cam_mean_plus_bias_equals_the_gap_logits(options):
    torch.manual_seed(1)
    net = lv.gap_net(width=SMALL, num_classes=3, **options).eval()
    with torch.no_grad():
        net.score.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))   # a non-zero bias, so it must be accounted for
        x = torch.rand(2, 1, 64, 96)
        out = net.explain(x)
        cam, gap = net.cam(x), net.gap_logits(x)
    assert cam.shape == (2, 3, 64, 96)
    torch.testing.assert_close(out["cam"], cam)
    torch.testing.assert_close(out["gap_logits"], gap)
    # Eq. 1-2 with an average: S_c = mean_xy M_c(x, y) + b_c, also after upsampling to the input size
    torch.testing.assert_close(cam.mean(dim=(-2, -1)) + net.class_bias, gap, rtol=1e-5, atol=1e-5)
    assert (gap - net.class_bias).abs().min() > 1e-4   # the identity is not 0 == 0
    # the coarse CAM is the network's own coarse segmentation score (before the bias and upsampling)
    coarse = net.cam(x, upsample=False)
    assert coarse.shape == (2, 3, 8, 12)
    with torch.no_grad():
        torch.testing.assert_close(coarse + net.class_bias[:, None, None], net.score(out["features"]))
    torch.testing.assert_close(out["logits"], net(x))


def _bright_square(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(n, size, size, dtype=torch.long)
    target[:, size // 4: size // 2, size // 3: 2 * size // 3] = 1
    image = target[:, None].float() + 0.1 * torch.randn(n, 1, size, size, generator=g)
    return image, target


@pytest.mark.parametrize("name", NAMES)
def test_one_sgd_step_on_a_bright_square_reduces_the_loss(name):
    torch.manual_seed(0)
    net = models.create(name, width=SMALL).train()
    image, target = _bright_square()
    opt = torch.optim.SGD(net.parameters(), lr=lv.PAPER_TRAINING["learning_rate"])

    def loss():
        torch.manual_seed(123)   # the same dropout mask before and after the step
        return F.cross_entropy(net(image), target)

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item() - 1e-4, (before.item(), after.item())


def test_invalid_options_name_the_argument():
    with pytest.raises(ValueError, match=r"width=0: expected a positive number"):
        lv.gap_net(width=0)
    with pytest.raises(ValueError, match=r"num_classes=0: expected a positive integer"):
        lv.fcn8s(num_classes=0)
    with pytest.raises(ValueError, match=r"dropout=1.5"):
        lv.fcn8s(width=SMALL, dropout=1.5)


def test_fcn8s_is_torchvision_vgg16_with_pool3_and_pool4_skips():
    import torchvision

    net = lv.fcn8s(in_channels=3, batch_norm=False)
    vgg = torchvision.models.vgg16(weights=None).features
    assert [type(m) for m in net.features] == [type(m) for m in vgg]
    assert [p.shape for p in net.features.parameters()] == [p.shape for p in vgg.parameters()]
    net.features.load_state_dict(vgg.state_dict())   # the same layers: torchvision's weights would load
    assert net.head[0].kernel_size == (7, 7) and net.head[0].out_channels == 4096       # fc6 as a convolution
    assert (net.score_pool3.in_channels, net.score_pool4.in_channels) == (256, 512)     # pool3, pool4 skips
    gray = lv.fcn8s(width=SMALL)
    assert gray.features[0].in_channels == 1 and isinstance(gray.features[1], torch.nn.BatchNorm2d)
    # learned 2x upsamplings start as bilinear interpolation; the final 8x one is fixed
    assert gray.upscore2.weight.requires_grad and not gray.upscore8.weight.requires_grad
    x = torch.rand(1, 2, 4, 4)
    torch.testing.assert_close(gray.upscore2(x)[..., 1:-1, 1:-1],
                               F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)[..., 1:-1, 1:-1])
    fixed = lv.fcn8s(width=SMALL, learned_upsampling=False)
    assert not hasattr(fixed, "upscore2") and _n_params(fixed) == _n_params(gray) - 2 * 2 * 2 * 4 * 4
    # the class scoring layers start at zero, as in Long et al.: an untrained FCN answers 0 everywhere
    with torch.no_grad():
        assert gray.eval()(torch.randn(1, 1, 64, 64)).abs().max() == 0


def test_unet_is_ronneberger_basic_unet_and_the_residual_one_stays_an_option():
    from monai.networks.nets import BasicUNet, UNet

    plain, residual = models.create("unet", width=SMALL), models.create("unet_residual", width=SMALL)
    assert isinstance(plain.net, BasicUNet) and isinstance(residual.net, UNet)
    convs = [m for m in plain.net.conv_0.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(c.kernel_size == (3, 3) for c in convs)   # two 3x3 convolutions per level
    assert any(isinstance(m, torch.nn.MaxPool2d) for m in plain.net.down_1.modules())   # max-pooling down
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    with pytest.raises(ValueError, match="norm='group'"):
        lv.unet(norm="group")
