"""Loaders of the rethink_transfer chapter: CheXpert, CSV + images, MedMNIST, subsets, synthetic CXR.

Fixtures are written in the real layouts by ``tests.fixtures.rethink``; the real PneumoniaMNIST
sample is used when ``PAPERKIT_DATA`` points at the shared data folder.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from paperkit.data.datasets.chexpert import (
    CHEXPERT_COLUMNS,
    PAPER_LABELS,
    PAPER_SPLIT_FRACTIONS,
    PAPER_SPLIT_SIZES,
    load_chexpert,
    split_patients,
)
from paperkit.data.datasets.csv_images import (
    ImageLabelDataset,
    format_ratio,
    imbalance_table,
    load_csv_images,
    prospective_split,
)
from paperkit.data.datasets.medmnist import MedMNISTDataset, load_medmnist_npz
from paperkit.data.io import readers
from paperkit.data.io.errors import DataError, SubjectLeakError
from paperkit.data.splits import check_no_overlap
from paperkit.data.subsample import stratified_subsample
from paperkit.data.synthetic import cxr as synthetic_cxr
from paperkit.data.synthetic.cxr import FINDINGS, PREVALENCE, make_synthetic_cxr
from tests.fixtures.rethink import (
    CHEXPERT_HEADER,
    CSV_ROWS,
    write_chexpert,
    write_csv_images,
    write_medmnist_npz,
)

# --------------------------------------------------------------------------- CheXpert


@pytest.fixture
def chexpert(tmp_path):
    return write_chexpert(tmp_path)


def test_chexpert_u_zeros_blanks_and_support_devices(chexpert):
    t = load_chexpert(chexpert)
    assert [c for c in t.columns if c in CHEXPERT_COLUMNS] == list(PAPER_LABELS)
    assert "Support Devices" not in t.columns and len(PAPER_LABELS) == 13
    assert len(t) == 8
    row = t.set_index(t["path"].str.split("CheXpert-v1.0-small/").str[1]).loc[
        "train/patient00002/study2/view1_frontal.jpg"]
    assert row["Cardiomegaly"] == 1.0
    assert row["Edema"] == 0.0 and row["Atelectasis"] == 0.0     # -1 -> 0 (U-Zeros)
    assert row["Lung Opacity"] == 0.0                            # blank -> 0
    assert set(np.unique(t[list(PAPER_LABELS)].to_numpy())) <= {0.0, 1.0}
    assert t["No Finding"].tolist() == [1, 0, 0, 0, 0, 1, 1, 0]
    ones = load_chexpert(chexpert, uncertain="ones")
    assert ones.loc[1, "Edema"] == 1.0 and ones.loc[3, "Pneumonia"] == 1.0


def test_chexpert_patient_study_and_paths(chexpert):
    t = load_chexpert(chexpert)
    assert t["patient"].tolist() == ["patient00001"] + ["patient00002"] * 3 + ["patient00003"] + \
        ["patient00004"] * 2 + ["patient00005"]
    assert t["study"].tolist()[:4] == ["study1", "study2", "study2", "study1"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in t["path"])
    assert t["path"][0] == str(chexpert / "train/patient00001/study1/view1_frontal.jpg")
    assert t.loc[0, "sex"] == "Female" and t.loc[0, "age"] == 68 and t.loc[0, "ap_pa"] == "AP"
    valid = load_chexpert(chexpert, "valid")
    assert valid["patient"].tolist() == ["patient64541", "patient64542", "patient64542"]
    assert valid["Enlarged Cardiomediastinum"].tolist() == [1, 0, 0]


def test_chexpert_root_may_be_the_dataset_folder_or_its_parent_or_renamed(tmp_path):
    dataset = write_chexpert(tmp_path)
    a, b = load_chexpert(dataset), load_chexpert(tmp_path)
    pd.testing.assert_frame_equal(a.drop(columns=[]), b)
    renamed = write_chexpert(tmp_path / "kaggle", folder="archive")   # Path still says CheXpert-v1.0-small/
    c = load_chexpert(tmp_path / "kaggle")
    assert c["path"][0] == str(renamed / "train/patient00001/study1/view1_frontal.jpg")
    with pytest.raises(DataError, match="no train.csv"):
        load_chexpert(tmp_path / "kaggle" / "archive" / "train")


def test_chexpert_frontal_only(chexpert):
    t = load_chexpert(chexpert, frontal_only=True)
    assert len(t) == 6 and set(t["view"]) == {"Frontal"}
    assert not t["path"].str.contains("lateral").any()


def test_chexpert_missing_column_names_file_and_column(tmp_path):
    header = CHEXPERT_HEADER.replace(",Pleural Effusion", "")
    write_chexpert(tmp_path, header=header)
    with pytest.raises(DataError) as e:
        load_chexpert(tmp_path)
    assert "train.csv" in str(e.value) and "'Pleural Effusion'" in str(e.value)


def test_chexpert_missing_image_is_named_or_listed_and_skipped(tmp_path):
    gone = "train/patient00003/study1/view1_frontal.jpg"
    write_chexpert(tmp_path, skip_images=[gone])
    with pytest.raises(DataError) as e:
        load_chexpert(tmp_path)
    assert gone in str(e.value) and "missing='skip'" in str(e.value)
    with pytest.warns(UserWarning, match="skipped 1 of 8"):
        t = load_chexpert(tmp_path, missing="skip")
    assert len(t) == 7 and "patient00003" not in set(t["patient"])
    assert t.attrs["missing_images"] == [f"CheXpert-v1.0-small/{gone}"]


def test_chexpert_bad_label_value_names_column_and_row(tmp_path):
    from tests.fixtures.rethink import CHEXPERT_TRAIN_ROWS

    rows = list(CHEXPERT_TRAIN_ROWS)
    rel, sex, age, view, ap, labels = rows[2]
    rows[2] = (rel, sex, age, view, ap, labels[:6] + ["2.0"] + labels[7:])
    write_chexpert(tmp_path, train_rows=rows)
    with pytest.raises(DataError, match=r"'Consolidation'.*'2.0'.*data row 3"):
        load_chexpert(tmp_path)


def _many_patients(n_patients=1000, seed=0):
    rng = np.random.default_rng(seed)
    per = rng.integers(1, 6, n_patients)
    patients = np.repeat([f"patient{i:05d}" for i in range(1, n_patients + 1)], per)
    return pd.DataFrame({"path": [f"/x/{i}.jpg" for i in range(len(patients))], "patient": patients,
                         "Edema": (rng.random(len(patients)) < 0.1).astype(float)})


def test_split_patients_is_patient_level_with_the_paper_fractions():
    assert sum(PAPER_SPLIT_SIZES.values()) == 223_417
    assert np.allclose(PAPER_SPLIT_FRACTIONS, (0.72, 0.08, 0.20), atol=0.001)
    t = _many_patients()
    s = split_patients(t, seed=3)
    assert list(s) == ["train", "val", "test"]
    check_no_overlap({k: v["patient"] for k, v in s.items()})
    assert sorted(np.concatenate([v.index for v in s.values()]).tolist()) == list(range(len(t)))
    n_pat = {k: v["patient"].nunique() for k, v in s.items()}
    assert n_pat == {"train": 720, "val": 80, "test": 200}
    for k, frac in zip(s, PAPER_SPLIT_FRACTIONS):      # image shares follow (about) the fractions
        assert abs(len(s[k]) / len(t) - frac) < 0.03
    again = split_patients(t.sample(frac=1, random_state=1), seed=3)
    assert set(again["test"]["patient"]) == set(s["test"]["patient"])   # row order does not matter
    assert set(split_patients(t, seed=4)["test"]["patient"]) != set(s["test"]["patient"])


# --------------------------------------------------------------------------- ImageLabelDataset


def test_image_label_dataset_shapes_range_cache_and_normalisation(chexpert, monkeypatch):
    t = load_chexpert(chexpert)
    ds = ImageLabelDataset(t, PAPER_LABELS, 16, channels=3, cache=True)
    calls = []
    real = readers.read_image
    monkeypatch.setattr("paperkit.data.datasets.csv_images.read_image", lambda p, **k: calls.append(p) or real(p, **k))
    x, y = ds[1]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.std()) > 0
    assert torch.equal(x[0], x[2])
    assert y.tolist() == t.loc[1, list(PAPER_LABELS)].tolist()
    x2, _ = ds[1]
    assert torch.equal(x, x2) and len(calls) == 1          # decoded once, then from the cache
    plain = ImageLabelDataset(t, PAPER_LABELS, (16, 12))
    assert plain[1][0].shape == (1, 16, 12)
    assert torch.equal(ImageLabelDataset(t, PAPER_LABELS, 16)[1][0], x[:1])   # cache changes nothing
    norm = ImageLabelDataset(t, ["Edema"], 16, normalize=(0.5, 0.25), transform=lambda z: 1 - z)
    assert torch.allclose(norm[1][0], ((1 - x[:1]) - 0.5) / 0.25)
    with pytest.raises(DataError, match="missing column"):
        ImageLabelDataset(t, ["Support Devices"], 16)


def test_image_label_dataset_scales_16_bit_images(tmp_path):
    csv = write_csv_images(tmp_path, sixteen_bit=True)
    t = load_csv_images(csv, tmp_path, "image_path", ["covid"], "patient_id")
    assert readers.read_image(t["path"][0]).array.dtype != np.uint8
    x8 = ImageLabelDataset(load_csv_images(write_csv_images(tmp_path / "b"), tmp_path / "b", "image_path",
                                           ["covid"], "patient_id"), ["covid"], 20)[0][0]
    x16 = ImageLabelDataset(t, ["covid"], 20)[0][0]
    assert torch.allclose(x8, x16, atol=1e-4)


# --------------------------------------------------------------------------- CSV + images


@pytest.fixture
def covid(tmp_path):
    csv = write_csv_images(tmp_path)
    return load_csv_images(csv, tmp_path, path_column="image_path", label_columns=["covid"],
                           patient_column="patient_id", date_column="study_date")


def test_load_csv_images_table(covid, tmp_path):
    assert len(covid) == len(CSV_ROWS)
    assert covid["path"][0] == str(tmp_path / "img/a001.png")
    assert covid["patient"].tolist()[:3] == ["P01", "P01", "P02"]
    assert covid["covid"].dtype == float and covid["covid"].sum() == 5
    assert pd.api.types.is_datetime64_any_dtype(covid["date"])
    assert covid["date"][0] == pd.Timestamp("2020-03-02")


@pytest.mark.parametrize("change, message", [
    ("drop:covid", "missing column 'covid'"),
    ("label:maybe", r"'covid' must hold 0/1.*'maybe' at data row 1"),
    ("date:2020-13-45", r"'study_date'.*'2020-13-45' at data row 1"),
    ("image", "img/a001.png: image listed in"),
])
def test_load_csv_images_errors_name_the_problem(tmp_path, change, message):
    rows = list(CSV_ROWS)
    columns = ["image_path", "patient_id", "covid", "study_date"]
    kwargs = {}
    if change.startswith("drop:"):
        columns[2] = "label"
    elif change.startswith("label:"):
        rows[0] = rows[0][:2] + (change.split(":")[1],) + rows[0][3:]
    elif change.startswith("date:"):
        rows[0] = rows[0][:3] + (change.split(":", 1)[1],)
    else:
        kwargs["skip_images"] = ["img/a001.png"]
    csv = write_csv_images(tmp_path, rows, columns=columns, **kwargs)
    with pytest.raises(DataError, match=message) as e:
        load_csv_images(csv, tmp_path, "image_path", ["covid"], "patient_id", "study_date")
    assert str(csv) in str(e.value) or change == "image"


def test_prospective_split_respects_the_cutoff_and_drops_crossing_patients(covid):
    cutoff = "2020-06-30"
    with pytest.warns(UserWarning, match="1 patient"):
        s = prospective_split(covid, cutoff, val_fraction=0.3, seed=0)
    assert (s["train"]["date"] < cutoff).all() and (s["val"]["date"] < cutoff).all()
    assert (s["test"]["date"] >= cutoff).all()
    assert "P06" in set(s["test"]["patient"])                # imaged on the cutoff day -> test
    check_no_overlap({k: v["patient"] for k, v in s.items()})
    # P03: 2020-05-05 (before) and 2020-07-14 (after): the later image is dropped from test.
    assert "P03" not in set(s["test"]["patient"])
    assert s.dropped["path"].str.endswith("a005.png").tolist() == [True]
    assert "P03" in set(s["train"]["patient"]) | set(s["val"]["patient"])
    assert sum(len(v) for v in s.values()) + len(s.dropped) == len(covid)
    n_dev = len(set(s["train"]["patient"]) | set(s["val"]["patient"]))
    assert s["val"]["patient"].nunique() == round(0.3 * n_dev)

    with pytest.warns(UserWarning):
        other = prospective_split(covid, cutoff, crossing="drop_train")
    assert "P03" in set(other["test"]["patient"]) and other.dropped["path"].str.endswith("a004.png").all()
    with pytest.raises(SubjectLeakError, match="'P03'"):
        prospective_split(covid, cutoff, crossing="error")
    with pytest.raises(DataError, match="and 0 test"):
        prospective_split(covid, "2021-01-01")


def test_imbalance_table_and_paper_ratios(covid):
    assert format_ratio(1777, 29030) == "1:16.3"     # the paper's COVID-19 training set
    assert format_ratio(1777, 5228) == "1:2.94"      # and its test set
    assert format_ratio(0, 5) == "1:inf"
    with pytest.warns(UserWarning):
        s = prospective_split(covid, "2020-06-30", val_fraction=0.3)
    table = imbalance_table(s, ["covid"])
    assert table["split"].tolist() == ["train", "val", "test"]
    test = table.set_index("split").loc["test"]
    assert (test["positives"], test["negatives"]) == (1, 3)   # P07 positive; P06, P08 x2 negative
    assert test["ratio"] == "1:3" and test["patients"] == 3
    assert (table["positives"] + table["negatives"] == table["images"]).all()


# --------------------------------------------------------------------------- subsets


def test_subsample_reproduces_the_papers_covid_subsets():
    labels = np.r_[np.ones(1777), np.zeros(29030)]
    for fraction, (pos, neg) in ((0.05, (88, 1451)), (0.10, (177, 2903))):
        rows = stratified_subsample(labels, fraction, seed=0)
        assert (int(labels[rows].sum()), int((labels[rows] == 0).sum())) == (pos, neg)


def test_subsample_keeps_ratios_within_one_sample():
    rng = np.random.default_rng(0)
    for seed in range(5):
        labels = rng.integers(0, 4, 997) * (rng.random(997) < 0.6)
        for fraction in (0.05, 0.1, 0.37):
            rows = stratified_subsample(labels, fraction, seed=seed, rounding="round")
            for c in np.unique(labels):
                assert abs((labels[rows] == c).sum() - fraction * (labels == c).sum()) <= 0.5 + 1e-9
    a, b = (stratified_subsample(labels, 0.1, seed=s) for s in (1, 2))
    assert not np.array_equal(a, b) and np.array_equal(a, stratified_subsample(labels, 0.1, seed=1))


def test_subsample_multilabel_by_rarest_label_and_by_patient():
    t = _many_patients(600, seed=2)
    rng = np.random.default_rng(1)
    t["Cardiomegaly"] = (rng.random(len(t)) < 0.3).astype(float)
    labels = ["Edema", "Cardiomegaly"]
    sub = stratified_subsample(t, 0.1, seed=0, label_columns=labels)
    kept = set(sub["patient"])
    assert len(sub) == t["patient"].isin(kept).sum()            # whole patients
    # A patient's stratum: its rarest positive label (Edema rarer), else Cardiomegaly, else none.
    per = t.groupby("patient")[labels].max()
    stratum = np.where(per["Edema"] == 1, "E", np.where(per["Cardiomegaly"] == 1, "C", "-"))
    for s in "EC-":
        members = set(per.index[stratum == s])
        assert len(members & kept) == int(np.floor(0.1 * len(members)))
    assert abs(sub["Edema"].mean() - t["Edema"].mean()) < 0.03


# --------------------------------------------------------------------------- MedMNIST


def test_medmnist_round_trip_and_dataset(tmp_path):
    path = write_medmnist_npz(tmp_path / "pneumoniamnist.npz")
    data = load_medmnist_npz(path)
    assert list(data) == ["train", "val", "test"]
    images, labels = data["train"]
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8 and labels.shape == (12, 1)
    with np.load(path) as raw:
        assert np.array_equal(raw["test_images"], data["test"][0])
    ds = MedMNISTDataset(images, labels, channels=3, image_size=32)
    x, y = ds[5]
    assert x.shape == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert y.tolist() == [float(labels[5, 0])]
    x1, _ = MedMNISTDataset(images, labels)[5]
    assert x1.shape == (1, 28, 28) and torch.allclose(x1[0], torch.from_numpy(images[5] / 255).float())

    rgb = load_medmnist_npz(write_medmnist_npz(tmp_path / "bloodmnist.npz", rgb=True, n_labels=1))
    x, _ = MedMNISTDataset(*rgb["val"], channels=1)[0]
    assert x.shape == (1, 28, 28)


@pytest.mark.parametrize("kind, message", [
    ("missing", r"missing key\(s\) \['val_labels'\]"),
    ("3d", "a 3D set"),
    ("count", "val_labels has 3 rows but val_images has 4"),
])
def test_medmnist_errors(tmp_path, kind, message):
    path = tmp_path / "bad.npz"
    if kind == "missing":
        write_medmnist_npz(path, drop_keys=["val_labels"])
    elif kind == "3d":
        write_medmnist_npz(path, shape=(8, 8, 8))
    else:
        write_medmnist_npz(path)
        with np.load(path) as raw:
            arrays = dict(raw)
        arrays["val_labels"] = arrays["val_labels"][:3]
        np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as e:
        load_medmnist_npz(path)
    assert str(path) in str(e.value)


def test_real_pneumoniamnist_loads():
    root = os.environ.get("PAPERKIT_DATA")
    if not root:
        pytest.skip("PAPERKIT_DATA is not set (real MedMNIST sample not available)")
    path = Path(root) / "medmnist" / "pneumoniamnist.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = load_medmnist_npz(path)
    assert {k: len(v[0]) for k, v in data.items()} == {"train": 4708, "val": 524, "test": 624}
    images, labels = data["train"]
    assert images.shape[1:] == (28, 28) and set(np.unique(labels)) == {0, 1}
    assert 0.6 < labels.mean() < 0.8                      # pneumonia is the majority in training
    x, y = MedMNISTDataset(images, labels, channels=3, image_size=64)[0]
    assert x.shape == (3, 64, 64) and y.shape == (1,)
    with pytest.raises(DataError, match="3D"):
        load_medmnist_npz(Path(root) / "medmnist" / "adrenalmnist3d_28.npz")


# --------------------------------------------------------------------------- synthetic CXR


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("cxr")
    root = make_synthetic_cxr(out, n_patients=400, size=64, seed=7)
    return root, load_chexpert(root)


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_synthetic_writes_the_chexpert_layout_and_loads_back(synthetic):
    root, table = synthetic
    assert root.name == "CheXpert-v1.0-small"
    raw = pd.read_csv(root / "train.csv", dtype=str, keep_default_na=False)
    assert list(raw.columns) == list(CHEXPERT_COLUMNS)
    assert raw["Path"][0] == "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg"
    assert (root / "train/patient00001/study1/view1_frontal.jpg").is_file()
    assert {"", "1.0", "-1.0", "0.0"} <= set(raw[list(PAPER_LABELS)].to_numpy().ravel())
    valid = pd.read_csv(root / "valid.csv", dtype=str, keep_default_na=False)
    assert set(valid[list(PAPER_LABELS)].to_numpy().ravel()) <= {"0.0", "1.0"}
    assert valid["Path"][0].startswith("CheXpert-v1.0-small/valid/patient00401/")
    assert len(load_chexpert(root, "valid")) == 20
    assert table["patient"].nunique() == 400 and 400 < len(table) <= 800
    assert readers.read_image(table["path"][0]).array.shape == (64, 64)
    # No Finding is 1 exactly when no other pathology is 1 or -1 in the CSV.
    others = raw[[c for c in PAPER_LABELS if c != "No Finding"]].isin(["1.0", "-1.0"]).any(axis=1)
    assert ((raw["No Finding"] == "1.0") == ~others).all()
    x, y = ImageLabelDataset(table, PAPER_LABELS, 32)[0]
    assert x.shape == (1, 32, 32) and y.shape == (13,)


def test_synthetic_is_deterministic_and_reuses_its_folder(tmp_path):
    a = make_synthetic_cxr(tmp_path / "a", n_patients=12, size=48, seed=3)
    b = make_synthetic_cxr(tmp_path / "b", n_patients=12, size=48, seed=3)
    c = make_synthetic_cxr(tmp_path / "c", n_patients=12, size=48, seed=4)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all(_digest(a / f) == _digest(b / f) for f in files)
    assert _digest(a / "train.csv") != _digest(c / "train.csv")
    stamp = (a / "train.csv").stat().st_mtime_ns
    assert make_synthetic_cxr(tmp_path / "a", n_patients=12, size=48, seed=3) == a
    assert (a / "train.csv").stat().st_mtime_ns == stamp                 # reused, not rewritten
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]   # no temp left
    with pytest.raises(DataError, match="not made with these parameters"):
        make_synthetic_cxr(tmp_path / "a", n_patients=12, size=48, seed=5)
    again = make_synthetic_cxr(tmp_path / "a", n_patients=12, size=48, seed=4, overwrite=True)
    assert _digest(again / "train.csv") == _digest(c / "train.csv")


def test_synthetic_prevalences_match_the_documented_table(synthetic):
    # Tight check on the label draw (no images), loose check on the written and loaded table.
    cases = synthetic_cxr._sample_cases(np.random.default_rng(0), 20000, 1, (1, 2), 0.5, "train")
    for label, (_, _, prevalence, _) in FINDINGS.items():
        values = cases[f"v:{label}"]
        assert abs((values == 1).mean() - prevalence) < 0.012, label
        assert abs((values == -1).mean() - synthetic_cxr.UNCERTAIN_RATE) < 0.006, label
    _, table = synthetic
    for label in PAPER_LABELS:
        assert abs(table[label].mean() - PREVALENCE[label]) < 0.07, label
    assert all(0.03 <= PREVALENCE[label] <= 0.25 for label in FINDINGS)


def _lung_field_brightness(table, size):
    """Mean intensity of both lung fields relative to the whole image, per image."""
    rows = slice(int(0.30 * size), int(0.66 * size))
    left, right = slice(int(0.18 * size), int(0.42 * size)), slice(int(0.58 * size), int(0.82 * size))
    out = []
    for p in table["path"]:
        img = readers.read_image(p).array.astype(float)
        out.append((img[rows, left].mean() + img[rows, right].mean()) / 2 - img.mean())
    return np.array(out)


def _heart_width(table, size):
    """Width of the bright central band (heart) at the heart's level, in pixels."""
    out = []
    for p in table["path"]:
        img = readers.read_image(p).array.astype(float)
        profile = img[int(0.60 * size):int(0.70 * size)].mean(axis=0)
        mid = size // 2
        lung_level = min(profile[int(0.2 * size):mid].min(), profile[mid:int(0.8 * size)].min())
        threshold = (lung_level + profile[mid - 2:mid + 3].mean()) / 2
        bright = profile > threshold
        lo = hi = mid
        while lo > 0 and bright[lo - 1]:
            lo -= 1
        while hi < size - 1 and bright[hi + 1]:
            hi += 1
        out.append(hi - lo + 1)
    return np.array(out)


def test_synthetic_signal_is_in_the_pixels(synthetic):
    _, table = synthetic
    others = table[[c for c in PAPER_LABELS if c not in ("No Finding", "Lung Opacity")]].sum(axis=1) == 0
    lung = _lung_field_brightness(table, 64)
    opacity = table["Lung Opacity"] == 1
    diff = lung[opacity].mean() - lung[~opacity & others].mean()
    se = np.sqrt(lung[opacity].var() / opacity.sum() + lung[~opacity & others].var() / (~opacity & others).sum())
    assert diff > 3 * se, (diff, se)
    width = _heart_width(table, 64)
    big = table["Cardiomegaly"] == 1
    diff = width[big].mean() - width[~big].mean()
    se = np.sqrt(width[big].var() / big.sum() + width[~big].var() / (~big).sum())
    assert diff > 3 * se, (diff, se)
