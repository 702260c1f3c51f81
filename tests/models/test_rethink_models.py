"""Models of the rethink_transfer chapter: CBR nets, ResNet-50/DenseNet-121 truncations, offline weights."""
import math
import re

import pytest
import torch
from torch import nn

import paperkit.models.cbr as cbr
import paperkit.models.pretrained as pretrained
import paperkit.models.truncated as truncated
from paperkit.models import registry

RES = ["res_t1", "res_t2", "res_t3", "res_t4", "res_t5"]
DENS = ["dens_t1", "dens_t2", "dens_t3"]
CBR = ["cbr_large_t", "cbr_large_w", "cbr_small", "cbr_tiny"]
ALL = CBR + ["resnet50", "densenet121"] + RES + DENS
MIN_SIZE = {"cbr_large_t": 217, "cbr_large_w": 121, "cbr_small": 121, "cbr_tiny": 91}


pytestmark = pytest.mark.usefixtures("native_convolutions")  # see conftest.py


@pytest.fixture(scope="module")
def built():
    """Each model built once with 13 classes and 3 channels, shared by the counting tests."""
    torch.manual_seed(0)
    return {name: registry.create(name, num_classes=13) for name in ALL}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to download weights fail loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch, no_network):
    """An empty torch hub cache; returns its checkpoints folder (not yet created)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_every_builder_is_registered_for_the_chapter():
    assert set(ALL) <= set(registry.list_models(chapter="rethink_transfer"))
    for name in ALL:
        assert registry.model_info(name).summary, name


@pytest.mark.parametrize("name", ALL)
def test_outputs_have_num_classes_for_one_and_three_channels(built, name):
    size = MIN_SIZE.get(name, 32)  # 32 px still leaves ResNet-50 and DenseNet-121 a 1x1 final map
    grey = registry.create(name, num_classes=1, in_channels=1)
    for model, in_channels, num_classes in ((built[name], 3, 13), (grey, 1, 1)):
        with torch.no_grad():
            out = model.eval()(torch.randn(2, in_channels, size, size))
        assert out.shape == (2, num_classes), (name, in_channels)
        assert torch.isfinite(out).all()


def test_resnet_main_path_conv_counts(built):
    counts = {name: truncated.count_main_path_convs(built[name]) for name in RES + ["resnet50"]}
    assert counts == {"res_t1": 25, "res_t2": 37, "res_t3": 43, "res_t4": 46, "res_t5": 49, "resnet50": 49}
    # ResNet-50's "50" = 49 main-path convs + the fc layer; the 4 shortcut convs are not counted.
    full = built["resnet50"]
    assert sum(isinstance(m, nn.Linear) for m in full.modules()) == 1
    assert sum(isinstance(m, nn.Conv2d) for m in full.modules()) == 49 + 4
    # The cut points: T1 and T2 end inside layer3, T3/T4 inside layer4.
    assert [len(built[n].layer3) for n in ("res_t1", "res_t2")] == [1, 5]
    assert not hasattr(built["res_t2"], "layer4")
    assert [len(built[n].layer4) for n in ("res_t3", "res_t4", "res_t5")] == [1, 2, 3]


def test_densenet_truncations_keep_blocks_with_their_transitions(built):
    assert [truncated.count_dense_blocks(built[n]) for n in DENS + ["densenet121"]] == [1, 2, 3, 4]
    assert [truncated.count_main_path_convs(built[n]) for n in DENS + ["densenet121"]] == [14, 39, 88, 120]
    for t, name in enumerate(DENS, start=1):
        assert list(built[name].features.named_children())[-1][0] == f"transition{t}"
    assert list(built["densenet121"].features.named_children())[-1][0] == "norm5"


def test_truncated_backbones_are_initialised_like_torchvision(built):
    res, dens = built["res_t1"], registry.create("dens_t3", in_channels=1)
    conv = res.layer3[0].conv2.weight  # 256 x 256 x 3 x 3, kaiming normal with fan_out
    assert abs(conv.std().item() / math.sqrt(2 / (256 * 9)) - 1) < 0.05
    conv = dens.features.transition3.conv.weight  # 512 x 1024 x 1 x 1, kaiming normal with fan_in
    assert abs(conv.std().item() / math.sqrt(2 / 1024) - 1) < 0.05
    for model in (res, dens):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert (m.weight == 1).all() and (m.bias == 0).all()
                assert (m.running_mean == 0).all() and (m.running_var == 1).all()
    # The replaced one-channel stem gets the same initialisation as torchvision's.
    assert abs(dens.features.conv0.weight.std().item() / math.sqrt(2 / 49) - 1) < 0.1


def test_parameter_counts_grow_with_depth_and_stay_below_the_parent(built):
    res = [n_params(built[n]) for n in RES]
    dens = [n_params(built[n]) for n in DENS]
    assert res == sorted(set(res)) and dens == sorted(set(dens))
    assert max(res[:4]) < n_params(built["resnet50"]) and max(dens) < n_params(built["densenet121"])
    # Res-T5 keeps all 49 convs: it is ResNet-50 with the same head.
    assert res[4] == n_params(built["resnet50"]) == 23_534_669
    assert n_params(built["densenet121"]) == 6_967_181  # torchvision's 7,978,856 minus the 1000-class head
    assert (res[0], dens[0]) == (2_970_701, 379_533)


@pytest.mark.parametrize("name, widths, k", [
    ("cbr_large_t", (32, 64, 128, 256, 512), 7), ("cbr_large_w", (64, 128, 256, 512), 7),
    ("cbr_small", (32, 64, 128, 256), 7), ("cbr_tiny", (64, 128, 256, 512), 5)])
def test_cbr_parameter_count_matches_its_definition(built, name, widths, k):
    chans = (3,) + widths
    # conv weight + bias, BatchNorm scale + shift, per block; then Linear(last width, 13).
    expected = sum(k * k * a * b + b + 2 * b for a, b in zip(chans, chans[1:])) + widths[-1] * 13 + 13
    assert n_params(built[name]) == expected


@pytest.mark.parametrize("name", CBR)
def test_cbr_minimum_input_size(built, name):
    model = built[name].eval()
    m = MIN_SIZE[name]
    assert model.min_input_size == m
    with torch.no_grad():
        assert model(torch.zeros(1, 3, m, m)).shape == (1, 13)
        for h, w in ((m - 1, m - 1), (m, m - 1)):
            with pytest.raises(ValueError, match=rf"{name}: input of spatial size {h}x{w} .*minimum is {m}x{m}"):
                model(torch.zeros(1, 3, h, w))


@pytest.fixture(scope="module")
def parent_file(tmp_path_factory):
    """A ResNet-50 state dict saved to disk (the chapter's self-pretrained source model); (state, path)."""
    torch.manual_seed(123)
    parent = truncated.resnet50(num_classes=13)
    with torch.no_grad():  # make a buffer distinguishable from a fresh model's too
        parent.layer2[1].bn2.running_mean.normal_()
    path = tmp_path_factory.mktemp("source") / "resnet50.pt"
    torch.save(parent.state_dict(), path)
    return parent.state_dict(), path


def test_weights_path_copies_the_kept_prefix_and_leaves_the_head_fresh(parent_file, no_network):
    source, path = parent_file
    torch.manual_seed(7)
    fresh = truncated.res_t3(num_classes=13)
    torch.manual_seed(7)
    model = truncated.res_t3(num_classes=13, weights=str(path))
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            assert torch.equal(value, fresh.state_dict()[key]), key
        else:
            assert torch.equal(value, source[key]), key
    assert torch.equal(model.layer4[0].conv2.weight, source["layer4.0.conv2.weight"])
    assert torch.equal(model.layer2[1].bn2.running_mean, source["layer2.1.bn2.running_mean"])
    assert not torch.equal(model.fc.weight, source["fc.weight"])

    # One input channel: the stem kernel is the sum of the RGB kernels.
    grey = truncated.res_t3(num_classes=13, in_channels=1, weights=path)
    assert torch.allclose(grey.conv1.weight, source["conv1.weight"].sum(dim=1, keepdim=True))


def test_weights_from_a_train_checkpoint_and_from_a_shallower_model(tmp_path):
    small = truncated.res_t1(num_classes=2)
    # A paperkit.train checkpoint ({"model": ...}) saved from a DataParallel-wrapped model.
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model": {f"module.{k}": v for k, v in small.state_dict().items()}}, ckpt)
    again = truncated.res_t1(num_classes=5, weights=ckpt)
    assert torch.equal(again.layer3[0].conv1.weight, small.layer3[0].conv1.weight)
    # A truncated model cannot initialise a deeper one.
    with pytest.raises(ValueError, match=r"missing \(first: layer3\.1\..*deeper parent"):
        truncated.res_t3(weights=ckpt)


def test_imagenet_without_cached_file_names_the_path(hub_dir):
    for name, file in (("res_t1", "resnet50-0676ba61.pth"), ("densenet121", "densenet121-a639ec97.pth"),
                       ("cbr_small", "cbr_small_imagenet.pth")):
        expected = hub_dir / file
        assert pretrained.imagenet_checkpoint_path(name) == expected
        assert not pretrained.imagenet_weights_available(name)
        with pytest.raises(FileNotFoundError, match=re.escape(str(expected))) as err:
            registry.create(name, weights="imagenet")
        assert "Downloads are disabled" in str(err.value)
    assert "no ImageNet weights for CBR" in str(err.value)


def test_imagenet_from_cached_resnet_checkpoint(hub_dir, parent_file):
    source, path = parent_file  # torchvision's key names; its head is ignored anyway
    hub_dir.mkdir(parents=True)
    (hub_dir / "resnet50-0676ba61.pth").symlink_to(path)
    assert pretrained.imagenet_weights_available("res_t2")
    model = truncated.res_t2(num_classes=13, in_channels=1, weights="imagenet")
    assert torch.equal(model.layer3[4].conv3.weight, source["layer3.4.conv3.weight"])
    assert torch.allclose(model.conv1.weight, source["conv1.weight"].sum(dim=1, keepdim=True))
    assert model.fc.weight.shape == (13, 1024)


def test_imagenet_densenet_checkpoint_with_legacy_keys_is_remapped(hub_dir, built):
    current = built["densenet121"].state_dict()
    legacy = {re.sub(r"\.(norm|relu|conv)([12])\.", r".\1.\2.", k) if "denselayer" in k else k: v
              for k, v in current.items() if not k.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy  # the old naming, as in a639ec97
    assert pretrained.remap_legacy_densenet_keys(legacy).keys() == {
        k for k in current if not k.endswith("num_batches_tracked")}
    hub_dir.mkdir(parents=True)
    torch.save(legacy, hub_dir / "densenet121-a639ec97.pth")
    model = truncated.dens_t2(num_classes=13, weights="imagenet")
    key = "features.denseblock2.denselayer3.conv2.weight"  # conv.2 in the legacy file
    assert torch.equal(model.state_dict()[key], current[key])
    assert torch.equal(model.features.transition2.conv.weight, current["features.transition2.conv.weight"])


def test_bad_weights_and_arguments_are_named():
    with pytest.raises(ValueError, match=r"weights='imagenet21k' is not understood.*'imagenet' or a path"):
        truncated.res_t1(weights="imagenet21k")
    with pytest.raises(ValueError, match=r"weights=True"):
        cbr.cbr_tiny(weights=True)
    with pytest.raises(FileNotFoundError, match=r"no_such_file\.pt"):
        truncated.dens_t1(weights="no_such_file.pt")
    with pytest.raises(ValueError, match=r"num_classes=0; expected a positive int"):
        cbr.cbr_small(num_classes=0)
    with pytest.raises(ValueError, match=r"blocks=\(3, 2, 1, 0\)"):
        truncated.TruncatedResNet50((3, 2, 1, 0))
