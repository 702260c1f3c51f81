"""A procedurally generated *source* task for pretraining when ImageNet weights are absent.

Transfer learning needs a model pretrained on a large, generic source task. ImageNet weights
cannot be downloaded here, so chapters that need a pretrained network and find no cached
ImageNet checkpoint pretrain it themselves on this task and say so.

The task: one textured object per image on a smoothly shaded, noisy background; the class is
the pair (shape, texture). Four shapes (disc, square, triangle, cross) and four textures
(horizontal stripes, diagonal stripes, dots, checkerboard) are available; the default task
uses 2 shapes (disc, cross) x 4 textures = 8 classes (:data:`CLASSES`), which a CPU learns
well above chance in about a thousand images, where all 16 pairs need several times more. Position, size,
contrast, texture period and phase are random. Telling textures apart needs low-level
features (oriented edges, periodic patterns); telling shapes apart needs mid-level ones
(corners, blobs, outlines). These are the features the paper argues medical images need,
which is what ImageNet pretraining is supposed to provide.

Images are cheap (a few ms each at 96 px), so a pretraining run should draw *fresh* images
rather than repeat a few: with a few hundred images a network memorises them within two
epochs and transfers little. ``difficulty`` (0..1) trades object contrast against noise. Measured in the
rethink_transfer classroom profile (fresh images seen once, batch 16, Adam 1e-3, difficulty 0.35,
96 px, BatchNorm statistics recomputed before evaluation): with 896 images CBR-Tiny reaches 80 % and
DenseNet-121 51 % validation accuracy (chance 12.5 %), in about 75 s each on a 2-core CPU; with
1,024 images 88 % and 57 %. The earlier 16-class version, 480 images seen twice, reached 8 %.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

SHAPES = ("disc", "square", "triangle", "cross")
TEXTURES = ("stripes_h", "stripes_d", "dots", "checker")
DEFAULT_SHAPES = ("disc", "cross")


def source_classes(shapes: Sequence[str] = SHAPES, textures: Sequence[str] = TEXTURES) -> tuple[str, ...]:
    """Class names ``"shape/texture"`` of the task made with these ``shapes`` and ``textures``."""
    for kind, chosen, valid in (("shapes", shapes, SHAPES), ("textures", textures, TEXTURES)):
        unknown = [c for c in chosen if c not in valid]
        if unknown or not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(f"{kind}={list(chosen)!r}: expected distinct names among {list(valid)}")
    return tuple(f"{s}/{t}" for s in shapes for t in textures)


CLASSES = source_classes(DEFAULT_SHAPES, TEXTURES)
"""The default 8 classes, ``"shape/texture"``; label ``k`` is ``CLASSES[k]``."""


def _shape_masks(kind: np.ndarray, cx, cy, r, yy, xx) -> np.ndarray:
    """Boolean masks (N, S, S) of each image's shape (``kind`` indexes :data:`SHAPES`)."""
    dx, dy = (xx[None] - cx[:, None, None]) / r[:, None, None], (yy[None] - cy[:, None, None]) / r[:, None, None]
    rules = (
        lambda x, y: x ** 2 + y ** 2 <= 1.0,                                          # disc
        lambda x, y: (np.abs(x) <= 0.85) & (np.abs(y) <= 0.85),                      # square
        lambda x, y: (y <= 0.8) & (y >= -0.9 + 1.7 * np.abs(x)),                     # triangle
        lambda x, y: ((np.abs(x) <= 0.3) & (np.abs(y) <= 1.0)) | ((np.abs(y) <= 0.3) & (np.abs(x) <= 1.0)),  # cross
    )
    out = np.zeros(dx.shape, dtype=bool)
    for k, rule in enumerate(rules):  # evaluate each rule only on the images of that shape
        idx = np.flatnonzero(kind == k)
        out[idx] = rule(dx[idx], dy[idx])
    return out


def _textures(kind: np.ndarray, freq, phase, yy, xx) -> np.ndarray:
    """Texture patterns in [0, 1], shape (N, S, S) (``kind`` indexes :data:`TEXTURES`)."""
    rules = (
        lambda f, p: 0.5 + 0.5 * np.sin(f * yy + p),                                     # horizontal stripes
        lambda f, p: 0.5 + 0.5 * np.sin(f * (xx + yy) / np.sqrt(2) + p),                 # diagonal stripes
        lambda f, p: ((0.5 + 0.5 * np.sin(f * xx + p)) * (0.5 + 0.5 * np.sin(f * yy + p))) ** 2,  # dots
        lambda f, p: (np.sign(np.sin(f * xx + p) * np.sin(f * yy + p)) + 1) / 2,         # checkerboard
    )
    out = np.empty((len(kind), *xx.shape), dtype=np.float32)
    for k, rule in enumerate(rules):
        idx = np.flatnonzero(kind == k)
        out[idx] = rule(freq[idx, None, None], phase[idx, None, None])
    return out


def make_source_task(n_images: int, size: int = 96, *, seed: int = 0, channels: int = 1,
                     difficulty: float = 0.5, shapes: Sequence[str] = DEFAULT_SHAPES,
                     textures: Sequence[str] = TEXTURES, chunk: int = 256) -> TensorDataset:
    """``n_images`` labelled images of the source task, balanced over its classes.

    Returns a ``TensorDataset`` of float32 images ``channels x size x size`` in [0, 1] and
    int64 labels indexing :func:`source_classes` ``(shapes, textures)`` (by default
    :data:`CLASSES`; all 16 pairs with ``shapes=SHAPES``). ``difficulty`` in [0, 1]: object contrast
    ``0.75 - 0.45 * difficulty`` (times a random 0.7..1.3) against noise sigma ``0.02 + 0.08 * difficulty``.
    Deterministic for a given ``seed``.
    """
    classes = source_classes(shapes, textures)
    if n_images < len(classes) or size < 32:
        raise ValueError(f"n_images={n_images}, size={size}: expected at least {len(classes)} images of 32 px or more")
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty={difficulty!r}: expected a number in [0, 1]")
    shape_index = np.array([SHAPES.index(s) for s in shapes])
    texture_index = np.array([TEXTURES.index(t) for t in textures])
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    labels = np.resize(np.arange(len(classes)), n_images)
    rng.shuffle(labels)
    images = np.empty((n_images, size, size), dtype=np.float32)
    for start in range(0, n_images, chunk):  # chunks keep the (N, S, S) temporaries small
        lab = labels[start:start + chunk]
        n = len(lab)
        shape_kind, texture_kind = shape_index[lab // len(textures)], texture_index[lab % len(textures)]
        r = rng.uniform(0.22, 0.42, n) * size
        cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
        inside = _shape_masks(shape_kind, cx, cy, r, yy, xx)
        # Texture period 8..16 px whatever the image size: a local, low-level cue that survives the
        # stride-4 stem of ResNet/DenseNet (a 6-px period is near the Nyquist limit after it).
        texture = _textures(texture_kind, 2 * np.pi / rng.uniform(8, 16, n), rng.uniform(0, 2 * np.pi, n), yy, xx)
        gx, gy, g0 = rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.15, 0.35, n)
        background = g0[:, None, None] + (gx[:, None, None] * xx[None] + gy[:, None, None] * yy[None]) / size
        contrast = ((0.75 - 0.45 * difficulty) * rng.uniform(0.7, 1.3, n))[:, None, None]
        img = background + inside * contrast * (0.35 + 0.65 * texture)
        img += rng.normal(0, 0.02 + 0.08 * difficulty, img.shape).astype(np.float32)
        images[start:start + n] = np.clip(img, 0, 1)
    x = torch.from_numpy(images)[:, None].repeat(1, channels, 1, 1)
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))
