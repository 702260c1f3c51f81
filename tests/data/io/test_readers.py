"""Round trips and failure modes of paperkit.data.io.readers on tiny real-format files."""
from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from paperkit.data import DataError, read_dicom_image, read_volume
from tests.fixtures.files import (
    write_analyze,
    write_bytes,
    write_dicom_image,
    write_dicom_series,
    write_h5,
    write_nifti,
    write_npy,
    write_npz,
    write_png,
)

RNG = np.random.default_rng(0)


def _volume(shape=(4, 5, 6), dtype=np.int16):
    return RNG.integers(0, 1000, size=shape).astype(dtype)


# --------------------------------------------------------------------------- NIfTI / Analyze


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz"])
def test_nifti_round_trip_keeps_values_dtype_and_spacing(tmp_path, name):
    array = _volume()
    write_nifti(tmp_path / name, array, (0.5, 1.25, 3.0))
    vol = read_volume(tmp_path / name)
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, array)
    assert vol.spacing == pytest.approx((0.5, 1.25, 3.0))
    np.testing.assert_allclose(np.diag(vol.affine)[:3], (0.5, 1.25, 3.0))
    assert vol.path == tmp_path / name
    assert vol.meta["format"] == "nifti"


def test_nifti_trailing_singleton_axis_is_squeezed(tmp_path):
    array = _volume((3, 4, 5, 1))
    write_nifti(tmp_path / "a.nii.gz", array, (1.0, 2.0, 3.0))
    vol = read_volume(tmp_path / "a.nii.gz")
    assert vol.array.shape == (3, 4, 5)
    assert vol.spacing == pytest.approx((1.0, 2.0, 3.0))


@pytest.mark.parametrize("given", [".hdr", ".img"])
def test_analyze_pair_read_from_either_file_like_oasis(tmp_path, given):
    array = _volume((6, 7, 5, 1))  # OASIS-1 images are (176, 208, 176, 1)
    hdr, img = write_analyze(tmp_path / "OAS1_0001_MR1_mpr-1_anon.hdr", array, (1.0, 1.0, 1.25))
    vol = read_volume(hdr if given == ".hdr" else img)
    assert vol.array.shape == (6, 7, 5)
    np.testing.assert_array_equal(vol.array, array[..., 0])
    assert vol.spacing == pytest.approx((1.0, 1.0, 1.25))
    assert vol.meta["format"] == "analyze"


def test_analyze_missing_image_file_names_it(tmp_path):
    hdr, img = write_analyze(tmp_path / "a.hdr", _volume(), (1.0, 1.0, 1.0))
    img.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(img))):
        read_volume(hdr)


def test_truncated_nifti_gz_is_a_data_error_naming_the_file(tmp_path):
    good = write_nifti(tmp_path / "good.nii.gz", _volume((16, 16, 16)), (1.0, 1.0, 1.0))
    data = good.read_bytes()
    bad = write_bytes(tmp_path / "truncated.nii.gz", data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"^{re.escape(str(bad))}: not a readable NIfTI file \(nibabel"):
        read_volume(bad)


def test_garbage_nifti_gz_is_a_data_error_naming_the_file(tmp_path):
    bad = write_bytes(tmp_path / "garbage.nii.gz", gzip.compress(b"this is not a NIfTI header" * 20))
    with pytest.raises(DataError, match=rf"^{re.escape(str(bad))}: not a readable NIfTI file"):
        read_volume(bad)


# --------------------------------------------------------------------------- DICOM


def test_dicom_series_is_ordered_by_position_not_names_or_instance_numbers(tmp_path):
    volume = _volume((6, 5, 4), np.uint16)
    # Oblique-ish orientation: the slice normal is -x, so "position" is not just z.
    orientation = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    paths = write_dicom_series(
        tmp_path / "series", volume, (2.5, 0.7, 0.9), shuffle_filenames=True,
        scramble_instance_numbers=True, orientation=orientation, origin=(10.0, -5.0, 3.0),
    )
    # The fixture really did scramble: name order and InstanceNumber order are not slice order.
    assert [p.name for p in paths] != sorted(p.name for p in paths)
    numbers = [read_dicom_image(p).meta["instance_number"] for p in paths]
    assert numbers != sorted(numbers)

    vol = read_volume(tmp_path / "series")
    np.testing.assert_array_equal(vol.array, volume)
    assert vol.array.dtype == np.uint16  # identity rescale keeps the stored dtype
    assert vol.spacing == pytest.approx((2.5, 0.7, 0.9))
    assert vol.meta["ordering"] == "position"
    assert vol.meta["files"] == [p.name for p in paths]
    # The affine (RAS) maps voxel (k, 0, 0) onto slice k's ImagePositionPatient (LPS).
    for k in (0, 5):
        ipp = np.array(read_dicom_image(paths[k]).meta["position"])
        ras = vol.affine @ np.array([k, 0, 0, 1.0])
        np.testing.assert_allclose(ras[:3], ipp * [-1, -1, 1], atol=1e-6)
    # ...and (0, 1, 0) one row down, i.e. PixelSpacing[0] along the column cosine (-z).
    np.testing.assert_allclose(vol.affine @ [0, 1, 0, 1] - vol.affine @ [0, 0, 0, 1], [0, 0, -0.7, 0], atol=1e-6)


def test_dicom_series_falls_back_to_instance_number_without_positions(tmp_path):
    volume = _volume((5, 4, 3), np.uint16)
    write_dicom_series(tmp_path / "s", volume, (3.0, 1.0, 1.0), shuffle_filenames=True, with_positions=False)
    vol = read_volume(tmp_path / "s")
    np.testing.assert_array_equal(vol.array, volume)
    assert vol.meta["ordering"] == "instance_number"
    assert vol.spacing == pytest.approx((3.0, 1.0, 1.0))  # gap from SliceThickness
    assert vol.affine is None


def test_dicom_rescale_slope_and_intercept_are_applied(tmp_path):
    stored = _volume((3, 4, 4), np.uint16)
    paths = write_dicom_series(tmp_path / "ct", stored, (1.0, 0.5, 0.5), slope=2.0, intercept=-1024.0, modality="CT")
    vol = read_volume(tmp_path / "ct")
    assert vol.array.dtype == np.float32
    np.testing.assert_allclose(vol.array, stored * 2.0 - 1024.0)
    single = read_dicom_image(paths[1])
    assert single.array.shape == (4, 4)
    np.testing.assert_allclose(single.array, stored[1] * 2.0 - 1024.0)
    assert single.spacing == pytest.approx((0.5, 0.5))


def test_dicom_file_without_extension_is_recognised(tmp_path):
    image = _volume((4, 6), np.int16) - 500  # negative values -> signed pixels
    path = write_dicom_image(tmp_path / "IM-0001-0001", image, (1.4, 1.4))
    vol = read_volume(path)
    np.testing.assert_array_equal(vol.array, image)
    assert vol.meta["format"] == "dicom"


def test_dicom_folder_with_two_series_names_both_uids(tmp_path):
    folder = tmp_path / "mixed"
    uid_a, uid_b = "1.2.3.4.100", "1.2.3.4.200"
    write_dicom_series(folder, _volume((3, 4, 4), np.uint16), (1.0, 1.0, 1.0), series_uid=uid_a, suffix="")
    b = _volume((2, 4, 4), np.uint16)
    write_dicom_series(folder, b, (2.0, 1.0, 1.0), series_uid=uid_b, suffix=".b.dcm")
    with pytest.raises(DataError, match=re.escape(str(folder))) as info:
        read_volume(folder)
    assert uid_a in str(info.value) and uid_b in str(info.value)
    vol = read_volume(folder, series_uid=uid_b)
    np.testing.assert_array_equal(vol.array, b)


def test_dicom_slice_of_different_shape_names_that_file(tmp_path):
    folder = tmp_path / "s"
    uid = "1.2.3.4.5"
    write_dicom_series(folder, _volume((4, 8, 8), np.uint16), (1.0, 1.0, 1.0), series_uid=uid)
    odd = write_dicom_image(folder / "odd.dcm", _volume((8, 6), np.uint16), position=(0, 0, 4.0), series_uid=uid)
    with pytest.raises(DataError, match=rf"^{re.escape(str(odd))}: slice shape") as info:
        read_volume(folder)
    assert "(8, 6)" in str(info.value) and "(8, 8)" in str(info.value)


def test_dicom_series_with_a_missing_slice_is_refused(tmp_path):
    paths = write_dicom_series(tmp_path / "s", _volume((5, 4, 4), np.uint16), (2.0, 1.0, 1.0))
    paths[2].unlink()
    with pytest.raises(DataError, match="is a file missing"):
        read_volume(tmp_path / "s")


def test_dicom_folder_skips_non_dicom_files(tmp_path):
    volume = _volume((3, 4, 4), np.uint16)
    write_dicom_series(tmp_path / "s", volume, (1.0, 1.0, 1.0))
    write_bytes(tmp_path / "s" / "README.txt", b"exported by the scanner\n" * 10)
    vol = read_volume(tmp_path / "s")
    np.testing.assert_array_equal(vol.array, volume)
    assert vol.meta["skipped_files"] == ["README.txt"]


def test_empty_folder_is_a_data_error_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'empty'))}: empty folder"):
        read_volume(tmp_path / "empty")


def test_folder_without_dicom_files_is_a_data_error(tmp_path):
    write_bytes(tmp_path / "notes" / "a.txt", b"hello")
    with pytest.raises(DataError, match="expected DICOM image files"):
        read_volume(tmp_path / "notes")


# --------------------------------------------------------------------------- HDF5 / NumPy / images


def test_h5_round_trip_with_spacing_attribute(tmp_path):
    array = RNG.random((3, 4, 5)).astype(np.float32)
    write_h5(tmp_path / "a.h5", array, spacing=(2.0, 0.5, 0.5))
    vol = read_volume(tmp_path / "a.h5")
    np.testing.assert_array_equal(vol.array, array)
    assert vol.spacing == pytest.approx((2.0, 0.5, 0.5))
    assert vol.meta["spacing_unit"] == "mm"


def test_h5_with_two_datasets_needs_a_key_and_lists_them(tmp_path):
    image, mask = _volume((2, 3)), _volume((2, 3))
    path = write_h5(tmp_path / "pair.hdf5", {"scans/image": image, "mask": mask})
    with pytest.raises(DataError,
                       match=rf"^{re.escape(str(path))}: holds 2 datasets, pass key= one of: mask, scans/image"):
        read_volume(path)
    np.testing.assert_array_equal(read_volume(path, key="scans/image").array, image)
    vol = read_volume(path, key="mask")
    np.testing.assert_array_equal(vol.array, mask)
    assert vol.spacing == (1.0, 1.0) and vol.meta["spacing_unit"] == "pixel"
    with pytest.raises(DataError, match="no dataset 'label'; available: mask, scans/image"):
        read_volume(path, key="label")


def test_npy_and_npz_round_trip_and_npz_key_rule(tmp_path):
    array = _volume((3, 4))
    np.testing.assert_array_equal(read_volume(write_npy(tmp_path / "a.npy", array)).array, array)
    single = write_npz(tmp_path / "one.npz", x=array)
    assert read_volume(single).spacing == (1.0, 1.0)
    np.testing.assert_array_equal(read_volume(single).array, array)
    two = write_npz(tmp_path / "two.npz", x=array, y=array + 1)
    with pytest.raises(DataError, match="pass key= one of: x, y"):
        read_volume(two)
    np.testing.assert_array_equal(read_volume(two, key="y").array, array + 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip_keeps_bit_depth(tmp_path, dtype):
    array = RNG.integers(0, np.iinfo(dtype).max, size=(5, 7)).astype(dtype)
    vol = read_volume(write_png(tmp_path / "a.png", array))
    assert vol.array.shape == (5, 7)
    np.testing.assert_array_equal(vol.array, array)
    assert vol.spacing == (1.0, 1.0)


def test_rgb_png_is_grayscale_unless_mode_rgb(tmp_path):
    rgb = RNG.integers(0, 255, size=(4, 6, 3)).astype(np.uint8)
    path = write_png(tmp_path / "rgb.png", rgb)
    assert read_volume(path).array.shape == (4, 6)
    np.testing.assert_array_equal(read_volume(path, mode="RGB").array, rgb)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("name", ["missing.nii.gz", "missing.hdr", "missing.h5", "missing.png", "missing_dir"])
def test_missing_path_raises_file_not_found_naming_it(tmp_path, name):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / name))):
        read_volume(tmp_path / name)


def test_unknown_suffix_lists_supported_ones(tmp_path):
    path = write_bytes(tmp_path / "scan.mha", b"ObjectType = Image\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: unsupported file type") as info:
        read_volume(path)
    for suffix in (".nii.gz", ".hdr", ".h5", ".npz", ".png", ".dcm"):
        assert suffix in str(info.value)


def test_option_that_does_not_apply_is_refused(tmp_path):
    path = write_nifti(tmp_path / "a.nii", _volume(), (1.0, 1.0, 1.0))
    with pytest.raises(DataError, match="key= do not apply to nifti"):
        read_volume(path, key="image")


def test_corrupt_png_is_a_data_error(tmp_path):
    path = write_bytes(tmp_path / "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: not a readable image file"):
        read_volume(path)
