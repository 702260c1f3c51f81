"""Synthetic shapes on textured backgrounds: the offline default of the ``model_doctor`` chapter.

Each image shows one filled shape (the class: circle, cross, hexagon, square, star,
triangle) on a two-colour background texture (horizontal, vertical or diagonal stripes,
checkerboard, dots, grid). The signal Model Doctor is about is built in:

* **Spurious background cue.** In ``train``, the background texture is the class's own
  texture (``TEXTURES[label]``) with probability ``spurious`` (default 0.9), else a random
  one; in ``test`` it is random (``test_spurious=0``), so a classifier that leans on the
  background loses accuracy on the test set -- what the space-wise constraint targets.
* **Exact foreground masks.** The shape is rasterised at 4x and box-filtered; the written
  mask is the pixels at least half covered. ``mask_fraction`` of the training images get
  a mask (the paper annotated only a few images per class); every test image has one.
* **Difficulty** (0..1, default 0.5): shape/background contrast ``0.45 - 0.3 * d``, shape
  radius range widening from ``0.22-0.30`` to ``0.14-0.34`` of the image, pixel noise
  ``0.02 + 0.10 * d``.

Written as an ImageFolder with a parallel mask folder and a CSV, and read back through
:class:`paperkit.data.datasets.classification_sets.ImageFolderDataset` like real annotated data::

    <root>/train/<class>/train_00000.png      RGB image
    <root>/masks/train/<class>/train_00000.png  foreground mask (255 = shape)
    <root>/shapes.csv                           split, path, mask_path, label, class, texture, spurious
    <root>/synthetic_shapes.json                the generator's parameters

Deterministic by ``seed``; built in a temporary folder and renamed into place
(:func:`paperkit.atomic.build_folder`, as every generator); reused when the parameters match,
also when a concurrent process finished the same build first.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from paperkit.atomic import build_folder, write_text
from paperkit.data.io.errors import DataError
from paperkit.data.io.text import read_csv_table
from paperkit.paths import cache_dir

GENERATOR_VERSION = "synthetic-shapes-v1"
SHAPES = ("circle", "cross", "hexagon", "square", "star", "triangle")  # alphabetical = ImageFolder order
TEXTURES = ("stripes_h", "stripes_v", "stripes_d", "checker", "dots", "grid")
MANIFEST = "synthetic_shapes.json"
TABLE = "shapes.csv"
SUPERSAMPLE = 4


def _texture(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A 0/1 pattern (size, size) of ``kind`` with random period and phase."""
    period = rng.uniform(5.0, 9.0) * size / 64
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + rng.uniform(0, period, size=2)[:, None, None]
    if kind == "stripes_h":
        t = np.sin(2 * np.pi * y / period) > 0
    elif kind == "stripes_v":
        t = np.sin(2 * np.pi * x / period) > 0
    elif kind == "stripes_d":
        t = np.sin(2 * np.pi * (x + y) / (period * 1.41)) > 0
    elif kind == "checker":
        t = (np.floor(x / period) + np.floor(y / period)) % 2 == 0
    elif kind == "dots":
        t = ((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) < (period / 3.2) ** 2
    elif kind == "grid":
        t = (x % period < max(1.0, period / 5)) | (y % period < max(1.0, period / 5))
    else:
        raise ValueError(f"texture {kind!r}: expected one of {TEXTURES}")
    return t.astype(np.float32)


def _vertices(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]] | None:
    """Polygon vertices of ``shape`` (None for the circle)."""
    if shape == "circle":
        return None
    if shape in ("square", "triangle", "hexagon"):
        k = {"square": 4, "triangle": 3, "hexagon": 6}[shape]
        pts = [(r, angle + 2 * np.pi * i / k) for i in range(k)]
    elif shape == "star":
        pts = [(r if i % 2 == 0 else 0.45 * r, angle + np.pi * i / 5) for i in range(10)]
    elif shape == "cross":
        w = 0.36 * r
        xy = [(w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w),
              (-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w)]
        pts = [(np.hypot(a, b), angle + np.arctan2(b, a)) for a, b in xy]
    else:
        raise ValueError(f"shape {shape!r}: expected one of {SHAPES}")
    return [(cx + d * np.cos(t), cy + d * np.sin(t)) for d, t in pts]


def draw_shape(shape: str, texture: str, size: int, difficulty: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One image ``uint8 (size, size, 3)`` and its exact foreground mask ``bool (size, size)``."""
    from PIL import Image, ImageDraw

    lo, hi = 0.22 - 0.08 * difficulty, 0.30 + 0.04 * difficulty
    r = rng.uniform(lo, hi) * size
    cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
    big = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(big)
    s = SUPERSAMPLE
    verts = _vertices(shape, cx * s, cy * s, r * s, rng.uniform(0, 2 * np.pi))
    if verts is None:
        draw.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)
    else:
        draw.polygon(verts, fill=255)
    alpha = np.asarray(big.resize((size, size), Image.BOX), dtype=np.float32) / 255.0
    mask = alpha >= 0.5

    c0 = rng.uniform(0.15, 0.85, size=3).astype(np.float32)
    c1 = np.clip(c0 + rng.choice([-1, 1]) * rng.uniform(0.25, 0.4) * rng.dirichlet(np.ones(3)) * 3, 0, 1)
    t = _texture(texture, size, rng)[..., None]
    background = c0 * (1 - t) + c1 * t
    contrast = 0.45 - 0.3 * difficulty
    base = background.mean((0, 1))
    direction = rng.choice([-1.0, 1.0]) if 0.2 < base.mean() < 0.8 else (1.0 if base.mean() <= 0.2 else -1.0)
    fill = np.clip(base + direction * contrast + rng.normal(0, 0.08, size=3), 0, 1).astype(np.float32)
    img = background * (1 - alpha[..., None]) + fill * alpha[..., None]
    img = img + rng.normal(0, 0.02 + 0.10 * difficulty, size=img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), mask


def _params(n_train, n_test, image_size, classes, difficulty, spurious, test_spurious, mask_fraction, seed):
    return {"generator": GENERATOR_VERSION, "n_train": int(n_train), "n_test": int(n_test),
            "image_size": int(image_size), "classes": list(classes), "difficulty": float(difficulty),
            "spurious": float(spurious), "test_spurious": float(test_spurious),
            "mask_fraction": float(mask_fraction), "seed": int(seed)}


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def make_synthetic_shapes(out_dir: str | os.PathLike | None = None, *, n_train: int = 600, n_test: int = 300,
                          image_size: int = 64, classes: Sequence[str] = SHAPES, difficulty: float = 0.5,
                          spurious: float = 0.9, test_spurious: float = 0.0, mask_fraction: float = 1.0,
                          seed: int = 0, overwrite: bool = False) -> Path:
    """Write (or reuse) the synthetic shapes set and return its root folder (module docstring).

    Classes are balanced (``n // len(classes)`` or one more per class). ``out_dir=None``
    uses ``cache_dir("synthetic", "model_doctor", <hash of the parameters>)``. A folder
    made with other parameters is an error unless ``overwrite=True``.
    """
    classes = list(classes)
    unknown = [c for c in classes if c not in SHAPES]
    if len(classes) < 2 or unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes={classes}: expected 2 or more distinct names from {SHAPES}")
    classes = sorted(classes)
    for name, value in (("difficulty", difficulty), ("spurious", spurious), ("test_spurious", test_spurious),
                        ("mask_fraction", mask_fraction)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name}={value!r}: expected a number in [0, 1]")
    if n_train < len(classes) or n_test < len(classes) or image_size < 16:
        raise ValueError(f"n_train={n_train}, n_test={n_test}, image_size={image_size}: expected at least one "
                         f"image per class ({len(classes)}) and image_size >= 16")
    params = _params(n_train, n_test, image_size, classes, difficulty, spurious, test_spurious, mask_fraction, seed)
    if out_dir is None:
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        root = cache_dir("synthetic", "model_doctor") / key
    else:
        root = Path(os.path.abspath(os.fspath(out_dir)))
    if _read_manifest(root) == params:
        return root
    if root.exists() and not overwrite:
        raise DataError(f"{root}: exists but was not made with these parameters (its {MANIFEST}: "
                        f"{_read_manifest(root)}; wanted {params}); pass overwrite=True or use another out_dir")

    def build(tmp: Path) -> dict:
        rows = []
        seqs = np.random.SeedSequence([int(seed), 20220222]).spawn(2)
        for split, n, seq, p_class in (("train", n_train, seqs[0], spurious), ("test", n_test, seqs[1], test_spurious)):
            rows += _write_split(tmp, split, n, seq, classes, image_size, difficulty, p_class,
                                 mask_fraction if split == "train" else 1.0)
        write_text(tmp / TABLE, pd.DataFrame(rows).to_csv(index=False, lineterminator="\n"))
        write_text(tmp / MANIFEST, json.dumps(params, indent=2, sort_keys=True) + "\n")
        return {}

    # Built in a temporary sibling and renamed into place; a concurrent build of the same
    # parameters reuses the finished folder instead of deleting it (paperkit.atomic.build_folder).
    return build_folder(root.parent, root.name, params, build)


def _write_split(tmp: Path, split: str, n: int, seq: np.random.SeedSequence, classes: list[str], size: int,
                 difficulty: float, p_class: float, mask_fraction: float) -> list[dict]:
    from PIL import Image

    rng = np.random.default_rng(seq)
    (tmp / "masks" / split).mkdir(parents=True, exist_ok=True)
    labels = rng.permutation(np.arange(n) % len(classes))
    with_mask = rng.random(n) < mask_fraction
    rows = []
    for i, label in enumerate(labels):
        own = TEXTURES[SHAPES.index(classes[label])]
        texture = own if rng.random() < p_class else TEXTURES[int(rng.integers(len(TEXTURES)))]
        img, mask = draw_shape(classes[label], texture, size, difficulty, rng)
        rel = Path(split) / classes[label] / f"{split}_{i:05d}.png"
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, "RGB").save(tmp / rel)
        mask_rel = ""
        if with_mask[i]:
            mask_rel = str(Path("masks") / rel)
            (tmp / mask_rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255, "L").save(tmp / mask_rel)
        rows.append({"split": split, "path": str(rel), "mask_path": mask_rel, "label": int(label),
                     "class": classes[label], "texture": texture, "spurious": texture == own})
    return rows


def shapes_table(root: str | os.PathLike) -> pd.DataFrame:
    """The ``shapes.csv`` of a generated folder (paths relative to ``root``), checked."""
    path = Path(root) / TABLE
    if not path.is_file():
        raise DataError(f"{path}: not found; expected a folder made by make_synthetic_shapes")
    table = read_csv_table(path, "the shapes table written by make_synthetic_shapes", keep_default_na=False)
    need = ["split", "path", "mask_path", "label", "class", "texture", "spurious"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected {need}")
    return table


def load_synthetic_shapes(root: str | os.PathLike, split: str = "train", *, masks: bool = True, **dataset_kwargs):
    """The ``split`` of a generated folder as an ImageFolder dataset, with its foreground masks if ``masks``."""
    from paperkit.data.datasets.classification_sets import ImageFolderDataset

    root = Path(root)
    manifest = _read_manifest(root)
    if manifest is None:
        raise DataError(f"{root / MANIFEST}: not found or unreadable; expected a folder made by make_synthetic_shapes")
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r}: expected 'train' or 'test'")
    mask_root = root / "masks" / split if masks else None
    return ImageFolderDataset(root / split, mask_root=mask_root, classes=manifest["classes"], **dataset_kwargs)
