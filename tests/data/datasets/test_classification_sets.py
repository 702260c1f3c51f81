"""Classification sets: each torchvision/publisher layout written as a tiny fixture and read back,
the masked ImageFolder, scikit-learn digits, the synthetic shapes generator, and the real shared samples."""
import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from paperkit.data.datasets.classification_sets import (
    CIFAR10_CLASSES,
    ImageFolderDataset,
    load_cifar,
    load_classification_set,
    load_digits_set,
    load_mini_imagenet,
    load_mnist,
    load_stl10,
    load_svhn,
    read_idx,
)
from paperkit.data.io.errors import DataError
from paperkit.data.synthetic.shapes import (
    SHAPES,
    TEXTURES,
    load_synthetic_shapes,
    make_synthetic_shapes,
    shapes_table,
)
from tests.fixtures.files import write_bytes

RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_png(path: Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return write_bytes(path, buf.getvalue())


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST


@pytest.mark.parametrize("fashion,gz", [(False, True), (True, False)])
def test_mnist_idx_in_torchvision_layout(tmp_path, fashion, gz):
    raw = tmp_path / ("FashionMNIST" if fashion else "MNIST") / "raw"
    images = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        write_bytes(raw / (name + (".gz" if gz else "")), gzip.compress(data) if gz else data)
    ds = load_mnist(tmp_path, "test", fashion=fashion)
    assert len(ds) == 5 and ds.labels.tolist() == [3, 1, 4, 1, 5]
    x, y = ds[2]
    assert x.shape == (1, 28, 28) and torch.allclose(x[0], torch.from_numpy(images[2]).float() / 255)
    with pytest.raises(DataError, match="train images"):
        load_mnist(tmp_path, "train", fashion=fashion)


def test_idx_truncated_and_missing_folder_errors(tmp_path):
    path = write_bytes(tmp_path / "bad-idx3-ubyte", idx_bytes(np.zeros((3, 4, 4)))[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    with pytest.raises(DataError, match="download=True"):
        load_mnist(tmp_path / "absent", "test")
    with pytest.raises(ValueError, match="unknown classification set"):
        load_classification_set("imagenet21k", tmp_path)


# --------------------------------------------------------------------------- CIFAR


def test_cifar10_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    data = RNG.integers(0, 256, (4, 3072), dtype=np.uint8)
    write_bytes(folder / "test_batch", pickle.dumps({b"data": data, b"labels": [0, 9, 2, 3]}))
    write_bytes(folder / "batches.meta", pickle.dumps({b"label_names": list(CIFAR10_CLASSES)}))
    ds = load_cifar(tmp_path, "test")
    assert ds.classes == list(CIFAR10_CLASSES) and ds.labels.tolist() == [0, 9, 2, 3]
    x, _ = ds[1]
    assert x.shape == (3, 32, 32)
    assert torch.allclose(x[:, 0, 0] * 255, torch.tensor(data[1, [0, 1024, 2048]], dtype=torch.float32))
    with pytest.raises(DataError, match="data_batch_1"):
        load_cifar(tmp_path, "train")


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    write_bytes(folder / "test", pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [7, 99],
                                               "coarse_labels": [1, 2]}))
    ds = load_classification_set("cifar100", tmp_path, "test", image_size=16)
    assert ds.labels.tolist() == [7, 99] and ds[0][0].shape == (3, 16, 16)


@pytest.mark.parametrize("as_tar", [False, True])
def test_cifar10_jpeg_folders_and_tar(tmp_path, as_tar):
    img = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    files = {f"test/{c}/000{i}.png": img for i, c in enumerate(("truck", "bird", "airplane"))}
    if as_tar:
        with tarfile.open(tmp_path / "test.tar", "w") as tar:
            for name, arr in files.items():
                buf = io.BytesIO()
                Image.fromarray(arr).save(buf, format="PNG")
                info = tarfile.TarInfo(name)
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
    else:
        for name, arr in files.items():
            write_png(tmp_path / name, arr)
    ds = load_cifar(tmp_path, "test")
    assert ds.classes == list(CIFAR10_CLASSES)  # official order, not just the folders present
    assert sorted(ds.labels.tolist()) == [0, 2, 9]


# --------------------------------------------------------------------------- SVHN, STL-10, folders


def test_svhn_mat(tmp_path):
    from scipy.io import savemat

    X = RNG.integers(0, 256, (32, 32, 3, 3), dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": X, "y": np.array([[10], [1], [9]], dtype=np.uint8)})
    ds = load_svhn(tmp_path, "test")
    assert ds.labels.tolist() == [0, 1, 9]
    assert torch.allclose(ds[0][0] * 255, torch.from_numpy(X[..., 0]).permute(2, 0, 1).float())


def test_stl10_binary(tmp_path):
    imgs = RNG.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)  # (N, H, W, C)
    write_bytes(tmp_path / "stl10_binary" / "test_X.bin", imgs.transpose(0, 3, 2, 1).tobytes())
    write_bytes(tmp_path / "stl10_binary" / "test_y.bin", bytes([1, 10]))
    write_bytes(tmp_path / "stl10_binary" / "class_names.txt",
                b"airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n")
    ds = load_stl10(tmp_path, "test")
    assert ds.labels.tolist() == [0, 9] and ds.classes[2] == "car"
    assert torch.allclose(ds[1][0] * 255, torch.from_numpy(imgs[1]).permute(2, 0, 1).float())


def test_image_folder_with_partial_masks(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(2):
            write_png(tmp_path / "train" / cls / f"im{i}.png", RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    mask = np.zeros((20, 24), np.uint8)
    mask[4:10, 6:12] = 1  # labelme label index 1
    write_png(tmp_path / "masks" / "cat" / "im0.png", mask)
    ds = ImageFolderDataset(tmp_path / "train", mask_root=tmp_path / "masks", image_size=(10, 12))
    assert ds.classes == ["cat", "dog"] and ds.has_mask == [True, False, False, False]
    x, y, m = ds[0]
    assert x.shape == (3, 10, 12) and m.shape == (1, 10, 12) and int(y) == 0
    assert m.sum() == 3 * 3 and m[0, 3, 4] == 1
    assert ds[1][2].min() == 1  # no annotation: all foreground, nothing to constrain
    mini = load_mini_imagenet(tmp_path, "train", channels=1)
    assert len(mini[3]) == 2 and mini[3][0].shape == (1, 20, 24)
    with pytest.raises(DataError, match="mask folder not found"):
        ImageFolderDataset(tmp_path / "train", mask_root=tmp_path / "nomasks")


def test_digits_offline_default():
    train, test = load_digits_set("train"), load_digits_set("test")
    assert len(train) + len(test) == 1797
    x, y = train[0]
    assert x.shape == (1, 28, 28) and 0 <= int(y) <= 9 and x.max() > 0.5


# --------------------------------------------------------------------------- synthetic shapes


def test_synthetic_shapes_layout_masks_and_spurious_cue(tmp_path):
    kw = dict(n_train=60, n_test=30, image_size=32, difficulty=0.3, spurious=0.9, seed=3)
    root = make_synthetic_shapes(tmp_path / "shapes", **kw)
    table = shapes_table(root)
    train, test = table[table.split == "train"], table[table.split == "test"]
    assert len(train) == 60 and len(test) == 30 and train["label"].value_counts().tolist() == [10] * 6
    assert train["spurious"].mean() > 0.8 and test["spurious"].mean() < 0.5   # cue broken in test
    ds = load_synthetic_shapes(root, "train")
    assert ds.classes == list(SHAPES) and len(ds) == 60
    row = train.iloc[0]
    i = [str(p.relative_to(root)) for p, _ in ds.samples].index(row["path"])
    x, y, m = ds[i]
    assert int(y) == row["label"] and x.shape == (3, 32, 32)
    assert 0.05 < m.mean() < 0.5   # an object, not the whole image
    # the mask is exact: pixels inside differ from the texture outside
    inside = x[:, m[0] > 0].mean(1)
    assert inside.std(0).max() < 0.35
    again = make_synthetic_shapes(tmp_path / "shapes", **kw)   # reused, same files
    assert again == root
    other = make_synthetic_shapes(tmp_path / "other", **kw)
    assert (Path(other) / "train" / row["path"].split("/", 1)[1]).read_bytes() == (root / row["path"]).read_bytes()
    with pytest.raises(DataError, match="overwrite"):
        make_synthetic_shapes(tmp_path / "shapes", **{**kw, "seed": 4})
    assert set(table["texture"]) <= set(TEXTURES)


# --------------------------------------------------------------------------- real shared samples


def _shared(name: str) -> Path:
    root = os.environ.get("PAPERKIT_DATA")
    if not root or not (Path(root) / name).exists():
        pytest.skip(f"real sample {name}/ not found: set PAPERKIT_DATA to the shared data folder")
    return Path(root) / name


def test_real_mnist_test_set():
    ds = load_mnist(_shared("mnist"), "test")
    assert len(ds) == 10000 and ds.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert torch.bincount(ds.labels).min() > 800


def test_real_cifar10_test_tar():
    root = _shared("cifar10")
    if not (root / "test.tar").is_file():
        pytest.skip(f"{root}/test.tar not found")
    ds = load_cifar(root, "test")
    assert len(ds) == 10000 and torch.bincount(ds.labels).tolist() == [1000] * 10
    assert ds[0][0].shape == (3, 32, 32)
