"""Image-classification sets of Model Doctor's Table 1, read from disk (never downloaded).

Layouts accepted (``root`` is the folder you pass; each loader looks where torchvision's
``download=True`` puts the files, and also directly in ``root``):

==================  ==========================================================================
set                 files
==================  ==========================================================================
MNIST               ``[MNIST/raw/]{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (LeCun's idx)
Fashion-MNIST       the same names under ``[FashionMNIST/raw/]`` (Zalando's idx files)
CIFAR-10            ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` (pickles);
                    or ``test/<class>/NNNN.jpg`` folders, or ``test.tar`` holding them
CIFAR-100           ``cifar-100-python/{train,test,meta}`` (pickles, fine labels)
SVHN                ``{train,test,extra}_32x32.mat`` (cropped digits; label 10 means digit 0)
STL-10              ``stl10_binary/{train,test}_{X,y}.bin`` + ``class_names.txt`` (labels 1..10)
mini-ImageNet       ``{train,val,test}/<wnid>/*.jpg`` (ImageFolder); the few-shot split (disjoint
                    classes per split), also as ``images/*.jpg`` + ``{train,val,test}.csv``
                    (``filename,label``), is pooled and re-split per class by :func:`load_mini_imagenet_draw`
ImageFolder+masks   ``<root>/<class>/<name>.<ext>`` and, in a parallel folder,
                    ``<mask_root>/<class>/<name>.png`` coarse foreground masks (nonzero =
                    object), as exported from labelme annotations
==================  ==========================================================================

Layouts follow the publishers' pages (yann.lecun.com/exdb/mnist, github.com/zalandoresearch/
fashion-mnist, cs.toronto.edu/~kriz/cifar.html, ufldl.stanford.edu/housenumbers,
cs.stanford.edu/~acoates/stl10) and torchvision's dataset folders. Every loader returns a
torch dataset of ``(image C x H x W float32 in [0, 1], label int64)`` -- plus
``mask 1 x H x W float32`` when masks are asked for -- with ``.classes``.

Offline: :func:`load_digits_set` uses scikit-learn's bundled 8x8 digits (1797 real images,
upsampled to 28 px), and :mod:`paperkit.data.synthetic.shapes` writes a masked ImageFolder.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from paperkit.data.io.errors import DataError, MissingSplitError

SPLIT_FOLDERS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
HOW_TO_GET = {
    "mnist": "torchvision.datasets.MNIST(root, download=True) on a machine with network, or the four idx files",
    "fashion_mnist": "torchvision.datasets.FashionMNIST(root, download=True), or the four idx files",
    "cifar10": "torchvision.datasets.CIFAR10(root, download=True), or unpack cifar-10-python.tar.gz",
    "cifar100": "torchvision.datasets.CIFAR100(root, download=True), or unpack cifar-100-python.tar.gz",
    "svhn": "torchvision.datasets.SVHN(root, split, download=True), or the *_32x32.mat files",
    "stl10": "torchvision.datasets.STL10(root, download=True), or unpack stl10_binary.tar.gz",
    "mini_imagenet": "the mini-ImageNet split (Vinyals et al. 2016) arranged as split/<wnid>/*.jpg",
}


# --------------------------------------------------------------------------- datasets


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(img)).float() / 255.0
    return x.permute(2, 0, 1) if x.ndim == 3 else x[None]


class _Prepare:
    """Channel conversion, resizing, transform and normalisation shared by the datasets."""

    def __init__(self, channels, image_size, transform, normalize):
        if channels not in (None, 1, 3):
            raise ValueError(f"channels={channels!r}: expected 1, 3 or None (as stored)")
        self.channels = channels
        self.size = None if image_size is None else ((image_size, image_size) if isinstance(image_size, int)
                                                     else tuple(image_size))
        self.transform = transform
        self.norm = None if normalize is None else tuple(torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1)
                                                         for v in normalize)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels == 1 and x.shape[0] == 3:
            x = x.mean(0, keepdim=True)
        elif self.channels == 3 and x.shape[0] == 1:
            x = x.expand(3, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x[None], size=self.size, mode="bilinear", align_corners=False,
                              antialias=True)[0].clamp_(0, 1)
        x = x.contiguous()
        if self.transform is not None:
            x = self.transform(x)
        if self.norm is not None:
            x = (x - self.norm[0]) / self.norm[1]
        return x

    def mask(self, m: torch.Tensor) -> torch.Tensor:
        if self.size is not None and tuple(m.shape[-2:]) != self.size:
            m = F.interpolate(m[None], size=self.size, mode="nearest")[0]
        return m


class ImageArrayDataset(Dataset):
    """In-memory images ``uint8 (N, H, W[, 3])`` and labels -> ``(image, label)`` tensors.

    ``channels`` 1 or 3 converts grey/colour (None keeps them), ``image_size`` resizes
    (bilinear, antialiased), ``transform`` acts on the [0, 1] tensor, then ``normalize=(mean, std)``.
    """

    def __init__(self, images: np.ndarray, labels: Sequence[int], classes: Sequence[str], *,
                 channels: int | None = None, image_size: int | Sequence[int] | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 normalize: tuple[Any, Any] | None = None, source: str = "<arrays>"):
        images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
            raise DataError(f"{source}: images are {images.dtype} {images.shape}; "
                            "expected uint8 (N, H, W) or (N, H, W, 3)")
        if len(labels) != len(images):
            raise DataError(f"{source}: {len(labels)} labels for {len(images)} images; expected one label per image")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise DataError(f"{source}: labels span {labels.min()}..{labels.max()}; expected 0..{len(classes) - 1}")
        self.images, self.labels, self.classes = images, torch.as_tensor(labels, dtype=torch.long), list(classes)
        self.prepare = _Prepare(channels, image_size, transform, normalize)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.prepare.image(_to_tensor(self.images[index])), self.labels[index]


def _read_rgb_or_grey(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("L", "1") else im.convert("RGB")
            return np.array(im, dtype=np.uint8)  # a writable copy
    except Exception as err:  # PIL raises several types for unreadable files
        raise DataError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A coarse foreground mask PNG as bool ``(H, W)``: any nonzero value (or label index) is object."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except Exception as err:
        raise DataError(f"{path}: not a readable mask image ({type(err).__name__}: {err})") from err
    return (arr.reshape(arr.shape[0], arr.shape[1], -1)[..., :3] > 0).any(-1)



def class_folders(root: Path) -> list[str]:
    """Sorted names of the (non-hidden) class sub-folders of ``root``."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_same_classes(classes_of: dict[str, Sequence[str]]) -> None:
    """Raise :class:`DataError` unless every entry (split name or folder -> class list) has the same classes.

    Label ``k`` means ``classes[k]``; if two splits list different classes, the same label
    would name different classes in each. The message names the classes each side lacks.
    """
    items = list(classes_of.items())
    first_name, first = items[0][0], set(items[0][1])
    for name, classes in items[1:]:
        if set(classes) != first:
            only_first, only_here = sorted(first - set(classes)), sorted(set(classes) - first)
            raise DataError(f"{name}: class list differs from {first_name}: only in {first_name}: {only_first}, "
                            f"only in {name}: {only_here}; expected the same classes in every split "
                            "(a few-shot split, with disjoint classes, cannot be used for classification)")


def check_split_classes(root: Path) -> None:
    """If ``root`` is a ``train``/``val``/``test`` folder, check its sibling split folders hold the same classes."""
    if root.name not in SPLIT_FOLDERS:
        return
    splits = {root.parent / s: class_folders(root.parent / s) for s in SPLIT_FOLDERS if (root.parent / s).is_dir()}
    check_same_classes({str(k): v for k, v in sorted(splits.items(), key=lambda kv: kv[0] != root)})


class ImageFolderDataset(Dataset):
    """``root/<class>/<image>`` read lazily; with ``mask_root``, also ``(1, H, W)`` foreground masks.

    Classes are the sub-folder names, sorted (as torchvision's ``ImageFolder``) unless
    ``classes`` fixes the order. The mask of ``root/<class>/<name>.<ext>`` is
    ``mask_root/<class>/<name>.png``; an image without one gets an all-foreground mask
    (nothing to constrain) and ``has_mask[i] = False``. Masks are resized with the image
    (nearest); only give photometric ``transform`` s when masks are used.

    Labels are checked, never guessed: every class must have images (a missing folder would
    shift the labels after it), and when ``root`` is a split folder (``train``/``val``/``test``)
    beside other split folders, all of them must hold the same class folders
    (:func:`check_split_classes`; ``check_splits=False`` skips that).
    """

    def __init__(self, root: str | os.PathLike, *, mask_root: str | os.PathLike | None = None,
                 classes: Sequence[str] | None = None, channels: int | None = 3,
                 image_size: int | Sequence[int] | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 normalize: tuple[Any, Any] | None = None, check_splits: bool = True):
        root = Path(os.path.abspath(os.fspath(root)))
        if not root.is_dir():
            raise DataError(f"{root}: image folder not found; expected {root}/<class>/<image files>")
        found = class_folders(root)
        if check_splits:
            check_split_classes(root)
        classes = list(classes) if classes is not None else found
        unknown = [c for c in found if c not in classes]
        if not classes or unknown:
            raise DataError(f"{root}: class folders {found}; expected one folder per class {classes}")
        self.root, self.classes = root, classes
        self.samples: list[tuple[Path, int]] = []
        empty = []
        for label, name in enumerate(classes):
            folder = root / name
            images = ([(p, label) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
                      if folder.is_dir() else [])
            empty += [] if images else [name]
            self.samples += images
        if not self.samples:
            raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
        if empty:
            raise DataError(f"{root}: no images for class(es) {empty}; expected a non-empty folder per class "
                            f"{classes} (a missing class would shift every later label)")
        self.mask_root = None if mask_root is None else Path(os.path.abspath(os.fspath(mask_root)))
        if self.mask_root is not None and not self.mask_root.is_dir():
            raise DataError(f"{self.mask_root}: mask folder not found; expected {self.mask_root}/<class>/<name>.png "
                            f"next to the images in {root}")
        self.has_mask = [self._mask_path(p, y).is_file() for p, y in self.samples] if self.mask_root else []
        self.prepare = _Prepare(channels, image_size, transform, normalize)

    def _mask_path(self, path: Path, label: int) -> Path:
        return self.mask_root / self.classes[label] / (path.stem + ".png")

    @property
    def targets(self) -> list[int]:
        return [y for _, y in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        raw = _to_tensor(_read_rgb_or_grey(path))
        x = self.prepare.image(raw)
        y = torch.tensor(label, dtype=torch.long)
        if self.mask_root is None:
            return x, y
        if self.has_mask[index]:
            m = read_mask(self._mask_path(path, label))
            if m.shape != tuple(raw.shape[-2:]):
                raise DataError(f"{self._mask_path(path, label)}: mask is {m.shape}, image {path} is "
                                f"{tuple(raw.shape[-2:])}; expected the same height and width")
            mask = torch.from_numpy(m.astype(np.float32))[None]
        else:
            mask = torch.ones(1, *raw.shape[-2:])
        return x, y, self.prepare.mask(mask)


# --------------------------------------------------------------------------- readers


def _need_dir(root: str | os.PathLike, name: str) -> Path:
    root = Path(os.path.abspath(os.fspath(root)))
    if not root.is_dir():
        raise DataError(f"{root}: {name} folder not found. Get the data with {HOW_TO_GET[name]} "
                        f"(download=False here: paperkit never downloads), then point data_dir at it")
    return root


def _find(root: Path, names: Sequence[str], subdirs: Sequence[str], what: str, name: str) -> Path:
    for sub in subdirs:
        for n in names:
            p = root / sub / n if sub else root / n
            if p.is_file():
                return p
    raise MissingSplitError(f"{root}: {what} not found (looked for {list(names)} in {[s or '.' for s in subdirs]}). "
                            f"Get it with {HOW_TO_GET[name]}")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (MNIST format; gzipped if the name ends in ``.gz``) as a NumPy array."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except EOFError as err:  # the download or copy was cut short
            raise DataError(f"{path}: the gzip stream ends early (truncated file?); download it again") from err
        except (OSError, zlib.error) as err:
            raise DataError(f"{path}: not a gzip file ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an idx file of unsigned bytes (magic {raw[:4].hex()}; expected 000008xx)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} ({int(np.prod(dims))} bytes) but holds {data.size}; truncated?")
    return data.reshape(dims).copy()  # frombuffer is read-only


def load_mnist(root: str | os.PathLike, split: str = "train", *, fashion: bool = False,
               **dataset_kwargs) -> ImageArrayDataset:
    """MNIST (or Fashion-MNIST with ``fashion=True``) ``split`` in ``("train", "test")`` from idx files."""
    name = "fashion_mnist" if fashion else "mnist"
    root = _need_dir(root, name)
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'")
    prefix = "train" if split == "train" else "t10k"
    subdirs = ("", "raw", "FashionMNIST/raw" if fashion else "MNIST/raw")
    found = {}
    for kind, tag in (("images", "images-idx3"), ("labels", "labels-idx1")):
        base = f"{prefix}-{tag}-ubyte"
        found[kind] = _find(root, (base, base + ".gz"), subdirs, f"{split} {kind} ({base}[.gz])", name)
    images, labels = read_idx(found["images"]), read_idx(found["labels"])
    classes = ([str(d) for d in range(10)] if not fashion else
               ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot"])
    return ImageArrayDataset(images, labels.astype(np.int64), classes, source=str(found["images"]), **dataset_kwargs)


# The only globals a CIFAR batch may name: what numpy's own pickles of arrays, dtypes and
# scalars call (numpy 1.x writes numpy.core.*, numpy 2.x numpy._core.*; the original
# batches are Python 2 pickles), plus _codecs.encode, which Python 3 uses for bytes at
# protocols 0-2. Nothing else can be called, so a crafted batch cannot run code.
_PICKLE_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core") for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
    ("_codecs", "encode"),
})


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts, strings, bytes and numbers; refuses any other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}")
        with warnings.catch_warnings():  # numpy 2 warns when numpy.core is imported
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    """A CIFAR batch or meta pickle as a dict with str keys, read with :class:`_RestrictedUnpickler`."""
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"{path}: refused to unpickle ({err}); a CIFAR batch holds only numpy arrays, lists, "
                        "dicts, strings and numbers. Is it a crafted or foreign pickle?") from err
    except Exception as err:
        raise DataError(f"{path}: not a readable CIFAR pickle ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise DataError(f"{path}: holds a {type(obj).__name__}; expected a CIFAR batch (a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _cifar_jpeg_folder(root: Path, split: str, **dataset_kwargs) -> ImageArrayDataset:
    """CIFAR-10 as ``split/<class>/*.jpg`` folders or a ``split.tar`` holding them."""
    folder, archive = root / split, root / f"{split}.tar"
    entries: list[tuple[str, bytes]] = []
    if folder.is_dir():
        entries = [(f"{p.parent.name}", p.read_bytes()) for p in sorted(folder.glob("*/*"))
                   if p.suffix.lower() in IMAGE_SUFFIXES]
        source = folder
    else:
        try:
            with tarfile.open(archive) as tar:
                for m in sorted(tar.getmembers(), key=lambda m: m.name):
                    parts = Path(m.name).parts
                    if m.isfile() and len(parts) >= 3 and Path(m.name).suffix.lower() in IMAGE_SUFFIXES:
                        entries.append((parts[-2], tar.extractfile(m).read()))
        except (tarfile.TarError, OSError) as err:
            raise DataError(f"{archive}: not a readable tar of {split}/<class>/*.jpg ({err})") from err
        source = archive
    if not entries:
        raise DataError(f"{source}: no images in {split}/<class>/ folders")
    found = sorted({c for c, _ in entries})
    classes = list(CIFAR10_CLASSES) if set(found) <= set(CIFAR10_CLASSES) else found
    from PIL import Image

    images = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.uint8) for _, b in entries])
    labels = np.array([classes.index(c) for c, _ in entries], dtype=np.int64)
    return ImageArrayDataset(images, labels, classes, source=str(source), **dataset_kwargs)


def load_cifar(root: str | os.PathLike, split: str = "train", *, num_classes: int = 10,
               **dataset_kwargs) -> ImageArrayDataset:
    """CIFAR-10/100 ``split`` from torchvision's pickle folder (or CIFAR-10 JPEG folders / ``test.tar``)."""
    if num_classes not in (10, 100):
        raise ValueError(f"num_classes={num_classes}: expected 10 or 100")
    name = f"cifar{num_classes}"
    root = _need_dir(root, name)
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'")
    folder = root / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")
    if not folder.is_dir() and root.name == folder.name:
        folder = root
    if not folder.is_dir():
        if num_classes == 10 and ((root / split).is_dir() or (root / f"{split}.tar").is_file()):
            return _cifar_jpeg_folder(root, split, **dataset_kwargs)
        raise DataError(f"{root}: neither {folder.name}/ nor {split}/ or {split}.tar found. "
                        f"Get it with {HOW_TO_GET[name]}")
    if num_classes == 10:
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        meta, label_key, names_key = "batches.meta", "labels", "label_names"
    else:
        files, meta, label_key, names_key = [split], "meta", "fine_labels", "fine_label_names"
    images, labels = [], []
    for f in files:
        path = folder / f
        if not path.is_file():
            raise DataError(f"{path}: CIFAR file missing; expected {files} in {folder}. Get it with {HOW_TO_GET[name]}")
        d = _unpickle(path)
        if "data" not in d or label_key not in d:
            raise DataError(f"{path}: keys {sorted(d)}; expected 'data' and {label_key!r}")
        images.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(d[label_key], dtype=np.int64))
    classes = (list(_unpickle(folder / meta)[names_key]) if (folder / meta).is_file()
               else [str(i) for i in range(num_classes)])
    return ImageArrayDataset(np.concatenate(images), np.concatenate(labels), classes, source=str(folder),
                             **dataset_kwargs)


def load_svhn(root: str | os.PathLike, split: str = "train", **dataset_kwargs) -> ImageArrayDataset:
    """SVHN cropped digits ``split`` in ``("train", "test", "extra")`` from ``<split>_32x32.mat``."""
    from scipy.io import loadmat

    root = _need_dir(root, "svhn")
    if split not in ("train", "test", "extra"):
        raise ValueError(f"split={split!r}: expected 'train', 'test' or 'extra'")
    path = _find(root, (f"{split}_32x32.mat",), ("", "svhn"), f"{split}_32x32.mat", "svhn")
    try:
        mat = loadmat(path)
    except Exception as err:
        raise DataError(f"{path}: not a readable MATLAB file ({type(err).__name__}: {err})") from err
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: variables {sorted(k for k in mat if not k.startswith('__'))}; expected 'X' and 'y'")
    images = np.ascontiguousarray(np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2))
    labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1) % 10  # the file stores digit 0 as 10
    return ImageArrayDataset(images, labels, [str(d) for d in range(10)], source=str(path), **dataset_kwargs)


def load_stl10(root: str | os.PathLike, split: str = "train", **dataset_kwargs) -> ImageArrayDataset:
    """STL-10 labelled ``split`` in ``("train", "test")`` from ``stl10_binary/`` (96 px colour)."""
    root = _need_dir(root, "stl10")
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'")
    xp = _find(root, (f"{split}_X.bin",), ("stl10_binary", ""), f"{split}_X.bin", "stl10")
    yp = xp.with_name(f"{split}_y.bin")
    if not yp.is_file():
        raise DataError(f"{yp}: label file missing next to {xp.name}")
    raw = np.fromfile(xp, dtype=np.uint8)
    if raw.size % (3 * 96 * 96):
        raise DataError(f"{xp}: {raw.size} bytes is not a whole number of 3x96x96 images")
    images = raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)  # stored column-major per channel
    labels = np.fromfile(yp, dtype=np.uint8).astype(np.int64) - 1
    names = xp.with_name("class_names.txt")
    classes = (names.read_text().split() if names.is_file() else [str(i) for i in range(10)])
    return ImageArrayDataset(np.ascontiguousarray(images), labels, classes, source=str(xp), **dataset_kwargs)


def load_mini_imagenet(root: str | os.PathLike, split: str = "train", **dataset_kwargs) -> ImageFolderDataset:
    """mini-ImageNet ``split`` as an ImageFolder ``root/<split>/<wnid>/*.jpg``.

    Every split folder present must hold the same classes: the few-shot split of Vinyals et
    al. (64 train, 16 val, 20 test classes, all disjoint) is refused with a :class:`DataError`
    naming the classes; Model Doctor classifies, so it needs a split of the same 100 classes.
    """
    root = _need_dir(root, "mini_imagenet")
    if not (root / split).is_dir():
        raise DataError(f"{root / split}: split folder not found; expected {root}/{{train,val,test}}/<wnid>/*.jpg")
    try:
        return ImageFolderDataset(root / split, **dataset_kwargs)
    except DataError as err:
        if "class list differs" not in str(err):
            raise
        raise DataError(f"{err}. To train and test on the same classes, pool the split folders and draw categories "
                        "with load_mini_imagenet_draw (Model Doctor's protocol)") from err


MINI_IMAGENET_TEST_FRACTION = 0.2  # Model Doctor: "480 samples for each category" of mini-ImageNet's 600 train


class ImageListDataset(Dataset):
    """``(image path, label)`` pairs read lazily -> ``(image, label)``, with ``.classes`` and ``.targets``.

    The pooled, re-split mini-ImageNet (:func:`load_mini_imagenet_draw`) is one; ``channels``,
    ``image_size``, ``transform`` and ``normalize`` as in :class:`ImageFolderDataset`.
    """

    def __init__(self, samples: Sequence[tuple[Path, int]], classes: Sequence[str], *, channels: int | None = 3,
                 image_size: int | Sequence[int] | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 normalize: tuple[Any, Any] | None = None):
        self.samples, self.classes = [(Path(p), int(y)) for p, y in samples], list(classes)
        bad = sorted({y for _, y in self.samples if not 0 <= y < len(self.classes)})
        if bad:
            raise DataError(f"ImageListDataset: labels {bad}; expected 0..{len(self.classes) - 1} "
                            f"(one per class of {self.classes})")
        self.prepare = _Prepare(channels, image_size, transform, normalize)

    @property
    def targets(self) -> list[int]:
        return [y for _, y in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        return self.prepare.image(_to_tensor(_read_rgb_or_grey(path))), torch.tensor(label, dtype=torch.long)


def mini_imagenet_pool(root: str | os.PathLike) -> dict[str, list[Path]]:
    """Every mini-ImageNet class folder under ``root`` -> its image files, pooled over the split folders.

    Reads ``root/{train,val,test}/<wnid>/*.jpg`` (the few-shot split of Vinyals et al. as it is
    usually unpacked: 64 + 16 + 20 disjoint classes of 600 images) or, without split folders,
    ``root/<wnid>/*.jpg``. A class found in several split folders keeps the images of all of them.
    Also the layout of Ravi & Larochelle's split files (github twitter/meta-learning-lstm,
    ``data/miniImagenet``): ``root/images/<file>.jpg`` with ``root/{train,val,test}.csv`` of columns
    ``filename,label`` (label = wnid).
    """
    root = _need_dir(root, "mini_imagenet")
    csvs = [root / f"{s}.csv" for s in SPLIT_FOLDERS if (root / f"{s}.csv").is_file()]
    if (root / "images").is_dir() and csvs:
        return _mini_imagenet_csv_pool(root / "images", csvs)
    splits = [root / s for s in SPLIT_FOLDERS if (root / s).is_dir()] or [root]
    pool: dict[str, list[Path]] = {}
    for folder in splits:
        for name in class_folders(folder):
            pool.setdefault(name, []).extend(
                p for p in sorted((folder / name).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES)
    empty = sorted(c for c, files in pool.items() if not files)
    if not pool or empty:
        raise DataError(f"{root}: {'no class folders' if not pool else f'no images for class(es) {empty}'}; "
                        f"expected {root}/{{train,val,test}}/<wnid>/*.jpg or {root}/<wnid>/*.jpg")
    return pool


def _mini_imagenet_csv_pool(images: Path, csvs: Sequence[Path]) -> dict[str, list[Path]]:
    import csv

    pool: dict[str, list[Path]] = {}
    for path in csvs:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"filename", "label"} <= set(reader.fieldnames or []):
                raise DataError(f"{path}: columns {reader.fieldnames}; expected filename,label (Ravi & Larochelle's "
                                "split files)")
            for line, row in enumerate(reader, start=2):
                file = images / row["filename"]
                if not file.is_file():
                    raise DataError(f"{path} line {line}: image {file} not found; expected it in {images}")
                pool.setdefault(row["label"], []).append(file)
    if not pool:
        raise DataError(f"{', '.join(map(str, csvs))}: no rows; expected one filename,label row per image")
    return {name: sorted(files) for name, files in pool.items()}


def load_mini_imagenet_draw(root: str | os.PathLike, *, categories: int = 10, draw: int = 0, seed: int = 0,
                            test_fraction: float = MINI_IMAGENET_TEST_FRACTION,
                            **dataset_kwargs) -> tuple[ImageListDataset, ImageListDataset]:
    """Model Doctor's mini-ImageNet protocol: ``categories`` random classes, their images split per class.

    The paper "randomly selected 10 categories 10 times" from the 100 and trains and tests on the
    same categories; the few-shot folders cannot give that (their splits hold different classes).
    So the classes of every split folder are pooled (:func:`mini_imagenet_pool`), draw ``draw``
    picks ``categories`` of them (seeded by ``seed`` and ``draw``: draws differ, a draw is
    reproducible), and each chosen class's images are shuffled and split, ``test_fraction`` to the
    test set (0.2: the paper's 480 training images of a class's 600). Returns ``(train, test)``,
    both with the same ``classes`` (sorted wnids).
    """
    from paperkit.runtime import derive_seed

    pool = mini_imagenet_pool(root)
    if not 2 <= categories <= len(pool):
        raise DataError(f"{root}: categories={categories}, but the folder holds {len(pool)} classes; "
                        f"expected 2..{len(pool)} categories per draw")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction}: expected a fraction between 0 and 1")
    rng = np.random.default_rng(derive_seed(seed, "mini-imagenet categories", draw))
    classes = sorted(rng.choice(sorted(pool), size=categories, replace=False).tolist())
    train, test = [], []
    for label, name in enumerate(classes):
        files = pool[name]
        if len(files) < 2:
            raise DataError(f"{root}: class {name} has {len(files)} image; expected at least 2 to split it")
        order = rng.permutation(len(files))
        n_test = min(len(files) - 1, max(1, int(round(test_fraction * len(files)))))
        test += [(files[i], label) for i in sorted(order[:n_test])]
        train += [(files[i], label) for i in sorted(order[n_test:])]
    return ImageListDataset(train, classes, **dataset_kwargs), ImageListDataset(test, classes, **dataset_kwargs)


def load_digits_set(split: str = "train", *, image_size: int = 28, test_fraction: float = 0.25, seed: int = 0,
                    **dataset_kwargs) -> ImageArrayDataset:
    """scikit-learn's bundled handwritten digits (1797 real 8x8 images), upsampled to ``image_size``.

    The set carries no writer ids, so the split is a seeded, class-stratified random split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'")
    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1)[:, 0].numpy() * 255).round().astype(np.uint8)
    idx = np.arange(len(images))
    train, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=digits.target)
    use = np.sort(train if split == "train" else test)
    return ImageArrayDataset(images[use], digits.target[use], [str(d) for d in range(10)],
                             source="sklearn.datasets.load_digits", **dataset_kwargs)


LOADERS = {
    "mnist": lambda root, split, **kw: load_mnist(root, split, **kw),
    "fashion_mnist": lambda root, split, **kw: load_mnist(root, split, fashion=True, **kw),
    "cifar10": lambda root, split, **kw: load_cifar(root, split, num_classes=10, **kw),
    "cifar100": lambda root, split, **kw: load_cifar(root, split, num_classes=100, **kw),
    "svhn": load_svhn,
    "stl10": load_stl10,
    "mini_imagenet": load_mini_imagenet,
}


def load_classification_set(name: str, root: str | os.PathLike, split: str = "train", **dataset_kwargs) -> Dataset:
    """Load set ``name`` (a key of :data:`LOADERS`) from ``root``; ``dataset_kwargs`` go to the dataset."""
    if name not in LOADERS:
        raise ValueError(f"unknown classification set {name!r}; expected one of {sorted(LOADERS)}")
    return LOADERS[name](root, split, **dataset_kwargs)
