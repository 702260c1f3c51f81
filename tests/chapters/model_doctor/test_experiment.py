"""paperkit.chapters.model_doctor.experiment: the classroom CNN, mask helpers, and base/treatment runs with
reusable records.

Tiny 16-px data and one-epoch runs: seconds on CPU.
"""
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from paperkit.chapters.model_doctor import experiment as chapter_experiment
from paperkit.chapters.model_doctor import spec
from paperkit.chapters.model_doctor.experiment import (
    AnnotatedSubset,
    InkMasks,
    build_classifier,
    constraint_config,
    diagnose,
    evaluate_accuracy,
    has_masks,
    load_predictions,
    low_confidence_indices,
    prediction_table,
    train_base,
    treat_base,
)
from paperkit.explain import DoctorConfig
from paperkit.models.small_cnn import SmallCNN


class Squares(Dataset):
    """Class c = a bright square in quadrant c of a dark 16-px image; the mask is the square."""

    def __init__(self, n=36, classes=3, seed=0, masks=True):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % classes
        self.x = 0.1 * torch.rand(n, 1, 16, 16, generator=g)
        self.m = torch.zeros(n, 1, 16, 16)
        for i, c in enumerate(self.labels.tolist()):
            r, q = divmod(c, 2)
            self.m[i, :, 8 * r + 2:8 * r + 6, 8 * q + 2:8 * q + 6] = 1
        self.x = self.x + 0.8 * self.m
        self.masks, self.classes = masks, [str(c) for c in range(classes)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = (self.x[i], self.labels[i])
        return (*item, self.m[i]) if self.masks else item


KEY = {"dataset": "squares", "n": 36}


def test_small_cnn_shapes_and_registry():
    net = build_classifier("small_cnn", 5, 3, 64)
    assert isinstance(net, SmallCNN) and net.features[0].stride == (2, 2)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 5)
    small = SmallCNN(4, 1, 28)
    assert small.features[0].stride == (1, 1) and small(torch.rand(3, 1, 28, 28)).shape == (3, 4)
    with pytest.raises(ValueError, match="in_channels=2"):
        SmallCNN(4, 2, 28)


def test_ink_masks_and_annotated_subset():
    x = torch.zeros(2, 1, 8, 8)
    x[0, 0, 2:4, 2:4] = 0.9
    ink = InkMasks(TensorDataset(x, torch.tensor([0, 1])), threshold=0.3)
    assert ink[0][2].sum() == 4 and ink[1][2].sum() == 0
    data = Squares()
    sub = AnnotatedSubset(data, keep=[1, 2])
    assert torch.equal(sub[1][2], data[1][2]) and bool((sub[0][2] == 1).all())
    assert has_masks(data)[:3] == [True, True, True]
    assert has_masks(Subset(InkMasks(TensorDataset(x, torch.tensor([0, 1]))), [1])) == [True]
    assert has_masks(Squares(masks=False)) == [False] * 36
    with pytest.raises(ValueError, match="no masks"):
        AnnotatedSubset(Squares(masks=False), keep=[0])[0]


def test_low_confidence_indices_pick_the_least_sure_per_class():
    class Fixed(torch.nn.Module):  # logits = the image mean times a per-class sign: confidence follows brightness
        def forward(self, x):
            s = x.mean((1, 2, 3))
            return torch.stack([s, -s], 1)
    x = torch.linspace(0.1, 1.0, 8).view(8, 1, 1, 1).expand(8, 1, 2, 2).clone()
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    picked = low_confidence_indices(Fixed(), TensorDataset(x, y), 2, 1, device="cpu")
    assert picked == [0, 7]  # class 0: the dimmest image; class 1: the brightest
    assert low_confidence_indices(Fixed(), TensorDataset(x, y), 2, 1, candidates=[False] + [True] * 7,
                                  device="cpu") == [1, 7]
    seen = []

    class Counting(Fixed):
        def forward(self, x):
            seen.append(len(x))
            return super().forward(x)
    # only the candidates are predicted, and the indices still point into the whole set
    assert low_confidence_indices(Counting(), TensorDataset(x, y), 2, 1, candidates=[False] * 5 + [True] * 3,
                                  device="cpu") == [7]  # class 1 only among them: its brightest
    assert sum(seen) == 3
    with pytest.raises(ValueError, match="3 candidate flags for 8 images"):
        low_confidence_indices(Fixed(), TensorDataset(x, y), 2, 1, candidates=[True] * 3, device="cpu")


def test_constraint_config_and_evaluate_accuracy():
    cfg = DoctorConfig(lambda_channel=2.0, lambda_space=3.0)
    assert (constraint_config(cfg, "channel").lambda_space, constraint_config(cfg, "channel").lambda_channel) == (0, 2)
    assert (constraint_config(cfg, "space").lambda_channel, constraint_config(cfg, "all").lambda_space) == (0, 3)
    assert constraint_config(cfg, "none").lambda_channel == 0 == constraint_config(cfg, "none").lambda_space
    with pytest.raises(ValueError, match="constraint='both'"):
        constraint_config(cfg, "both")

    class First(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 2).float()
    result = evaluate_accuracy(First(), TensorDataset(torch.zeros(4, 1, 2, 2), torch.tensor([0, 0, 0, 1])),
                               device="cpu")
    assert result["accuracy"] == 0.75 and result["per_class"] == [1.0, 0.0] and result["n_test"] == 4


def test_base_and_treatment_runs_are_recorded_and_reused(tmp_path):
    train, test = Squares(seed=0), Squares(n=18, seed=1)
    kw = dict(data_key=KEY, num_classes=3, in_channels=1, image_size=16, epochs=2, batch_size=12, lr=0.05,
              out_dir=tmp_path, progress=False, device="cpu")
    base = train_base("small_cnn", train, test, **kw)
    assert not base.reused and (base.run.dir / "model.pt").is_file() and 0 <= base.metrics["accuracy"] <= 1
    again = train_base("small_cnn", train, test, **kw)
    assert again.reused and again.run.key == base.run.key and again.metrics == base.metrics
    for a, b in zip(base.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())

    cfg = DoctorConfig(draws=1, per_class=5, min_confidence=0.0, expand=1)
    corr = diagnose(base, train, 3, layers=2, config=cfg, out_dir=tmp_path, device="cpu")
    assert len(corr.layers) == 2 and corr.values[corr.layers[0]].shape[0] == 3
    assert diagnose(base, train, 3, layers=2, config=cfg, out_dir=tmp_path, device="cpu").values[corr.layers[1]].equal(
        corr.values[corr.layers[1]])
    tkw = dict(num_classes=3, config=cfg, epochs=1, lr=0.01, batch_size=12, correlation=corr, out_dir=tmp_path,
               progress=False, device="cpu")
    runs = {c: treat_base(base, train, test, constraint=c, **tkw) for c in ("none", "channel", "space", "all")}
    assert len({r.run.key for r in runs.values()}) == 4
    for r in runs.values():
        assert r.metrics["gain"] == pytest.approx(100 * (r.metrics["accuracy"] - base.metrics["accuracy"]))
    assert runs["none"].metrics["channels_kept"] is None and 0 < runs["channel"].metrics["channels_kept"] <= 1
    # the treatment changed the weights of a copy, never the base model
    assert not all(torch.equal(a, b) for a, b in zip(runs["all"].model.state_dict().values(),
                                                    base.model.state_dict().values()))
    assert train_base("small_cnn", train, test, **kw).metrics == base.metrics
    assert treat_base(base, train, test, constraint="space", **tkw).reused
    partial = treat_base(base, train, test, constraint="space", annotated_per_class=2, **tkw)
    assert partial.run.key != runs["space"].run.key
    # every run stores its per-image test predictions; the metrics are computed from them
    stored = load_predictions(runs["channel"])
    assert stored["item"].tolist() == list(range(len(test))) and stored["prob"].shape == (len(test), 3)
    assert float((stored["predicted"] == stored["label"]).mean()) == runs["channel"].metrics["accuracy"]
    table = prediction_table({("small_cnn", "base"): base, ("small_cnn", "channel"): runs["channel"]})
    assert len(table) == 2 * len(test) and set(table.condition) == {"base", "channel"}
    # a record made before predictions were stored gets them on reuse; its key and metrics stay
    (base.run.dir / "test_predictions.npz").unlink()
    again = train_base("small_cnn", train, test, **kw)
    assert again.reused and again.run.key == base.run.key and again.metrics == base.metrics
    assert float((load_predictions(again)["predicted"] == load_predictions(again)["label"]).mean()) == \
        base.metrics["accuracy"]
    with pytest.raises(ValueError, match="needs foreground masks"):
        treat_base(base, Squares(masks=False), test, constraint="space", **tkw)
    with pytest.raises(ValueError, match="layers"):
        treat_base(base, train, test, constraint="channel", layers=[corr.layers[0], "nope"], **tkw)


def test_chapter_data_helpers_split_and_limit():
    data = TensorDataset(torch.zeros(40, 1, 4, 4), torch.arange(40) % 4)
    data.labels = (torch.arange(40) % 4).numpy()
    train, test = chapter_experiment._split_test_only(data, 0.3, seed=0)
    assert not set(train.indices) & set(test.indices) and len(train) + len(test) == 40
    assert np.bincount(chapter_experiment.labels_of(test)).tolist() == [3, 3, 3, 3]
    small = chapter_experiment._limit(data, 8, seed=0)
    assert np.bincount(chapter_experiment.labels_of(small)).tolist() == [2, 2, 2, 2]
    assert chapter_experiment._limit(data, None, seed=0) is data
    assert spec.SPEC.resolve(dataset="digits", profile="smoke").data_dir.is_dir()  # bundled: no data folder


def test_chapter_spec_models_are_registered():
    import paperkit.chapters.model_doctor.experiment  # noqa: F401
    import paperkit.models.classifiers  # noqa: F401
    from paperkit.models import list_models

    assert set(spec.MODELS) <= set(list_models(chapter="model_doctor"))
    for prof in ("smoke", "classroom", "paper"):
        S = spec.SPEC.resolve(dataset="synthetic", profile=prof, data_dir=None)
        assert S.models and all(m in spec.MODELS for m in S.models)


def _mnist_folder(root, with_train: str):
    """An MNIST folder in torchvision's layout with a test set, and a train set that is absent, sound or cut short."""
    import gzip

    from tests.data.datasets.test_classification_sets import idx_bytes
    from tests.fixtures.files import write_bytes

    raw = root / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), np.arange(40, dtype=np.uint8) % 10
    for prefix in ("t10k",) + (("train",) if with_train != "absent" else ()):
        for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = gzip.compress(idx_bytes(arr))
            if prefix == "train" and with_train == "truncated" and kind.startswith("images"):
                data = data[: len(data) // 2]
            write_bytes(raw / f"{prefix}-{kind}.gz", data)
    return root


@pytest.mark.parametrize("with_train", ["absent", "truncated"])
def test_an_unreadable_training_file_stops_the_run_and_only_an_absent_one_splits_the_test_set(tmp_path, with_train):
    """Issue #18: a truncated training file used to be read as 'only the test set is present' and split silently."""
    from paperkit.data.io.errors import DataError

    root = _mnist_folder(tmp_path / "mnist", with_train)
    S = spec.SPEC.resolve(dataset="mnist", data_dir=str(root), profile="smoke", device="cpu")
    if with_train == "absent":
        data = chapter_experiment.load_data(S)
        assert "only the official test set is present" in data["split"]
    else:
        with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
            chapter_experiment.load_data(S)
