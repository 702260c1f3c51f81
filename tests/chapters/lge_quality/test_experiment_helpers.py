"""The lge_quality harness helpers the notebook calls: selected slices as a dataset, one QA method with its settings."""
from types import SimpleNamespace

import numpy as np
import pytest

from paperkit.chapters.lge_quality import experiment
from paperkit.data.datasets.la2018 import load_la2018
from paperkit.data.synthetic.lge import make_synthetic_lge


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = make_synthetic_lge(tmp_path_factory.mktemp("lge"), n_cases=3, size=32, n_slices=8, seed=1)
    return load_la2018(root)


def test_selected_slices_keeps_exactly_the_selection(cases):
    selection = {c.case_id: np.array([1, 3]) for c in cases}
    data = experiment.selected_slices(cases[:2], selection, 32)
    assert len(data) == 4 and data.images.shape[-2:] == (32, 32)
    with pytest.raises(KeyError, match="no slices for cases"):
        experiment.selected_slices(cases, {cases[0].case_id: np.array([0])}, 32)


SETTINGS = SimpleNamespace(epochs=2, batch_size=4, lr=1e-3, patience=1, width=0.25, supcon_epochs=3,
                           supcon_batch_size=8, supcon_lr=0.5, temperature=0.07, seed=5, device="cpu", out_dir="runs")


@pytest.mark.parametrize("method, pretrained", [("qa_resnet34", False), ("supcon_qa", True)])
def test_train_method_passes_the_settings_and_pretrains_supcon_first(monkeypatch, method, pretrained):
    calls = []
    monkeypatch.setattr(experiment, "pretrain_supcon", lambda train, **kw: calls.append(("supcon", kw)) or "encoder")
    monkeypatch.setattr(experiment, "train_qa", lambda m, train, val, **kw: calls.append((m, kw)) or "trained")
    out = experiment.train_method(SETTINGS, method, "train", "val", data_key={"k": 1}, run_index=2, weights=None)
    assert out == "trained" and [c[0] for c in calls] == (["supcon"] if pretrained else []) + [method]
    qa = calls[-1][1]
    assert qa["encoder"] == ("encoder" if pretrained else None) and qa["run_index"] == 2 and qa["epochs"] == 2
    assert qa["patience"] == 1 and qa["seed"] == 5 and qa["data_key"] == {"k": 1}
    if pretrained:
        assert calls[0][1]["epochs"] == 3 and calls[0][1]["batch_size"] == 8 and calls[0][1]["temperature"] == 0.07


def test_test_scans_round_trip_through_the_run_record(tmp_path):
    import pandas as pd

    from paperkit.runs import Run

    run = SimpleNamespace(run=Run("lge_quality", "k", tmp_path, {}))
    scans = pd.DataFrame({"case_id": ["c1", "c2"], "predicted": [1, 0], "n_slices": [3, 2],
                          "mean_probability": [0.7, 0.2], "true": [1, 1]})
    experiment.store_test_scans(run, scans)
    back = experiment.load_test_scans(run)  # read without pickle: the ids are stored as strings
    assert back["case_id"].tolist() == ["c1", "c2"] and back["predicted"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="'true'"):
        experiment.store_test_scans(run, scans.drop(columns="true"))
    with pytest.raises(FileNotFoundError, match="no per-scan test predictions"):
        experiment.load_test_scans(SimpleNamespace(run=Run("lge_quality", "x", tmp_path / "x", {})))


@pytest.mark.parametrize("n, size, drop", [(33, 32, True), (32, 32, False), (34, 32, False), (5, 32, False),
                                           (17, 16, True), (1, 16, False)])
def test_qa_batches_never_leave_a_lone_slice_for_batchnorm(n, size, drop):
    batches = experiment.qa_batches(n, size)
    assert batches.size == min(n, size) and batches.drop_last is drop
