"""Models of the lge_quality chapter: stage-1 UNet, QA / multi-task QA / SupCon nets, offline weights."""
import pytest
import torch

import paperkit.models.lge_quality as lq
from paperkit.models import registry
from paperkit.models.parameters import count_parameters
from paperkit.models.pretrained import imagenet_checkpoint_path

NAMES = ["unet_la", "qa_resnet34", "multitask_qa", "supcon_resnet34"]


pytestmark = pytest.mark.usefixtures("native_convolutions")  # see conftest.py


def test_registered_under_the_chapter():
    assert registry.list_models(chapter="lge_quality") == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_on_a_tiny_batch(name):
    torch.manual_seed(0)
    net = registry.create(name)
    x = torch.randn(2, 1, 64, 64)
    out = net(x)
    if name == "unet_la":
        assert out.shape == (2, 1, 64, 64)
        loss = out.mean()
    elif name == "supcon_resnet34":
        assert out.shape == (2, 128)
        assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
        loss = out.sum()
    else:
        assert out.attributes.shape == (2, 3) and out.qa.shape == (2, 1) and out.embedding.shape == (2, 512)
        assert (out.mask is None) == (name == "qa_resnet34")
        if out.mask is not None:
            assert out.mask.shape == (2, 1, 64, 64)
        loss = out.qa.sum() + out.attributes.sum() + (out.mask.mean() if out.mask is not None else 0)
    loss.backward()
    first = next(p for p in net.parameters() if p.requires_grad)
    assert first.grad is not None and torch.isfinite(first.grad).all()


def test_three_channel_input_and_bad_channel_count():
    out = lq.qa_resnet34(in_channels=3)(torch.randn(2, 3, 64, 64))
    assert out.qa.shape == (2, 1)
    with pytest.raises(ValueError, match="in_channels"):
        lq.qa_resnet34(in_channels=2)


@pytest.mark.parametrize("qa_input, width", [("logits", 3), ("latents", 3 * 64), ("latents+features", 3 * 64 + 512)])
def test_qa_head_input_width(qa_input, width):
    net = lq.qa_resnet34(qa_input=qa_input)
    assert net.qa_head[0].in_features == width
    assert net(torch.randn(2, 1, 64, 64)).qa.shape == (2, 1)


def test_qa_head_sees_only_the_attribute_logits_by_default():
    net = lq.qa_resnet34().eval()
    x = torch.randn(2, 1, 64, 64)
    out = net(x)
    assert torch.allclose(net.qa_head(out.attributes), out.qa)


def test_unknown_qa_input_is_refused():
    with pytest.raises(ValueError, match="qa_input"):
        lq.qa_resnet34(qa_input="everything")


def test_multitask_needs_sides_divisible_by_32():
    with pytest.raises(ValueError, match="divisible by 32"):
        lq.multitask_qa()(torch.randn(1, 1, 100, 100))


def test_parameter_counts():
    from torchvision.models import resnet34

    reference = sum(p.numel() for p in resnet34().parameters())
    fc = 512 * 1000 + 1000
    grey_stem_saving = 64 * 2 * 7 * 7  # 3 -> 1 input channels
    encoder = count_parameters(lq.qa_resnet34().encoder, trainable_only=False)
    assert encoder == reference - fc - grey_stem_saving == 21_278_400
    heads = 3 * (512 * 64 + 64 + 64 + 1) + (3 * 64 + 64 + 64 + 1)
    assert count_parameters(lq.qa_resnet34(), trainable_only=False) == 21_278_400 + heads
    projection = 512 * 512 + 512 + 512 * 128 + 128
    assert count_parameters(lq.supcon_resnet34(), trainable_only=False) == 21_278_400 + projection


def test_imagenet_weights_are_never_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="resnet34-b627a593.pth"):
        lq.qa_resnet34(weights="imagenet")


def test_imagenet_weights_from_the_local_cache(tmp_path, monkeypatch):
    from torchvision.models import resnet34

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(1)
    source = resnet34().state_dict()
    imagenet_checkpoint_path("resnet34").parent.mkdir(parents=True)
    torch.save(source, imagenet_checkpoint_path("resnet34"))
    grey = lq.qa_resnet34(weights="imagenet", in_channels=1)
    rgb = lq.qa_resnet34(weights="imagenet", in_channels=3)
    assert torch.equal(grey.encoder.net.conv1.weight, source["conv1.weight"].sum(dim=1, keepdim=True))
    assert torch.equal(rgb.encoder.net.conv1.weight, source["conv1.weight"])
    assert torch.equal(grey.encoder.net.layer4[2].conv2.weight, source["layer4.2.conv2.weight"])


def test_supcon_encoder_transfers_and_freezes():
    pretrained = lq.supcon_resnet34()
    with torch.no_grad():
        pretrained.encoder.net.layer1[0].conv1.weight.fill_(0.5)
    qa = lq.qa_resnet34().load_encoder(pretrained).freeze_encoder()
    assert torch.equal(qa.encoder.net.layer1[0].conv1.weight, pretrained.encoder.net.layer1[0].conv1.weight)
    assert not any(p.requires_grad for p in qa.encoder.parameters())
    trainable = count_parameters(qa, trainable_only=True)
    everything = count_parameters(qa, trainable_only=False)
    assert 0 < trainable == everything - count_parameters(qa.encoder, trainable_only=False)
    out = qa(torch.randn(2, 1, 64, 64))
    out.qa.sum().backward()
    assert qa.encoder.net.conv1.weight.grad is None and qa.qa_head[0].weight.grad is not None


def test_bad_weights_value():
    with pytest.raises(ValueError, match="weights"):
        lq.qa_resnet34(weights="imagenet21k")


def test_narrow_width_keeps_resnet34_depth_and_shapes():
    full, narrow = lq.qa_resnet34(), lq.qa_resnet34(width=0.25)
    convs = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.encoder.modules())  # noqa: E731
    assert convs(full) == convs(narrow)  # same 34-layer layout (+ downsample 1x1 convs)
    assert narrow.encoder.channels == (16, 16, 32, 64, 128)
    assert count_parameters(narrow, trainable_only=False) < count_parameters(full, trainable_only=False) / 10
    out = lq.multitask_qa(width=0.25)(torch.randn(2, 1, 64, 64))
    assert out.embedding.shape == (2, 128) and out.mask.shape == (2, 1, 64, 64)
    assert lq.supcon_resnet34(width=0.25)(torch.randn(2, 1, 64, 64)).shape == (2, 128)
    with pytest.raises(ValueError, match="width"):
        lq.qa_resnet34(width=0.5, weights="imagenet")
