"""LA 2018 loaders (challenge NRRD, preprocessed HDF5 + lists), scores CSV, splits, slice dataset,
degradations, the synthetic generator and the degraded-real writer. The real sample is used
through $PAPERKIT_DATA (skipped when absent)."""
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from paperkit.chapters.lge_quality.experiment import scan_mode, slices_with_atrium, split_qa
from paperkit.data import DataError, SubjectLeakError
from paperkit.data.datasets.la2018 import (
    LGESlices,
    binarise,
    detect_layout,
    find_cases,
    load_la2018,
    read_case_lists,
    read_nrrd,
    read_scores,
    split_stage1,
)
from paperkit.data.splits import Split
from paperkit.data.synthetic import lge_degrade as deg
from paperkit.data.synthetic.lge import make_degraded_la2018, make_synthetic_lge, read_manifest, synthetic_case
from tests.fixtures import la2018 as fx


def nrrd_root(tmp_path, n=3, scores=True, set_folder="Training Set"):
    root = tmp_path / "la2018_nrrd"
    for i in range(n):
        fx.write_nrrd_case(root, f"CASE{i:02d}", *fx.tiny_case(i), set_folder=set_folder)
    if scores:
        fx.write_scores_csv(root / "scores.csv", [[f"CASE{i:02d}", *fx.scores_for(i)] for i in range(n)])
    return root


def h5_root(tmp_path, n=6, train=None, test=None):
    root = tmp_path / "la2018_h5"
    for i in range(n):
        fx.write_h5_case(root, f"H5CASE{i:02d}", *fx.tiny_case(i))
    if train is not None:
        fx.write_lists(root, train, test or [])
    return root


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("set_folder", ["Training Set", None])
def test_nrrd_challenge_layout(tmp_path, set_folder):
    root = nrrd_root(tmp_path, set_folder=set_folder)
    assert detect_layout(root) == "nrrd"
    cases = load_la2018(root)
    assert [c.case_id for c in cases] == ["CASE00", "CASE01", "CASE02"]
    assert cases[1].release_set == set_folder and cases[1].layout == "nrrd"
    image, mask = cases[1].load()
    expected_image, expected_mask = fx.tiny_case(1)
    assert image.shape == fx.SHAPE and image.dtype == np.float32
    assert np.array_equal(mask, expected_mask)  # 255 in the file -> 1
    assert np.array_equal(image, expected_image)
    assert cases[1].spacing == pytest.approx((0.625,) * 3)
    assert cases[1].scores == dict(zip(fx.SCORE_HEADER[1:], fx.scores_for(1)))


def test_nrrd_case_without_mask_is_named(tmp_path):
    root = nrrd_root(tmp_path, scores=False)
    fx.write_nrrd_case(root, "CASE09", *fx.tiny_case(9), mask_file=None)
    with pytest.raises(DataError, match=r"CASE09.*laendo.nrrd"):
        find_cases(root)


def test_mask_shape_mismatch_is_an_error(tmp_path):
    root = tmp_path / "bad"
    image, mask = fx.tiny_case(0)
    fx.write_nrrd_case(root, "CASE00", image, mask[:, :, :5])
    with pytest.raises(DataError, match="laendo.nrrd.*expected the image's"):
        find_cases(root)[0].load()


def test_corrupt_nrrd_names_the_file(tmp_path):
    path = tmp_path / "lgemri.nrrd"
    path.write_bytes(b"not an nrrd at all")
    with pytest.raises(DataError, match="lgemri.nrrd"):
        read_nrrd(path)


def test_not_an_la_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not an LA 2018 folder"):
        find_cases(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        find_cases(tmp_path / "missing")


def test_hdf5_layout_with_lists_drives_the_stage1_split(tmp_path):
    ids = [f"H5CASE{i:02d}" for i in range(6)]
    root = h5_root(tmp_path, train=ids[:4] + ["ABSENT"], test=ids[4:])
    cases = find_cases(root)
    assert detect_layout(root) == "hdf5" and len(cases) == 6
    assert [c.list_name for c in cases] == ["train"] * 4 + ["test"] * 2
    image, mask = cases[0].load()
    assert image.shape == fx.SHAPE and set(np.unique(mask)) == {0, 1}
    split = split_stage1(cases, val_fraction=0.25)
    assert split.source == "train.list / test.list"
    assert sorted(c.case_id for c in split["test"]) == ids[4:]
    assert len(split["train"]) == 3 and len(split["val"]) == 1


def test_stage1_falls_back_when_no_test_case_is_present(tmp_path):
    ids = [f"H5CASE{i:02d}" for i in range(6)]
    root = h5_root(tmp_path, train=ids, test=["GONE1", "GONE2"])
    split = split_stage1(find_cases(root), test_fraction=0.34, val_fraction=0.25)
    assert split.source.startswith("random") and any("no test.list" in n for n in split.notes)
    assert sum(len(v) for v in split.values()) == 6 and len(split["test"]) == 2


def test_lists_must_be_disjoint(tmp_path):
    root = h5_root(tmp_path, n=2, train=["H5CASE00"], test=["H5CASE00"])
    with pytest.raises(DataError, match="both train.list and test.list"):
        find_cases(root)


# --------------------------------------------------------------------------- scores


def test_scores_missing_column(tmp_path):
    path = fx.write_scores_csv(tmp_path / "s.csv", [["A", 3, 3, 3]], header=fx.SCORE_HEADER[:-1])
    with pytest.raises(DataError, match="missing column.*fibrosis_quality"):
        read_scores(path)


@pytest.mark.parametrize("bad", ["6", "0", "2.5", "", "x"])
def test_scores_out_of_range(tmp_path, bad):
    path = fx.write_scores_csv(tmp_path / "s.csv", [["A", 3, 3, 3, 3], ["B", 3, bad, 3, 3]])
    with pytest.raises(DataError, match=r"line 3: sharpness"):
        read_scores(path)


def test_scores_duplicate_case(tmp_path):
    path = fx.write_scores_csv(tmp_path / "s.csv", [["A", 3, 3, 3, 3], ["A", 2, 2, 2, 2]])
    with pytest.raises(DataError, match="scored twice"):
        read_scores(path)


def test_case_without_scores(tmp_path):
    root = nrrd_root(tmp_path, scores=False)
    fx.write_scores_csv(root / "scores.csv", [["CASE00", 3, 3, 3, 3], ["CASE01", 1, 2, 3, 4]])
    with pytest.raises(DataError, match="no scores for 1 case.*CASE02"):
        load_la2018(root)
    assert all(c.scores is None for c in load_la2018(root, scores=None))


def test_binarise_at_three():
    assert binarise([1, 2, 3, 4, 5]).tolist() == [0, 0, 1, 1, 1] and binarise(3) == 1


# --------------------------------------------------------------------------- slice dataset


def test_slice_dataset_selects_resizes_and_labels(tmp_path):
    cases = load_la2018(nrrd_root(tmp_path))
    ds = LGESlices(cases, image_size=32)
    assert len(ds) == 3 * len(fx.ATRIUM_SLICES)
    item = ds[0]
    assert item["image"].shape == (1, 32, 32) and item["mask"].shape == (1, 32, 32)
    assert item["case_id"] == "CASE00" and item["slice"] == fx.ATRIUM_SLICES.start
    assert item["attributes"].tolist() == binarise(fx.scores_for(0)[:3]).tolist()
    assert item["qa"].tolist() == [float(binarise(fx.scores_for(0)[3]))]
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    # the atrium is bright and normalised: inside the mask above the slice mean
    assert item["image"][item["mask"] > 0].mean() > item["image"][item["mask"] == 0].mean() + 1
    assert len(LGESlices(cases, image_size=32, slices="all")) == 3 * fx.SHAPE[2]
    chosen = LGESlices(cases, image_size=32, slices={"CASE00": [0, 5], "CASE01": [], "CASE02": [11]})
    assert [(i["case_id"], i["slice"]) for i in chosen] == [("CASE00", 0), ("CASE00", 5), ("CASE02", 11)]


def test_augmentation_moves_image_and_mask_together(tmp_path):
    cases = load_la2018(nrrd_root(tmp_path))
    ds = LGESlices(cases, image_size=64, augment=True)
    torch.manual_seed(0)
    changed = 0
    for i in range(12):
        item = ds[i % len(ds)]
        mask = item["mask"][0] > 0
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        if mask.any():
            assert item["image"][0][mask].mean() > item["image"][0][~mask].mean()
        changed += not torch.equal(item["mask"], ds.masks[i % len(ds)].float())
    assert changed > 0


def test_mixed_scored_and_unscored_cases_are_refused(tmp_path):
    cases = load_la2018(nrrd_root(tmp_path))
    cases[1].scores = None
    with pytest.raises(DataError, match="no scores"):
        LGESlices(cases)


def test_slices_with_atrium_and_scan_mode():
    prob = np.zeros((4, 4, 6))
    prob[1, 1, 2] = 0.7
    prob[2, 2, 4] = 0.4
    assert slices_with_atrium(prob, 0.5).tolist() == [2]
    assert slices_with_atrium(prob, 0.3).tolist() == [2, 4]
    votes = scan_mode(["a", "a", "a", "b", "b", "c"], [1, 1, 0, 0, 1, 1])
    assert votes == {"a": 1, "b": 0, "c": 1}  # tie in "b" -> 0


# --------------------------------------------------------------------------- splits


def scored_h5_cases(tmp_path, n=12, subjects=None):
    root = h5_root(tmp_path, n=n)
    rows = [[f"H5CASE{i:02d}", *fx.scores_for(i)] + ([subjects[i]] if subjects else []) for i in range(n)]
    header = fx.SCORE_HEADER + (["subject_id"] if subjects else [])
    fx.write_scores_csv(root / "scores.csv", rows, header=header)
    return load_la2018(root)


def test_qa_split_by_case_without_overlap(tmp_path):
    cases = scored_h5_cases(tmp_path, n=12)
    split = split_qa(cases, n_test=20, seed=3)
    assert len(split["test"]) == 2 and any("capped" in n for n in split.notes)  # 20 % of 12
    ids = split.ids("case_id")
    assert sorted(sum(ids.values(), [])) == sorted(c.case_id for c in cases)
    assert not set(ids["train"]) & set(ids["test"]) and not set(ids["val"]) & set(ids["test"])
    assert split_qa(cases, n_test=20, seed=3).ids("case_id") == ids  # deterministic


def test_qa_split_keeps_subjects_together(tmp_path):
    subjects = [f"P{i // 2}" for i in range(12)]  # two scans per patient
    cases = scored_h5_cases(tmp_path, n=12, subjects=subjects)
    split = split_qa(cases, n_test=2, seed=0)
    for group in split.values():
        for case in group:
            partner = f"H5CASE{int(case.case_id[-2:]) ^ 1:02d}"
            assert partner in [c.case_id for c in group]
    with pytest.raises(SubjectLeakError):
        Split({"train": cases[:2], "test": cases[1:3]}, subject="subject", source="manual")


# --------------------------------------------------------------------------- degradations


@pytest.fixture(scope="module")
def phantom():
    return synthetic_case(np.random.default_rng(0), size=48, n_slices=12)


def test_blur_lowers_gradient_energy_monotonically(phantom):
    energies = [deg.gradient_energy(deg.blur(phantom["image"], level)) for level in (5, 4, 3, 2, 1)]
    assert all(a > b for a, b in zip(energies, energies[1:])), energies


def test_noise_raises_gradient_energy_monotonically(phantom):
    energies = [deg.gradient_energy(deg.noise(phantom["image"], level, blood=phantom["blood"], seed=1))
                for level in (5, 4, 3, 2, 1)]
    assert all(a < b for a, b in zip(energies, energies[1:])), energies


def test_poor_nulling_brightens_the_myocardium(phantom):
    myo = phantom["myocardium"]
    means = [deg.poor_nulling(phantom["image"], level, myocardium=myo, blood=phantom["blood"])[myo].mean()
             for level in (5, 4, 3, 2, 1)]
    blood = np.median(phantom["image"][phantom["blood"]])
    assert all(a < b for a, b in zip(means, means[1:])) and means[0] < 0.2 * blood < blood < means[-1]
    # mask-free variant (real volumes): dark tissue lifted, blood pool unchanged
    free = deg.poor_nulling(phantom["image"], 1, blood=phantom["blood"])
    assert free[myo].mean() > phantom["image"][myo].mean() + 0.3
    assert np.allclose(free[phantom["blood"]].mean(), phantom["image"][phantom["blood"]].mean(), atol=0.02)


def test_weak_enhancement_dims_enhanced_structures(phantom):
    enhanced = phantom["enhanced"]
    means = [deg.weak_enhancement(phantom["image"], level, enhanced=enhanced, blood=phantom["blood"])[enhanced].mean()
             for level in (5, 4, 3, 2, 1)]
    assert all(a > b for a, b in zip(means, means[1:])), means
    free = deg.weak_enhancement(phantom["image"], 1, blood=phantom["blood"])  # mask-free: shell around the LA
    dimmed = free < phantom["image"] - 1e-6
    blood = np.median(phantom["image"][phantom["blood"]])
    assert dimmed.sum() > 10 and np.all(free <= phantom["image"] + 1e-6)
    assert np.allclose(free[dimmed], blood, atol=1e-4) and not (dimmed & phantom["blood"]).any()


def test_ghosting_puts_signal_into_the_air(phantom):
    air = phantom["image"] < 0.01
    air_signal = [deg.motion_ghosting(phantom["image"], level, seed=2)[air].mean() for level in (5, 3, 1)]
    assert air_signal[0] < air_signal[1] < air_signal[2]


def test_degrade_is_deterministic_and_checks_names(phantom):
    levels = {"blur": 2, "noise": 2, "ghosting": 3, "nulling": 2, "enhancement": 1}
    kwargs = dict(blood=phantom["blood"], myocardium=phantom["myocardium"], enhanced=phantom["enhanced"])
    a = deg.degrade(phantom["image"], levels, seed=7, **kwargs)
    assert np.array_equal(a, deg.degrade(phantom["image"], levels, seed=7, **kwargs))
    assert not np.array_equal(a, deg.degrade(phantom["image"], levels, seed=8, **kwargs))
    with pytest.raises(ValueError, match="unknown degradation"):
        deg.degrade(phantom["image"], {"sharpness": 2})
    with pytest.raises(ValueError, match="level"):
        deg.blur(phantom["image"], 0)


def test_scores_rule():
    assert deg.scores_from_levels({}) == {"myocardium_nulling": 5, "sharpness": 5, "enhancement_aorta_valve": 5,
                                          "fibrosis_quality": 5}
    one_bad = deg.scores_from_levels({"noise": 1})
    assert one_bad["fibrosis_quality"] == 2 and one_bad["sharpness"] == 5
    assert deg.scores_from_levels({"blur": 3, "nulling": 4, "enhancement": 3, "noise": 4, "ghosting": 3}) == {
        "myocardium_nulling": 4, "sharpness": 3, "enhancement_aorta_valve": 3, "fibrosis_quality": 3}


# --------------------------------------------------------------------------- synthetic and degraded sets


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_synthetic_round_trip_through_the_loader(tmp_path):
    root = make_synthetic_lge(tmp_path / "a", n_cases=4, size=48, n_slices=10, seed=1, difficulty=0.0)
    assert (root / "Training Set" / "SYN-000" / "lgemri.nrrd").is_file()
    cases = load_la2018(root)
    levels = read_manifest(root)["levels"]
    assert [c.case_id for c in cases] == ["SYN-000", "SYN-001", "SYN-002", "SYN-003"]
    for case in cases:  # difficulty 0: scores are exactly the rule applied to the levels
        assert case.scores == deg.scores_from_levels(levels[case.case_id])
    image, mask = cases[0].load()
    assert image.shape == (48, 48, 10) and mask.any() and not mask.all()
    ds = LGESlices(cases, image_size=32)
    assert len(ds) > 0 and ds[0]["attributes"].shape == (3,)
    again = make_synthetic_lge(tmp_path / "b", n_cases=4, size=48, n_slices=10, seed=1, difficulty=0.0)
    assert _tree_digest(root) == _tree_digest(again)
    assert make_synthetic_lge(tmp_path / "a", n_cases=4, size=48, n_slices=10, seed=1, difficulty=0.0) == root
    other = make_synthetic_lge(tmp_path / "a", n_cases=4, size=48, n_slices=10, seed=2, difficulty=0.0)
    assert other != root and _tree_digest(other) != _tree_digest(root)
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "a").iterdir())


def test_degraded_real_layout_round_trip(tmp_path):
    source = h5_root(tmp_path, n=3)
    root = make_degraded_la2018(source, tmp_path / "out", copies=2, seed=0)
    cases = load_la2018(root)
    assert len(cases) == 6 and {c.subject for c in cases} == {"H5CASE00", "H5CASE01", "H5CASE02"}
    image, mask = cases[0].load()
    original_image, original_mask = find_cases(source)[0].load()
    assert np.array_equal(mask, original_mask) and image.shape == original_image.shape
    split = split_qa(cases, n_test=1, val_fraction=0.5, seed=0)
    assert {c.subject for c in split["test"]}.isdisjoint({c.subject for c in split["train"] + split["val"]})
    assert not (root / "train.list").exists()  # the source has no lists: none invented


def test_degraded_copies_keep_their_source_cases_stage1_lists(tmp_path):
    source = h5_root(tmp_path, n=3, train=["H5CASE00", "H5CASE01"], test=["H5CASE02"])
    cases = load_la2018(make_degraded_la2018(source, tmp_path / "out", copies=2, seed=0))
    assert {c.case_id: c.list_name for c in cases} == {
        "H5CASE00-c0": "train", "H5CASE00-c1": "train", "H5CASE01-c0": "train", "H5CASE01-c1": "train",
        "H5CASE02-c0": "test", "H5CASE02-c1": "test"}
    split = split_stage1(cases, val_fraction=0.5)
    assert split.source == "train.list / test.list" and {c.subject for c in split["test"]} == {"H5CASE02"}


def test_synthetic_stage1_lists_are_an_eighty_twenty_split_by_seed(tmp_path):
    root = make_synthetic_lge(tmp_path, n_cases=10, size=32, n_slices=8, seed=4)
    lists = read_case_lists(root)
    assert len(lists["test"]) == 2 and sorted(lists["train"] + lists["test"]) == [f"SYN-{i:03d}" for i in range(10)]
    assert read_case_lists(make_synthetic_lge(tmp_path, n_cases=10, size=32, n_slices=8, seed=4)) == lists


# --------------------------------------------------------------------------- real sample


def real_la2018() -> Path:
    root = os.environ.get("PAPERKIT_DATA")
    if not root or not (Path(root) / "la2018").is_dir():
        pytest.skip("real LA 2018 sample not available (set PAPERKIT_DATA to a folder holding la2018/)")
    return Path(root) / "la2018"


def test_real_la2018_sample():
    root = real_la2018()
    cases = load_la2018(root)
    assert len(cases) == 30 and all(c.layout == "hdf5" for c in cases)
    assert all(c.list_name == "train" for c in cases)  # the sample holds training cases only
    image, mask = cases[0].load()
    assert image.ndim == 3 and image.shape == mask.shape and set(np.unique(mask)) == {0, 1}
    ds = LGESlices(cases[:1], image_size=128)
    assert len(ds) == int(mask.any(axis=(0, 1)).sum()) and ds[0]["image"].shape == (1, 128, 128)
    split = split_stage1(cases)
    assert split.source.startswith("random") and sum(len(v) for v in split.values()) == 30
