"""Sunnybrook loader (all layouts), official/random patient splits, the torch dataset, and the
synthetic cine generator. The real sample is used through $PAPERKIT_DATA (skipped when unset)."""
import hashlib
import json
import os
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
import torch

from paperkit.data import DataError, SubjectLeakError
from paperkit.data.datasets.sunnybrook import (
    OFFICIAL_SPLIT,
    SegmentationSlices,
    SunnybrookSample,
    canonical_patient_id,
    covering_crop_fraction,
    detect_layout,
    load_sunnybrook,
    read_contour,
    split_patients,
)
from paperkit.data.synthetic import cine as synthetic_cine
from paperkit.data.synthetic.cine import load_synthetic_truth, make_synthetic_cine
from tests.fixtures import sunnybrook as fx
from tests.fixtures.files import write_bytes, write_dicom_image


def dice(a, b) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def assert_paired_with_its_disc(sample: SunnybrookSample, outer: bool = False):
    """The contour was drawn on this image: its mask is the image's bright disc (or disc + ring)."""
    bright = sample.image > (250 if outer else 600)
    assert dice(sample.mask, bright) > 0.9, (sample.image_path, sample.contour_path)
    header = pydicom.dcmread(sample.image_path, stop_before_pixels=True)
    assert int(header.InstanceNumber) == sample.instance_number


# --------------------------------------------------------------------------- contours


def test_read_contour_parses_xy_pairs(tmp_path):
    path = fx.write_contour(tmp_path / fx.contour_name(48), np.array([[120.5, 137.5], [121.0, 136.5], [119.25, 135.0]]))
    path.write_text(path.read_text() + "\n   \n")  # trailing blank lines are allowed
    points = read_contour(path)
    assert points.shape == (3, 2) and points.dtype == float
    assert points[0].tolist() == [120.5, 137.5] and points[2].tolist() == [119.25, 135.0]


@pytest.mark.parametrize("text, where", [
    ("1.0 2.0\n3.0 x\n4 5\n", "line 2"),
    ("1.0 2.0\n3.0 4.0 5.0\n4 5\n", "line 2"),
    ("1.0 2.0\n3.0 4.0\n", "at least 3"),
    ("1 2\n3 4\nnan 5\n", "line 3"),
])
def test_read_contour_names_file_and_line_of_a_malformed_contour(tmp_path, text, where):
    path = tmp_path / "IM-0001-0048-icontour-manual.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=where) as err:
        read_contour(path)
    assert str(path) in str(err.value)


def test_canonical_patient_id_pads_the_number():
    assert canonical_patient_id("SC-HF-I-1") == "SC-HF-I-01"
    assert canonical_patient_id("sc-hyp-40") == "SC-HYP-40"
    assert canonical_patient_id("SC-HF-NI-03") == "SC-HF-NI-03"
    assert canonical_patient_id("SCD0000101") == "SCD0000101"


# --------------------------------------------------------------------------- repackaged layout


@pytest.mark.parametrize("shuffle", [False, True])
def test_repackaged_pairs_by_instance_number_not_file_order(tmp_path, shuffle):
    root = fx.write_repackaged(tmp_path, shuffle_names=shuffle)
    assert detect_layout(root) == "repackaged"
    samples = load_sunnybrook(root)
    assert [(s.patient, s.instance_number) for s in samples] == [
        ("SC-HF-I-01", 7), ("SC-HF-I-01", 48), ("SC-HF-I-01", 100), ("SC-HF-I-02", 47), ("SC-HF-I-02", 60)]
    assert {s.source_id for s in samples} == {"SCD0000101", "SCD0000201"}
    for s in samples:
        assert_paired_with_its_disc(s)
        assert s.spacing == pytest.approx(fx.SPACING) and s.spacing_xy == pytest.approx(fx.SPACING[::-1])
        assert s.mask.shape == s.image.shape == (fx.SIZE, fx.SIZE) and s.mask.dtype == bool
        assert s.contour_kind == "i" and s.release_set is None


def test_repackaged_epicardium_and_no_link_file(tmp_path):
    root = fx.write_repackaged(tmp_path, link=False)
    outer = load_sunnybrook(root, contour="o")
    assert [(s.patient, s.instance_number) for s in outer] == [("SCD0000101", 48), ("SCD0000201", 60)]
    for s in outer:
        assert_paired_with_its_disc(s, outer=True)


def test_masks_have_the_polygon_area(tmp_path):
    samples = load_sunnybrook(fx.write_repackaged(tmp_path))
    for s in samples:
        area, perimeter = fx.polygon_area(s.contour), fx.perimeter(s.contour)
        assert abs(s.mask.sum() - area) < 0.35 * perimeter, (s.mask.sum(), area)
        assert abs(s.mask.sum() - area) < 0.08 * area


def test_file_name_disagreeing_with_its_header_is_an_error(tmp_path):
    root = fx.write_repackaged(tmp_path)
    folder = root / "dicoms" / "SCD0000101"
    # 48.dcm now holds InstanceNumber 7 and 7.dcm InstanceNumber 48: names and headers disagree.
    write_dicom_image(folder / "48.dcm", fx.disc_pixels(7), fx.SPACING, instance_number=7)
    write_dicom_image(folder / "7.dcm", fx.disc_pixels(48), fx.SPACING, instance_number=48)
    with pytest.raises(DataError, match="InstanceNumber") as err:
        load_sunnybrook(root)
    assert "7.dcm" in str(err.value) or "48.dcm" in str(err.value)


def test_contour_without_its_image_names_both_files(tmp_path):
    root = fx.write_repackaged(tmp_path)
    (root / "dicoms" / "SCD0000201" / "60.dcm").unlink()
    with pytest.raises(DataError, match="InstanceNumber 60") as err:
        load_sunnybrook(root)
    message = str(err.value)
    assert str(root / "contourfiles" / "SC-HF-I-2" / "i-contours" / fx.contour_name(60)) in message
    assert str(root / "dicoms" / "SCD0000201" / "60.dcm") in message


def test_duplicate_instance_numbers_and_unreadable_files_are_errors(tmp_path):
    root = fx.write_repackaged(tmp_path, shuffle_names=True)
    write_dicom_image(root / "dicoms" / "SCD0000201" / "copy.dcm", fx.disc_pixels(47), fx.SPACING, instance_number=47)
    with pytest.raises(DataError, match="2 images have InstanceNumber 47"):
        load_sunnybrook(root)
    (root / "dicoms" / "SCD0000201" / "copy.dcm").unlink()
    # A damaged file without a readable InstanceNumber is skipped, and named if an image is missing.
    write_bytes(root / "dicoms" / "SCD0000201" / "broken.dcm", b"\x00" * 128 + b"DICM" + b"\x07" * 10)
    assert len(load_sunnybrook(root)) == 5
    for f in (root / "dicoms" / "SCD0000201").glob("img_*.dcm"):
        if int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber) == 60:
            f.unlink()
    with pytest.raises(DataError, match="InstanceNumber 60.*broken.dcm"):
        load_sunnybrook(root)


def test_bad_arguments_and_foreign_folders(tmp_path):
    root = fx.write_repackaged(tmp_path / "sb")
    with pytest.raises(ValueError, match="contour"):
        load_sunnybrook(root, contour="p1")
    with pytest.raises(ValueError, match="layout"):
        load_sunnybrook(root, layout="kaggle")
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="not a Sunnybrook folder"):
        load_sunnybrook(tmp_path / "other")


# --------------------------------------------------------------------------- original releases


def test_challenge_release_loads_all_three_sets_and_skips_the_decoy_series(tmp_path):
    root = fx.write_challenge(tmp_path)
    assert detect_layout(root) == "challenge"
    samples = load_sunnybrook(root)
    assert [(s.patient, s.instance_number, s.release_set) for s in samples] == [
        ("SC-HF-I-01", 48, "training"), ("SC-HF-I-01", 68, "training"),
        ("SC-HF-I-05", 40, "validation"), ("SC-HF-I-09", 28, "online")]
    assert [s.image_path.name for s in samples] == [
        "IM-0004-0048.dcm", "IM-0004-0068.dcm", "IM-0156-0040.dcm", "IM-0241-0028.dcm"]
    assert samples[0].source_id == "SC-HF-I-1"
    for s in samples:
        assert_paired_with_its_disc(s)
    outer = load_sunnybrook(root, contour="o", layout="challenge")
    assert [(s.patient, s.instance_number) for s in outer] == [
        ("SC-HF-I-01", 48), ("SC-HF-I-05", 40), ("SC-HF-I-09", 28)]
    # The official split agrees with the release's own folders.
    split = split_patients(samples)
    assert {name: split.subjects[name] for name in split} == {
        "training": ["SC-HF-I-01"], "validation": ["SC-HF-I-05"], "online": ["SC-HF-I-09"]}


def test_challenge_series_choice_can_be_overridden_and_ambiguity_is_an_error(tmp_path):
    root = fx.write_challenge(tmp_path)
    decoy = load_sunnybrook(root, sax_series={"SC-HF-I-1": "0999"})
    assert decoy[0].image_path.name == "IM-0999-0048.dcm"
    with pytest.raises(DataError, match="sax_series") as err:
        load_sunnybrook(root, sax_series={"SC-HF-I-01": "1234"})  # matches neither series
    assert "IM-0004-0048.dcm" in str(err.value) and "IM-0999-0048.dcm" in str(err.value)


def test_challenge_rerelease_with_dicom_parts_loads(tmp_path):
    root = fx.write_challenge(tmp_path, dicom_parts=True)
    samples = load_sunnybrook(root, layout="challenge")
    assert [(s.patient, s.instance_number) for s in samples] == [
        ("SC-HF-I-01", 48), ("SC-HF-I-01", 68), ("SC-HF-I-05", 40), ("SC-HF-I-09", 28)]
    assert samples[0].image_path.parent.name == "DICOM" and samples[0].source_id == "SC-HF-I-01"
    for s in samples:
        assert_paired_with_its_disc(s)


def test_challenge_contours_without_image_folder_name_the_folder(tmp_path):
    root = fx.write_challenge(tmp_path)
    for f in (root / "challenge_validation" / "SC-HF-I-5").iterdir():
        f.unlink()
    (root / "challenge_validation" / "SC-HF-I-5").rmdir()
    with pytest.raises(DataError, match="no image folder for patient SC-HF-I-05") as err:
        load_sunnybrook(root)
    assert "ValidationDataContours" in str(err.value)


def test_cardiac_atlas_project_layout_loads(tmp_path):
    root = fx.write_cap(tmp_path)
    assert detect_layout(root) == "cap"
    samples = load_sunnybrook(root)
    assert [(s.patient, s.source_id, s.instance_number) for s in samples] == [
        ("SC-HF-I-01", "SCD0000101", 48), ("SC-HF-I-01", "SCD0000101", 59)]
    assert all(s.image_path.parent.name == "CINESAX_300" for s in samples)
    for s in samples:
        assert_paired_with_its_disc(s)


# --------------------------------------------------------------------------- splits


def fake_samples(patients, per_patient=3):
    tiny = np.zeros((4, 4), dtype=np.int16)
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], dtype=float)
    return [SunnybrookSample(p, p, n, Path(f"{p}/{n}.dcm"), Path(f"{p}/{n}.txt"), "i", (1.0, 1.0), tiny,
                             tiny > 0, square) for p in patients for n in range(1, per_patient + 1)]


def test_official_lists_are_the_challenge_design():
    assert [len(v) for v in OFFICIAL_SPLIT.values()] == [15, 15, 15]
    everyone = [p for ids in OFFICIAL_SPLIT.values() for p in ids]
    assert len(set(everyone)) == 45
    groups = [p.rsplit("-", 1)[0] for p in everyone]
    assert {g: groups.count(g) for g in set(groups)} == {"SC-HF-I": 12, "SC-HF-NI": 12, "SC-HYP": 12, "SC-N": 9}
    assert set(OFFICIAL_SPLIT["training"]) == {
        "SC-HF-I-01", "SC-HF-I-02", "SC-HF-I-04", "SC-HF-I-40", "SC-HF-NI-03", "SC-HF-NI-04", "SC-HF-NI-34",
        "SC-HF-NI-36", "SC-HYP-01", "SC-HYP-03", "SC-HYP-38", "SC-HYP-40", "SC-N-02", "SC-N-03", "SC-N-40"}


def test_official_split_puts_known_patients_in_their_sets():
    samples = fake_samples(["SC-HF-I-01", "SC-HYP-37", "SC-N-11", "SC-HF-NI-34", "SC-HF-I-10"])
    split = split_patients(samples, "official")
    assert list(split) == ["training", "validation", "online"]
    assert split.subjects == {"training": ["SC-HF-I-01", "SC-HF-NI-34"], "validation": ["SC-HYP-37"],
                              "online": ["SC-HF-I-10", "SC-N-11"]}
    assert sum(len(v) for v in split.values()) == len(samples)
    assert "SC-HF-I-02" in split.missing["training"] and "SC-HF-I-01" not in split.missing["training"]
    assert len(split.missing["validation"]) == 14
    assert "2 images" not in split.summary() and "13 of the official 15 absent" in split.summary()
    with pytest.raises(DataError, match="SC-SYN-01"):
        split_patients(fake_samples(["SC-SYN-01", "SC-HF-I-01"]), "official")


def test_random_split_is_by_patient_reproducible_and_leak_free():
    patients = [f"SC-SYN-{k:02d}" for k in range(1, 11)]
    samples = fake_samples(patients, per_patient=3)
    a = split_patients(samples, "random", (0.6, 0.2, 0.2), seed=3)
    b = split_patients(list(reversed(samples)), "random", (0.6, 0.2, 0.2), seed=3)
    assert list(a) == ["train", "val", "test"]
    assert a.subjects == b.subjects
    assert [len(a.subjects[k]) for k in a] == [6, 2, 2]
    assert sorted(p for k in a for p in a.subjects[k]) == patients
    assert sum(len(v) for v in a.values()) == len(samples)
    assert split_patients(samples, "random", (0.6, 0.2, 0.2), seed=4).subjects != a.subjects
    for name, group in a.items():
        others = {s.patient for other, g in a.items() if other != name for s in g}
        assert not {s.patient for s in group} & others
    assert issubclass(SubjectLeakError, DataError)
    with pytest.raises(ValueError, match="split"):
        split_patients(samples, "by_image")


# --------------------------------------------------------------------------- torch dataset


def test_segmentation_slices_crop_resize_normalise_and_augment(tmp_path):
    samples = load_sunnybrook(fx.write_repackaged(tmp_path))
    data = SegmentationSlices(samples, 32)
    image, mask = data[1]
    assert len(data) == len(samples)
    assert image.shape == mask.shape == (1, 32, 32) and image.dtype == mask.dtype == torch.float32
    assert abs(float(image.mean())) < 1e-4 and float(image.std()) == pytest.approx(1.0, abs=1e-3)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert float(image[mask > 0].mean()) > float(image[mask == 0].mean()) + 1.0
    scale = (32 / fx.SIZE) ** 2
    assert float(mask.sum()) == pytest.approx(samples[1].mask.sum() * scale, rel=0.15)
    cropped = SegmentationSlices(samples, (24, 24), crop_fraction=0.5)[1][1]
    assert float(cropped.sum()) == pytest.approx(samples[1].mask.sum(), rel=0.15)  # 24 px crop, no rescale
    torch.manual_seed(0)
    rigid = SegmentationSlices(samples, 32, augment=True, affine=False)  # flips and quarter turns keep the area
    augmented = SegmentationSlices(samples, 32, augment=True)
    seen, areas = set(), set()
    for _ in range(12):
        a_image, a_mask = rigid[1]
        assert float(a_mask.sum()) == float(mask.sum())
        seen.add(a_mask.numpy().tobytes())
        a_image, a_mask = augmented[1]  # + affine: area within scale 0.9-1.1 squared, image still on the mask
        assert set(a_mask.unique().tolist()) == {0.0, 1.0}
        assert 0.75 * float(mask.sum()) <= float(a_mask.sum()) <= 1.3 * float(mask.sum())
        assert float(a_image[a_mask > 0].mean()) > float(a_image[a_mask == 0].mean()) + 1.0
        areas.add(float(a_mask.sum()))
    assert len(seen) > 1 and len(areas) > 1
    with pytest.raises(ValueError, match="image_size"):
        SegmentationSlices(samples, 0)


def test_covering_crop_fraction_holds_every_mask_with_its_margin():
    def sample(rows, cols):
        mask = np.zeros((200, 100), np.uint8)
        mask[rows, cols] = 1
        return SimpleNamespace(image=np.random.default_rng(0).random((200, 100), np.float32) + mask, mask=mask)

    centred = sample(slice(95, 105), slice(45, 55))  # 5 px each side of the centre (100, 50)
    assert covering_crop_fraction([centred], margin=1.0) == 0.25  # 10 of the 100-px side: the floor
    off = sample(slice(60, 70), slice(45, 55))  # reaches 40 px above the centre: 80/100; with 1.5x, 1.2 -> 1
    assert covering_crop_fraction([centred, off], margin=1.0) == 0.8
    assert covering_crop_fraction([centred, off]) == 1.0
    data = SegmentationSlices([off], 32, crop_fraction=covering_crop_fraction([off], margin=1.0))
    assert float(data[0][1].sum()) > 0  # the mask survives the crop
    with pytest.raises(ValueError, match="no samples"):
        covering_crop_fraction([])


# --------------------------------------------------------------------------- synthetic generator


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


SMALL = dict(n_patients=3, slices_per_patient=4, size=64, seed=5)


def test_synthetic_cine_is_deterministic_cached_and_atomic(tmp_path, monkeypatch):
    root = make_synthetic_cine(tmp_path / "a", difficulty=0.4, **SMALL)
    assert json.loads((root / "manifest.json").read_text())["params"]["seed"] == 5
    assert make_synthetic_cine(tmp_path / "b", difficulty=0.4, **SMALL).name == root.name
    assert tree_digest(root) == tree_digest(tmp_path / "b" / root.name)   # byte-identical
    with zipfile.ZipFile(root / "ground_truth.npz") as archive:   # no wall-clock stamps inside
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    other = make_synthetic_cine(tmp_path / "a", difficulty=0.4, **{**SMALL, "seed": 6})
    assert other != root and tree_digest(other) != tree_digest(root)

    def fail(*args, **kwargs):
        raise RuntimeError("must not regenerate")

    monkeypatch.setattr(synthetic_cine, "_generate", fail)
    assert make_synthetic_cine(tmp_path / "a", difficulty=0.4, **SMALL) == root   # reused from the manifest
    with pytest.raises(RuntimeError):   # a new parameter set is built, fails, and leaves nothing behind
        make_synthetic_cine(tmp_path / "a", difficulty=0.9, **SMALL)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([root.name, other.name])
    with pytest.raises(ValueError, match="difficulty"):
        make_synthetic_cine(tmp_path / "a", difficulty=1.5, **SMALL)


def test_synthetic_cine_loads_back_and_contours_match_the_drawn_blood_pool(tmp_path):
    root = make_synthetic_cine(tmp_path, difficulty=0.5, **SMALL)
    samples = load_sunnybrook(root)
    outer = load_sunnybrook(root, contour="o")
    assert len(samples) == len(outer) == 12
    assert sorted({s.patient for s in samples}) == ["SC-SYN-01", "SC-SYN-02", "SC-SYN-03"]
    assert (root / "link.csv").read_text().splitlines()[1] == "SYN0000101,SC-SYN-01"
    truth = load_synthetic_truth(root)
    ratios = []
    for s, o in zip(samples, outer):
        assert s.image.shape == (64, 64) and 300.0 / 64 < s.spacing[0] < 380.0 / 64
        assert (s.instance_number - 1) % 20 in (0, synthetic_cine.ES_PHASE)
        assert dice(s.mask, truth[(s.patient, s.instance_number)]["endo"]) > 0.95
        assert dice(o.mask, truth[(o.patient, o.instance_number)]["epi"]) > 0.95
        assert s.mask.sum() < o.mask.sum() and not (s.mask & ~o.mask).any()
        blood = s.image[s.mask].mean()
        ratios.append(blood / s.image[o.mask & ~s.mask].mean())   # blood pool over myocardium
        assert ratios[-1] > 1.2 and blood > 2 * s.image.mean()
    assert np.mean(ratios) > 1.4
    areas = [s.mask.sum() for s in samples if s.patient == "SC-SYN-01"]
    assert areas[0] > areas[-1]   # base bigger than apex


def contrast_to_noise(root):
    cnr = []
    outer = {(s.patient, s.instance_number): s.mask for s in load_sunnybrook(root, contour="o")}
    for s in load_sunnybrook(root):
        ring = outer[(s.patient, s.instance_number)] & ~s.mask
        image = s.image.astype(float)
        cnr.append((image[s.mask].mean() - image[ring].mean()) / image[ring].std())
    return float(np.mean(cnr))


def test_synthetic_difficulty_lowers_blood_myocardium_contrast(tmp_path):
    easy = contrast_to_noise(make_synthetic_cine(tmp_path, difficulty=0.0, **SMALL))
    hard = contrast_to_noise(make_synthetic_cine(tmp_path, difficulty=1.0, **SMALL))
    assert easy > 2.5 * hard and hard > 0.5


# --------------------------------------------------------------------------- the real sample


def real_sunnybrook() -> Path:
    if not os.environ.get("PAPERKIT_DATA"):
        pytest.skip("PAPERKIT_DATA is not set: no real Sunnybrook sample to test against")
    root = Path(os.environ["PAPERKIT_DATA"]) / "sunnybrook"
    if not root.is_dir():
        pytest.skip(f"{root} not present in PAPERKIT_DATA")
    return root


def test_real_sample_loads_three_patients_with_contours():
    root = real_sunnybrook()
    samples = load_sunnybrook(root)
    counts = {p: sum(s.patient == p for s in samples) for p in sorted({s.patient for s in samples})}
    assert counts == {"SC-HF-I-01": 18, "SC-HF-I-02": 18, "SC-HF-I-04": 20}
    assert {s.source_id for s in samples} == {"SCD0000101", "SCD0000201", "SCD0000301"}
    for s in samples:
        assert s.image.shape == (256, 256)
        assert 1.25 <= s.spacing[0] <= 1.5 and s.spacing[0] == s.spacing[1]
        assert s.image_path.name == f"{s.instance_number}.dcm"
        # polygon_to_mask counts pixel centres on the boundary as inside, and Sunnybrook contours run
        # along half-pixel lines, so the mask is about 0.2 px x perimeter larger than the polygon.
        area, perimeter = fx.polygon_area(s.contour), fx.perimeter(s.contour)
        assert 0 <= s.mask.sum() - area < 0.35 * perimeter
        assert s.image[s.mask].mean() > 1.5 * s.image.mean()   # the blood pool is bright
    assert len(load_sunnybrook(root, contour="o")) == 28
    split = split_patients(samples)
    assert split.subjects["training"] == ["SC-HF-I-01", "SC-HF-I-02", "SC-HF-I-04"]
    assert not split["validation"] and not split["online"]
