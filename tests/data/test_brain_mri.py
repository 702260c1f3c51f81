"""Brain-MRI loaders (ADNI/PPMI IDA downloads, OASIS-1, OASIS-2), Table 1, the subject split, the
MRIFrames video dataset with TSN sampling, and 3D MedMNIST. Fixtures are written in each real layout
(tests/fixtures/brain.py); the real OASIS tables and AdrenalMNIST3D are used from $PAPERKIT_DATA when set."""
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from paperkit.data import DataError, SubjectLeakError, check_no_overlap
from paperkit.data.brain_mri import cohort_table, exclusion_counts, load_brain_mri, split_cohort, table1_row
from paperkit.data.datasets.ida import load_adni, load_ppmi
from paperkit.data.datasets.medmnist3d import MedMNIST3DFrames, find_medmnist3d, load_medmnist3d
from paperkit.data.datasets.oasis import load_oasis1, load_oasis2
from paperkit.data.io.cache import VolumeCache
from paperkit.data.io.readers import read_volume
from paperkit.data.mri_frames import MRIFrames, frames_from_volume, intensity_stats, read_ras, tsn_indices
from tests.fixtures import brain as fx
from tests.fixtures.files import write_nifti

REAL = Path(os.environ["PAPERKIT_DATA"]) if os.environ.get("PAPERKIT_DATA") else None


def code_of(path) -> int:
    """The code a fixture volume carries (its value at the first slice)."""
    return int(np.asarray(read_volume(path).array).min())


# --------------------------------------------------------------------------- IDA: ADNI and PPMI


def test_adni_nifti_matches_images_to_csv_rows_by_image_data_id(tmp_path):
    root = fx.write_ida(tmp_path, "ADNI", "nifti", extra_csv_rows=[(99999, "099_S_9999", "AD", "F", 70, "sc")])
    cohort = load_adni(root)
    assert [r.scan_id for r in cohort] == ["I13722", "I40183", "I45108", "I31230"]
    for r in cohort:
        assert r.path.name.endswith(f"_{r.scan_id}.nii") and r.path.parent.name == r.scan_id
        assert code_of(r.path) == int(r.scan_id[1:]) % 10000  # the file of this row, not another one
        assert r.subject in r.path.parts
    by_id = {r.scan_id: r for r in cohort}
    assert by_id["I31230"].label == 1 and by_id["I31230"].label_name == "AD"
    assert by_id["I13722"].label == 0 and by_id["I13722"].sex == "M" and by_id["I13722"].age == 85
    assert by_id["I13722"].clinical["Visit"] == "sc" and by_id["I40183"].session == "m12"
    assert cohort.class_names == ("CN", "AD") and cohort.view == "sagittal"
    assert exclusion_counts(cohort) == {"group MCI not in classes": 1, "no image on disk": 1}


def test_adni_older_layout_with_series_folders_and_configurable_groups(tmp_path):
    root = fx.write_ida(tmp_path, "ADNI", "nifti", image_folder="S")
    cohort = load_adni(root, classes={"CN": ["CN"], "impaired": ["AD", "MCI"]})
    assert len(cohort) == 5 and cohort.class_names == ("CN", "impaired")
    assert {r.scan_id: r.label for r in cohort}["I50001"] == 1
    assert all(r.path.parent.name.startswith("S") for r in cohort)
    with pytest.raises(ValueError, match="two classes"):
        load_adni(root, classes={"CN": ["CN"], "AD": ["AD", "CN"]})


@pytest.mark.parametrize("project", ["ADNI", "PPMI"])
def test_dicom_series_downloads(tmp_path, project):
    root = fx.write_ida(tmp_path, project, "dicom")
    cohort = load_adni(root) if project == "ADNI" else load_ppmi(root)
    expected = fx.ADNI_IMAGES if project == "ADNI" else fx.PPMI_IMAGES
    assert len(cohort) == len(expected) - 1
    for r in cohort:
        assert r.path.is_dir() and r.path.name == r.scan_id
        volume = read_volume(r.path)
        assert volume.array.shape == fx.SHAPE and int(volume.array.min()) == int(r.scan_id[1:]) % 10000
    if project == "PPMI":
        assert cohort.class_names == ("Control", "PD")
        assert {r.subject: r.label_name for r in cohort} == {"3102": "PD", "3105": "Control", "3107": "PD"}
        assert exclusion_counts(cohort) == {"group SWEDD not in classes": 1}


def test_ida_errors_name_the_folder_column_or_image(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        load_adni(tmp_path / "nowhere")
    root = fx.write_ida(tmp_path / "a", "ADNI", "nifti")
    csv = next(root.glob("*.csv"))
    # wrong CSV column
    text = csv.read_text()
    csv.write_text(text.replace("Group", "Diagnosis", 1))
    with pytest.raises(DataError, match=r"\['Group'\] missing") as err:
        load_adni(root)
    assert str(csv) in str(err.value) and "Diagnosis" in str(err.value)
    # image without a CSV row
    csv.write_text("\n".join(line for line in text.splitlines() if not line.startswith("I31230")) + "\n")
    with pytest.raises(DataError, match="I31230 has no row") as err:
        load_adni(root)
    assert "I31230" in str(err.value) and "136_S_0184" in str(err.value)
    # a row giving the image to another subject
    csv.write_text(text.replace("I31230,136_S_0184", "I31230,002_S_0295"))
    with pytest.raises(DataError, match="no folder on its path"):
        load_adni(root)
    csv.unlink()
    with pytest.raises(DataError, match="no IDA collection CSV"):
        load_adni(root)


def test_the_same_image_twice_is_an_error(tmp_path):
    root = fx.write_ida(tmp_path, "ADNI", "nifti")
    first = next(root.rglob("*_I13722.nii"))
    write_nifti(first.with_name(first.name + ".gz"), fx.coded_volume(1), fx.SPACING)
    with pytest.raises(DataError, match="I13722 also found"):
        load_adni(root)


# --------------------------------------------------------------------------- OASIS-1


def test_oasis1_labels_from_cdr_and_counts_exclusions(tmp_path):
    root = fx.write_oasis1(tmp_path)
    cohort = load_oasis1(root)
    assert [(r.session, r.label_name) for r in cohort] == [
        ("OAS1_0001_MR1", "CN"), ("OAS1_0003_MR1", "AD"), ("OAS1_0010_MR1", "AD"), ("OAS1_0011_MR1", "CN")]
    assert exclusion_counts(cohort) == {"missing CDR": 1, "re-scan session": 2}
    for r in cohort:
        assert r.path.name == f"{r.session}_mpr_n4_anon_111_t88_masked_gfc.hdr"
        assert code_of(r.path) == int(r.session[5:9]) * 10 + 1
        assert r.subject == r.session[:9]
    assert cohort.view == "axial" and cohort[0].sex == "F" and cohort[0].age == 74
    raw = load_oasis1(root, image="raw", include_rescans=True)
    assert len(raw) == 5 and all(r.path.parent.name == "RAW" for r in raw)
    assert {r.subject for r in raw if r.session.endswith("MR2")} == {"OAS1_0003"}


def test_oasis1_errors(tmp_path):
    root = fx.write_oasis1(tmp_path)
    csv = root / "oasis_cross-sectional.csv"
    text = csv.read_text()
    csv.write_text(text.replace("CDR", "Dementia rating"))
    with pytest.raises(DataError, match=r"\['CDR'\] missing"):
        load_oasis1(root)
    csv.write_text("\n".join(line for line in text.splitlines() if not line.startswith("OAS1_0010_MR1")))
    with pytest.raises(DataError, match="OAS1_0010_MR1 has no row"):
        load_oasis1(root)
    csv.write_text(text)
    next(root.rglob("OAS1_0011_MR1_*masked_gfc.hdr")).unlink()
    with pytest.raises(DataError, match="expected one t88_masked_gfc image"):
        load_oasis1(root)
    with pytest.raises(ValueError, match="image="):
        load_oasis1(root, image="fsl_seg")
    with pytest.raises(DataError, match="folder not found"):
        load_oasis1(tmp_path / "missing")


@pytest.mark.skipif(REAL is None or not (REAL / "oasis" / "oasis_cross-sectional.csv").is_file(),
                    reason="real OASIS tables not available (set PAPERKIT_DATA)")
def test_oasis1_with_the_real_table(tmp_path):
    import pandas as pd

    table = pd.read_csv(REAL / "oasis" / "oasis_cross-sectional.csv")
    id_column = next(c for c in table.columns if c.lower() == "id")
    picks = table.head(12)
    sessions = [(row[id_column], row["M/F"], row["Age"], "") for _, row in picks.iterrows()]
    root = fx.write_oasis1(tmp_path, sessions=sessions, csv_rows=[])  # images only; the real table labels them
    cohort = load_oasis1(root, csv_path=REAL / "oasis" / "oasis_cross-sectional.csv")
    expected = {row[id_column]: int(row["CDR"] > 0) for _, row in picks.iterrows() if not pd.isna(row["CDR"])}
    assert {r.session: r.label for r in cohort} == {s: v for s, v in expected.items() if s.endswith("_MR1")}
    assert set(cohort_table(cohort).columns) >= {"subjects", "scans", "age_mean", "female", "male"}


# --------------------------------------------------------------------------- OASIS-2


def test_oasis2_scans_visits_and_converted_subjects(tmp_path):
    root = fx.write_oasis2(tmp_path)
    cohort = load_oasis2(root)
    assert len(cohort) == 14 and cohort.view == "sagittal"
    labels = {(r.session, r.scan_id.split("/")[1]): r.label for r in cohort}
    assert labels[("OAS2_0018_MR1", "mpr-1")] == 0 and labels[("OAS2_0018_MR3", "mpr-2")] == 1
    for r in cohort:
        n = int(r.scan_id.split("mpr-")[1])
        assert r.path.name == f"mpr-{n}.nifti.hdr"
        assert code_of(r.path) == int(r.subject[5:9]) * 100 + int(r.session[-1]) * 10 + n
    table = cohort_table(cohort)
    # the converter counts in both classes and once overall, like the paper's OASIS-2 row
    assert table.loc["CN", "subjects"] == 3 and table.loc["AD", "subjects"] == 2 and table.loc["all", "subjects"] == 4
    assert table.loc["all", "sessions"] == 7 and table.loc["all", "scans"] == 14
    assert table1_row(cohort) == {"Dataset": "oasis2", "Total subjects": "2(AD):3(CN)", "Total images": 14,
                                  "View": "sagittal"}
    assert {r.label for r in load_oasis2(root, converted="demented") if r.subject == "OAS2_0018"} == {1}
    excluded = load_oasis2(root, converted="exclude")
    assert "OAS2_0018" not in excluded.subjects and exclusion_counts(excluded) == {"converted subject": 2}
    assert len(load_oasis2(root, scans="first")) == 7
    with pytest.raises(ValueError, match="converted="):
        load_oasis2(root, converted="maybe")


def test_oasis2_errors(tmp_path):
    root = fx.write_oasis2(tmp_path)
    csv = root / "oasis_longitudinal.csv"
    text = csv.read_text()
    csv.write_text(text.replace("Subject ID", "Subject"))
    with pytest.raises(DataError, match=r"\['Subject ID'\] missing"):
        load_oasis2(root)
    csv.write_text(text.replace("Demented", "Unknown", 1))
    with pytest.raises(DataError, match="Group 'Unknown'"):
        load_oasis2(root)
    csv.write_text("\n".join(line for line in text.splitlines() if "OAS2_0020_MR1" not in line))
    with pytest.raises(DataError, match="OAS2_0020_MR1 has no row"):
        load_oasis2(root)


@pytest.mark.skipif(REAL is None or not (REAL / "oasis" / "oasis_longitudinal.csv").is_file(),
                    reason="real OASIS tables not available (set PAPERKIT_DATA)")
def test_oasis2_with_the_real_table(tmp_path):
    import pandas as pd

    table = pd.read_csv(REAL / "oasis" / "oasis_longitudinal.csv").head(10)
    sessions = [(r["Subject ID"], r["MRI ID"], r["Group"], r["Visit"], r["M/F"], r["Age"], "", 1)
                for _, r in table.iterrows()]
    root = fx.write_oasis2(tmp_path, sessions=sessions, csv_rows=[])
    cohort = load_oasis2(root, csv_path=REAL / "oasis" / "oasis_longitudinal.csv")
    assert len(cohort) == len(table)
    expected = {r["MRI ID"]: int(r["Group"] == "Demented" or (r["Group"] == "Converted" and r["CDR"] > 0))
                for _, r in table.iterrows()}
    assert {r.session: r.label for r in cohort} == expected


# --------------------------------------------------------------------------- split and dispatch


def test_subject_split_keeps_visits_together_and_checks_overlap(tmp_path):
    cohort = load_oasis2(fx.write_oasis2(tmp_path))
    parts = split_cohort(cohort, seed=3)
    assert sum(len(p) for p in parts.values()) == len(cohort)
    assert not set(parts["train"].subjects) & set(parts["test"].subjects)
    assert parts["train"].class_names == cohort.class_names
    with pytest.raises(SubjectLeakError, match="OAS2_0001"):
        check_no_overlap({"train": cohort.subjects[:3], "test": cohort.subjects[2:4]})
    assert len(load_brain_mri("oasis2", tmp_path)) == len(cohort)
    with pytest.raises(ValueError, match="expected one of"):
        load_brain_mri("abide", tmp_path)


# --------------------------------------------------------------------------- TSN sampling and frames


def test_tsn_test_sampling_takes_the_middle_of_each_segment():
    assert tsn_indices(64, 8, train=False).tolist() == [4, 12, 20, 28, 36, 44, 52, 60]
    assert tsn_indices(10, 4, train=False).tolist() == [1, 3, 6, 8]
    few = tsn_indices(3, 8, train=False)
    assert len(few) == 8 and few.min() >= 0 and few.max() <= 2 and np.all(np.diff(few) >= 0)


def test_tsn_train_sampling_is_random_within_each_segment_and_seeded():
    n, k = 50, 8
    starts, ends = np.floor(np.arange(k) * n / k), np.floor(np.arange(1, k + 1) * n / k)
    draws = np.stack([tsn_indices(n, k, train=True) for _ in range(300)])
    assert np.all(draws >= starts) and np.all(draws < ends)
    assert all(len(np.unique(draws[:, i])) == ends[i] - starts[i] for i in range(k))  # every slice reachable
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert tsn_indices(n, k, True, g1).tolist() == tsn_indices(n, k, True, g2).tolist()


def test_read_ras_reorients_by_the_affine(tmp_path):
    import nibabel as nib

    array = fx.coded_volume(100)  # value grows along array axis 0
    affine = np.diag([-2.0, 1.0, 1.0, 1.0])  # axis 0 runs right-to-left (LAS)
    path = tmp_path / "las.nii"
    nib.save(nib.Nifti1Image(array, affine), str(path))
    volume = read_ras(path)
    assert volume.meta["reoriented"] and volume.spacing == (2.0, 1.0, 1.0)
    assert volume.array[0, 0, 0] == 100 + array.shape[0] - 1  # flipped: leftmost voxel first
    swapped = tmp_path / "pil.nii"  # array axes (z, y, x)
    nib.save(nib.Nifti1Image(array, np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])), str(swapped))
    assert read_ras(swapped).array.shape == array.shape[::-1]


def _slice_coded_scan(tmp_path, axis=0, shape=(40, 24, 32)):
    """One RAS NIfTI scan whose value is the voxel's index along ``axis``."""
    from paperkit.data.brain_mri import BrainScan

    index = np.arange(shape[axis]).reshape([-1 if a == axis else 1 for a in range(3)])
    array = (index + np.zeros(shape)).astype(np.float32)
    path = write_nifti(tmp_path / f"coded{axis}.nii.gz", array, (1.0, 1.0, 1.0))
    return [BrainScan(subject="s1", session="v1", scan_id="I1", path=path, label=1, label_name="AD")]


def test_mri_frames_picks_tsn_slices_along_the_chosen_view(tmp_path):
    scans = _slice_coded_scan(tmp_path)
    cache = VolumeCache(tmp_path / "cache")
    sag = MRIFrames(scans, view="sagittal", segments=8, frame_size=16, normalize="none", keep_aspect=False,
                    cache=cache)
    x, label = sag[0]
    assert x.shape == (1, 8, 16, 16) and x.dtype == torch.float32 and label == 1
    assert x[0].mean(dim=(1, 2)).tolist() == tsn_indices(40, 8, False).tolist()
    assert torch.equal(sag[0][0], x)  # test sampling is deterministic
    axial = _slice_coded_scan(tmp_path, axis=2)
    ax = MRIFrames(axial, view="axial", segments=4, frame_size=16, normalize="none", keep_aspect=False, cache=cache)
    assert ax[0][0][0].mean(dim=(1, 2)).tolist() == tsn_indices(32, 4, False).tolist()
    # frames show superior up: in a sagittal frame of the axial-coded scan, the top row is the highest z
    frame = MRIFrames(axial, view="sagittal", segments=1, frame_size=32, normalize="none", keep_aspect=False,
                      cache=cache)[0][0][0, 0]
    assert frame[0].mean() > frame[-1].mean()
    assert cache.misses == 2 and cache.hits == 2  # each file decoded once, then memory-mapped


def test_mri_frames_training_draws_are_seeded_and_vary(tmp_path):
    ds = MRIFrames(_slice_coded_scan(tmp_path), segments=8, frame_size=8, train=True, normalize="none",
                   cache=tmp_path / "cache")
    torch.manual_seed(0)
    a = ds[0][0]
    torch.manual_seed(0)
    assert torch.equal(ds[0][0], a)
    picks = {tuple(ds[0][0][0].mean(dim=(1, 2)).round().int().tolist()) for _ in range(10)}
    assert len(picks) > 1


def test_mri_frames_all_frames_normalisation_and_aspect(tmp_path):
    scans = _slice_coded_scan(tmp_path)
    full = MRIFrames(scans, view="sagittal", frames="all", frame_size=12, cache=tmp_path / "c")
    assert full[0][0].shape == (1, 40, 12, 12)
    assert MRIFrames(scans, frames="all", depth=10, frame_size=12, cache=tmp_path / "c")[0][0].shape == (1, 10, 12, 12)
    head = np.zeros((20, 20, 20), np.float32)
    head[5:15, 4:16, 6:14] = np.random.default_rng(0).uniform(100, 300, (10, 12, 8))
    offset, scale = intensity_stats(head, "zscore")
    fg = (head[head > 0] - offset) / scale
    assert abs(fg.mean()) < 1e-3 and abs(fg.std() - 1) < 1e-3
    low, span = intensity_stats(head, "minmax")
    unit = frames_from_volume(head, 0, None, 20, offset=low, scale=span, clip_unit=True)
    assert unit.shape == (20, 20, 20) and unit.min() == 0 and unit.max() == 1
    assert intensity_stats(head, "none") == (0.0, 1.0)
    # a 2:1 physical aspect is kept (padded), not stretched
    wide = frames_from_volume(np.ones((2, 40, 20), np.float32), 0, None, 20, spacing=(1, 1, 1))
    assert torch.all(wide[:, :, :5] == wide.min()) or torch.all(wide[:, :5, :] == wide.min())
    with pytest.raises(ValueError, match="view="):
        MRIFrames(scans, view="oblique")
    with pytest.raises(ValueError, match="frames="):
        MRIFrames(scans, frames="some")


def test_mri_frames_over_dicom_and_analyze_cohorts(tmp_path):
    cohort = load_ppmi(fx.write_ida(tmp_path / "ppmi", "PPMI", "dicom"))
    ds = MRIFrames(cohort, segments=4, frame_size=8, cache=tmp_path / "cache")
    assert len(ds) == 3 and ds.labels == cohort.labels and ds[2][0].shape == (1, 4, 8, 8)
    oasis = load_oasis1(fx.write_oasis1(tmp_path / "o1"))
    ds = MRIFrames(oasis, segments=3, frame_size=8, cache=tmp_path / "cache")
    assert ds.view == "axial" and torch.isfinite(ds[0][0]).all()


def _corrupt(path):
    """Keep a NIfTI's name but cut it short, as an interrupted download would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def test_unreadable_volumes_raise_by_default_naming_the_file(tmp_path):
    root = fx.write_ida(tmp_path / "adni", "ADNI", "nifti")
    bad = _corrupt(next(root.rglob("*_I31230.nii")))
    cohort = load_adni(root)  # no pre-check by default: loading the table is cheap
    ds = MRIFrames(cohort, segments=2, frame_size=8, cache=tmp_path / "cache")
    index = [r.scan_id for r in cohort].index("I31230")
    with pytest.raises(DataError, match=str(bad.name)):
        ds[index]
    with pytest.raises(DataError, match=f"{bad.name}.*on_unreadable='skip'"):
        load_adni(root, on_unreadable="raise", cache=tmp_path / "cache")
    with pytest.raises(ValueError, match="on_unreadable"):
        load_adni(root, on_unreadable="ignore", cache=tmp_path / "cache")


def test_unreadable_volumes_skipped_on_request_are_listed_and_counted(tmp_path):
    root = fx.write_oasis2(tmp_path / "o2")
    bad = [_corrupt(root / "OAS2_RAW_PART1" / "OAS2_0001_MR2" / "RAW" / "mpr-2.nifti.img"),
           _corrupt(root / "OAS2_RAW_PART1" / "OAS2_0020_MR1" / "RAW" / "mpr-1.nifti.img")]
    everything = load_oasis2(root)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable volume\(s\) of 14") as caught:
        cohort = load_brain_mri("oasis2", root, on_unreadable="skip", cache=tmp_path / "cache")
    message = str(caught[0].message)
    assert "OAS2_0001_MR2" in message and "OAS2_0020_MR1" in message  # every skipped file is named
    assert len(cohort) == len(everything) - 2
    assert {"OAS2_0001_MR2/mpr-2", "OAS2_0020_MR1/mpr-1"} == {i for i, why in cohort.excluded
                                                             if why == "unreadable volume"}
    assert exclusion_counts(cohort)["unreadable volume"] == 2
    assert sorted(Path(p).parent.parent.name for p, _ in cohort.unreadable) == ["OAS2_0001_MR2", "OAS2_0020_MR1"]
    assert all(p.name.startswith("mpr-") for p in bad)
    ds = MRIFrames(cohort, segments=2, frame_size=8, cache=tmp_path / "cache")
    assert all(torch.isfinite(ds[i][0]).all() for i in range(len(ds)))  # only readable scans remain
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default (no pre-check) neither reads nor warns
        assert len(load_oasis2(root)) == len(everything)


def test_fewer_slices_than_k_is_an_error_naming_the_file(tmp_path):
    scans = _slice_coded_scan(tmp_path)  # 40 sagittal slices
    ds = MRIFrames(scans, view="sagittal", segments=64, frame_size=8, cache=tmp_path / "cache")
    with pytest.raises(DataError, match=r"coded0\.nii\.gz: 40 sagittal slices, fewer than K=64"):
        ds[0]
    assert MRIFrames(scans, view="sagittal", segments=40, frame_size=8, cache=tmp_path / "cache")[0][0].shape[1] == 40
    assert MRIFrames(scans, frames="all", depth=64, frame_size=8, cache=tmp_path / "cache")[0][0].shape[1] == 64


# --------------------------------------------------------------------------- 3D MedMNIST


def test_medmnist3d_npz_and_frames(tmp_path):
    path = fx.write_medmnist3d(tmp_path / "organmnist3d.npz", classes=3)
    assert find_medmnist3d(tmp_path, "organmnist3d", 28) == path
    fx.write_medmnist3d(tmp_path / "organmnist3d_64.npz", size=16)
    assert find_medmnist3d(tmp_path, "OrganMNIST3D", 64).name == "organmnist3d_64.npz"
    data = load_medmnist3d(path)
    volumes, labels = data["train"]
    assert volumes.shape == (6, 8, 8, 8) and labels.tolist() == [0, 1, 2, 0, 1, 2]
    ds = MedMNIST3DFrames(volumes, labels, axis=1, segments=4, frame_size=16)
    x, y = ds[2]
    assert x.shape == (1, 4, 16, 16) and y == 2 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(ds[2][0], x)
    ds_all = MedMNIST3DFrames(volumes, labels, frames="all")
    assert ds_all[0][0].shape == (1, 8, 8, 8)
    expected = torch.from_numpy(volumes[0, 4].astype(np.float32) / 255)
    assert torch.allclose(ds_all[0][0][0, 4], expected.T.flip(0))  # frame = slice 4, in display orientation


def test_medmnist3d_errors(tmp_path):
    with pytest.raises(DataError, match="no adrenalmnist3d_64.npz"):
        find_medmnist3d(tmp_path, "adrenalmnist3d", 64)
    with pytest.raises(ValueError, match="3d"):
        find_medmnist3d(tmp_path, "pneumoniamnist", 28)
    flat = fx.write_npz(tmp_path / "flat.npz", **{f"{s}_{k}": np.zeros((2, 8, 8) if k == "images" else (2, 1), np.uint8)
                                                  for s in ("train", "val", "test") for k in ("images", "labels")})
    with pytest.raises(DataError, match=r"expected 3D volumes \(N, D, H, W\)"):
        load_medmnist3d(flat)
    with pytest.raises(DataError, match="missing key"):
        load_medmnist3d(fx.write_npz(tmp_path / "few.npz", train_images=np.zeros((1, 2, 2, 2), np.uint8)))


@pytest.mark.skipif(REAL is None or not (REAL / "medmnist" / "adrenalmnist3d_28.npz").is_file(),
                    reason="real AdrenalMNIST3D not available (set PAPERKIT_DATA)")
def test_real_adrenalmnist3d():
    data = load_medmnist3d(find_medmnist3d(REAL / "medmnist", "adrenalmnist3d", 28))
    assert {s: len(v[0]) for s, v in data.items()} == {"train": 1188, "val": 98, "test": 298}
    volumes, labels = data["test"]
    assert set(labels.tolist()) == {0, 1}
    x, y = MedMNIST3DFrames(volumes, labels, segments=8)[0]
    assert x.shape == (1, 8, 28, 28) and y in (0, 1) and x.max() > 0


@pytest.mark.parametrize("converted, ad, cn", [("cdr", 78, 86), ("demented", 78, 72), ("nondemented", 64, 86),
                                               ("exclude", 64, 72)])
def test_oasis2_subject_counts_of_the_public_groups(tmp_path, converted, ad, cn):
    """What the loader docstring states: the public table's 72 Nondemented, 64 Demented and 14 Converted
    subjects (a converter: CDR 0 at its first visit, above 0 later) give these class counts."""
    sessions = []
    for k, (group, cdrs) in enumerate([("Nondemented", ("0", "0"))] * 72 + [("Demented", ("0.5", "1"))] * 64
                                      + [("Converted", ("0", "0.5"))] * 14):
        subject = f"OAS2_{k + 1:04d}"
        sessions += [(subject, f"{subject}_MR{v + 1}", group, v + 1, "F", 70 + v, cdr, 1) for v, cdr in enumerate(cdrs)]
    cohort = load_oasis2(fx.write_oasis2(tmp_path, sessions=sessions), converted=converted)
    assert table1_row(cohort)["Total subjects"] == f"{ad}(AD):{cn}(CN)"
