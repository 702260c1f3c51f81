"""TL weight sources: the paper profile never falls back silently, and ImageNet CBR weights can be made here."""
import numpy as np
import pytest
import torch

from paperkit import models
from paperkit.chapters.rethink_transfer import experiment, pretrain
from paperkit.models.pretrained import imagenet_checkpoint_path, imagenet_weights_available
from tests.fixtures.rethink import write_image


@pytest.fixture
def empty_hub(tmp_path):
    """A torch hub folder with no checkpoint in it (restored afterwards)."""
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(before)


def test_required_imagenet_weights_stop_the_run_naming_the_path_and_the_command(empty_hub):
    with pytest.raises(FileNotFoundError) as err:
        experiment.pretrained_weights("dens_t1", tl_weights="imagenet", image_size=96, n_images=16)
    text = str(err.value)
    assert str(imagenet_checkpoint_path("densenet121")) in text and "densenet121-a639ec97.pth" in text
    with pytest.raises(FileNotFoundError) as err:
        experiment.check_imagenet_weights(["cbr_small", "res_t2", "cbr_small"])
    text = str(err.value)
    assert str(imagenet_checkpoint_path("cbr_small")) in text and str(imagenet_checkpoint_path("resnet50")) in text
    assert "python -m paperkit.chapters.rethink_transfer.pretrain --arch cbr_small" in text
    assert text.count("cbr_small:") == 1
    with pytest.raises(ValueError, match="tl_weights='maybe'"):
        experiment.pretrained_weights("cbr_tiny", tl_weights="maybe", image_size=96, n_images=16)


def test_found_imagenet_weights_are_named_as_such(empty_hub):
    target = imagenet_checkpoint_path("cbr_tiny")
    target.parent.mkdir(parents=True)
    torch.save(models.create("cbr_tiny", num_classes=10, in_channels=3).state_dict(), target)
    found = experiment.pretrained_weights("cbr_tiny", tl_weights="imagenet", image_size=96, n_images=16)
    assert found.kind == experiment.IMAGENET and found.weights == "imagenet"


def write_imagefolder(root, classes=("n01440764", "n01443537", "n01484850"), per_class=(6, 2), size=100):
    """A tiny folder in the ILSVRC train/val layout: ``{train,val}/<wnid>/<wnid>_<k>.JPEG``, RGB, a colour per class."""
    rng = np.random.default_rng(0)
    for split, n in zip(("train", "val"), per_class):
        for c, wnid in enumerate(classes):
            for k in range(n):
                img = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
                img[..., c] += 180
                write_image(root / split / wnid / f"{wnid}_{k}.JPEG", img, fmt="JPEG")
    return root


@pytest.mark.slow
def test_imagefolder_pretraining_makes_weights_the_chapter_then_finds(tmp_path, empty_hub):
    root = write_imagefolder(tmp_path / "ILSVRC2012")
    trained = experiment.pretrain_on_imagefolder("cbr_tiny", root, image_size=96, epochs=1, batch_size=6,
                                                 device="cpu", out_dir=tmp_path / "runs", progress=False)
    assert trained.metrics["n_classes"] == 3 and trained.metrics["n_val"] == 6
    assert 0 <= trained.metrics["source_val_accuracy"] <= 1 and trained.run.config["source"] == "imagefolder"
    assert not imagenet_weights_available("cbr_tiny")
    installed = pretrain.install_weights(trained.run.path("weights.pt"), "cbr_tiny")
    assert installed == imagenet_checkpoint_path("cbr_tiny") and imagenet_weights_available("cbr_tiny")
    net = models.create("cbr_tiny", num_classes=2, in_channels=1, weights="imagenet")   # RGB stem summed to grey
    assert net(torch.rand(1, 1, 96, 96)).shape == (1, 2)
    with pytest.raises(ValueError, match="torchvision publishes"):
        pretrain.install_weights(trained.run.path("weights.pt"), "res_t1")
    # The chapter's own route: source_dataset="imagefolder", a weight kind of its own.
    again = experiment.pretrained_weights("cbr_tiny", tl_weights="substitute", source_dataset="imagefolder",
                                          source_dir=root, image_size=96, epochs=1, batch_size=6, n_images=16,
                                          device="cpu", out_dir=tmp_path / "runs", progress=False)
    assert again.kind == experiment.IMAGEFOLDER and "ILSVRC2012 (3 classes)" in again.description


def test_an_imagefolder_without_val_is_refused(tmp_path):
    from paperkit.data.io.errors import DataError

    (tmp_path / "train" / "n0").mkdir(parents=True)
    with pytest.raises(DataError, match="val: folder not found"):
        experiment.pretrain_on_imagefolder("cbr_tiny", tmp_path, device="cpu", out_dir=tmp_path / "runs")
