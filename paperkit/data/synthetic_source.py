"""A procedurally generated *source* task for pretraining when ImageNet weights are absent.

Transfer learning needs a model pretrained on a large, generic source task. ImageNet weights
cannot be downloaded here, so chapters that need a pretrained network and find no cached
ImageNet checkpoint pretrain it themselves on this task and say so: 16 classes = 4 shapes
(disc, square, triangle, cross) x 4 textures (horizontal stripes, diagonal stripes, dots,
checkerboard), drawn at random position, scale, contrast and texture frequency on a noisy,
smoothly shaded background. Telling them apart needs the low- and mid-level features
(edges, orientations, blobs, corners) that transfer to medical images, which is the
paper's hypothesis about what ImageNet pretraining provides.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

SHAPES = ("disc", "square", "triangle", "cross")
TEXTURES = ("stripes_h", "stripes_d", "dots", "checker")
CLASSES = tuple(f"{s}/{t}" for s in SHAPES for t in TEXTURES)


def _shape_masks(kind: np.ndarray, cx, cy, r, yy, xx) -> np.ndarray:
    """Boolean masks (N, S, S) of each image's shape."""
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
    """Texture patterns in [0, 1], shape (N, S, S)."""
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
                     chunk: int = 256) -> TensorDataset:
    """``n_images`` labelled images (float32, ``channels`` x ``size`` x ``size``, in [0, 1]) and labels 0..15."""
    if n_images < len(CLASSES) or size < 32:
        raise ValueError(f"n_images={n_images}, size={size}: expected at least {len(CLASSES)} images of 32 px or more")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    labels = np.resize(np.arange(len(CLASSES)), n_images)
    rng.shuffle(labels)
    images = np.empty((n_images, size, size), dtype=np.float32)
    for start in range(0, n_images, chunk):  # chunks keep the (N, S, S) temporaries small
        lab = labels[start:start + chunk]
        n = len(lab)
        shape_kind, texture_kind = lab // len(TEXTURES), lab % len(TEXTURES)
        r = rng.uniform(0.18, 0.38, n) * size
        cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
        inside = _shape_masks(shape_kind, cx, cy, r, yy, xx)
        texture = _textures(texture_kind, rng.uniform(0.6, 1.4, n) * 2 * np.pi / 8, rng.uniform(0, 2 * np.pi, n), yy, xx)
        gx, gy, g0 = rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0.2, 0.5, n)
        background = g0[:, None, None] + (gx[:, None, None] * xx[None] + gy[:, None, None] * yy[None]) / size
        contrast = rng.uniform(0.25, 0.6, n)[:, None, None]
        img = background + inside * contrast * (0.4 + 0.6 * texture)
        img += rng.normal(0, 0.06, img.shape).astype(np.float32)
        images[start:start + n] = np.clip(img, 0, 1)
    x = torch.from_numpy(images)[:, None].repeat(1, channels, 1, 1)
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))
