"""The paper's data arrangement in the lge_quality chapter: ImageNet weights required by the paper profile,
stage 1 on its own segmentation cohort and split (with its test metrics in its run record), scored scans
without masks for the QA stage, and the tie rule of the per-scan vote."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import paperkit.models.lge_quality  # noqa: F401  (registers the chapter's models)
from paperkit.chapters.lge_quality import experiment, spec
from paperkit.data.datasets.la2018 import LGESlices, find_cases, load_la2018, split_stage1
from paperkit.data.io.errors import DataError
from paperkit.data.synthetic.lge import make_synthetic_lge
from tests.fixtures import la2018 as fx

pytestmark = pytest.mark.usefixtures("native_convolutions")  # see conftest.py


# --------------------------------------------------------------------------- item 1: initial weights


def settings(**kw):
    base = {"pretrained": True, "width": 1.0, "profile": "paper"}
    return SimpleNamespace(**{**base, **kw})


def test_the_paper_profile_requires_imagenet_weights_and_the_cpu_profiles_do_not():
    assert spec.SPEC.resolve(profile="paper", device="cpu").pretrained is True
    assert spec.SPEC.resolve(profile="classroom").pretrained is False
    assert spec.SPEC.resolve(profile="paper", device="cpu", pretrained=False).pretrained is False


def test_missing_imagenet_checkpoint_stops_with_its_path_and_how_to_place_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    expected = tmp_path / "empty-torch-home" / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    with pytest.raises(FileNotFoundError) as err:
        experiment.initial_weights(settings())
    message = str(err.value)
    assert str(expected) in message and "pretrained False" in message and "TORCH_HOME" in message
    assert "download.pytorch.org" in message  # where to fetch the file on a machine with network access
    weights, note = experiment.initial_weights(settings(pretrained=False))
    assert weights is None and "RANDOM" in note


def test_cached_imagenet_checkpoint_is_used_and_its_folder_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placeholder: only its presence is checked here")
    weights, note = experiment.initial_weights(settings())
    assert weights == "imagenet" and "resnet34-b627a593.pth" in note and str(tmp_path) not in note


@pytest.mark.parametrize("bad, match", [({"width": 0.25}, "width=0.25"), ({"pretrained": "yes"}, "pretrained=")])
def test_initial_weights_refuses_what_cannot_be_honoured(bad, match):
    with pytest.raises(ValueError, match=match):
        experiment.initial_weights(settings(**bad))


# --------------------------------------------------------------------------- item 2: the tie rule


def test_tie_rules_break_a_two_two_vote_as_stated_and_count_it():
    slices = pd.DataFrame({"case_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 3,
                           "qa_probability": [0.9, 0.8, 0.3, 0.1, 0.6, 0.55, 0.4, 0.05, 0.9, 0.8, 0.1],
                           "qa_true": [1] * 4 + [0] * 4 + [1] * 3})
    calls = {}
    for rule in experiment.TIE_RULES:
        scans = experiment.scan_predictions(slices, tie=rule).set_index("case_id")
        calls[rule] = scans["predicted"].to_dict()
        assert scans["tied"].to_dict() == {"a": True, "b": True, "c": False}
    assert calls["non-diagnostic"] == {"a": 0, "b": 0, "c": 1}  # b 2-2 too: 0.6, 0.55 vs 0.4, 0.05
    assert calls["diagnostic"] == {"a": 1, "b": 1, "c": 1}
    assert calls["mean-probability"] == {"a": 1, "b": 0, "c": 1}  # a: mean 0.525, b: mean 0.4
    scans = experiment.scan_predictions(slices)
    assert scans["tied"].sum() == 2 and experiment.scan_metrics(scans)["tied scans"] == 2
    with pytest.raises(ValueError, match="tie='coin'.*non-diagnostic"):
        experiment.scan_predictions(slices, tie="coin")
    with pytest.raises(ValueError, match="probabilities="):
        experiment.scan_mode(["a", "a"], [0, 1], tie="mean-probability")


# --------------------------------------------------------------------------- item 2: stage 1's own cohort


def scored_nrrd(root: Path, n: int = 8, unmasked=(1, 4)) -> Path:
    """An LA 2018 NRRD folder of ``n`` scored cases; the cases in ``unmasked`` have no laendo.nrrd."""
    rows = []
    for i in range(n):
        case = f"QA{i:02d}"
        fx.write_nrrd_case(root, case, *fx.tiny_case(i), mask_file=None if i in unmasked else "laendo.nrrd")
        rows.append([case, *fx.scores_for(i)])
    fx.write_scores_csv(root / "scores.csv", rows)
    return root


def seg_cohort(root: Path, n: int = 6) -> Path:
    """A separate segmentation cohort in the preprocessed HDF5 layout, with train.list / test.list."""
    ids = [f"SEG{i:02d}" for i in range(n)]
    for i, case in enumerate(ids):
        fx.write_h5_case(root, case, *fx.tiny_case(i + 20))
    fx.write_lists(root, ids[:-2], ids[-2:])
    return root


def test_scored_scans_without_masks_are_read_for_the_qa_stage_only(tmp_path):
    root = scored_nrrd(tmp_path / "qa")
    with pytest.raises(DataError, match="QA01.*laendo.nrrd"):
        find_cases(root)  # masks are required unless asked otherwise
    cases = load_la2018(root, masks="optional")
    assert [c.has_mask for c in cases] == [i not in (1, 4) for i in range(8)] and cases[1].load()[1] is None
    data = LGESlices(cases[:3], 32, slices="all")
    assert data.has_mask.tolist() == [True] * 12 + [False] * 12 + [True] * 12
    assert data[12]["has_mask"].item() is False and data[12]["mask"].sum() == 0 and data[12]["qa"].shape == (1,)
    with pytest.raises(DataError, match="QA01 .*no atrium mask"):
        LGESlices(cases[:2], 32, slices="mask")
    with pytest.raises(ValueError, match="QA01.*no atrium mask"):
        split_stage1(cases)
    table, chosen = experiment.stage1_report(torch.nn.Conv2d(1, 1, 1), cases[:2], image_size=32, device="cpu")
    assert table["dice"].isna().tolist() == [False, True] and set(chosen) == {"QA00", "QA01"}


def test_multitask_training_takes_scans_without_masks(tmp_path):
    cases = load_la2018(scored_nrrd(tmp_path / "qa"), masks="optional")
    train, val = LGESlices(cases[:4], 32, slices="all", augment=True), LGESlices(cases[4:6], 32, slices="all")
    result = experiment.train_qa("multitask_qa", train, val, data_key={"t": 1}, epochs=1, batch_size=8, width=0.25,
                                 device="cpu", out_dir=tmp_path / "runs", progress=False)
    assert np.isfinite(result.metrics["best_val_mse"]) and np.isfinite(result.history["train_loss"]).all()


def test_synthetic_data_carries_a_stage1_split_of_its_own(tmp_path):
    cases = load_la2018(make_synthetic_lge(tmp_path, n_cases=10, size=32, n_slices=8, seed=3))
    split = split_stage1(cases)
    assert split.source == "train.list / test.list" and len(split["test"]) == 2
    assert {c.list_name for c in cases} == {"train", "test"}


def qa_data(root: Path) -> dict:
    cases = load_la2018(root, masks="optional")
    return {"root": root, "cases": cases, "split": experiment.split_qa(cases, n_test=2, seed=0),
            "data_key": {"dataset": "la2018"}}


def test_stage1_cohort_is_the_separate_segmentation_folder_with_its_lists(tmp_path):
    data = qa_data(scored_nrrd(tmp_path / "qa"))
    seg = seg_cohort(tmp_path / "seg")
    cohort = experiment.stage1_cohort(SimpleNamespace(seg_data_dir=str(seg), seed=0), data)
    assert cohort["split"].source == "train.list / test.list" and "seg_data_dir" in cohort["source"]
    assert [c.case_id for c in cohort["split"]["test"]] == ["SEG04", "SEG05"]
    assert cohort["held_out"] == [] and cohort["data_key"]["cohort"] == "seg_data_dir"
    own = experiment.stage1_cohort(SimpleNamespace(seg_data_dir=None, seed=0), data)
    assert {c.case_id for c in own["cases"]} == {f"QA{i:02d}" for i in range(8) if i not in (1, 4)}
    qa_test = {c.case_id for c in data["split"]["test"] if c.has_mask}
    assert qa_test and set(own["held_out"]) == qa_test  # stage 1 never learns from a QA test scan
    trained_on = {c.case_id for part in ("train", "val") for c in own["split"][part]}
    assert trained_on.isdisjoint(qa_test) and "held out" in own["split"].notes[-1]
    with pytest.raises(FileNotFoundError, match="seg_data_dir="):
        experiment.stage1_cohort(SimpleNamespace(seg_data_dir=str(tmp_path / "nowhere"), seed=0), data)


def test_stage1_cohort_without_any_mask_asks_for_seg_data_dir(tmp_path):
    data = qa_data(scored_nrrd(tmp_path / "qa", n=6, unmasked=range(6)))
    with pytest.raises(DataError, match="seg_data_dir"):
        experiment.stage1_cohort(SimpleNamespace(seg_data_dir=None, seed=0), data)


def test_train_stage1_stores_its_test_list_metrics_in_the_run_record(tmp_path):
    seg = load_la2018(seg_cohort(tmp_path / "seg"))
    split = split_stage1(seg, val_fraction=0.25)
    kw = dict(data_key={"t": 2}, epochs=1, batch_size=8, features=(4, 4, 8, 8, 16, 4), test=split["test"],
              device="cpu", out_dir=tmp_path / "runs", progress=False)
    train, val = LGESlices(split["train"], 32, slices="all"), LGESlices(split["val"], 32, slices="all")
    first = experiment.train_stage1(train, val, **kw)
    again = experiment.train_stage1(train, val, **kw)
    assert again.reused and again.metrics["test_cases"] == 2
    table = experiment.load_stage1_test(again)
    assert table["case_id"].tolist() == ["SEG04", "SEG05"]
    assert again.metrics["test_dice"] == pytest.approx(table["dice"].mean())
    assert again.metrics["test_selection_accuracy"] == pytest.approx(table["selection accuracy"].mean())
    assert first.run.config["test"] == ["SEG04", "SEG05"]
    unmasked = load_la2018(scored_nrrd(tmp_path / "qa"), masks="optional")
    with pytest.raises(ValueError, match="QA01.*no atrium mask"):
        experiment.train_stage1(LGESlices(unmasked[:2], 32, slices="all"), val, **kw)
