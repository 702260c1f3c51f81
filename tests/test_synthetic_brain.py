"""The synthetic brain cohort: ADNI layout round trip through load_adni, determinism, visits and the
subject split, and that the atrophy signal is really in the images (and follows `difficulty`)."""
import hashlib

import numpy as np
import pytest
from scipy.stats import spearmanr

from paperkit.data.brain_mri import cohort_table, split_cohort
from paperkit.data.ida import IDA_COLUMNS, load_adni
from paperkit.data.mri_frames import MRIFrames
from paperkit.data.readers import read_volume
from paperkit.data.synthetic_brain import load_synthetic_markers, make_synthetic_brain


def digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cohort_root(tmp_path_factory):
    return make_synthetic_brain(tmp_path_factory.mktemp("syn"), n_subjects=6, visits=2, size=32, seed=1)


def test_round_trip_through_the_adni_loader(cohort_root, tmp_path):
    cohort = load_adni(cohort_root)
    assert len(cohort) == 12 and len(set(cohort.subjects)) == 6 and cohort.excluded == []
    table = cohort_table(cohort)
    assert table.loc["AD", "subjects"] == 3 and table.loc["CN", "subjects"] == 3 and table.loc["all", "scans"] == 12
    csv = next(cohort_root.glob("SYNTHETIC_ADNI_*.csv"))
    assert csv.read_text().splitlines()[0] == ",".join(IDA_COLUMNS)
    first = cohort[0]
    assert first.path.name.endswith(f"_{first.scan_id}.nii.gz") and first.path.parent.name == first.scan_id
    volume = read_volume(first.path)
    assert volume.array.shape == (32, 32, 32) and volume.array.dtype == np.int16
    assert volume.spacing == pytest.approx((6.25, 6.25, 6.25))
    assert {r.session for r in cohort} == {"sc", "m12"}
    markers = load_synthetic_markers(cohort_root)
    assert list(markers.index) == sorted(r.scan_id for r in cohort)
    assert all(markers.loc[r.scan_id, "group"] == r.label_name for r in cohort)
    ds = MRIFrames(cohort, segments=4, frame_size=16, train=True, cache=tmp_path / "cache")
    x, y = ds[0]
    assert x.shape == (1, 4, 16, 16) and y == cohort[0].label


def test_deterministic_idempotent_and_split_by_subject(cohort_root, tmp_path):
    again = make_synthetic_brain(tmp_path, n_subjects=6, visits=2, size=32, seed=1)
    assert again.name == cohort_root.name and digest(again) == digest(cohort_root)
    stamp = (again / "manifest.json").stat().st_mtime_ns
    assert make_synthetic_brain(tmp_path, n_subjects=6, visits=2, size=32, seed=1) == again
    assert (again / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    other = make_synthetic_brain(tmp_path, n_subjects=6, visits=2, size=32, seed=2)
    assert other != again and digest(other) != digest(again)
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind
    cohort = load_adni(cohort_root)
    parts = split_cohort(cohort, seed=0)
    assert not set(parts["train"].subjects) & set(parts["test"].subjects)
    assert all(len(p) % 2 == 0 for p in parts.values())  # both visits of a subject on one side


def test_atrophy_is_visible_in_the_images_and_follows_difficulty(tmp_path):
    root = make_synthetic_brain(tmp_path, n_subjects=12, size=32, seed=0, difficulty=0.3)
    cohort = load_adni(root)
    markers = load_synthetic_markers(root)
    # The central brain (ventricles, deep sulci) darkens, relative to white matter, as atrophy grows.
    brightness = []
    for r in cohort:
        a = np.asarray(read_volume(r.path).array, dtype=np.float32)
        brightness.append(float(a[10:22, 8:24, 12:24].mean() / np.percentile(a, 99)))
    atrophy = markers.loc[[r.scan_id for r in cohort], "atrophy"].to_numpy()
    assert spearmanr(brightness, atrophy)[0] < -0.5
    ad, cn = (markers["group"] == "AD"), (markers["group"] == "CN")
    assert markers.loc[ad, "ventricle_scale"].mean() > markers.loc[cn, "ventricle_scale"].mean()
    assert markers.loc[ad, "cortex_mm"].mean() < markers.loc[cn, "cortex_mm"].mean()
    assert markers.loc[ad, "hippocampus_scale"].mean() < markers.loc[cn, "hippocampus_scale"].mean()
    hard = load_synthetic_markers(make_synthetic_brain(tmp_path, n_subjects=12, size=24, seed=0, difficulty=1.0))
    gap = markers.groupby("group")["atrophy"].mean()
    hard_gap = hard.groupby("group")["atrophy"].mean()
    assert gap["AD"] - gap["CN"] > 2 * (hard_gap["AD"] - hard_gap["CN"])


@pytest.mark.parametrize("kwargs, match", [
    ({"n_subjects": 1}, "n_subjects"), ({"visits": 0}, "visits"), ({"size": 8}, "size"),
    ({"difficulty": 1.5}, "difficulty"), ({"ad_fraction": 0.0}, "ad_fraction"),
])
def test_bad_parameters_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_brain(tmp_path, **kwargs)
