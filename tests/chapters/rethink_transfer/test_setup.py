"""The paper / official-code switch: what each set-up trains with, and the differences table made from it."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import TensorDataset

from paperkit.chapters.rethink_transfer import experiment, setup, spec
from tests.fixtures.rethink import write_chexpert


def _setup(official, profile="paper", **kw):
    values = {"batch_size": 64, "epochs": 50, "lr": 1e-4, **kw}
    return setup.training_setup(official=official, profile=profile, **values)


def test_the_paper_setup_keeps_what_the_paper_states_and_marks_every_other_value_a_choice():
    s = _setup(False)
    assert (s.uncertain, s.views, s.channels, s.normalize, s.augmentation, s.loss, s.monitor) == \
        ("zeros", "all", 1, None, "none", "bce", "val_auroc")
    source = {i.name: i.source for i in s.items}
    assert source["uncertain labels"] == source["CheXpert views"] == source["split"] == setup.PAPER
    stated = {"uncertain labels", "CheXpert views", "split"}
    assert all(v == setup.CHOICE for k, v in source.items() if k not in stated)
    assert s.run_key() == {} and s.data_key() == {}   # records made before the switch keep their keys


def test_the_official_setup_is_the_official_codes():
    s = _setup(True)
    assert (s.uncertain, s.channels, s.normalize, s.augmentation, s.loss, s.monitor) == \
        ("ones", 3, (setup.IMAGENET_MEAN, setup.IMAGENET_STD), "crop_flip", "bce_pos_weight", "val_loss")
    source = {i.name: i.source for i in s.items}
    assert source["uncertain labels"] == source["loss"] == source["batch size"] == setup.OFFICIAL
    assert source["CheXpert views"] == setup.PAPER   # the official code says nothing about views
    assert s.run_key()["monitor"] == "val_loss" and s.data_key() == {"uncertain": "ones"}
    assert setup.train_transform(s, 32)(torch.rand(3, 40, 40)).shape == (3, 32, 32)
    assert setup.train_transform(_setup(False), 32) is None


def test_small_profiles_mark_their_scale_and_bad_values_are_named():
    s = _setup(True, profile="classroom", batch_size=16, epochs=2, lr=1e-3)
    source = {i.name: i.source for i in s.items}
    assert source["batch size"] == source["epochs (at most)"] == source["learning rate"] == setup.SCALED
    with pytest.raises(ValueError, match="official='yes'"):
        setup.training_setup(official="yes", profile="paper", batch_size=64, epochs=50)
    with pytest.raises(ValueError, match="views='lateral'"):
        setup.training_setup(official=False, profile="paper", batch_size=64, epochs=50, views="lateral")


def test_the_differences_table_is_made_from_the_settings():
    S = spec.SPEC.resolve(profile="classroom", device="cpu", official=True)
    s = experiment.setup_of(S)
    rows = setup.difference_rows(s, extra=setup.chapter_items(S, {"cbr_tiny": "synthetic substitute",
                                                                  "densenet121": "ImageNet"}))
    assert list(rows.columns) == ["setting", "paper", "official code", "this run", "this run follows"]
    table = rows.set_index("setting")
    assert table.loc["uncertain labels", "this run"].startswith("U-Ones")
    assert table.loc["batch size", "this run"] == str(S.batch_size)
    assert table.loc["repeats per experiment", "this run"] == str(S.repeats)
    assert "cbr_tiny: synthetic substitute" in table.loc["TL weights", "this run"]
    assert table.loc["TL weights", "this run follows"] == setup.CHOICE
    paper = spec.SPEC.resolve(profile="paper", device="cpu")
    assert (paper.batch_size, paper.epochs, paper.repeats) == (setup.OFFICIAL_BATCH_SIZE, setup.OFFICIAL_EPOCHS, 3)


def _rows(n_patients=20):
    """A frontal and a lateral view per patient (Stanford's CSV cells); Edema uncertain (-1.0) for even patients."""
    rows = []
    for k in range(1, n_patients + 1):
        cells = ["", "", "1.0" if k % 3 == 0 else "", "", "", "-1.0" if k % 2 == 0 else "1.0", *[""] * 8]
        for view, name, ap in (("Frontal", "view1_frontal", "AP"), ("Lateral", "view2_lateral", "")):
            rows.append((f"train/patient{k:05d}/study1/{name}.jpg", "Female", 50 + k, view, ap, cells))
    return rows


def test_chexpert_views_are_all_by_default_and_the_official_setup_reads_u_ones(tmp_path):
    root = write_chexpert(tmp_path, train_rows=_rows())
    S = spec.SPEC.resolve(dataset="chexpert", data_dir=str(root), profile="paper", device="cpu")
    everything = experiment._chexpert_source(S, experiment.setup_of(S))
    frontal = experiment._chexpert_source(S, _setup(False, views="frontal"))
    assert everything.all_rows == 40 and frontal.all_rows == 20 and everything.data_key["views"] == "all"
    assert frontal.data_key["views"] == "frontal"
    ones = experiment._chexpert_source(S, _setup(True))

    def edema_of_even_patients(source):
        table = pd.concat(list(source.splits.values()))
        even = table["patient"].str[-5:].astype(int) % 2 == 0
        return set(table.loc[even, "Edema"])

    assert edema_of_even_patients(everything) == {0.0} and edema_of_even_patients(ones) == {1.0}


def test_official_datasets_are_rgb_normalised_and_augment_only_training_images(tmp_path):
    from paperkit.data.synthetic.cxr import make_synthetic_cxr

    root = make_synthetic_cxr(tmp_path / "cx", n_patients=60, size=48, seed=1)
    S = spec.SPEC.resolve(dataset="chexpert", data_dir=str(root), profile="smoke", device="cpu", image_size=32,
                          official=True)
    task = experiment.load_task(S)
    x, _ = task["datasets"]["test"][0]
    assert x.shape == (3, 32, 32) and float(x.min()) < 0   # ImageNet-normalised
    assert torch.equal(task["datasets"]["test"][0][0], task["datasets"]["test"][0][0])
    torch.manual_seed(0)
    a = task["datasets"]["train"][0][0]
    torch.manual_seed(1)
    assert not torch.equal(a, task["datasets"]["train"][0][0])   # random crop and flip
    assert task["data_key"]["uncertain"] == "ones"


def test_positive_weights_are_negatives_per_positive():
    data = TensorDataset(torch.zeros(5, 1, 4, 4), torch.tensor([[1, 0], [0, 0], [0, 0], [1, 0], [0, 0.]]))
    assert experiment.positive_weights(data).tolist() == [1.5, 1.0]
    assert np.array_equal(experiment.label_matrix(torch.utils.data.Subset(data, [0, 3]))[:, 0], [1, 1])


@pytest.mark.slow
def test_an_official_fine_tune_watches_the_validation_loss(tmp_path):
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(24, 2, generator=g) < 0.4).float()
    y[0], y[1] = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    y[2] = torch.tensor([0.0, 0.0])
    x = 0.3 + 0.05 * torch.randn(24, 3, 96, 96, generator=g) + y[:, :1, None, None] * 0.3
    data = TensorDataset(x, y)
    official = _setup(True, profile="smoke", batch_size=8, epochs=2, lr=1e-3)
    run = experiment.finetune("cbr_tiny", "ri", train=data, val=data, test=data, labels=["a", "b"], data_key={"t": 1},
                              epochs=2, batch_size=8, lr=1e-3, setup=official, device="cpu", out_dir=tmp_path,
                              progress=False)
    assert "val_loss" in run.history.columns and run.run.config["monitor"] == "val_loss"
    assert run.run.config["channels"] == 3 and run.metrics["source_kind"] == "random"
    best = run.history["val_loss"].idxmin()
    assert run.metrics["best_epoch"] == int(run.history.loc[best, "epoch"])
