"""paperkit.chapters.lge_quality.experiment: stage-1 report, QA training with run records, SupCon + frozen encoder,
scan-level metrics."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import paperkit.models.lge_quality  # noqa: F401  (registers the chapter's models)
from paperkit.chapters.lge_quality import experiment as quality
from paperkit.data.datasets.la2018 import LGESlices, load_la2018
from paperkit.data.synthetic.lge import make_synthetic_lge

pytestmark = pytest.mark.usefixtures("native_convolutions")  # see conftest.py


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = make_synthetic_lge(tmp_path_factory.mktemp("lge"), n_cases=8, size=32, n_slices=8, seed=1)
    return load_la2018(root)


# --------------------------------------------------------------------------- scan-level evaluation


def test_scan_mode_and_metrics():
    slices = pd.DataFrame({"case_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
                           "qa_probability": [0.9, 0.8, 0.1, 0.7, 0.2, 0.1, 0.3, 0.6],
                           "qa_true": [1, 1, 1, 0, 0, 0, 0, 1]})
    scans = quality.scan_predictions(slices).set_index("case_id")
    assert scans["predicted"].to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}  # b is a 1-1 tie: goes to 0
    assert scans.loc["a", "n_slices"] == 3 and scans.loc["a", "mean_probability"] == pytest.approx(0.6)
    scans.loc["c", "predicted"] = 1  # one false positive among two negatives
    m = quality.scan_metrics(scans.reset_index())
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 0)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0 and m["specificity"] == 0.5
    assert m["f1"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="true"):
        quality.scan_metrics(scans.drop(columns="true"))


def test_summarise_runs_mean_and_std():
    results = pd.DataFrame({"method": ["qa", "qa", "mt"], "precision": [0.5, 0.7, 0.6], "recall": [1, 1, 0.5],
                            "f1": [0.6, 0.8, 0.5], "specificity": [0.2, 0.4, 0.9]})
    s = quality.summarise_runs(results).set_index("method")
    assert (s.loc["qa", "f1 mean"] == pytest.approx(0.7)
            and s.loc["qa", "f1 std"] == pytest.approx(np.std([0.6, 0.8], ddof=1)))
    assert s.loc["mt", "specificity std"] == 0.0 and s.loc["qa", "runs"] == 2
    with pytest.raises(ValueError, match="columns"):
        quality.summarise_runs(results.drop(columns="f1"))


def test_thin_slices_keeps_ends_evenly():
    out = quality.thin_slices({"a": np.arange(10, 20), "b": np.array([3, 4])}, 3)
    assert out["a"].tolist() == [10, 14, 19] and out["b"].tolist() == [3, 4]
    assert quality.thin_slices({"a": np.arange(5)}, None)["a"].tolist() == list(range(5))
    with pytest.raises(ValueError, match="max_slices"):
        quality.thin_slices({"a": np.arange(5)}, 0)


def test_label_subset_keeps_both_classes_and_whole_subjects(cases):
    labels = {c.qa_label for c in cases}
    assert labels == {0, 1}, "fixture should hold both classes"
    subset = quality.label_subset(cases, 2, seed=3)
    assert {c.qa_label for c in subset} == {0, 1}
    cases[0].subject = cases[1].subject = "same-patient"
    try:
        for seed in range(6):
            ids = {c.case_id for c in quality.label_subset(cases, 3, seed=seed)}
            assert (cases[0].case_id in ids) == (cases[1].case_id in ids)
    finally:
        cases[0].subject, cases[1].subject = cases[0].case_id, cases[1].case_id
    with pytest.raises(ValueError, match="n="):
        quality.label_subset(cases, len(cases) + 1)


# --------------------------------------------------------------------------- stage 1


class ConstantLogit(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full_like(x, self.value) + 0 * self.dummy


def test_stage1_report_selection_and_fallback(cases):
    table, chosen = quality.stage1_report(ConstantLogit(10.0), cases[:2], image_size=32, device="cpu")
    assert (table["selection recall"] == 1.0).all() and (table["selected"] == table["slices"]).all()
    assert all(len(v) == 8 for v in chosen.values())
    table, chosen = quality.stage1_report(ConstantLogit(-10.0), cases[:2], image_size=32, device="cpu")
    assert all(len(v) == 1 for v in chosen.values())  # nothing passes t: the most probable slice is kept
    assert (table["dice"] == 0).all()


def test_train_stage1_records_and_reuses(cases, tmp_path):
    train, val = LGESlices(cases[:4], 32), LGESlices(cases[4:6], 32)
    kw = dict(data_key={"test": 1}, epochs=1, batch_size=8, features=(4, 4, 8, 8, 16, 4), device="cpu",
              out_dir=tmp_path, progress=False)
    first = quality.train_stage1(train, val, **kw)
    again = quality.train_stage1(train, val, **kw)
    assert not first.reused and again.reused and first.run.key == again.run.key
    assert 0.0 <= again.metrics["best_val_dice"] <= 1.0


# --------------------------------------------------------------------------- stage 2


def test_train_qa_validates_its_inputs(cases, tmp_path):
    data = LGESlices(cases[:2], 32)
    with pytest.raises(ValueError, match="method="):
        quality.train_qa("resnet", data, data, data_key={}, epochs=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="encoder="):
        quality.train_qa("supcon_qa", data, data, data_key={}, epochs=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match="augmentation"):
        quality.TwoViews(data)


def test_supcon_then_frozen_qa_and_reuse(cases, tmp_path):
    train, val = LGESlices(cases[:5], 32, augment=True), LGESlices(cases[5:], 32)
    kw = dict(data_key={"test": 2}, width=0.25, device="cpu", out_dir=tmp_path, progress=False)
    encoder = quality.pretrain_supcon(train, epochs=1, batch_size=16, **kw)
    assert np.isfinite(encoder.metrics["final_supcon_loss"])
    before = {k: v.clone() for k, v in encoder.model.encoder.state_dict().items()}
    head = quality.train_qa("supcon_qa", train, val, epochs=1, batch_size=16, encoder=encoder, **kw)
    after = head.model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the frozen encoder (incl. BatchNorm) changed"
    assert head.metrics["trainable_parameters"] < head.metrics["parameters"]
    frame, embedding = quality.predict_slices(head.model, val, device="cpu")
    assert len(frame) == len(val) == len(embedding) and embedding.shape[1] == 128
    assert frame["qa_probability"].between(0, 1).all() and set(frame["qa_true"]) <= {0, 1}
    again = quality.train_qa("supcon_qa", train, val, epochs=1, batch_size=16, encoder=encoder, **kw)
    assert again.reused
    assert np.allclose(quality.predict_slices(again.model, val, device="cpu")[0]["qa_probability"],
                       frame["qa_probability"], atol=1e-6)


def test_multitask_training_runs_one_epoch(cases, tmp_path):
    train, val = LGESlices(cases[:4], 32, augment=True), LGESlices(cases[4:6], 32)
    result = quality.train_qa("multitask_qa", train, val, data_key={"test": 3}, epochs=1, batch_size=16, width=0.25,
                              device="cpu", out_dir=tmp_path, progress=False)
    assert result.metrics["epochs_run"] == 1 and np.isfinite(result.metrics["best_val_mse"])
    assert result.run.done
