"""The 17 Model Doctor classifiers: registered under md_*, build for grey 28 px and colour 32 px inputs."""
import pytest
import torch

import paperkit.models.classifiers as classifiers  # registers the md_* builders
from paperkit.models import create, list_models


def test_all_table1_models_registered_for_the_chapter():
    names = list_models(chapter="model_doctor")
    assert sorted(classifiers.MD_MODELS) == [n for n in names if n.startswith("md_")]
    assert len(classifiers.MD_MODELS) == 17


@pytest.mark.parametrize("name", classifiers.MD_MODELS)
def test_forward_shapes_on_small_inputs(name):
    torch.manual_seed(0)
    for channels, size in ((1, 28), (3, 32)):
        net = create(name, num_classes=5, in_channels=channels, image_size=size).eval()
        with torch.no_grad():
            out = net(torch.randn(2, channels, size, size))
        assert out.shape == (2, 5), (name, channels, size)
        assert torch.isfinite(out).all()


def test_small_stem_keeps_resolution_and_large_stem_downsamples():
    small = create("md_resnet34", num_classes=3, in_channels=3, image_size=32)
    large = create("md_resnet34", num_classes=3, in_channels=3, image_size=224)
    assert small.conv1.stride == (1, 1) and isinstance(small.maxpool, torch.nn.Identity)
    assert large.conv1.stride == (2, 2) and large.conv1.kernel_size == (7, 7)


def test_simplenet_has_13_convs_and_one_linear():
    net = create("md_simplenetv1", num_classes=10, in_channels=3, image_size=32)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 13 and len(linears) == 1
    assert 5.0e6 < sum(p.numel() for p in net.parameters()) < 6.0e6  # the paper's 5.48 M


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="in_channels"):
        create("md_vgg16", num_classes=10, in_channels=2, image_size=32)
    with pytest.raises(ValueError, match="num_classes"):
        create("md_alexnet", num_classes=1, in_channels=3, image_size=32)


@pytest.mark.parametrize("size", [64, 74])
def test_inception_takes_the_small_stem_below_its_own_75_px(size):
    """Its stock stem needs 75 px; the paper profile's 64-px synthetic images used to stop the chapter."""
    net = create("md_inceptionv3", num_classes=3, in_channels=1, image_size=size).eval()
    assert isinstance(net.maxpool1, torch.nn.Identity) and net(torch.randn(2, 1, size, size)).shape == (2, 3)
    assert not isinstance(create("md_inceptionv3", num_classes=3, in_channels=1, image_size=75).maxpool1,
                          torch.nn.Identity)
