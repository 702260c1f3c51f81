"""The rethink_transfer chapter's load_task on each dataset, from fixtures written in the real layouts."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from paperkit.chapters.rethink_transfer import experiment, figures, spec
from paperkit.data.io.errors import DataError
from paperkit.data.splits import check_no_overlap
from paperkit.data.subsample import stratified_subsample
from tests.fixtures.rethink import write_csv_images, write_medmnist_npz

CUTOFF = pd.Timestamp("2020-06-30")


def _settings(dataset, data_dir, profile="smoke", **overrides):
    """Settings of the smoke profile (max_images 48) or, for uncapped data, the paper profile."""
    return spec.SPEC.resolve(dataset=dataset, data_dir=str(data_dir), profile=profile, device="cpu",
                                image_size=overrides.pop("image_size", 32), **overrides)


def _covid_rows(n_patients=40):
    """A COVID-19-like export: one image per patient, dates across 2020, positives rarer before the cutoff;
    patient P001 is imaged again after the cutoff (a crossing patient)."""
    rows = []
    for k in range(n_patients):
        date = pd.Timestamp("2020-01-06") + pd.Timedelta(days=8 * k)
        positive = k % 5 == 0 if date < CUTOFF else k % 2 == 0
        rows.append((f"xr/{k:03d}.png", f"P{k:03d}", int(positive), date.strftime("%Y-%m-%d")))
    rows.append(("xr/001b.png", "P001", 1, "2020-10-01"))
    return rows


def _check_common(task, settings):
    tables, labels, datasets = task["tables"], task["labels"], task["datasets"]
    assert list(tables) == ["train", "val", "test"] and labels
    check_no_overlap({name: t["patient"] for name, t in tables.items()})
    for name, t in tables.items():
        x, y = datasets[name][0]
        assert x.shape == (1, settings.image_size, settings.image_size) and x.dtype == torch.float32
        assert 0 <= float(x.min()) and float(x.max()) <= 1 and y.shape == (len(labels),)
        assert len(datasets[name]) == len(t)
        assert all(0 < t[lab].sum() < len(t) for lab in labels)  # both classes in every split
    sub = stratified_subsample(tables["train"], 0.5, seed=0, label_columns=labels)
    assert len(task["make_dataset"](sub)) == len(sub) < len(tables["train"])


def test_csv_dataset_gets_a_prospective_split_with_drifting_imbalance(tmp_path):
    write_csv_images(tmp_path, _covid_rows())
    s = _settings("csv", tmp_path, csv_path_column="image_path", csv_label_columns="covid",
                  csv_date_column="study_date", profile="paper")
    with pytest.warns(UserWarning, match="cross the cutoff"):
        task = experiment.load_task(s)
    _check_common(task, s)
    tables = task["tables"]
    assert task["labels"] == ["covid"]
    assert (tables["train"]["date"] < CUTOFF).all() and (tables["val"]["date"] < CUTOFF).all()
    assert (tables["test"]["date"] >= CUTOFF).all()
    assert task["dropped"]["patient"].tolist() == ["P001"] and "prospective" in task["split"]
    prevalence = {name: t["covid"].mean() for name, t in tables.items()}
    assert prevalence["test"] > 2 * prevalence["train"]   # the drift the paper reports (1:16.3 -> 1:2.94)
    assert task["data_key"]["cutoff"] == "2020-06-30"


def test_csv_dataset_errors_name_the_column_and_the_empty_label(tmp_path):
    write_csv_images(tmp_path, _covid_rows())
    with pytest.raises(DataError, match="missing column 'label'"):
        experiment.load_task(_settings("csv", tmp_path, csv_path_column="image_path", csv_date_column="study_date"))
    with pytest.raises(DataError, match="no label among \\['covid'\\]"):
        with pytest.warns(UserWarning):
            experiment.load_task(_settings("csv", tmp_path, csv_path_column="image_path", csv_label_columns="covid",
                                        csv_date_column="study_date", cutoff_date="2020-02-01"))


def test_csv_dataset_without_dates_falls_back_to_a_patient_split(tmp_path):
    write_csv_images(tmp_path, _covid_rows(60))
    s = _settings("csv", tmp_path, csv_path_column="image_path", csv_label_columns="covid", csv_date_column="",
                  profile="paper")
    task = experiment.load_task(s)
    _check_common(task, s)
    assert "no prospective split" in task["split"] and task["dropped"] is None


def test_medmnist_dataset_uses_the_official_split_and_caps_it(tmp_path):
    write_medmnist_npz(tmp_path / "pneumoniamnist.npz", sizes=(60, 20, 24), seed=3)
    s = _settings("medmnist", tmp_path, max_images=40)
    task = experiment.load_task(s)
    _check_common(task, s)
    assert task["labels"] == ["pneumonia"] and "official" in task["split"]
    sizes = {name: len(t) for name, t in task["tables"].items()}
    assert sizes["train"] <= 42 and sizes["val"] == 20 and sizes["test"] == 24
    # The dataset returns the npz's own pixels (upsampled) and labels, in table order.
    arrays = np.load(tmp_path / "pneumoniamnist.npz")
    row = task["tables"]["test"].iloc[5]
    assert float(task["datasets"]["test"][5][1][0]) == float(arrays["test_labels"][5, 0]) == row["pneumonia"]


def test_medmnist_multiclass_is_refused(tmp_path):
    path = write_medmnist_npz(tmp_path / "bloodmnist.npz", sizes=(8, 4, 4))
    arrays = dict(np.load(path))
    arrays["train_labels"][0] = 5
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="6 classes"):
        experiment.load_task(_settings("medmnist", tmp_path, medmnist_subset="bloodmnist"))


def test_chexpert_dataset_reads_a_chexpert_folder(tmp_path):
    from paperkit.data.synthetic.cxr import make_synthetic_cxr

    root = make_synthetic_cxr(tmp_path / "cx", n_patients=60, size=48, seed=1)  # Stanford's layout
    s = _settings("chexpert", root, max_images=30)
    task = experiment.load_task(s)
    _check_common(task, s)
    assert max(len(t) for t in task["tables"].values()) <= 36  # about 30: whole patients, every stratum
    assert set(task["labels"]) <= set(pd.read_csv(root / "train.csv", nrows=0).columns)


REAL = Path(os.environ.get("PAPERKIT_DATA", "/nonexistent")) / "medmnist" / "pneumoniamnist.npz"


@pytest.mark.skipif(not REAL.exists(),
                    reason="real PneumoniaMNIST not found at $PAPERKIT_DATA/medmnist/pneumoniamnist.npz")
def test_real_pneumoniamnist_through_the_chapter():
    s = _settings("medmnist", REAL.parent, profile="paper", image_size=28)
    task = experiment.load_task(s)
    assert {n: len(t) for n, t in task["tables"].items()} == {"train": 4708, "val": 524, "test": 624}
    assert task["labels"] == ["pneumonia"]
    assert 0.7 < task["tables"]["train"]["pneumonia"].mean() < 0.8   # PneumoniaMNIST is about 3:1 pneumonia


def test_imbalance_is_shown_beside_the_papers_ratios(tmp_path):
    write_csv_images(tmp_path, _covid_rows())
    s = _settings("csv", tmp_path, csv_path_column="image_path", csv_label_columns="covid",
                  csv_date_column="study_date", profile="paper")
    with pytest.warns(UserWarning):
        task = experiment.load_task(s)
    paper, measured = figures.imbalance_vs_paper(task["tables"], task["labels"], "csv")
    assert dict(zip(paper["setting"], paper["value"])) == {"train": 16.3, "test": 2.94}
    train = task["tables"]["train"]["covid"]
    ours = dict(zip(measured["setting"], measured["value"]))
    assert ours["train"] == pytest.approx((train == 0).sum() / train.sum()) and ours["train"] > ours["test"]
    assert figures.imbalance_vs_paper(task["tables"], task["labels"], "medmnist") is None
