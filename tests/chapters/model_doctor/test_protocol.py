"""The model_doctor chapter's protocol (issue #19): mini-ImageNet category draws, the paper/official hook
points, what the constraints can move, repeated runs and Fig. 4, and the settings/differences tables."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from paperkit.chapters.model_doctor import figures, spec
from paperkit.chapters.model_doctor.experiment import (
    check_classes,
    constraint_reach,
    hooked_layers,
    load_data,
    reach_summary,
)
from paperkit.data.datasets.classification_sets import load_mini_imagenet, load_mini_imagenet_draw
from paperkit.data.io.errors import DataError
from paperkit.explain import DoctorConfig, aggregate_correlation
from paperkit.models.small_cnn import small_cnn

# The few-shot split as unpacked: disjoint classes per split folder (the real one: 64 / 16 / 20 of 600 images).
FEW_SHOT = {"train": ["n01532829", "n01558993", "n01704323"], "val": ["n01855672"],
            "test": ["n01930112", "n01981276"]}


def write_mini_imagenet(root, per_class=10, size=12):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, classes in FEW_SHOT.items():
        for k, wnid in enumerate(classes):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(per_class):  # the published file names: <wnid><8-digit index>.jpg
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{wnid}{i + 1:08d}.jpg", format="JPEG")
    return root


# --------------------------------------------------------------------------- item 1: mini-ImageNet


def test_the_few_shot_split_is_refused_with_its_classes_named(tmp_path):
    root = write_mini_imagenet(tmp_path)
    with pytest.raises(DataError, match=r"n01930112.*n01532829|n01532829.*n01930112") as err:
        load_mini_imagenet(root, "test")
    assert "load_mini_imagenet_draw" in str(err.value)
    with pytest.raises(DataError, match=r"only in train: \['cat'\], only in test: \['fox'\]"):
        check_classes(["cat", "dog"], ["dog", "fox"])
    with pytest.raises(DataError, match="another order"):
        check_classes(["cat", "dog"], ["dog", "cat"])
    check_classes(["cat", "dog"], ["cat", "dog"])


def test_a_category_draw_pools_the_splits_and_splits_each_class(tmp_path):
    root = write_mini_imagenet(tmp_path)
    train, test = load_mini_imagenet_draw(root, categories=3, draw=0, seed=0, image_size=8)
    assert train.classes == test.classes and len(train.classes) == 3
    assert set(train.classes) <= {c for cs in FEW_SHOT.values() for c in cs}
    assert np.bincount(train.targets).tolist() == [8, 8, 8] and np.bincount(test.targets).tolist() == [2, 2, 2]
    assert not {p for p, _ in train.samples} & {p for p, _ in test.samples}
    for path, label in train.samples + test.samples:  # every image keeps its own class
        assert path.parent.name == train.classes[label]
    x, y = train[0]
    assert x.shape == (3, 8, 8) and int(y) == train.targets[0]
    again, _ = load_mini_imagenet_draw(root, categories=3, draw=0, seed=0)
    assert again.samples == train.samples  # a draw is reproducible
    draws = {tuple(load_mini_imagenet_draw(root, categories=3, draw=d)[0].classes) for d in range(6)}
    assert len(draws) > 1  # and draws differ
    with pytest.raises(DataError, match="categories=7, but the folder holds 6 classes"):
        load_mini_imagenet_draw(root, categories=7)


def test_the_split_files_layout_pools_the_same_way(tmp_path):
    """Ravi & Larochelle's layout: images/<wnid><index>.jpg and {train,val,test}.csv with filename,label."""
    folders = write_mini_imagenet(tmp_path / "folders", per_class=5)
    root = tmp_path / "csv"
    (root / "images").mkdir(parents=True)
    for split, classes in FEW_SHOT.items():
        lines = ["filename,label"]
        for wnid in classes:
            for p in sorted((folders / split / wnid).iterdir()):
                (root / "images" / p.name).write_bytes(p.read_bytes())
                lines.append(f"{p.name},{wnid}")
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    a, b = load_mini_imagenet_draw(root, categories=3, draw=2), load_mini_imagenet_draw(folders, categories=3, draw=2)
    assert a[0].classes == b[0].classes and [p.name for p, _ in a[1].samples] == [p.name for p, _ in b[1].samples]
    (root / "test.csv").write_text("filename,label\nmissing.jpg,n01930112\n")
    with pytest.raises(DataError, match="line 2: image .*missing.jpg not found"):
        load_mini_imagenet_draw(root, categories=3)
    (root / "test.csv").write_text("file,class\n")
    with pytest.raises(DataError, match="expected filename,label"):
        load_mini_imagenet_draw(root, categories=3)


def test_the_chapter_loads_mini_imagenet_by_draws(tmp_path):
    root = write_mini_imagenet(tmp_path)
    S = spec.SPEC.resolve(dataset="mini-imagenet", data_dir=str(root), profile="smoke", categories=4,
                          category_draws=3, image_size=16)
    first, second = load_data(S, draw=0), load_data(S, draw=1)
    assert len(first["classes"]) == 4 and first["paper_column"] == "mini-ImageNet"
    assert list(first["train"].classes) == list(first["test"].classes) == first["classes"]
    assert first["data_key"] != second["data_key"] and "draw 1 of 3" in first["split"]
    with pytest.raises(ValueError, match="draw=3: expected 0..2"):
        load_data(S, draw=3)


# --------------------------------------------------------------------------- item 3: which maps, which weights


def test_the_official_switch_chooses_the_hooked_modules():
    net = small_cnn(num_classes=3, in_channels=3, image_size=32)
    modules = dict(net.named_modules())
    official = hooked_layers(net, official=True, treat_layers=3)
    paper = hooked_layers(net, official=False, treat_layers=2)
    assert official == ["features.12"] and isinstance(modules["features.12"], nn.Conv2d)  # the last conv's output
    assert paper == ["features.10", "features.14"]  # the ReLUs after the last two convs
    assert all(isinstance(modules[n], nn.ReLU) for n in paper)
    assert DoctorConfig.paper().point == "activation" and DoctorConfig.official().point == "conv"


@pytest.fixture(scope="module")
def reach_setup():
    torch.manual_seed(0)
    net = small_cnn(num_classes=3, in_channels=3, image_size=16)
    x = torch.rand(16, 3, 16, 16)
    y = torch.arange(16) % 3
    data = torch.utils.data.TensorDataset(x, y)
    return net, data


ALL_CONVS = {"features.0.weight", "features.4.weight", "features.8.weight", "features.12.weight"}


@pytest.mark.parametrize("point,layers,eval_convs,train_convs", [
    ("conv", 1, set(), ALL_CONVS),  # official: the last conv's raw output; its BatchNorm's batch statistics
    ("activation", 1, set(), set()),  # after the last ReLU only the pooling and the linear head follow
    ("activation", 2, {"features.12.weight"}, ALL_CONVS),
])
def test_constraint_reach_eval_versus_train_mode(reach_setup, point, layers, eval_convs, train_convs):
    net, data = reach_setup
    cfg = DoctorConfig.paper(point=point, draws=1, noise=0.0, min_confidence=0.0)
    corr = aggregate_correlation(net.eval(), data, 3, layers=layers, config=cfg, device="cpu")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    reach = constraint_reach(net, data, corr, config=cfg, device="cpu")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # running statistics untouched
    conv = reach[reach.module == "Conv2d"]
    assert set(conv.parameter[conv["eval"] > 0]) == eval_convs
    assert set(conv.parameter[conv["train"] > 0]) == train_convs
    assert (reach[reach.module == "Linear"]["eval"] > 0).any()
    text = reach_summary(reach)
    assert f"reach {len(eval_convs)} of the 4 convolution weight tensors" in text
    if train_convs - eval_convs:
        assert "only through BatchNorm's batch statistics" in text
    else:
        assert "Train mode reaches no further convolution" in text
    with pytest.raises(ValueError, match="no Conv2d parameter"):
        reach_summary(reach[reach.module != "Conv2d"])


# --------------------------------------------------------------------------- item 2: repeats and Fig. 4


def test_table1_runs_gives_mean_and_sd_over_runs():
    runs = [{"model": "m", "draw": 0, "repeat": r, "base": b, "gains": {"none": g, "channel": g + 1}}
            for r, (b, g) in enumerate([(0.80, 1.0), (0.82, 2.0), (0.84, 3.0)])]
    table = figures.table1_runs(runs)
    row = table.iloc[0]
    assert row["runs"] == 3 and row["base"] == "82.00 ± 2.00" and row["+channel"] == "3.00 ± 1.00"
    assert row["+space"] == "-"
    assert figures.table1_runs(runs[:1]).iloc[0]["base"] == "80.00"  # one run: no sd
    assert math.isnan(figures.mean_sd([1.0])[1])
    with pytest.raises(ValueError, match="no runs"):
        figures.table1_runs([])


def test_fig4_per_category_gains_from_per_class_accuracies():
    classes = ["a", "b", "c"]
    base = [[0.9, 0.5, None], [0.7, 0.5, 0.6]]
    treated = {"channel": [[0.9, 0.7, None], [0.9, 0.6, 0.6]], "all": [[1.0, 0.6, 0.5], [0.8, 0.6, 0.8]]}
    table = figures.per_category(classes, base, treated)
    assert table.category.tolist() == ["b", "c", "a"]  # weakest first, as the paper's figure
    b = table.set_index("category")
    assert b.loc["b", "base accuracy (%)"] == pytest.approx(50.0)
    assert b.loc["b", "+channel (points)"] == pytest.approx(15.0)
    assert b.loc["a", "+all (points)"] == pytest.approx(10.0)
    assert b.loc["c", "+channel (points)"] == pytest.approx(0.0)  # None (no test image) is left out of the mean
    fig = figures.fig4(table, title="Fig. 4")
    assert [t.name for t in fig.data] == ["base", "+channel", "+all"]
    assert list(fig.data[1].x) == ["b", "c", "a"]
    with pytest.raises(ValueError, match="'channel' has 1 runs"):
        figures.per_category(classes, base, {"channel": treated["channel"][:1]})


def test_paper_profile_grids():
    paper = spec.SPEC.profiles["paper"]
    assert paper["repeats"] == 3 and paper["category_draws"] == 10 and paper["categories"] == 10
    # Table 2: 100-1000 annotated images over 10 classes
    assert [n * paper["categories"] for n in paper["annotated_counts"]] == [100, 200, 400, 600, 800, 1000]


# --------------------------------------------------------------------------- item 4: settings and differences


def _rows(profile, **overrides):
    S = spec.SPEC.resolve(profile=profile, **overrides)
    cfg = DoctorConfig.official() if S.official else DoctorConfig.paper(draws=S.draws, per_class=S.per_class,
                                                                        noise=S.noise, expand=30)
    net = small_cnn(3, 3, 64)
    hooked = hooked_layers(net, official=bool(S.official), treat_layers=S.treat_layers)
    return figures.settings_rows(S, cfg, hooked=hooked, image_size=224, sgd={"momentum": 0.9, "weight_decay": 5e-4})


def test_settings_label_unstated_values_as_choices():
    rows = {r["setting"]: r for r in _rows("paper")}
    for unstated in ("training epochs", "training learning rate", "treatment epochs", "noise range δ",
                     "layers constrained"):
        assert rows[unstated]["status"] == figures.CHOICE and rows[unstated]["paper"] == "not stated"
    assert rows["training epochs"]["this run"] == str(spec.SPEC.profiles["paper"]["epochs"])
    for stated in ("runs averaged", "noise draws J", "images per class T", "feature map constrained",
                   "mask expansion (px)", "treatment optimiser and learning rate"):
        assert rows[stated]["status"] == figures.PAPER, stated
    classroom = {r["setting"]: r for r in _rows("classroom")}
    assert classroom["runs averaged"]["status"] == figures.DIFFERS
    assert classroom["classifiers"]["status"] == figures.DIFFERS
    official = {r["setting"]: r for r in _rows("paper", official=True)}
    assert official["feature map constrained"]["status"] == figures.OFFICIAL
    assert official["feature map constrained"]["this run"] == "convolution output"
    for setting in ("layers constrained", "noise range δ", "channel threshold v", "noise draws J"):
        assert official[setting]["status"] == figures.OFFICIAL, setting


def test_differences_are_the_settings_not_as_in_the_paper():
    rows = _rows("classroom")
    table = figures.differences(rows)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["what", "paper", "this run", "kind", "note"]
    differing = {r["setting"] for r in rows if r["status"] != figures.PAPER}
    assert differing <= set(table.what) and "training epochs" in differing
    assert not {r["setting"] for r in rows if r["status"] == figures.PAPER} & set(table.what)
    assert {"control treatment", "claims"} <= set(table.what)
