"""The data layer's bad-input matrix: one row per class of problem (issue 18, items 2, 4, 5, 7).

Each row builds a tiny input in a real layout with one thing wrong, runs the loader that
reads it, and states the expected error type and the message fragments that must appear
(the file, field or class names). Every row also checks that nothing was written into
the input folder (no half-written or temporary files) and that no code ran from a data file.
"""
from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from paperkit.data.datasets.classification_sets import ImageFolderDataset, load_cifar, load_mini_imagenet
from paperkit.data.datasets.csv_images import load_csv_images
from paperkit.data.datasets.ida import load_adni
from paperkit.data.datasets.medmnist import load_medmnist_npz
from paperkit.data.datasets.oasis import load_oasis1, load_oasis2
from paperkit.data.datasets.sunnybrook import load_sunnybrook
from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import read_volume
from tests.fixtures.brain import (
    ADNI_IMAGES,
    OASIS1_SESSIONS,
    write_csv,
    write_ida,
    write_oasis1,
    write_oasis2,
)
from tests.fixtures.files import write_dicom_series, write_nifti, write_png
from tests.fixtures.rethink import write_csv_images, write_medmnist_npz
from tests.fixtures.sunnybrook import contour_name, write_contour, write_repackaged

PWNED = "PWNED"  # a crafted pickle would create this file if it could run code


# --------------------------------------------------------------------------- builders: (tmp) -> (call, names)


class _System:
    """Pickles as a call of ``os.system`` (what a malicious CIFAR batch would do)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('PWNED').touch()",))


def _cifar(tmp: Path, payload) -> tuple:
    folder = tmp / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(good, protocol=2))
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": payload, b"labels": [0]}, protocol=2))
    return (lambda: load_cifar(tmp, "train")), ["data_batch_3", "refused to unpickle"]


def cifar_os_system(tmp):
    return _cifar(tmp, _System(f"touch {tmp / PWNED}"))


def cifar_eval(tmp):
    return _cifar(tmp, _Eval())


def _folders(root: Path, classes) -> None:
    for c in classes:
        write_png(root / c / "0.png", np.full((8, 8), 100, np.uint8))


def imagefolder_classes_differ(tmp):
    _folders(tmp / "train", ["cat", "dog"])
    _folders(tmp / "test", ["cat", "fox"])
    return (lambda: ImageFolderDataset(tmp / "test")), ["only in", "'dog'", "'fox'"]


def mini_imagenet_few_shot(tmp):
    _folders(tmp / "train", ["n01532829", "n01558993"])
    _folders(tmp / "test", ["n01930112", "n01981276"])
    return (lambda: load_mini_imagenet(tmp, "test")), ["n01930112", "n01532829", "few-shot"]


def imagefolder_missing_class(tmp):
    _folders(tmp / "data", ["a", "c"])
    (tmp / "data" / "b").mkdir()
    return (lambda: ImageFolderDataset(tmp / "data", classes=["a", "b", "c"])), ["no images for class", "'b'"]


def _ida_with(tmp, extra_rows):
    write_ida(tmp, images=ADNI_IMAGES[:2])
    csv = next(tmp.glob("*.csv"))
    csv.write_text(csv.read_text() + "".join(extra_rows))
    return csv


def ida_conflicting_duplicate(tmp):
    row = ",".join(["I13722", "002_S_0295", "AD", "M", "85", "sc", "MRI", "MPRAGE", "Original", "4/18/2006",
                    "NiFTI", "5/01/2023"]) + "\n"
    csv = _ida_with(tmp, [row])
    return (lambda: load_adni(tmp)), [csv.name, "I13722", "Group 'CN' vs 'AD'"]


def ida_conflict_across_csvs(tmp):
    write_ida(tmp, images=ADNI_IMAGES[:2])
    from paperkit.data.datasets.ida import IDA_COLUMNS

    write_csv(tmp / "second_download.csv", list(IDA_COLUMNS),
              [["I40183", "002_S_0295", "AD", "M", 86, "m12", "MRI", "MPRAGE", "Original", "4/18/2006", "NiFTI",
                "5/02/2023"]])
    return (lambda: load_adni(tmp)), ["second_download.csv", "I40183", "Group"]


def ida_latin1_csv(tmp):
    csv = _ida_with(tmp, [])
    csv.write_bytes(csv.read_bytes().replace(b"MPRAGE", "MPRAGE é".encode("latin-1"), 1))
    return (lambda: load_adni(tmp)), [csv.name, "not UTF-8", "Windows-1252"]


def _oasis1_rows(sessions):
    return [[s, sex, "R", age, 3, 2, 29, cdr, 1344, 0.743, 1.306, ""] for s, sex, age, cdr in sessions]


def oasis1_conflicting_duplicate(tmp):
    rows = _oasis1_rows(OASIS1_SESSIONS) + _oasis1_rows([("OAS1_0001_MR1", "F", 74, "1")])
    write_oasis1(tmp, csv_rows=rows)
    return (lambda: load_oasis1(tmp)), ["oasis_cross-sectional.csv", "OAS1_0001_MR1", "CDR '0' vs '1'"]


def oasis1_cdr_minus_one(tmp):
    sessions = [("OAS1_0001_MR1", "F", 74, "-1"), *OASIS1_SESSIONS[1:]]
    write_oasis1(tmp, sessions=sessions)
    return (lambda: load_oasis1(tmp)), ["oasis_cross-sectional.csv", "OAS1_0001_MR1", "CDR '-1'"]


def oasis1_case_only_session_twice(tmp):
    write_oasis1(tmp)
    shutil.copytree(tmp / "disc1" / "OAS1_0001_MR1", tmp / "disc1" / "oas1_0001_MR1")
    return (lambda: load_oasis1(tmp)), ["oas1_0001_MR1", "OAS1_0001_MR1", "case"]


def oasis2_conflicting_duplicate(tmp):
    write_oasis2(tmp)
    csv = tmp / "oasis_longitudinal.csv"
    csv.write_text(csv.read_text() + "OAS2_0001,OAS2_0001_MR1,Demented,1,0,M,R,87,14,2,27,0,1987,0.696,0.883\n")
    return (lambda: load_oasis2(tmp)), ["oasis_longitudinal.csv", "OAS2_0001_MR1", "Group 'Nondemented' vs"]


def oasis2_cdr_off_scale(tmp):
    import pandas as pd

    write_oasis2(tmp)
    csv = tmp / "oasis_longitudinal.csv"
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    table.loc[table["MRI ID"] == "OAS2_0018_MR1", "CDR"] = "4"
    table.to_csv(csv, index=False)
    return (lambda: load_oasis2(tmp)), ["OAS2_0018_MR1", "CDR '4'"]


def _medmnist(tmp, value, dtype=np.float32):
    path = write_medmnist_npz(tmp / "pneumoniamnist.npz")
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    labels = arrays["val_labels"].astype(dtype)
    labels[2, 0] = value
    arrays["val_labels"] = labels
    np.savez_compressed(path, **arrays)
    return (lambda: load_medmnist_npz(path)), ["pneumoniamnist.npz", "val_labels[2, 0]"]


def medmnist_nan(tmp):
    return _medmnist(tmp, np.nan)


def medmnist_minus_one(tmp):
    return _medmnist(tmp, -1, np.int64)


def medmnist_half(tmp):
    return _medmnist(tmp, 0.5)


def medmnist_class_count(tmp):
    call, names = _medmnist(tmp, 2, np.uint8)
    return call, names + ["class index 0..1"]


def _flip_inside(path: Path, marker: bytes) -> None:
    raw = bytearray(path.read_bytes())
    at = raw.index(marker) + len(marker) // 2
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def medmnist_crc_error(tmp):
    path = write_medmnist_npz(tmp / "pneumoniamnist.npz")
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["test_images"][:] = 77  # a run of bytes to find in the stored (uncompressed) member
    np.savez(path, **arrays)
    _flip_inside(path, bytes([77]) * 64)
    return (lambda: load_medmnist_npz(path)), ["pneumoniamnist.npz", "'test_images'", "damaged"]


def npy_crc_error(tmp):
    path = tmp / "volume.npz"
    np.savez(path, image=np.full((8, 8, 8), 77, np.uint8))
    _flip_inside(path, bytes([77]) * 64)
    return (lambda: read_volume(path)), ["volume.npz", ".npz archive"]


def nifti_truncated_gzip(tmp):
    path = write_nifti(tmp / "brain.nii.gz", np.arange(16 ** 3, dtype=np.int16).reshape(16, 16, 16), (1, 1, 1))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return (lambda: read_volume(path)), ["brain.nii.gz", "NIfTI"]


def dicom_truncated_slice(tmp):
    files = write_dicom_series(tmp / "series", np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8), (2, 1, 1))
    cut = sorted(files)[1]
    cut.write_bytes(cut.read_bytes()[:400])
    return (lambda: read_volume(tmp / "series")), [str(cut), "truncated"]


def dicom_short_pixel_data(tmp):
    files = write_dicom_series(tmp / "series", np.arange(4 * 8 * 8, dtype=np.int16).reshape(4, 8, 8), (2, 1, 1))
    cut = sorted(files)[2]
    cut.write_bytes(cut.read_bytes()[:-10])
    return (lambda: read_volume(tmp / "series")), [str(cut), "DICOM image"]


def sunnybrook_contour_outside(tmp):
    write_repackaged(tmp)
    bad = tmp / "contourfiles" / "SC-HF-I-1" / "i-contours" / contour_name(48)
    write_contour(bad, np.array([[250.0, 250.0], [300.0, 250.0], [300.0, 290.0], [250.0, 290.0]]))
    return (lambda: load_sunnybrook(tmp)), [str(bad), "outside its image", "48.dcm"]


def sunnybrook_empty_mask(tmp):
    write_repackaged(tmp)
    bad = tmp / "contourfiles" / "SC-HF-I-2" / "i-contours" / contour_name(60)
    write_contour(bad, np.array([[10.1, 10.1], [10.3, 10.1], [10.2, 10.3]]))
    return (lambda: load_sunnybrook(tmp)), [str(bad), "encloses no pixel"]


def sunnybrook_two_spellings(tmp):
    write_repackaged(tmp)
    shutil.copytree(tmp / "contourfiles" / "SC-HF-I-1", tmp / "contourfiles" / "SC-HF-I-01")
    return (lambda: load_sunnybrook(tmp)), ["SC-HF-I-01", "SC-HF-I-1", "same patient"]


def sunnybrook_case_only_image_folders(tmp):
    write_repackaged(tmp)
    shutil.copytree(tmp / "dicoms" / "SCD0000101", tmp / "dicoms" / "scd0000101")
    return (lambda: load_sunnybrook(tmp)), ["scd0000101", "SCD0000101", "same patient"]


def csv_latin1(tmp):
    csv = write_csv_images(tmp)
    csv.write_bytes(csv.read_bytes().replace(b"P01", "P01-é".encode("latin-1")))
    return (lambda: load_csv_images(csv, tmp, "image_path", ["covid"], "patient_id")), [csv.name, "not UTF-8"]


MATRIX = [
    # (row id, builder, error type); the builder returns the call and the fragments its message must hold
    ("cifar-pickle-os.system", cifar_os_system, DataError),
    ("cifar-pickle-builtins.eval", cifar_eval, DataError),
    ("imagefolder-train-test-classes-differ", imagefolder_classes_differ, DataError),
    ("mini-imagenet-few-shot-split", mini_imagenet_few_shot, DataError),
    ("imagefolder-class-without-images", imagefolder_missing_class, DataError),
    ("ida-duplicate-row-conflicting-group", ida_conflicting_duplicate, DataError),
    ("ida-two-csvs-conflicting-group", ida_conflict_across_csvs, DataError),
    ("ida-csv-latin-1", ida_latin1_csv, DataError),
    ("oasis1-duplicate-row-conflicting-cdr", oasis1_conflicting_duplicate, DataError),
    ("oasis1-cdr-minus-one", oasis1_cdr_minus_one, DataError),
    ("oasis1-session-folder-two-cases", oasis1_case_only_session_twice, DataError),
    ("oasis2-duplicate-row-conflicting-group", oasis2_conflicting_duplicate, DataError),
    ("oasis2-cdr-off-scale", oasis2_cdr_off_scale, DataError),
    ("medmnist-label-nan", medmnist_nan, DataError),
    ("medmnist-label-minus-one", medmnist_minus_one, DataError),
    ("medmnist-label-half", medmnist_half, DataError),
    ("medmnist-label-ge-class-count", medmnist_class_count, DataError),
    ("medmnist-npz-crc-error", medmnist_crc_error, DataError),
    ("npz-volume-crc-error", npy_crc_error, DataError),
    ("nifti-truncated-gzip", nifti_truncated_gzip, DataError),
    ("dicom-series-truncated-slice", dicom_truncated_slice, DataError),
    ("dicom-series-short-pixel-data", dicom_short_pixel_data, DataError),
    ("sunnybrook-contour-outside-image", sunnybrook_contour_outside, DataError),
    ("sunnybrook-contour-empty-mask", sunnybrook_empty_mask, DataError),
    ("sunnybrook-patient-two-spellings", sunnybrook_two_spellings, DataError),
    ("sunnybrook-image-folders-differ-in-case", sunnybrook_case_only_image_folders, DataError),
    ("csv-images-latin-1", csv_latin1, DataError),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.parametrize("build, error", [pytest.param(b, e, id=i) for i, b, e in MATRIX])
def test_bad_input_is_refused(tmp_path, monkeypatch, build, error):
    data = tmp_path / "data"
    data.mkdir()
    call, fragments = build(data)
    before = _snapshot(data)
    monkeypatch.chdir(tmp_path)  # where the eval payload would write
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(error) as caught:
            call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert str(data) in message, f"the message names no file under the input folder: {message}"
    assert _snapshot(data) == before, "the loader wrote into (or changed) the input folder"
    assert not list(tmp_path.rglob(PWNED)), "code ran from a data file"


# --------------------------------------------------------------------------- what is still accepted


def test_identical_duplicate_rows_are_a_counted_warning(tmp_path):
    rows = _oasis1_rows(OASIS1_SESSIONS) + _oasis1_rows(OASIS1_SESSIONS[:2])
    write_oasis1(tmp_path, csv_rows=rows)
    with pytest.warns(UserWarning, match=r"2 duplicate row\(s\)"):
        cohort = load_oasis1(tmp_path)
    write_oasis1(tmp_path / "clean")
    assert [(r.session, r.label) for r in cohort] == [(r.session, r.label) for r in load_oasis1(tmp_path / "clean")]


def test_identical_ida_rows_across_downloads_are_accepted(tmp_path):
    write_ida(tmp_path, images=ADNI_IMAGES[:2])
    csv = next(tmp_path.glob("*.csv"))
    shutil.copy(csv, tmp_path / "second_download.csv")
    cohort = load_adni(tmp_path)
    assert sorted(r.scan_id for r in cohort) == ["I13722", "I40183"]


def test_cifar_batches_as_numpy_pickles_them_still_load(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for protocol, name in zip((0, 2, 3, 4, 5, 2), [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        batch = {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), "labels": [0, 1, 9],
                 "batch_label": b"x", "filenames": np.array(["a.png", "b.png", "c.png"])}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2))
    train = load_cifar(tmp_path, "train")
    assert len(train) == 15 and train.classes[9] == "c9" and int(train[2][1]) == 9


def test_crafted_pickle_never_runs(tmp_path):
    call, _ = cifar_os_system(tmp_path)
    with pytest.raises(DataError, match="it asks for posix.system|it asks for nt.system"):
        call()
    assert not (tmp_path / PWNED).exists()


def test_contour_on_the_image_edge_is_accepted(tmp_path):
    write_repackaged(tmp_path)
    edge = tmp_path / "contourfiles" / "SC-HF-I-1" / "i-contours" / contour_name(48)
    rows = np.asarray(load_sunnybrook(tmp_path)[0].image.shape)
    write_contour(edge, np.array([[-0.5, -0.5], [rows[1] - 0.5, -0.5], [rows[1] - 0.5, 5.0]]))
    sample = next(s for s in load_sunnybrook(tmp_path) if s.instance_number == 48)
    assert sample.mask.any()


# --------------------------------------------------------------------------- generated folders


def _build_shapes(out: str) -> str:
    from paperkit.data.synthetic.shapes import make_synthetic_shapes

    return str(make_synthetic_shapes(out, n_train=12, n_test=6, image_size=16, seed=3))


def test_concurrent_shapes_builds_keep_each_others_files(tmp_path):
    import multiprocessing

    out = str(tmp_path / "shapes")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        roots = pool.map(_build_shapes, [out, out])
    assert roots == [out, out]
    from paperkit.data.synthetic.shapes import load_synthetic_shapes

    assert len(load_synthetic_shapes(out, "train")) == 12 and len(load_synthetic_shapes(out, "test")) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"], "a temporary or stale folder was left"


def test_interrupted_shapes_build_leaves_nothing(tmp_path, monkeypatch):
    from paperkit.data.synthetic import shapes

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shapes, "_write_split", killed)
    with pytest.raises(KeyboardInterrupt):
        _build_shapes(str(tmp_path / "shapes"))
    assert list(tmp_path.iterdir()) == []
