"""paperkit.data.fingerprint: same data -> same key wherever it lies; changed data -> another key."""
import os
import shutil

import pytest

from paperkit.data.fingerprint import EDGE_BYTES, fingerprint


def _folder(root):
    (root / "scans").mkdir(parents=True)
    (root / "labels.csv").write_text("subject,label\nS1,0\nS2,1\n")
    (root / "scans" / "S1.nii").write_bytes(bytes(range(256)) * 8192)  # 2 MB: edges only
    (root / "big_labels.csv").write_text("id,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20000)))
    (root / "scans" / "S2.nii").write_bytes(b"\x01" * 1000)
    return root


def test_a_copy_elsewhere_keeps_the_fingerprint(tmp_path):
    a = _folder(tmp_path / "a")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    os.utime(b / "labels.csv", (0, 0))  # new times, same content
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a)["files"] == 4


@pytest.mark.parametrize("change", ["edit label", "replace small scan", "replace large scan's end", "add file",
                                    "rename file", "edit the middle of a large table"])
def test_changed_data_changes_the_fingerprint(tmp_path, change):
    root = _folder(tmp_path / "d")
    before = fingerprint(root)
    if change == "edit label":
        (root / "labels.csv").write_text("subject,label\nS1,1\nS2,1\n")  # same size, other label
    elif change == "replace small scan":
        (root / "scans" / "S2.nii").write_bytes(b"\x02" * 1000)
    elif change == "replace large scan's end":
        data = bytearray((root / "scans" / "S1.nii").read_bytes())
        data[-EDGE_BYTES // 2] ^= 0xFF
        (root / "scans" / "S1.nii").write_bytes(bytes(data))
    elif change == "add file":
        (root / "scans" / "S3.nii").write_bytes(b"\x03")
    elif change == "rename file":
        (root / "scans" / "S2.nii").rename(root / "scans" / "S9.nii")
    else:  # a table is hashed whole, however large
        text = (root / "big_labels.csv").read_text().replace("10000,0", "10000,1")
        (root / "big_labels.csv").write_text(text)
    assert fingerprint(root) != before


def test_hidden_files_are_not_data_and_explicit_lists_stay_under_root(tmp_path):
    root = _folder(tmp_path / "d")
    before = fingerprint(root)
    (root / ".DS_Store").write_bytes(b"x")
    (root / ".cache").mkdir()
    (root / ".cache" / "v.npy").write_bytes(b"y")
    assert fingerprint(root) == before
    assert fingerprint(root, ["labels.csv"])["files"] == 1
    with pytest.raises(ValueError, match="not under the fingerprinted folder"):
        fingerprint(root, [tmp_path / "other.csv"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fingerprint(tmp_path / "missing")


def test_a_single_file_can_be_fingerprinted(tmp_path):
    path = tmp_path / "set.npz"
    path.write_bytes(b"abc")
    assert fingerprint(path) == fingerprint(path) and fingerprint(path)["bytes"] == 3
