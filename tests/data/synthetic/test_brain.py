"""The synthetic brain cohort on the MNI152 template: OASIS-2 layout round trip through load_oasis2,
determinism, visits and the subject split, and that each atrophy marker really changes the images
(and that `difficulty` weakens the disease signal)."""
import hashlib
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from paperkit.data.brain_mri import cohort_table, load_brain_mri, split_cohort
from paperkit.data.datasets.oasis import load_oasis2
from paperkit.data.io.readers import read_volume
from paperkit.data.mri_frames import MRIFrames
from paperkit.data.synthetic.brain import (
    OASIS2_TABLE_COLUMNS,
    SYNTHETIC_LAYOUT,
    load_synthetic_markers,
    make_synthetic_brain,
    mni152_tissues,
    render_scan,
)

REAL = Path(os.environ["PAPERKIT_DATA"]) if os.environ.get("PAPERKIT_DATA") else None
NO_ATROPHY = {"ventricle_mm": 0.0, "thinning_mm": 0.0, "sulcal_mm": 0.0, "hippocampus_loss": 0.0}
STILL = {"scale": np.ones(3), "warp": None}


def digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cohort_root(tmp_path_factory):
    return make_synthetic_brain(tmp_path_factory.mktemp("syn"), n_subjects=6, visits=2, size=32, seed=1)


def test_round_trip_through_the_oasis2_loader(cohort_root, tmp_path):
    assert SYNTHETIC_LAYOUT == "oasis2"
    cohort = load_brain_mri(SYNTHETIC_LAYOUT, cohort_root)
    assert len(cohort) == 12 and len(set(cohort.subjects)) == 6 and cohort.excluded == []
    assert [r.scan_id for r in load_oasis2(cohort_root)] == [r.scan_id for r in cohort]
    table = cohort_table(cohort)
    assert table.loc["AD", "subjects"] == 3 and table.loc["CN", "subjects"] == 3 and table.loc["all", "scans"] == 12
    csv = pd.read_csv(cohort_root / "oasis_longitudinal.csv")
    assert tuple(csv.columns) == OASIS2_TABLE_COLUMNS
    assert set(csv["Group"]) == {"Demented", "Nondemented"} and sorted(set(csv["Visit"])) == [1, 2]
    demented = csv["Group"] == "Demented"
    assert (csv.loc[demented, "CDR"] > 0).all() and (csv.loc[~demented, "CDR"] == 0).all()
    assert (csv.groupby("Subject ID")["MR Delay"].max() >= 365).all()
    first = cohort[0]
    assert first.path.name == "mpr-1.nifti.hdr" and first.path.with_suffix(".img").is_file()
    assert first.path.parent.parent.name == first.session == "OAS2_0001_MR1"
    assert isinstance(nib.load(str(first.path)), nib.Nifti1Pair)  # a NIfTI-1 pair, as OASIS-2 ships
    volume = read_volume(first.path)
    assert volume.array.shape == (32, 32, 32) and volume.array.dtype == np.int16
    assert volume.spacing == pytest.approx((6.0, 6.0, 6.0))
    markers = load_synthetic_markers(cohort_root)
    assert sorted(markers.index) == sorted(r.scan_id for r in cohort)
    assert all((markers.loc[r.scan_id, "group"] == "Demented") == (r.label_name == "AD") for r in cohort)
    ds = MRIFrames(cohort, segments=4, frame_size=16, train=True, cache=tmp_path / "cache")
    x, y = ds[0]
    assert x.shape == (1, 4, 16, 16) and y == cohort[0].label and ds.view == "sagittal"


@pytest.mark.skipif(REAL is None or not (REAL / "oasis" / "oasis_longitudinal.csv").is_file(),
                    reason="the real oasis_longitudinal.csv is not under $PAPERKIT_DATA/oasis")
def test_the_table_has_the_real_oasis2_columns():
    header = (REAL / "oasis" / "oasis_longitudinal.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert tuple(h.strip() for h in header.split(",")) == OASIS2_TABLE_COLUMNS


def test_deterministic_idempotent_and_split_by_subject(cohort_root, tmp_path):
    again = make_synthetic_brain(tmp_path, n_subjects=6, visits=2, size=32, seed=1)
    assert again.name == cohort_root.name and digest(again) == digest(cohort_root)
    stamp = (again / "manifest.json").stat().st_mtime_ns
    assert make_synthetic_brain(tmp_path, n_subjects=6, visits=2, size=32, seed=1) == again
    assert (again / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    other = make_synthetic_brain(tmp_path, n_subjects=6, visits=1, size=32, seed=2)
    assert other != again and len(load_oasis2(other)) == 6
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind
    parts = split_cohort(load_oasis2(cohort_root), seed=0)
    assert not set(parts["train"].subjects) & set(parts["test"].subjects)
    assert all(len(p) % 2 == 0 for p in parts.values())  # both visits of a subject on one side


def test_the_template_parts_sit_where_the_anatomy_is():
    t = mni152_tissues()
    assert t["t1"].shape == (98, 116, 94) and np.allclose(np.diag(t["affine"])[:3], 2.0)
    ijk = np.argwhere(t["ventricles"])
    centre = t["affine"][:3, :3] @ ijk.mean(axis=0) + t["affine"][:3, 3]
    assert 500 < len(ijk) < 10000 and abs(centre[0]) < 5 and -40 < centre[1] < 10 and 0 < centre[2] < 30
    assert (t["depth_outer"][t["ventricles"]] >= 12).all()
    assert t["intensity"]["wm"] > t["intensity"]["gm"] > t["intensity"]["csf"]  # T1 contrast
    assert t["hippocampus"].max() == 1.0 and 0.2 < t["gm"][t["hippocampus"] == 1].mean()


@pytest.mark.parametrize("marker, amount", [("ventricle_mm", 6.0), ("thinning_mm", 1.5), ("sulcal_mm", 1.5),
                                            ("hippocampus_loss", 0.6)])
def test_each_atrophy_marker_turns_tissue_into_csf(marker, amount):
    healthy = render_scan(NO_ATROPHY, STILL, 48)
    sick = render_scan({**NO_ATROPHY, marker: amount}, STILL, 48)
    def dark(v):  # CSF-like voxels inside the brain
        return int(((v > 0.1) & (v < 0.45)).sum())
    assert dark(sick) > dark(healthy) + 20 and sick.sum() < healthy.sum()
    changed = np.argwhere(np.abs(sick - healthy) > 0.05)
    mm = (changed - 23.5) * 4.0 + np.array([0.0, -17.0, 10.0])  # voxel -> MNI mm (FOV 192 mm, centred)
    if marker == "hippocampus_loss":  # local: the change stays in the medial temporal lobes
        assert (np.abs(mm[:, 0]) > 10).all() and (mm[:, 2] < 10).all() and (mm[:, 1] < 5).all()
    if marker == "ventricle_mm":  # around the ventricles, deep in the brain
        assert (np.abs(mm[:, 0]) < 40).all() and np.abs(mm.mean(axis=0)[0]) < 5


def test_disease_markers_and_difficulty(tmp_path):
    easy = load_synthetic_markers(make_synthetic_brain(tmp_path, n_subjects=10, size=24, visits=1, seed=0,
                                                       difficulty=0.2))
    hard = load_synthetic_markers(make_synthetic_brain(tmp_path, n_subjects=10, size=24, visits=1, seed=0,
                                                       difficulty=1.0))
    ad, cn = easy["group"] == "Demented", easy["group"] == "Nondemented"
    for marker, sign in [("ventricle_mm", 1), ("thinning_mm", 1), ("sulcal_mm", 1), ("hippocampus_loss", 1)]:
        assert sign * (easy.loc[ad, marker].mean() - easy.loc[cn, marker].mean()) > 0
    gap = easy.groupby("group")["atrophy"].mean()
    hard_gap = hard.groupby("group")["atrophy"].mean()
    assert gap["Demented"] - gap["Nondemented"] > 2 * (hard_gap["Demented"] - hard_gap["Nondemented"])


@pytest.mark.parametrize("kwargs, match", [
    ({"n_subjects": 1}, "n_subjects"), ({"visits": 0}, "visits"), ({"size": 8}, "size"),
    ({"difficulty": 1.5}, "difficulty"), ({"ad_fraction": 0.0}, "ad_fraction"),
])
def test_bad_parameters_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_brain(tmp_path, **kwargs)
