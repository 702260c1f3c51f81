"""The Video4MRI training harness: one recipe for every model, run records, the paper's metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from paperkit.chapters.video4mri.experiment import (
    AUGMENTATIONS,
    PAPER_AUGMENTATION_ROWS,
    clip_batch,
    evaluate_predictions,
    load_predictions,
    time_models,
    train_video_classifier,
)
from paperkit.data.datasets.medmnist3d import MedMNIST3DFrames


def volumes(n: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    vols = rng.integers(0, 60, size=(n, 16, 16, 16)).astype(np.uint8)
    vols[labels == 1, 4:12, 4:12, 4:12] += 150  # class 1 carries a bright cube
    return vols, labels


def test_evaluate_predictions_matches_direct_numbers():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    out = evaluate_predictions(y, p, n_boot=50, boot_fraction=1.0, seed=0)
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["auroc"] == pytest.approx(5 / 6)
    assert out["boot_low"] <= out["boot_mean"] <= out["boot_high"]
    single_class = evaluate_predictions(np.zeros(3), np.full((3, 2), 0.5))
    assert single_class["auroc"] is None  # undefined, and storable in a run record
    from paperkit.chapters.video4mri.experiment import metrics_table

    table = metrics_table([{"model": "a", **single_class}, {"model": "b", "auroc": 0.75}])
    assert np.isnan(table.auroc[0]) and table.auroc[1] == 0.75 and round(table.auroc[0], 3) != 0.5
    with pytest.raises(ValueError, match="expected"):
        evaluate_predictions(y, p[:3])


def test_every_table3_row_is_named_like_the_paper():
    assert set(AUGMENTATIONS) == set(PAPER_AUGMENTATION_ROWS)
    assert len(set(PAPER_AUGMENTATION_ROWS.values())) == 6


@pytest.mark.parametrize("name", ["tsm_r18", "r3d_18"])
def test_train_records_metrics_and_reuses_the_run(tmp_path, name):
    vx, vy = volumes(8, 0)
    tx, ty = volumes(6, 1)
    train = MedMNIST3DFrames(vx, vy, segments=4, train=True)
    test = MedMNIST3DFrames(tx, ty, segments=4)
    kwargs = dict(data_key={"fixture": 1}, num_classes=2, epochs=2, batch_size=4, lr=1e-3, warmup_epochs=1,
                  n_boot=20, out_dir=tmp_path, device="cpu", progress=False)
    first = train_video_classifier(name, train, test, **kwargs)
    assert not first.reused and first.metrics["epochs_run"] == 2 and first.metrics["n_test"] == 6
    assert 0 <= first.metrics["accuracy"] <= 1 and first.metrics["params_m"] > 1 and first.metrics["inference_ms"] > 0
    stored = load_predictions(first)
    assert stored.probabilities.shape == (6, 2) and stored.y_true.tolist() == ty.tolist()
    assert stored.ids.tolist() == [f"#{i}" for i in range(6)]  # MedMNIST items carry positions as ids
    again = train_video_classifier(name, train, test, **kwargs)
    assert again.reused and again.metrics["accuracy"] == first.metrics["accuracy"]
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)  # the stored weights were loaded
    with pytest.raises(ValueError, match="augmentation='flip'"):
        train_video_classifier(name, train, test, augmentation="flip", **kwargs)


def test_recalibrate_bn_is_a_separate_run_and_sees_the_training_clips(tmp_path, monkeypatch):
    vx, vy = volumes(8, 0)
    train = MedMNIST3DFrames(vx, vy, segments=4, train=True)
    test = MedMNIST3DFrames(*volumes(4, 1), segments=4)
    calls = []
    monkeypatch.setattr("paperkit.chapters.video4mri.experiment.recalibrate_batchnorm",
                        lambda model, data, **kw: calls.append(data))
    kwargs = dict(data_key={"fixture": 2}, num_classes=2, epochs=1, batch_size=4, lr=1e-3, warmup_epochs=0,
                  n_boot=10, out_dir=tmp_path, device="cpu", progress=False)
    plain = train_video_classifier("tsn_r18", train, test, **kwargs)
    assert not plain.reused and calls == []
    recalibrated = train_video_classifier("tsn_r18", train, test, recalibrate_bn=True, **kwargs)
    assert not recalibrated.reused and calls == [train]  # its own run record, fed the training clips


def test_crop_scale_reaches_the_volume_transform_and_keys_its_own_run(tmp_path, monkeypatch):
    import paperkit.chapters.video4mri.experiment as vt

    built = []
    real = vt.VolumeTransform
    monkeypatch.setattr(vt, "VolumeTransform", lambda **kw: built.append(kw["crop_scale"]) or real(**kw))
    vx, vy = volumes(8, 0)
    train = MedMNIST3DFrames(vx, vy, segments=4, train=True)
    test = MedMNIST3DFrames(*volumes(4, 1), segments=4)
    kwargs = dict(data_key={"fixture": 3}, num_classes=2, epochs=1, batch_size=4, lr=1e-3, warmup_epochs=0,
                  n_boot=10, out_dir=tmp_path, device="cpu", progress=False)
    assert not train_video_classifier("tsn_r18", train, test, **kwargs).reused
    assert built == [vt.CROP_SCALE]
    assert train_video_classifier("tsn_r18", train, test, crop_scale=list(vt.CROP_SCALE), **kwargs).reused
    assert not train_video_classifier("tsn_r18", train, test, crop_scale=None, **kwargs).reused
    assert built == [vt.CROP_SCALE, None]  # no crop: a new run, and the transform was told so


def test_load_predictions_reads_records_without_ids_and_names_a_missing_file(tmp_path):
    from types import SimpleNamespace

    from paperkit.atomic import write_npz
    from paperkit.runs import Run

    run = Run("video4mri", "abc", tmp_path / "abc", {})
    run.dir.mkdir()
    trained = SimpleNamespace(run=run, name="tsm_r18")
    with pytest.raises(FileNotFoundError, match="stored no test predictions"):
        load_predictions(trained)
    write_npz(run.path("test_predictions.npz"), y_true=np.array([0, 1]), probabilities=np.eye(2))
    assert load_predictions(trained).ids is None  # a record written before ids were stored


def test_models_are_timed_side_by_side_on_one_batch():
    clips, labels = clip_batch(MedMNIST3DFrames(*volumes(3, 0), segments=4), 2)
    assert clips.shape == (2, 1, 4, 16, 16) and labels.tolist() == [0, 1]
    timed = time_models(["tsn_r18", "tsm_r18"], clips, labels, step="training", num_classes=2, device="cpu",
                        warmup=1, rounds=2)
    assert timed.names == ["tsn_r18", "tsm_r18"] and timed.rounds == 2 and "training step" in timed.what
    assert time_models([], clips, labels, step="inference", num_classes=2) is None
    with pytest.raises(ValueError, match="step='forward'"):
        time_models(["tsn_r18"], clips, labels, step="forward", num_classes=2)
