"""Video-style augmentation: one random draw per volume, CutMix/MixUp with soft labels."""
import pytest
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from paperkit.augment import BatchMix, RandomBrightness, VolumeTransform, mix_epochs, soft_cross_entropy


def asymmetric_slice(size: int = 32) -> torch.Tensor:
    """A slice with no symmetry (a ramp plus an off-centre block), so any rotation or crop changes it."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    img = (x + 2 * y).float() / (3 * size)
    img[4:12, 18:28] += 1.0
    return img


def test_one_draw_hits_every_frame():
    torch.manual_seed(0)
    frame = asymmetric_slice()
    volume = frame.expand(1, 8, 32, 32).clone()  # (C, T, H, W): eight identical slices
    out = VolumeTransform(size=24)(volume)
    assert out.shape == (1, 8, 24, 24)
    assert not torch.allclose(out[0, 0], TF.resize(frame[None], [24, 24], antialias=True)[0], atol=1e-3)
    for t in range(1, 8):  # independent draws per frame would make these differ
        assert torch.equal(out[0, t], out[0, 0]), f"frame {t} got a different crop/brightness/rotation"


def test_rotation_is_the_same_angle_for_every_frame_and_within_15_degrees():
    volume = torch.stack([asymmetric_slice() * (t + 1) for t in range(4)])[None]  # frames differ in contrast
    torch.manual_seed(3)
    out = VolumeTransform(size=None, crop_scale=None, brightness=0, degrees=15)(volume)
    torch.manual_seed(3)
    angle = float(torch.empty(1).uniform_(-15, 15))  # the draw v2.RandomRotation makes
    assert -15 <= angle <= 15 and abs(angle) > 1
    for t in range(4):
        expected = TF.rotate(volume[:, t], angle, interpolation=InterpolationMode.BILINEAR, fill=0.0)
        torch.testing.assert_close(out[:, t], expected)


def test_a_batch_gets_one_draw_per_volume():
    torch.manual_seed(0)
    batch = asymmetric_slice().expand(2, 1, 4, 32, 32).clone()
    out = VolumeTransform(size=16)(batch)
    assert out.shape == (2, 1, 4, 16, 16)
    assert not torch.allclose(out[0], out[1])  # different volumes, different draws
    assert torch.equal(out[0, 0, 0], out[0, 0, 3]) and torch.equal(out[1, 0, 0], out[1, 0, 3])


def test_brightness_scales_raw_intensities_without_clamping():
    torch.manual_seed(0)
    raw = torch.full((1, 3, 4, 4), 800.0)  # unnormalised MRI intensities
    out = RandomBrightness(0.2)(raw)
    factor = out.flatten()[0] / 800
    assert 0.8 <= factor <= 1.2 and factor != 1
    assert torch.allclose(out, raw * factor)


def test_evaluation_transform_only_resizes():
    volume = torch.rand(1, 4, 32, 32)
    out = VolumeTransform(size=16, train=False)(volume)
    torch.testing.assert_close(out[0], TF.resize(volume[0], [16, 16], antialias=True))


@pytest.mark.parametrize("mode", ["both", "cutmix", "mixup"])
def test_mixing_gives_soft_labels_summing_to_one(mode):
    torch.manual_seed(0)
    clips, labels = torch.rand(4, 1, 8, 16, 16), torch.tensor([0, 1, 1, 0])
    mixed, soft = BatchMix(num_classes=2, mode=mode)(clips, labels)
    assert mixed.shape == clips.shape and soft.shape == (4, 2)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(4))
    assert ((soft > 0) & (soft < 1)).any(), "some label should be mixed"
    assert not torch.equal(mixed, clips)


def test_cutmix_cuts_the_same_box_from_every_frame():
    torch.manual_seed(1)
    clips = torch.rand(4, 1, 8, 16, 16)
    mixed, soft = BatchMix(mode="cutmix")(clips, torch.tensor([0, 1, 0, 1]))
    from_partner = mixed == clips.roll(1, dims=0)  # v2.CutMix pastes from the batch rolled by one
    box = from_partner[0, 0, 0]
    assert box.any() and not box.all()
    assert all(torch.equal(from_partner[0, 0, t], box) for t in range(8))
    # the label weight is the pasted area's share
    torch.testing.assert_close(soft[0, 1], box.float().mean())


def test_both_mode_chooses_cutmix_about_60_percent_of_the_time():
    torch.manual_seed(0)
    mix = BatchMix(mode="both", cutmix_p=0.6)
    clips, labels = torch.rand(2, 1, 2, 8, 8) + 1, torch.tensor([0, 1])
    partner = clips.roll(1, dims=0)
    n, cutmix = 300, 0
    for _ in range(n):
        mixed, _ = mix(clips, labels)
        cutmix += bool(((mixed == clips) | (mixed == partner)).all())  # MixUp blends every pixel instead
    assert 0.5 < cutmix / n < 0.7


def test_mixing_can_be_switched_off_by_mode_or_epoch():
    clips, labels = torch.rand(2, 1, 4, 8, 8), torch.tensor([1, 0])
    out, soft = BatchMix(mode="none")(clips, labels)
    assert torch.equal(out, clips) and soft.tolist() == [[0.0, 1.0], [1.0, 0.0]]

    mix = BatchMix(mode="both", until_epoch=mix_epochs(100))
    assert mix_epochs(100) == 80
    mix.set_epoch(79)
    assert mix.enabled
    mix.set_epoch(80)
    assert not mix.enabled
    out, soft = mix(clips, labels)
    assert torch.equal(out, clips) and soft.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_forward_for_fit_returns_logits_and_soft_targets():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1 * 4 * 8 * 8, 2))
    logits, soft = BatchMix(mode="mixup").forward(model, (torch.rand(3, 1, 4, 8, 8), torch.tensor([0, 1, 1])))
    loss = soft_cross_entropy(logits, soft)
    loss.backward()
    assert logits.shape == soft.shape == (3, 2) and torch.isfinite(loss)


def test_soft_cross_entropy_equals_hard_for_one_hot_targets():
    logits, labels = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    one_hot = torch.nn.functional.one_hot(labels, 2).float()
    torch.testing.assert_close(soft_cross_entropy(logits, one_hot), soft_cross_entropy(logits, labels))
    with pytest.raises(ValueError, match="logits' shape"):
        soft_cross_entropy(logits, torch.rand(5, 3))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="mode='cutout'"):
        BatchMix(mode="cutout")
    with pytest.raises(ValueError, match="integer labels"):
        BatchMix()(torch.rand(2, 1, 4, 8, 8), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(C, T, H, W\)"):
        VolumeTransform(size=8)(torch.rand(8, 8))
