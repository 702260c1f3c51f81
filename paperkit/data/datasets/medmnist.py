"""MedMNIST subsets from their official ``.npz`` files: the one reader (2D and 3D), and the 2D dataset.

Layout (MedMNIST v2, Yang et al., Scientific Data 2023; medmnist.com and the ``medmnist``
package's ``INFO``): one NumPy ``.npz`` per subset and size, named ``<subset>.npz`` at 28
pixels and ``<subset>_<size>.npz`` otherwise, holding six arrays

=====================  ==================================================================
key                    array
=====================  ==================================================================
``{split}_images``     uint8, ``(N, H, W)`` grey or ``(N, H, W, 3)`` colour (2D subsets)
``{split}_labels``     integer ``(N, 1)`` class index, or ``(N, L)`` 0/1 (multi-label)
=====================  ==================================================================

for ``split`` in ``train``, ``val``, ``test`` (the official splits, used unchanged).
3D subsets (``...mnist3d``) store ``(N, D, H, W)`` volumes under the same keys: read them
with ``volumes=True`` (the 3D clips of :mod:`paperkit.data.datasets.medmnist3d` do).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
from torch.utils.data import Dataset

from paperkit.data.io.errors import DataError

MEDMNIST_SPLITS = ("train", "val", "test")
# Labels per subset (the medmnist package's INFO): class count of a multi-class subset, or
# the number of 0/1 columns of a multi-label one (ChestMNIST). Files are <flag>[_<size>].npz.
MEDMNIST_CLASSES = {
    "pathmnist": 9, "dermamnist": 7, "octmnist": 4, "pneumoniamnist": 2, "retinamnist": 5,
    "breastmnist": 2, "bloodmnist": 8, "tissuemnist": 8, "organamnist": 11, "organcmnist": 11,
    "organsmnist": 11, "organmnist3d": 11, "nodulemnist3d": 2, "adrenalmnist3d": 2,
    "fracturemnist3d": 3, "vesselmnist3d": 2, "synapsemnist3d": 2,
}
MEDMNIST_MULTILABEL = {"chestmnist": 14}


def _check_label_values(path: Path, split: str, labels: np.ndarray, n_classes: int | None) -> None:
    """Refuse label values no class has: NaN, negative, fractional, or >= ``n_classes``.

    One column holds class indices ``0..n_classes-1``; several columns are 0/1 flags.
    A wrong value would otherwise become a wrong target silently (e.g. -1 read as a class).
    """
    if labels.size == 0:
        return
    values = labels.astype(np.float64)
    top = 2 if labels.shape[1] > 1 else n_classes  # None: no known class count
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if top is not None:
        bad |= values >= top
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        expected = ("0/1 per column (multi-label)" if labels.shape[1] > 1 else
                    f"a class index 0..{top - 1}" if top is not None else "a non-negative integer class index")
        raise DataError(f"{path}: {split}_labels[{row}, {column}] is {labels[row, column]!r} "
                        f"({int(bad.sum())} bad value(s)); expected {expected}")


def subset_classes(path: str | os.PathLike) -> int | None:
    """Class count (or label columns) of a MedMNIST file from its name (``<flag>[_<size>].npz``), else None."""
    flag = Path(path).name.lower().removesuffix(".npz").rsplit("_", 1)[0]
    return MEDMNIST_CLASSES.get(flag, MEDMNIST_MULTILABEL.get(flag))


def _check_pair(path: Path, split: str, images: np.ndarray, labels: np.ndarray, volumes: bool = False,
                n_classes: int | None = None) -> np.ndarray:
    """Validate one split's arrays (2D images, or 3D volumes with ``volumes=True``); returns labels as ``(N, L)``.

    Label values are checked by :func:`_check_label_values` against ``n_classes`` (None: no upper bound).
    """
    key = f"{split}_images"
    if volumes and images.ndim != 4:
        raise DataError(f"{path}: {key} has shape {images.shape}; expected 3D volumes (N, D, H, W) "
                        "(read 2D MedMNIST with volumes=False)")
    if images.dtype != np.uint8:
        raise DataError(f"{path}: {key} must be uint8, got {images.dtype}")
    if not volumes and images.ndim == 4 and images.shape[-1] != 3:
        raise DataError(
            f"{path}: {key} has shape {images.shape}, a 3D set (N, D, H, W); expected 2D images "
            "(N, H, W) or (N, H, W, 3). Read 3D MedMNIST volumes with volumes=True (or the 3D loaders)")
    if not volumes and images.ndim not in (3, 4):
        raise DataError(f"{path}: {key} has shape {images.shape}; expected (N, H, W) or (N, H, W, 3)")
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise DataError(f"{path}: {split}_labels has shape {labels.shape}; expected (N, 1) or (N, L)")
    if len(labels) != len(images):
        raise DataError(f"{path}: {split}_labels has {len(labels)} rows but {key} has "
                        f"{len(images)} images; expected one label row per image")
    if not np.issubdtype(labels.dtype, np.integer) and not np.issubdtype(labels.dtype, np.floating):
        raise DataError(f"{path}: {split}_labels must be numeric, got {labels.dtype}")
    _check_label_values(path, split, labels, n_classes)
    return labels


def load_medmnist_npz(
    path: str | os.PathLike, splits: Sequence[str] = MEDMNIST_SPLITS, *, volumes: bool = False,
    n_classes: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a MedMNIST ``.npz`` into ``{split: (images uint8, labels (N, L))}``.

    Layout: module docstring (MedMNIST v2, medmnist.com). Images are 2D ``(N, H, W[, 3])``,
    or with ``volumes=True`` 3D ``(N, D, H, W)``. Labels of shape ``(N,)`` are returned as
    ``(N, 1)``. A missing key, images of the other dimensionality, a non-uint8 image array
    or a label count that differs from the image count is a ``DataError`` naming the file
    and key. So is a label value no class has (NaN, negative, fractional, or ``>= n_classes``;
    ``n_classes`` defaults to the subset's count from the file name, :data:`MEDMNIST_CLASSES`,
    and multi-label columns must be 0/1), and an archive member that fails to decompress
    (CRC error, truncated download).
    """
    p = Path(os.path.abspath(os.fspath(path)))
    if not p.is_file():
        raise DataError(f"{p}: MedMNIST .npz file not found")
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{p}: not a readable .npz archive ({type(e).__name__}: {e})") from e
    with archive:
        keys = set(archive.files)
        wanted = [f"{s}_{kind}" for s in splits for kind in ("images", "labels")]
        absent = [k for k in wanted if k not in keys]
        if absent:
            raise DataError(f"{p}: missing key(s) {absent}; expected the MedMNIST keys "
                            f"{{train,val,test}}_{{images,labels}}, found {sorted(keys)}")
        n_classes = subset_classes(p) if n_classes is None else n_classes
        out = {}
        for s in splits:
            images, labels = _member(p, archive, f"{s}_images"), _member(p, archive, f"{s}_labels")
            out[s] = (images, _check_pair(p, s, images, labels, volumes, n_classes))
    return out


def _member(path: Path, archive, key: str) -> np.ndarray:
    """One array of an open ``.npz``; a corrupt member (bad CRC, truncated) is a DataError naming file and key."""
    try:
        return archive[key]
    except Exception as e:  # zipfile/zlib/numpy raise several types for a damaged member
        raise DataError(f"{path}: array {key!r} is damaged ({type(e).__name__}: {e}); expected an intact "
                        "MedMNIST .npz -- download it again") from e


class MedMNISTDataset(Dataset):
    """A ``torch`` dataset over MedMNIST arrays: ``(image C x H x W float32 [0, 1], labels float32)``.

    ``images`` is uint8 ``(N, H, W)`` or ``(N, H, W, 3)`` (as returned by
    :func:`load_medmnist_npz`); ``channels`` 1 (colour images are averaged to grey) or 3
    (grey is repeated); ``image_size`` resizes (bilinear, antialiased) when it differs from
    the stored size, ``None`` keeps it. ``transform`` is applied to the [0, 1] tensor, then
    ``normalize=(mean, std)``. Labels are the row of ``labels`` as float32 (for a
    multi-class subset, use ``labels.long()`` as the class index). All images stay in memory
    as the uint8 array given (PneumoniaMNIST at 28 px: 3.7 MB).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        channels: int = 1,
        image_size: int | Sequence[int] | None = None,
        transform: Callable[[Any], Any] | None = None,
        *,
        normalize: tuple[Any, Any] | None = None,
    ):
        import torch

        images = np.asarray(images)
        labels = np.asarray(labels)
        labels = _check_pair(Path("<arrays>"), "given", images, labels)
        if channels not in (1, 3):
            raise ValueError(f"MedMNISTDataset: channels={channels!r}; expected 1 or 3")
        self.images = images
        self.labels = torch.from_numpy(labels.astype(np.float32))
        self.channels = channels
        if image_size is None:
            self.image_size = None
        else:
            size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"image_size={image_size!r}: expected a positive int or (height, width)")
            self.image_size = (int(size[0]), int(size[1]))
        self.transform = transform
        self._norm = None
        if normalize is not None:
            self._norm = tuple(torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1) for v in normalize)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        import torch
        import torch.nn.functional as F

        img = torch.from_numpy(self.images[index].astype(np.float32) / np.float32(255))
        x = img.permute(2, 0, 1) if img.ndim == 3 else img[None]  # C x H x W
        if self.channels == 1 and x.shape[0] == 3:
            x = x.mean(dim=0, keepdim=True)
        elif self.channels == 3 and x.shape[0] == 1:
            x = x.expand(3, -1, -1)
        if self.image_size is not None and tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x[None], size=self.image_size, mode="bilinear", align_corners=False,
                              antialias=True)[0].clamp_(0, 1)
        x = x.contiguous()
        if self.transform is not None:
            x = self.transform(x)
        if self._norm is not None:
            x = (x - self._norm[0]) / self._norm[1]
        return x, self.labels[index].clone()
