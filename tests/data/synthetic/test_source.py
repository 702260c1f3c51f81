import numpy as np
import pytest
import torch

from paperkit.data.synthetic.source import CLASSES, SHAPES, TEXTURES, make_source_task, source_classes


def test_source_task_is_balanced_seeded_and_in_range():
    a = make_source_task(64, 48, seed=3)
    b = make_source_task(64, 48, seed=3)
    x, y = a.tensors
    assert len(CLASSES) == 8 and x.shape == (64, 1, 48, 48) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, b.tensors[0]) and torch.equal(y, b.tensors[1])
    assert np.bincount(y.numpy(), minlength=len(CLASSES)).tolist() == [8] * 8
    assert not torch.equal(x, make_source_task(64, 48, seed=4).tensors[0])
    assert make_source_task(16, 32, channels=3).tensors[0].shape[1] == 3


def test_all_sixteen_pairs_on_request():
    assert len(source_classes(SHAPES, TEXTURES)) == 16
    _, y = make_source_task(32, 32, shapes=SHAPES).tensors
    assert np.bincount(y.numpy()).tolist() == [2] * 16


def test_classes_differ_in_shape_and_texture():
    x, y = make_source_task(320, 64, seed=0).tensors
    # Class-mean images differ: the labels put signal in the pixels.
    means = torch.stack([x[y == k].mean(0) for k in range(len(CLASSES))])
    assert torch.cdist(means.flatten(1), means.flatten(1)).max() > 1.0
    # Texture is a local cue: horizontal stripes vary along y more than along x, unlike the others.
    def anisotropy(k):
        img = x[y == k][:, 0]
        return (img.diff(dim=1).abs().mean() - img.diff(dim=2).abs().mean()).item()
    horizontal = CLASSES.index("disc/stripes_h")
    assert anisotropy(horizontal) > max(anisotropy(k) for k in range(len(CLASSES))
                                        if not CLASSES[k].endswith("stripes_h"))


def test_difficulty_lowers_contrast_and_raises_noise():
    easy, hard = (make_source_task(64, 48, seed=1, difficulty=d).tensors[0] for d in (0.0, 1.0))
    # Pixel-to-pixel noise (the high-frequency part of the background) grows with difficulty.
    assert hard[..., :4, :4].std() > easy[..., :4, :4].std()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_images=4"):
        make_source_task(4, 64)
    with pytest.raises(ValueError, match="difficulty=2"):
        make_source_task(16, 64, difficulty=2)
    with pytest.raises(ValueError, match="shapes=\\['hexagon'\\]"):
        make_source_task(16, 64, shapes=["hexagon"])
