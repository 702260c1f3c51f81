"""The video4mri chapter's data assembly: MedMNIST 3D subsets and the synthetic cohort path."""
from __future__ import annotations

import numpy as np
import pytest

from paperkit.chapters import video4mri


def write_npz(path, n_train=30, n_test=20, size=8):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", n_train), ("val", 4), ("test", n_test)):
        arrays[f"{split}_images"] = rng.integers(0, 255, size=(n, size, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3 == 0).astype(np.uint8).reshape(n, 1)  # 1 in 3 positive
    np.savez(path, **arrays)
    return path


def test_medmnist_subsets_keep_class_shares_and_report_counts(tmp_path):
    write_npz(tmp_path / "adrenalmnist3d.npz")
    data = video4mri.load_medmnist(tmp_path, "adrenalmnist3d", 28, limit=12, test_limit=9, seed=1)
    train, test = data["frames"](4)
    assert len(train) == 12 and len(test) == 9 and data["used_train"] == 12
    assert np.mean(train.labels) == pytest.approx(1 / 3) and np.mean(test.labels) == pytest.approx(1 / 3)
    assert data["counts"] == {"train": [20, 10], "val": [2, 2], "test": [13, 7]}
    x, y = test[0]
    assert x.shape == (1, 4, 8, 8) and y in (0, 1)
    full = video4mri.load_medmnist(tmp_path, "adrenalmnist3d", 28)
    assert len(full["frames"](4)[1]) == 20 and full["data_key"]["limit"] is None
    with pytest.raises(Exception, match="adrenalmnist3d_64"):
        video4mri.load_medmnist(tmp_path, "adrenalmnist3d", 64)


def test_spec_reads_medmnist3d_from_the_medmnist_folder(tmp_path, monkeypatch):
    (tmp_path / "medmnist").mkdir()
    monkeypatch.setenv("PAPERKIT_DATA", str(tmp_path))
    S = video4mri.SPEC.resolve(dataset="medmnist3d", profile="smoke")
    assert S.data_dir == tmp_path / "medmnist"
    with pytest.raises(ValueError, match="dataset='oasis3'"):
        video4mri.SPEC.resolve(dataset="oasis3")


def test_learning_rate_per_model_overrides_the_common_rate():
    S = video4mri.SPEC.resolve(profile="classroom")
    assert video4mri.learning_rate(S, "r3d_18") == 1e-4  # the classroom profile's 3D ResNet rate
    assert video4mri.learning_rate(S, "tsm_r18") == S.lr == 1e-3
    paper = video4mri.SPEC.resolve(profile="paper", device="cpu")
    assert {video4mri.learning_rate(paper, m) for m in video4mri.MODELS} == {5e-5}  # one rate, as in the paper
    same = video4mri.SPEC.resolve(profile="classroom", model_lr={})  # {} is a value, not "keep the profile's"
    assert video4mri.learning_rate(same, "r3d_18") == 1e-3
    with pytest.raises(ValueError, match=r"model_lr names \['r3d18'\]"):
        video4mri.learning_rate(video4mri.SPEC.resolve(profile="classroom", model_lr={"r3d18": 1e-4}), "tsn_r18")
    with pytest.raises(ValueError, match="positive learning rate"):
        video4mri.learning_rate(video4mri.SPEC.resolve(profile="classroom", model_lr={"r3d_18": 0}), "r3d_18")
