"""The one input-stem helper (paperkit/models/stem.py): fresh stems as before, timm's rule for pretrained ones."""
import pytest
import torch
from torch import nn

from paperkit import models
from paperkit.models.pretrained import load_backbone
from paperkit.models.stem import KAIMING_FAN_OUT, adapt_stem_weights, replace_stem_conv


def checksum(net: nn.Module) -> tuple[float, float, float]:
    """Sum, absolute sum and position-weighted sum of every floating tensor: a changed draw shows in all three."""
    total = absolute = ramp = 0.0
    for t in net.state_dict().values():
        if t.is_floating_point():
            flat = t.double().flatten()
            total += flat.sum().item()
            absolute += flat.abs().sum().item()
            ramp += (flat * torch.linspace(-1, 1, flat.numel(), dtype=torch.float64)).sum().item()
    return total, absolute, ramp


# Checksums of every model whose stem is swapped, built under torch.manual_seed(0) by the code before
# replace_stem_conv existed (main at 3160a69): the helper must keep the same modules, draws and inits.
SEEDED_BUILDS = [
    ("md_alexnet", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (51.47234516362015, 85458.53446906988, -17.012532130837272)),
    ("md_vgg16", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (8498.899196643932, 279719.5951719066, -19.79494123438918)),
    ("md_resnet34", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (16977.596461464796, 449312.1630976568, 29.081885678082838)),
    ("md_resnet34", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (16974.369620189173, 449369.7323432765, 27.98198585851743)),
    ("md_densenet121", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (83561.72308610758, 370497.04409690166, -41.33261714653551)),
    ("md_densenet121", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (83562.55457368217, 370557.58897152374, -39.769707200060694)),
    ("md_efficientnetv2_s", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (153966.2778548632, 1332834.9527407659, -44.58161324399436)),
    ("md_efficientnetv2_s", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (153964.6287265821, 1332809.5151223037, -45.79472205217878)),
    ("md_googlenet", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (14583.457390317439, 59292.8105508825, -4.189172129230259)),
    ("md_googlenet", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (14583.720489716652, 59347.88537156405, -7.086885152647924)),
    ("md_mobilenetv2", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (34015.97635991525, 169830.7266627946, 57.004870577456956)),
    ("md_mobilenetv2", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (34019.87355164906, 169795.0310759915, 58.98162504993982)),
    ("md_inceptionv3", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (34246.820604798064, 1762844.2760548831, -69.09359613335877)),
    ("md_shufflenetv2", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (16193.3206314231, 59480.56909963139, -63.87489738423707)),
    ("md_shufflenetv2", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (16194.789618896539, 59455.01656734849, -62.810204405853966)),
    ("md_squeezenet", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (-82.53255553710272, 49858.55448205932, 14.466887057214034)),
    ("md_squeezenet", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (-89.56922442292756, 49944.516909174956, 8.99671901406094)),
    ("md_mnasnet", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (38185.76083339769, 212688.68419108712, -62.87472012438265)),
    ("md_mnasnet", {"num_classes": 10, "in_channels": 1, "image_size": 224},
     (38188.31324732221, 212653.0385842981, -65.08393872802858)),
    ("md_xception", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (54639.48698770668, 838988.396198484, 100.82786585089269)),
    ("md_senet34", {"num_classes": 10, "in_channels": 3, "image_size": 32},
     (16821.648032941946, 473312.6231611839, 34.56123063049465)),
    ("res_t1", {"num_classes": 2, "in_channels": 1},
     (15289.947443325726, 143227.04524717876, 16.673558306425555)),
    ("dens_t1", {"num_classes": 2, "in_channels": 1},
     (3899.232092175223, 24256.077766465663, -1.5672117642095396)),
    ("qa_resnet34", {"in_channels": 1},
     (17037.93361277429, 451555.74117689027, -81.8817780585295)),
    ("qa_resnet34", {"in_channels": 3},
     (17029.947306651076, 451516.1515315314, -82.14694670365753)),
    ("tsn_r18", {"num_classes": 2, "in_channels": 1},
     (9561.14383610517, 229236.04209063735, -125.26136986056464)),
    ("r3d_18", {"num_classes": 2, "in_channels": 1},
     (9556.835263307057, 382985.06786072225, -104.2553522069905)),
    ("r3d_18", {"num_classes": 2, "in_channels": 3},
     (9553.97372096414, 383203.87560181814, -104.26933732949824)),
]


@pytest.mark.parametrize("name, kwargs, expected", SEEDED_BUILDS,
                         ids=[f"{n}-{kw['in_channels']}ch-{kw.get('image_size', '')}" for n, kw, _ in SEEDED_BUILDS])
def test_seeded_build_is_unchanged(name, kwargs, expected):
    torch.manual_seed(0)
    assert checksum(models.create(name, **kwargs)) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("conv", [nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False),
                                  nn.Conv3d(3, 8, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3))])
def test_same_draws_as_the_layer_written_by_hand(conv):
    torch.manual_seed(3)
    swapped = replace_stem_conv(conv, 1, init=KAIMING_FAN_OUT)
    torch.manual_seed(3)
    by_hand = type(conv)(1, 8, conv.kernel_size, stride=conv.stride, padding=conv.padding, bias=conv.bias is not None)
    KAIMING_FAN_OUT(by_hand.weight)
    assert type(swapped) is type(conv) and swapped.in_channels == 1
    assert all(torch.equal(a, b) for a, b in zip(swapped.state_dict().values(), by_hand.state_dict().values()))


def test_small_stem_and_kept_geometry():
    conv = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=True)
    small = replace_stem_conv(conv, 1, small=True)
    assert (small.in_channels, small.out_channels, small.kernel_size, small.stride, small.padding) == (
        1, 64, (3, 3), (1, 1), (1, 1))
    assert small.bias is not None
    same = replace_stem_conv(conv)
    assert (same.in_channels, same.kernel_size, same.stride, same.padding) == (3, (7, 7), (2, 2), (3, 3))
    assert not torch.equal(same.weight, conv.weight)  # always a fresh layer


def test_replace_stem_conv_rejects_what_it_cannot_rebuild():
    with pytest.raises(TypeError, match="Conv2d or nn.Conv3d, got Linear"):
        replace_stem_conv(nn.Linear(3, 4), 1)
    with pytest.raises(ValueError, match="groups=3"):
        replace_stem_conv(nn.Conv2d(3, 6, 3, groups=3), 1)
    with pytest.raises(ValueError, match="in_channels=0"):
        replace_stem_conv(nn.Conv2d(3, 6, 3), 0)


def test_timm_rule_for_rgb_kernels():
    rgb = torch.randn(8, 3, 7, 7)
    assert torch.equal(adapt_stem_weights(rgb, 1), rgb.sum(dim=1, keepdim=True))
    four = adapt_stem_weights(rgb, 4)  # channels R, G, B, R, scaled by 3/4
    assert torch.allclose(four, torch.cat([rgb, rgb[:, :1]], dim=1) * 0.75)
    assert torch.equal(adapt_stem_weights(rgb, 6), torch.cat([rgb, rgb], dim=1) * 0.5)


def test_non_rgb_kernels_are_refused_with_their_shape():
    # The rule before timm's repeated any channel count; timm's starts from RGB weights only.
    with pytest.raises(ValueError, match=r"stem kernel: a kernel shaped \(8, 1, 7, 7\) cannot be adapted to 3"):
        adapt_stem_weights(torch.randn(8, 1, 7, 7), 3)


class Tiny(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, bias=False)
        self.fc = nn.Linear(4, 2)


def test_load_backbone_adapts_an_rgb_source_and_names_a_grey_one():
    rgb = Tiny(3).state_dict()
    grey = Tiny(1)
    load_backbone(grey, rgb, head="fc", stem_conv="conv1")
    assert torch.equal(grey.conv1.weight, rgb["conv1.weight"].sum(dim=1, keepdim=True))
    with pytest.raises(ValueError, match=r"state dict, conv1.weight: a kernel shaped \(4, 1, 3, 3\)"):
        load_backbone(Tiny(3), Tiny(1).state_dict(), head="fc", stem_conv="conv1")
