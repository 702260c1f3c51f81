"""Brain-MRI volumes as videos: slices along one axis become frames, sampled TSN-style.

Video4MRI (Sec. 3.2) treats the slices of a volume as the frames of a video. For each scan,
:class:`MRIFrames`

1. reads the volume once through :class:`paperkit.data.io.cache.VolumeCache` with
   :func:`read_ras` (:func:`paperkit.data.io.readers.read_volume`, then reoriented to the
   closest RAS+ axis order using the file's affine), so later epochs memory-map a ``.npy``;
2. picks the slicing plane: ``"sagittal"`` slices along left-right (RAS axis 0),
   ``"coronal"`` along posterior-anterior (1), ``"axial"`` along inferior-superior (2). Frames
   are shown with superior (sagittal, coronal) or anterior (axial) up, in neurological
   left-right convention;
3. normalises intensities per volume over its foreground (voxels above 10% of the 99th
   percentile, i.e. the head or the skull-stripped brain, not the air): ``"zscore"``
   (default; mean 0, sd 1 over the foreground), ``"minmax"`` (foreground 0.5th..99.5th
   percentile to 0..1, clipped), or ``"none"`` (stored values as float -- the paper says its
   images are "not pre-processed" and PP-Care feeds raw slices);
4. samples frames with TSN segments (:func:`tsn_indices`): the slice axis is cut into
   ``segments`` = K equal segments; in training one random slice per segment, at test the
   middle slice of each segment. A volume with fewer slices than K along the chosen axis is
   a :class:`DataError` naming the file, its slice count and K. ``frames="all"`` returns every
   slice instead (for 3D networks; ``depth=`` resamples them to a fixed count);
5. resizes each frame to ``frame_size`` x ``frame_size``, keeping the physical aspect ratio
   from the voxel spacing (scaled to fit, centred, padded with the volume's minimum) unless
   ``keep_aspect=False`` (stretched, as PP-Care's plain resize).

A file that cannot be decoded is a :class:`DataError` naming it when its item is read;
:func:`check_readable` (also behind the loaders' ``on_unreadable=`` option) decodes a whole
cohort up front and either raises or skips, listing every skipped file.

Items are ``(x, label)`` with ``x`` a float32 tensor ``(C=1, T, H, W)`` (T = K, or the slice
count for ``frames="all"``) and ``label`` an ``int``.

SlowFast needs no extra option: it takes the K frames as its fast pathway and every
``alpha``-th of them (K / alpha) as its slow pathway, so K = 32 with alpha = 8 gives the
paper's 32 fast and 4 slow frames. Training-time draws use torch's global generator, which
:func:`paperkit.train.fit` seeds per epoch and DataLoader worker seeding carries into
workers, so a seeded run repeats; test-time sampling involves no randomness.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from paperkit.data.io.cache import VolumeCache
from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import Volume, read_volume

__all__ = [
    "NORMALIZATIONS",
    "UNREADABLE_CHOICES",
    "VIEWS",
    "MRIFrames",
    "check_frame_options",
    "check_readable",
    "frames_from_volume",
    "intensity_stats",
    "read_ras",
    "resample_depth",
    "tsn_indices",
]

VIEWS = {"sagittal": 0, "coronal": 1, "axial": 2}  # slicing plane -> RAS array axis
NORMALIZATIONS = ("zscore", "minmax", "none")
UNREADABLE_CHOICES = ("raise", "skip")
UNREADABLE_REASON = "unreadable volume"
_FOREGROUND_FRACTION = 0.10   # of the 99th percentile: separates head/brain from air
_STATS_MAX_VOXELS = 2_000_000  # percentiles on a strided subsample above this size


def read_ras(path: str | os.PathLike) -> Volume:
    """:func:`read_volume` of ``path``, axes permuted/flipped to the closest RAS+ order.

    Uses nibabel's ``io_orientation`` on the file's affine (NIfTI, Analyze, DICOM series with
    positions). Without an affine the array is returned unchanged and
    ``meta["reoriented"]`` is False. Spacing follows the permutation.
    """
    import nibabel.orientations as nio

    volume = read_volume(path)
    array = np.asarray(volume.array)
    if array.ndim != 3:
        raise DataError(f"{volume.path}: expected a 3D volume, got an array of shape {array.shape}")
    if volume.affine is None:
        return Volume(array, volume.spacing, None, volume.path, {**volume.meta, "reoriented": False})
    ornt = nio.io_orientation(volume.affine)
    array = nio.apply_orientation(array, ornt)
    order = [int(a) for a in ornt[:, 0]]  # input axis i goes to output axis order[i]
    spacing = [0.0, 0.0, 0.0]
    for i, out in enumerate(order):
        spacing[out] = float(volume.spacing[i])
    affine = volume.affine @ nio.inv_ornt_aff(ornt, volume.array.shape)
    return Volume(np.ascontiguousarray(array), tuple(spacing), affine, volume.path,
                  {**volume.meta, "reoriented": True})


def tsn_indices(n_slices: int, segments: int, train: bool, generator: torch.Generator | None = None) -> np.ndarray:
    """TSN frame indices: ``segments`` equal segments of ``range(n_slices)``, one index each.

    Segment ``i`` spans ``[floor(i * n / K), floor((i + 1) * n / K))`` (at least one slice;
    with fewer slices than segments, neighbouring segments share slices). ``train=True``
    draws a uniform random slice of each segment from ``generator`` (default: torch's
    global generator); ``train=False`` takes the middle slice ``floor((i + 0.5) * n / K)``.
    """
    if n_slices < 1 or segments < 1:
        raise ValueError(f"tsn_indices: expected n_slices >= 1 and segments >= 1, got {n_slices}, {segments}")
    step = n_slices / segments
    starts = np.floor(np.arange(segments) * step).astype(np.int64)
    ends = np.maximum(np.floor(np.arange(1, segments + 1) * step).astype(np.int64), starts + 1)
    ends = np.minimum(ends, n_slices)
    if train:
        u = torch.rand(segments, generator=generator, dtype=torch.float64).numpy()
        index = starts + np.floor(u * (ends - starts)).astype(np.int64)
    else:
        index = np.floor((np.arange(segments) + 0.5) * step).astype(np.int64)
    return np.clip(index, starts, ends - 1)


def intensity_stats(array: np.ndarray, normalize: str) -> tuple[float, float]:
    """``(offset, scale)`` so that ``(array - offset) / scale`` is the ``normalize``-d volume.

    Statistics are over the foreground (module docstring); ``"none"`` gives ``(0, 1)``.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r}: expected one of {NORMALIZATIONS}")
    if normalize == "none":
        return 0.0, 1.0
    step = max(1, math.ceil((array.size / _STATS_MAX_VOXELS) ** (1 / 3)))
    sample = np.asarray(array[::step, ::step, ::step], dtype=np.float64).ravel()
    high = np.percentile(sample, 99)
    foreground = sample[sample > _FOREGROUND_FRACTION * high] if high > 0 else sample
    if foreground.size < 2:
        foreground = sample
    if normalize == "zscore":
        return float(foreground.mean()), float(max(foreground.std(), 1e-6))
    low, top = np.percentile(foreground, [0.5, 99.5])
    return float(low), float(max(top - low, 1e-6))


def _fit_size(rows_mm: float, cols_mm: float, frame_size: int) -> tuple[int, int]:
    """Frame size (rows, cols) that fits ``frame_size`` with the physical aspect ratio."""
    scale = frame_size / max(rows_mm, cols_mm)
    return max(1, round(rows_mm * scale)), max(1, round(cols_mm * scale))


def frames_from_volume(volume: np.ndarray, axis: int, indices: np.ndarray | None, frame_size: int, *,
                       spacing: Sequence[float] = (1.0, 1.0, 1.0), keep_aspect: bool = True,
                       offset: float = 0.0, scale: float = 1.0, clip_unit: bool = False) -> torch.Tensor:
    """Slices ``indices`` (all if None) along ``axis`` of a RAS volume as a ``(T, S, S)`` tensor.

    Each plane is oriented with the later RAS axis up (see the module docstring),
    normalised as ``(v - offset) / scale`` (clipped to [0, 1] with ``clip_unit``), and
    resized (bilinear, antialiased) to ``frame_size`` (``S``): keeping the aspect ratio given
    by ``spacing`` and padding with the minimum, or stretched when ``keep_aspect=False``.
    """
    if volume.ndim != 3 or axis not in (0, 1, 2):
        raise ValueError(f"frames_from_volume: expected a 3D volume and axis 0-2, got {volume.shape}, {axis}")
    planes = np.asarray(volume if indices is None else np.take(volume, indices, axis=axis), dtype=np.float32)
    planes = np.moveaxis(planes, axis, 0)                 # (T, u, v), u before v in RAS order
    planes = np.flip(np.swapaxes(planes, 1, 2), axis=1)   # (T, v reversed, u): v points up
    x = torch.from_numpy(np.ascontiguousarray(planes))
    x = (x - offset) / scale
    if clip_unit:
        x = x.clamp_(0.0, 1.0)
    u_axis, v_axis = [a for a in (0, 1, 2) if a != axis]
    rows, cols = x.shape[1:]
    if keep_aspect:
        size = _fit_size(rows * float(spacing[v_axis]), cols * float(spacing[u_axis]), frame_size)
    else:
        size = (frame_size, frame_size)
    if (rows, cols) != size:
        x = F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False, antialias=True)[:, 0]
    if size != (frame_size, frame_size):
        fill = float(x.min()) if x.numel() else 0.0
        top, left = (frame_size - size[0]) // 2, (frame_size - size[1]) // 2
        x = F.pad(x, (left, frame_size - size[1] - left, top, frame_size - size[0] - top), value=fill)
    return x


def resample_depth(x: torch.Tensor, depth: int) -> torch.Tensor:
    """``(T, H, W)`` -> ``(depth, H, W)`` by linear interpolation along T."""
    if x.shape[0] == depth:
        return x
    return F.interpolate(x[None, None], size=(depth, *x.shape[1:]), mode="trilinear", align_corners=False)[0, 0]


def check_frame_options(frames: str, segments: int, depth: int | None) -> None:
    """Raise ``ValueError`` unless ``frames`` is "tsn"/"all", ``segments`` and ``depth`` positive ints."""
    if frames not in ("tsn", "all"):
        raise ValueError(f"frames={frames!r}: expected 'tsn' (K segments) or 'all' (every slice)")
    if int(segments) != segments or segments < 1:
        raise ValueError(f"segments={segments!r}: expected a positive int (K)")
    if depth is not None and (int(depth) != depth or depth < 1):
        raise ValueError(f"depth={depth!r}: expected None or a positive int")


def _volume_cache(cache: VolumeCache | str | os.PathLike | None) -> VolumeCache:
    if isinstance(cache, VolumeCache):
        return cache
    if cache is None:
        from paperkit.paths import cache_dir

        cache = cache_dir("volumes")
    return VolumeCache(cache)


def _load_checked(cache: VolumeCache, path) -> np.ndarray:
    """The cached RAS volume of ``path``; any decoding failure becomes a DataError naming the file."""
    try:
        return cache.load(path, reader=read_ras)
    except DataError:
        raise
    except Exception as e:  # decoders raise many unrelated types for corrupt input
        raise DataError(f"{path}: unreadable volume ({type(e).__name__}: {e})") from e


def check_readable(cohort, on_unreadable: str = "raise", *,
                   cache: VolumeCache | str | os.PathLike | None = None):
    """Decode every volume of ``cohort`` now (into the volume cache, so training reuses it).

    ``on_unreadable="raise"``: the first file that cannot be read is a :class:`DataError`
    naming it. ``"skip"``: unreadable scans are dropped -- never silently: each is added to
    ``cohort.excluded`` as ``(scan_id, "unreadable volume")``, listed with its path and error
    in ``cohort.unreadable``, and a warning names every skipped file and their count.
    Returns a cohort of the readable scans (``cohort`` itself when nothing was skipped);
    works on any list of records with ``.path`` (then a plain list is returned).
    """
    import warnings

    if on_unreadable not in UNREADABLE_CHOICES:
        raise ValueError(f"on_unreadable={on_unreadable!r}: expected one of {UNREADABLE_CHOICES}")
    cache = _volume_cache(cache)
    kept, skipped = [], []
    for scan in cohort:
        try:
            _load_checked(cache, scan.path)
        except (DataError, OSError) as e:
            if on_unreadable == "raise":
                raise DataError(f"{scan.path}: cannot read this volume ({e}); pass on_unreadable='skip' to "
                                "leave unreadable scans out (they are listed)") from e
            skipped.append((scan, str(e)))
            continue
        kept.append(scan)
    if not skipped:
        return cohort
    listing = "\n".join(f"  {scan.path}: {error}" for scan, error in skipped)
    warnings.warn(f"skipped {len(skipped)} unreadable volume(s) of {len(cohort)}:\n{listing}", stacklevel=2)
    if not hasattr(cohort, "like"):
        return kept
    out = cohort.like(kept)
    out.excluded = list(cohort.excluded) + [(getattr(s, "scan_id", str(s.path)), UNREADABLE_REASON)
                                            for s, _ in skipped]
    out.unreadable = list(getattr(cohort, "unreadable", [])) + [(str(s.path), e) for s, e in skipped]
    return out


class MRIFrames(Dataset):
    """Brain-MRI scans as ``(x (1, T, H, W) float32, label int)`` video clips; see module docstring.

    ``scans`` are :class:`paperkit.data.brain_mri.BrainScan` records (anything with ``.path``
    and ``.label``), e.g. a :class:`~paperkit.data.brain_mri.Cohort` or one side of
    :func:`~paperkit.data.brain_mri.split_cohort`. ``view`` defaults to the cohort's (the
    paper's plane for that dataset), else ``"sagittal"``. ``segments`` is K, ``frame_size``
    the output H = W, ``train`` switches random (train) vs middle (test) TSN sampling,
    ``frames="all"`` returns every slice (``depth`` resamples to that many). ``cache`` is a
    :class:`VolumeCache` or a folder for one (default: ``paths.cache_dir("volumes")``).
    """

    def __init__(self, scans: Sequence[Any], *, view: str | None = None, segments: int = 32,
                 frame_size: int = 224, train: bool = False, frames: str = "tsn", depth: int | None = None,
                 normalize: str = "zscore", keep_aspect: bool = True,
                 cache: VolumeCache | str | os.PathLike | None = None):
        view = view or getattr(scans, "view", None) or "sagittal"
        if view not in VIEWS:
            raise ValueError(f"view={view!r}: expected one of {sorted(VIEWS)}")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize={normalize!r}: expected one of {NORMALIZATIONS}")
        if int(frame_size) != frame_size or frame_size < 1:
            raise ValueError(f"frame_size={frame_size!r}: expected a positive int")
        check_frame_options(frames, segments, depth)
        for scan in scans:
            if not hasattr(scan, "path") or not hasattr(scan, "label"):
                raise TypeError(f"MRIFrames: expected records with .path and .label (BrainScan), got {scan!r}")
        self.scans = list(scans)
        self.view, self.axis = view, VIEWS[view]
        self.segments, self.frame_size = int(segments), int(frame_size)
        self.train, self.frames, self.depth = bool(train), frames, depth
        self.normalize, self.keep_aspect = normalize, bool(keep_aspect)
        self.cache = _volume_cache(cache)
        self._geometry: dict[int, tuple[tuple[float, ...], float, float]] = {}

    def __len__(self) -> int:
        return len(self.scans)

    @property
    def labels(self) -> list[int]:
        """Label of every item, in order (for class weights or stratified sampling)."""
        return [int(s.label) for s in self.scans]

    def volume(self, index: int) -> np.ndarray:
        """The RAS-oriented volume of item ``index``, read-only memory map from the cache."""
        return _load_checked(self.cache, self.scans[index].path)

    def _volume_geometry(self, index: int, array: np.ndarray) -> tuple[tuple[float, ...], float, float]:
        """(spacing, offset, scale) of item ``index``, computed once per process."""
        known = self._geometry.get(index)
        if known is None:
            spacing = tuple(self.cache.info(self.scans[index].path, reader=read_ras)["spacing"])
            known = (spacing, *intensity_stats(array, self.normalize))
            self._geometry[index] = known
        return known

    def __getitem__(self, index: int):
        array = self.volume(index)
        spacing, offset, scale = self._volume_geometry(index, array)
        n = array.shape[self.axis]
        if self.frames == "tsn" and n < self.segments:
            raise DataError(f"{self.scans[index].path}: {n} {self.view} slices, fewer than K={self.segments} "
                            f"segments; expected at least K slices along the {self.view} axis (use a smaller "
                            "segments=, another view=, or frames='all' with depth=)")
        indices = None if self.frames == "all" else tsn_indices(n, self.segments, self.train)
        x = frames_from_volume(array, self.axis, indices, self.frame_size, spacing=spacing,
                               keep_aspect=self.keep_aspect, offset=offset, scale=scale,
                               clip_unit=self.normalize == "minmax")
        if self.frames == "all" and self.depth is not None:
            x = resample_depth(x, int(self.depth))
        return x[None].contiguous(), int(self.scans[index].label)

    def __repr__(self) -> str:
        t = (f"K={self.segments}" if self.frames == "tsn"
             else f"all slices{'' if self.depth is None else f' -> {self.depth}'}")
        return (f"MRIFrames({len(self)} scans, {self.view}, {t}, {self.frame_size}px, "
                f"{'train' if self.train else 'test'} sampling, {self.normalize})")
