"""VolumeCache: decode once, memory-map after, keyed by content, crash-safe writes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import paperkit.data.io.cache as cache_module
from paperkit.data import VolumeCache, read_volume
from tests.fixtures.files import write_analyze, write_dicom_image, write_dicom_series, write_h5, write_nifti

RNG = np.random.default_rng(1)


def _volume(shape=(4, 5, 6)):
    return RNG.integers(0, 1000, size=shape).astype(np.int16)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_second_load_is_a_read_only_memmap_hit(tmp_path):
    array = _volume()
    path = write_nifti(tmp_path / "a.nii.gz", array, (1.0, 2.0, 3.0))
    cache = VolumeCache(tmp_path / "cache")
    first = cache.load(path)
    second = cache.load(path)
    assert (cache.misses, cache.hits) == (1, 1)
    for loaded in (first, second):
        assert isinstance(loaded, np.memmap)
        assert not loaded.flags.writeable
        np.testing.assert_array_equal(loaded, array)
    key = cache.key(path)
    assert _files(tmp_path / "cache") == [f"{key}.json", f"{key}.npy"]
    sidecar = json.loads((tmp_path / "cache" / f"{key}.json").read_text())
    assert sidecar["spacing"] == [1.0, 2.0, 3.0] and sidecar["source"] == str(path)
    assert cache.info(path)["shape"] == [4, 5, 6]


def test_hit_does_not_call_the_reader(tmp_path):
    path = write_nifti(tmp_path / "a.nii", _volume(), (1.0, 1.0, 1.0))
    calls = []

    def counting_reader(p, **kwargs):
        calls.append(p)
        return read_volume(p, **kwargs)

    cache = VolumeCache(tmp_path / "cache")
    for _ in range(3):
        cache.load(path, counting_reader)
    assert len(calls) == 1 and (cache.misses, cache.hits) == (1, 2)


def test_edited_file_is_decoded_again(tmp_path):
    path = tmp_path / "a.nii.gz"
    write_nifti(path, _volume(), (1.0, 1.0, 1.0))
    cache = VolumeCache(tmp_path / "cache")
    cache.load(path)
    edited = _volume()
    write_nifti(path, edited, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(cache.load(path), edited)
    assert (cache.misses, cache.hits) == (2, 0)


def test_renamed_identical_copy_is_a_hit(tmp_path):
    array = _volume()
    path = write_nifti(tmp_path / "a.nii.gz", array, (1.0, 1.0, 1.0))
    copy = tmp_path / "elsewhere" / "renamed.nii.gz"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    cache = VolumeCache(tmp_path / "cache")
    cache.load(path)
    np.testing.assert_array_equal(cache.load(copy), array)
    assert (cache.misses, cache.hits) == (1, 1)


def test_reader_kwargs_are_part_of_the_key(tmp_path):
    path = write_h5(tmp_path / "a.h5", {"image": _volume(), "mask": _volume()})
    cache = VolumeCache(tmp_path / "cache")
    image = cache.load(path, key="image")
    mask = cache.load(path, key="mask")
    assert cache.misses == 2
    assert not np.array_equal(image, mask)
    cache.load(path, key="mask")
    assert cache.hits == 1


def test_dicom_folder_edit_of_one_slice_is_a_miss(tmp_path):
    volume = RNG.integers(0, 1000, size=(4, 5, 5)).astype(np.uint16)
    paths = write_dicom_series(tmp_path / "s", volume, (1.0, 1.0, 1.0), series_uid="1.2.3")
    cache = VolumeCache(tmp_path / "cache")
    cache.load(tmp_path / "s")
    cache.load(tmp_path / "s")
    assert (cache.misses, cache.hits) == (1, 1)
    volume[2] += 1
    write_dicom_image(paths[2], volume[2], (1.0, 1.0), position=(0.0, 0.0, 2.0), series_uid="1.2.3")
    np.testing.assert_array_equal(cache.load(tmp_path / "s"), volume)
    assert cache.misses == 2


def test_analyze_image_edit_is_a_miss_even_though_header_is_unchanged(tmp_path):
    hdr, img = write_analyze(tmp_path / "a.hdr", _volume(), (1.0, 1.0, 1.0))
    cache = VolumeCache(tmp_path / "cache")
    cache.load(hdr)
    edited = _volume()
    write_analyze(tmp_path / "a.hdr", edited, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(cache.load(hdr), edited)
    assert cache.misses == 2


def test_content_hash_is_memoised_across_loads_and_caches(tmp_path, monkeypatch):
    path = write_nifti(tmp_path / "a.nii.gz", _volume(), (1.0, 1.0, 1.0))
    hashed = []
    real = cache_module._file_sha256
    monkeypatch.setattr(cache_module, "_file_sha256", lambda p: hashed.append(p) or real(p))
    for cache in (VolumeCache(tmp_path / "c1"), VolumeCache(tmp_path / "c2")):
        for _ in range(3):
            cache.load(path)
    assert hashed == [path]
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: must re-hash
    VolumeCache(tmp_path / "c1").load(path)
    assert len(hashed) == 2


def test_failed_write_leaves_no_partial_or_temp_files(tmp_path, monkeypatch):
    array = _volume((32, 32, 32))
    path = write_nifti(tmp_path / "a.nii.gz", array, (1.0, 1.0, 1.0))
    cache = VolumeCache(tmp_path / "cache")

    def crashing_save(f, arr, **kwargs):
        f.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.np, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        cache.load(path)
    leftovers = _files(tmp_path / "cache")
    assert not any(name.endswith((".npy", ".tmp")) for name in leftovers), leftovers
    monkeypatch.undo()
    np.testing.assert_array_equal(cache.load(path), array)
    assert cache.misses == 1 and cache.hits == 0


def test_process_killed_mid_write_leaves_nothing_that_loads(tmp_path):
    array = _volume((32, 32, 32))
    path = write_nifti(tmp_path / "a.nii.gz", array, (1.0, 1.0, 1.0))
    # A child process dies (os._exit: no cleanup runs) halfway through writing the .npy.
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        import paperkit.data.io.cache as c
        def dying_save(f, arr, **kwargs):
            f.write(b"\\x93NUMPY" + b"\\0" * 1000)
            f.flush()
            os._exit(9)
        c.np.save = dying_save
        c.VolumeCache({str(tmp_path / "cache")!r}).load({str(path)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()
    names = _files(tmp_path / "cache")
    assert not any(name.endswith(".npy") for name in names), names
    assert any(name.endswith(".tmp") for name in names)  # the dead writer's temp file

    cache = VolumeCache(tmp_path / "cache")
    np.testing.assert_array_equal(cache.load(path), array)
    assert (cache.misses, cache.hits) == (1, 0)

    # Once stale, the dead writer's temp file is cleaned up by the next cache.
    for name in _files(tmp_path / "cache"):
        if name.endswith(".tmp"):
            os.utime(tmp_path / "cache" / name, (0, 0))
    VolumeCache(tmp_path / "cache")
    assert not any(name.endswith(".tmp") for name in _files(tmp_path / "cache"))


def test_missing_source_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nii.gz"):
        VolumeCache(tmp_path / "cache").load(tmp_path / "nope.nii.gz")
