"""3D MedMNIST subsets (e.g. AdrenalMNIST3D) from their official ``.npz`` files, as video clips.

Layout (MedMNIST v2, Yang et al., Scientific Data 2023; medmnist.com, the ``medmnist``
package's ``INFO``): one ``.npz`` per subset (``flag``, e.g. ``adrenalmnist3d``) and size,
``<flag>.npz`` at 28 voxels (``<flag>_28.npz`` in some copies) and ``<flag>_64.npz`` at 64
(MedMNIST+), holding ``{train,val,test}_images`` -- uint8 volumes ``(N, D, H, W)`` -- and
``{train,val,test}_labels`` -- ``(N, 1)`` class indices (binary or multi-class); the file is read
by :func:`paperkit.data.datasets.medmnist.load_medmnist_npz`, the same reader as 2D sets. The official
train/val/test split is used unchanged (MedMNIST does not publish subject ids, so no other
split can be checked for subject overlap).

MedMNIST stores no orientation: ``axis`` is the array axis the frames are taken along
(0 = D, the default; 1 = H; 2 = W). :class:`MedMNIST3DFrames` gives the same
``(1, T, H, W)`` float tensors as :class:`paperkit.data.mri_frames.MRIFrames`, with the same
TSN sampling (random slice per segment in training, middle slice at test) or all frames.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from paperkit.data.datasets.medmnist import MEDMNIST_SPLITS, load_medmnist_npz
from paperkit.data.io.errors import DataError
from paperkit.data.mri_frames import (
    check_frame_options,
    frames_from_volume,
    intensity_stats,
    resample_depth,
    tsn_indices,
)

__all__ = ["MEDMNIST3D_SIZES", "MedMNIST3DFrames", "find_medmnist3d", "load_medmnist3d"]

MEDMNIST3D_SIZES = (28, 64)
_NORMALIZATIONS = ("unit", "zscore")


def find_medmnist3d(data_dir: str | os.PathLike, flag: str, size: int = 28) -> Path:
    """The ``.npz`` of subset ``flag`` at ``size`` in ``data_dir`` (names: module docstring)."""
    if size not in MEDMNIST3D_SIZES:
        raise ValueError(f"size={size!r}: expected one of {MEDMNIST3D_SIZES} for 3D MedMNIST")
    flag = str(flag).lower()
    if not flag.endswith("3d"):
        raise ValueError(f"flag={flag!r}: expected a 3D MedMNIST subset name ending in '3d', e.g. 'adrenalmnist3d'")
    folder = Path(os.path.abspath(os.fspath(data_dir)))
    if not folder.is_dir():
        raise DataError(f"{folder}: MedMNIST folder not found")
    names = [f"{flag}.npz", f"{flag}_28.npz"] if size == 28 else [f"{flag}_{size}.npz"]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {' or '.join(names)}; expected the MedMNIST file of {flag} at size {size}")


def load_medmnist3d(path: str | os.PathLike, splits: Sequence[str] = MEDMNIST_SPLITS
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a 3D MedMNIST ``.npz`` into ``{split: (volumes uint8 (N, D, H, W), labels int64 (N,))}``.

    The file is read by :func:`~paperkit.data.datasets.medmnist.load_medmnist_npz` (``volumes=True``),
    the one MedMNIST reader. Labels must be one class index per volume (``(N,)`` or ``(N, 1)``);
    multi-label sets are refused. A missing key, a non-4D or non-uint8 image array, or a count
    mismatch is a :class:`DataError` naming the file and key.
    """
    path = Path(os.path.abspath(os.fspath(path)))
    out = {}
    for s, (volumes, labels) in load_medmnist_npz(path, splits, volumes=True).items():
        if labels.shape[1] != 1:
            raise DataError(f"{path}: {s}_labels has shape {labels.shape}; expected one class index per volume "
                            "(N,) or (N, 1)")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{path}: {s}_labels must be integer class indices, got {labels.dtype}")
        out[s] = (volumes, labels[:, 0].astype(np.int64))
    return out


class MedMNIST3DFrames(Dataset):
    """3D MedMNIST volumes as ``(x (1, T, S, S) float32, label int)`` clips.

    ``volumes`` uint8 ``(N, D, H, W)`` and ``labels`` ``(N,)`` as from :func:`load_medmnist3d`.
    Frames are taken along array ``axis`` with TSN sampling (``segments`` = K; ``train``
    random, else middle) or ``frames="all"`` (``depth`` resamples), and resized to
    ``frame_size`` (default: the stored size). ``normalize="unit"`` divides by 255 (the
    MedMNIST convention); ``"zscore"`` standardises each volume over its foreground.
    """

    def __init__(self, volumes: np.ndarray, labels: np.ndarray, *, axis: int = 0, segments: int = 16,
                 frame_size: int | None = None, train: bool = False, frames: str = "tsn",
                 depth: int | None = None, normalize: str = "unit"):
        volumes, labels = np.asarray(volumes), np.asarray(labels).reshape(len(labels), -1)
        if volumes.ndim != 4:
            raise ValueError(f"MedMNIST3DFrames: expected volumes (N, D, H, W), got shape {volumes.shape}")
        if labels.shape != (len(volumes), 1):
            raise ValueError(f"MedMNIST3DFrames: expected one label per volume, got labels {labels.shape} "
                             f"for {len(volumes)} volumes")
        if axis not in (0, 1, 2):
            raise ValueError(f"axis={axis!r}: expected 0 (D), 1 (H) or 2 (W)")
        if normalize not in _NORMALIZATIONS:
            raise ValueError(f"normalize={normalize!r}: expected one of {_NORMALIZATIONS}")
        check_frame_options(frames, segments, depth)
        self.volumes, self.label_array = volumes, labels[:, 0].astype(np.int64)
        self.axis, self.segments, self.train, self.frames, self.depth = axis, int(segments), bool(train), frames, depth
        in_plane = [s for a, s in enumerate(volumes.shape[1:]) if a != axis]
        self.frame_size = int(frame_size) if frame_size is not None else max(in_plane)
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.volumes)

    @property
    def labels(self) -> list[int]:
        """Class index of every item, in order."""
        return self.label_array.tolist()

    def __getitem__(self, index: int):
        volume = self.volumes[index]
        if self.normalize == "unit":
            offset, scale = 0.0, 255.0
        else:
            offset, scale = intensity_stats(volume, "zscore")
        indices = None if self.frames == "all" else tsn_indices(volume.shape[self.axis], self.segments, self.train)
        x = frames_from_volume(volume, self.axis, indices, self.frame_size, keep_aspect=False,
                               offset=offset, scale=scale)
        if self.frames == "all" and self.depth is not None:
            x = resample_depth(x, int(self.depth))
        return x[None].contiguous(), int(self.label_array[index])
