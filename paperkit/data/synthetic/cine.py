"""Synthetic short-axis cine MRI phantoms in the repackaged Sunnybrook layout (offline default).

:func:`make_synthetic_cine` writes a folder that :func:`paperkit.data.datasets.sunnybrook.load_sunnybrook`
reads through its real code path (layout ``"repackaged"``, documented in
:mod:`paperkit.data.datasets.sunnybrook`)::

    <root>/dicoms/SYN0000101/<InstanceNumber>.dcm     # MR DICOM, PixelSpacing, InstanceNumber
    <root>/contourfiles/SC-SYN-01/i-contours/IM-0001-NNNN-icontour-manual.txt   # endocardium
    <root>/contourfiles/SC-SYN-01/o-contours/IM-0001-NNNN-ocontour-manual.txt   # epicardium
    <root>/link.csv                                   # patient_id,original_id
    <root>/ground_truth.npz                           # the generator's own masks (see below)
    <root>/manifest.json                              # parameters; written last

Each image is one short-axis slice, base (slice 0) to apex, at end-diastole or
end-systole (InstanceNumber ``20 * slice + phase + 1`` as in a 20-phase cine). The scene:
a bright LV blood pool (a smoothly perturbed ellipse, size and position varying per patient
and slice, shrinking from base to apex, smaller at end-systole) holding papillary muscles and
trabeculae (inside the endocardial contour, following the Sunnybrook convention), a darker
myocardial ring (out to the epicardium), a bright RV crescent wrapping the septum (the
distractor), pericardial fat, lungs, chest wall and subcutaneous fat, descending aorta,
spine, liver towards the apex; tissue texture, partial-volume blur, a smooth bias field and
Rician noise. Contours are the analytic boundaries sampled every half pixel (sub-pixel
``x y`` pairs); ``ground_truth.npz`` holds the analytic endo/epi masks (pixel centres inside)
under keys ``"<patient>/<InstanceNumber>/endo"`` and ``".../epi"`` (:func:`load_synthetic_truth`).

``difficulty`` (0..1) lowers the blood/myocardium contrast, raises noise, bias, blur and the
number of trabeculae, and makes the RV blood as bright as the LV's. Geometry depends only on
``seed``, so two difficulties of the same seed show the same hearts.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from paperkit.atomic import atomic_path, build_folder, write_text
from paperkit.data.io.errors import DataError
from paperkit.paths import cache_dir

__all__ = ["GENERATOR_VERSION", "make_synthetic_cine", "load_synthetic_truth", "save_sample_grid"]

GENERATOR_VERSION = 1
PHASES = 20           # cine phases per slice (InstanceNumber = 20 * slice + phase + 1)
ES_PHASE = 7          # 0-based phase index used for end-systole
SLICE_GAP_MM = 10.0
SIGNAL_SCALE = 700.0  # stored value of LV blood (before bias and noise)
_TRUTH = "ground_truth.npz"


# --------------------------------------------------------------------------- public API


def make_synthetic_cine(
    out_dir: str | os.PathLike | None = None,
    n_patients: int = 20,
    slices_per_patient: int = 10,
    size: int = 128,
    seed: int = 0,
    difficulty: float = 0.5,
) -> Path:
    """Write (or reuse) a synthetic Sunnybrook-layout data set and return its root folder.

    The root is ``out_dir / "cine-<hash of the parameters>"`` (``out_dir`` defaults to
    ``paths.cache_dir("synthetic", "sunnybrook_cine")``), laid out as the repackaged
    Sunnybrook sample -- see the module docstring, and :mod:`paperkit.data.datasets.sunnybrook` for
    the layout. Deterministic: the same parameters give byte-identical files. Idempotent:
    a root whose ``manifest.json`` matches the parameters is returned untouched. Atomic: the
    data set is built in a temporary sibling folder and renamed into place, so a reader
    never sees a half-written root. 20 patients x 10 slices at 128 px take a few seconds.
    """
    params = _check_params(n_patients, slices_per_patient, size, seed, difficulty)
    parent = Path(out_dir).expanduser() if out_dir is not None else cache_dir("synthetic", "sunnybrook_cine")
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]

    def build(tmp: Path) -> dict:
        return {"generator": "paperkit.data.synthetic.cine", "images": _generate(tmp, params),
                "layout": "repackaged Sunnybrook (see paperkit.data.datasets.sunnybrook)"}

    return build_folder(parent, f"cine-{digest}", params, build)


def load_synthetic_truth(root: str | os.PathLike) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """The generator's own masks: ``{(patient, InstanceNumber): {"endo": bool, "epi": bool}}``.

    ``patient`` is the original id used by :func:`load_sunnybrook` (``"SC-SYN-01"``).
    """
    path = Path(root) / _TRUTH
    if not path.is_file():
        raise DataError(f"{path}: expected the generator's ground truth, not found (is {root} a synthetic root?)")
    truth: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    with np.load(path) as data:
        for key in data.files:
            patient, instance, kind = key.split("__")
            truth.setdefault((patient, int(instance)), {})[kind] = data[key].astype(bool)
    return truth


def save_sample_grid(
    root: str | os.PathLike,
    path: str | os.PathLike,
    n: int = 12,
    columns: int = 4,
) -> Path:
    """Save a grid of ``n`` images of ``root`` with i-contours (red) and o-contours (yellow).

    ``root`` is any folder :func:`load_sunnybrook` reads (synthetic or real). Images are
    taken evenly across the data set. Returns the written PNG path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from paperkit.data.datasets.sunnybrook import load_sunnybrook

    inner = load_sunnybrook(root, contour="i")
    outer = {(s.patient, s.instance_number): s.contour for s in load_sunnybrook(root, contour="o")}
    if not inner:
        raise DataError(f"{root}: no images with i-contours to show")
    picks = [inner[i] for i in np.linspace(0, len(inner) - 1, min(n, len(inner))).round().astype(int)]
    rows = math.ceil(len(picks) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, sample in zip(axes.ravel(), picks):
        ax.imshow(sample.image, cmap="gray", interpolation="nearest")
        closed = np.vstack([sample.contour, sample.contour[:1]])
        ax.plot(closed[:, 0], closed[:, 1], color="red", lw=0.8)
        epi = outer.get((sample.patient, sample.instance_number))
        if epi is not None:
            closed = np.vstack([epi, epi[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color="yellow", lw=0.8)
        ax.set_title(f"{sample.patient} #{sample.instance_number}", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


# --------------------------------------------------------------------------- parameters


def _check_params(n_patients, slices_per_patient, size, seed, difficulty) -> dict:
    def positive_int(name, value, minimum=1):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
        return int(value)

    n_patients = positive_int("n_patients", n_patients)
    if n_patients > 999:
        raise ValueError(f"n_patients={n_patients}: expected at most 999")
    slices = positive_int("slices_per_patient", slices_per_patient)
    if slices > 50:
        raise ValueError(f"slices_per_patient={slices}: expected at most 50")
    size = positive_int("size", size, 32)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r}: expected an integer")
    difficulty = float(difficulty)
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty={difficulty!r}: expected a value in [0, 1]")
    return {"version": GENERATOR_VERSION, "n_patients": n_patients, "slices_per_patient": slices,
            "size": size, "seed": int(seed), "difficulty": round(difficulty, 6)}


def _ids(index: int) -> tuple[str, str]:
    """(image folder name, original id) of synthetic patient ``index`` (0-based)."""
    return f"SYN{index + 1:05d}01", f"SC-SYN-{index + 1:02d}"


# --------------------------------------------------------------------------- geometry


def _radial(theta: np.ndarray, a: float, b: float, modes: Sequence[tuple[int, float, float]]) -> np.ndarray:
    """Radius of a perturbed ellipse (semi-axes a, b) at angle ``theta`` of its own frame."""
    if a == b:
        base = np.full_like(theta, a)
    else:
        base = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
    if modes:
        base = base * (1.0 + sum(amp * np.cos(k * theta + phase) for k, amp, phase in modes))
    return base


class _Shape:
    """A star-shaped region: centre (x, y) px, semi-axes px, rotation, Fourier wobble, offset.

    ``radius(theta) = ellipse(theta) * wobble(theta) + grow * wobble_g(theta)``; ``grow``
    builds the epicardium from the endocardium (an angle-dependent wall thickness).
    """

    def __init__(self, cx, cy, a, b, rotation=0.0, modes=(), grow=0.0, grow_modes=()):
        self.cx, self.cy, self.a, self.b = float(cx), float(cy), float(a), float(b)
        self.rotation = float(rotation)
        self.modes = tuple(modes)
        self.grow = float(grow)
        self.grow_modes = tuple(grow_modes)

    def radius(self, theta: np.ndarray) -> np.ndarray:
        r = _radial(theta, self.a, self.b, self.modes)
        if self.grow:
            r = r + self.grow * (1.0 + sum(amp * np.cos(k * theta + ph) for k, amp, ph in self.grow_modes))
        return r

    def extent(self) -> float:
        """An upper bound of the radius (px)."""
        wobble = 1.0 + sum(abs(amp) for _, amp, _ in self.modes)
        grow = 1.0 + sum(abs(amp) for _, amp, _ in self.grow_modes)
        return max(self.a, self.b) * wobble + self.grow * grow

    def window(self, size: int) -> tuple[slice, slice] | None:
        """Row and column slices of the image that can hold any of the shape (None: none)."""
        e = self.extent() + 2.0
        y0, y1 = max(int(math.floor(self.cy - e)), 0), min(int(math.ceil(self.cy + e)) + 1, size)
        x0, x1 = max(int(math.floor(self.cx - e)), 0), min(int(math.ceil(self.cx + e)) + 1, size)
        if y0 >= y1 or x0 >= x1:
            return None
        return slice(y0, y1), slice(x0, x1)

    def signed_distance(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Approximate signed distance in px (negative inside): rho - radius(theta)."""
        dx, dy = X - self.cx, Y - self.cy
        if self.a == self.b and not self.modes and not self.grow:
            return np.hypot(dx, dy) - self.a
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        u, v = c * dx + s * dy, -s * dx + c * dy
        return np.hypot(u, v) - self.radius(np.arctan2(v, u))

    def polygon(self, step: float = 0.5) -> np.ndarray:
        """Boundary as an (N, 2) array of (x, y) px, a point about every ``step`` px."""
        n = max(48, int(math.ceil(2 * math.pi * self.extent() / step)))
        theta = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
        r = self.radius(theta)
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        u, v = r * np.cos(theta), r * np.sin(theta)
        return np.stack([self.cx + c * u - s * v, self.cy + s * u + c * v], axis=1)


class _Canvas:
    """An image painted shape by shape, each shape only inside its bounding window."""

    def __init__(self, size: int):
        self.size = size
        self.Y, self.X = np.mgrid[0:size, 0:size].astype(float)
        self.image = np.zeros((size, size))

    def coverage(self, shape: _Shape) -> np.ndarray:
        """Full-size fraction of each pixel inside ``shape`` (one-pixel linear ramp)."""
        out = np.zeros((self.size, self.size))
        win = shape.window(self.size)
        if win is not None:
            out[win] = np.clip(0.5 - shape.signed_distance(self.X[win], self.Y[win]), 0.0, 1.0)
        return out

    def inside(self, shape: _Shape) -> np.ndarray:
        """Full-size boolean mask of pixel centres inside ``shape`` (the ground truth rule)."""
        out = np.zeros((self.size, self.size), dtype=bool)
        win = shape.window(self.size)
        if win is not None:
            out[win] = shape.signed_distance(self.X[win], self.Y[win]) < 0
        return out

    def blend(self, coverage: np.ndarray, value) -> None:
        self.image += coverage * (value - self.image)

    def paint(self, shape: _Shape, value, within: np.ndarray | None = None) -> None:
        """Alpha-blend ``value`` (scalar or full-size array) over the shape's pixels."""
        win = shape.window(self.size)
        if win is None:
            return
        cov = np.clip(0.5 - shape.signed_distance(self.X[win], self.Y[win]), 0.0, 1.0)
        if within is not None:
            cov = cov * within[win]
        v = value[win] if np.ndim(value) else value
        self.image[win] += cov * (v - self.image[win])


def _patient_anatomy(rng: np.random.Generator, size: int) -> dict:
    """Per-patient constants (mm unless noted); drawn from ``rng`` in a fixed order."""
    dilated = rng.random() < 0.4           # heart failure: big, poorly contracting LV
    hypertrophy = (not dilated) and rng.random() < 0.35
    fov = rng.uniform(300.0, 380.0)
    return {
        "spacing": fov / size,
        "dilated": dilated,
        "r_endo": rng.uniform(27.0, 35.0) if dilated else rng.uniform(19.0, 27.0),
        "ellipticity": rng.uniform(0.82, 1.0),
        "wall": rng.uniform(12.0, 16.0) if hypertrophy else rng.uniform(6.5, 10.5),
        "es_factor": rng.uniform(0.84, 0.93) if dilated else rng.uniform(0.58, 0.76),
        "heart_rot": rng.uniform(-0.35, 0.35),                     # radians
        "lv_offset": (rng.uniform(-0.07, 0.07) * fov, rng.uniform(-0.07, 0.05) * fov),
        "body": (rng.uniform(150.0, 200.0), rng.uniform(105.0, 140.0)),
        "body_rot": rng.normal(0.0, 0.03),
        "fat": rng.uniform(5.0, 15.0),
        "rv_angle": math.pi + rng.uniform(-0.45, 0.15),            # RV to the image left of the LV
        "rv_size": rng.uniform(0.9, 1.25),
        "blood": rng.uniform(0.92, 1.08),
        "muscle": rng.uniform(0.24, 0.33),
        "fat_signal": rng.uniform(0.75, 0.95),
        "modes": [(k, rng.uniform(0.0, 0.045), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 4)],
        "wall_modes": [(1, rng.uniform(0.0, 0.2), rng.uniform(0, 2 * math.pi)),
                       (2, rng.uniform(0.0, 0.12), rng.uniform(0, 2 * math.pi))],
        "papillary_angles": (rng.uniform(-0.3, 0.3) - 0.9, rng.uniform(-0.3, 0.3) + 1.9),
        "lung_phase": rng.uniform(0, 2 * math.pi),
        "fov_mask": rng.uniform(0.5, 0.62) if rng.random() < 0.35 else 0.0,  # circular reconstruction
    }


def _background(anatomy: dict, canvas: _Canvas) -> dict:
    """The patient's chest around the heart, the same for all its slices (coverages, px).

    Positions are mm from the end-diastolic LV centre (image y grows posterior, x to the
    patient's left): the chest is larger than the field of view, the left lung lies
    lateral to the heart, the right lung across the mediastinum, the descending aorta and
    spine behind the heart, and the liver (shown towards the apex) below and to the right.
    """
    mm = 1.0 / anatomy["spacing"]
    centre = (canvas.size - 1) / 2.0
    lvx = centre + anatomy["lv_offset"][0] * mm
    lvy = centre + anatomy["lv_offset"][1] * mm
    bax, bay = anatomy["body"][0] * mm, anatomy["body"][1] * mm
    rot = anatomy["body_rot"]
    body = _Shape(lvx - 30.0 * mm, lvy + 20.0 * mm, bax, bay, rot, [(3, 0.02, 0.5), (2, 0.03, 1.0)])
    fat = anatomy["fat"] * mm
    inner = _Shape(body.cx, body.cy, bax - fat, bay - 0.8 * fat, rot, body.modes)
    reach = (anatomy["r_endo"] + anatomy["wall"]) * mm
    lung_modes = [(2, 0.06, anatomy["lung_phase"]), (3, 0.05, 2.0 * anatomy["lung_phase"])]
    return {
        "body": canvas.coverage(body),
        "inner": canvas.coverage(inner),
        "lung_r": canvas.coverage(_Shape(lvx - reach - 80.0 * mm, lvy + 15.0 * mm, 55.0 * mm, 85.0 * mm, 0.2,
                                         lung_modes)),
        "lung_l": canvas.coverage(_Shape(lvx + reach + 38.0 * mm, lvy + 20.0 * mm, 40.0 * mm, 80.0 * mm, -0.25,
                                         lung_modes)),
        "aorta": canvas.coverage(_Shape(lvx - 12.0 * mm, lvy + reach + 30.0 * mm, 11.0 * mm, 11.0 * mm)),
        "vertebra": canvas.coverage(_Shape(lvx - 40.0 * mm, lvy + reach + 48.0 * mm, 16.0 * mm, 14.0 * mm)),
        "canal": canvas.coverage(_Shape(lvx - 42.0 * mm, lvy + reach + 72.0 * mm, 6.0 * mm, 5.0 * mm)),
        "liver": (lvx - 85.0 * mm, lvy + 45.0 * mm, 95.0 * mm, 70.0 * mm),
        "fov": (canvas.coverage(_Shape(centre, centre, anatomy["fov_mask"] * canvas.size,
                                       anatomy["fov_mask"] * canvas.size))
                if anatomy["fov_mask"] else None),
    }


# --------------------------------------------------------------------------- rendering


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random field (Gaussian-filtered white noise)."""
    field = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _wave_field(rng: np.random.Generator, size: int, cycles: float, terms: int = 5) -> np.ndarray:
    """Zero-mean, unit-std smooth field: a sum of ``terms`` random plane waves of about
    ``cycles`` periods across the image (a cheap stand-in for low-pass filtered noise)."""
    grid = np.arange(size, dtype=float) / size
    angle = rng.uniform(0, 2 * math.pi, terms)
    freq = 2 * math.pi * cycles * rng.uniform(0.5, 1.5, terms)
    phase = rng.uniform(0, 2 * math.pi, terms)
    weight = rng.uniform(0.5, 1.0, terms)
    # sum_t w cos(fy*y + fx*x + phase) = U @ V.T, with the cosine of a sum split in two
    ay = np.outer(grid, freq * np.sin(angle)) + phase
    ax = np.outer(grid, freq * np.cos(angle))
    U = np.hstack([weight * np.cos(ay), -weight * np.sin(ay)])
    V = np.hstack([np.cos(ax), np.sin(ax)])
    field = U @ V.T
    return (field - field.mean()) / (field.std() + 1e-12)


def _render_slice(anatomy: dict, background: dict, z: float, systole: bool, canvas: _Canvas,
                  difficulty: float, rng: np.random.Generator) -> tuple[np.ndarray, _Shape, _Shape]:
    """One slice at relative depth ``z`` (0 base .. 1 apex): (stored uint16 image, endo, epi).

    ``rng`` is drawn from in a fixed order -- the heart's shape, the tissue signals and texture,
    the cavity's muscles, then the acquisition -- which the helpers keep: the generated data,
    and so every synthetic result, depend on it.
    """
    canvas.image[:] = 0.0
    heart = _heart(anatomy, z, systole, canvas.size, rng)
    myo = _paint_tissues(canvas, anatomy, background, heart, z, difficulty, rng)
    _paint_cavity(canvas, anatomy, heart, z, systole, myo, difficulty, rng)
    return _acquire(canvas, background, difficulty, rng), heart.endo, heart.epi


@dataclass
class _Heart:
    """One slice's heart: LV centre (px), endo/epicardium, the RV, the fat rims, and what sizes them."""

    lvx: float
    lvy: float
    r_endo: float
    rot: float
    endo: _Shape
    epi: _Shape
    rv: _Shape
    rv_wall: _Shape
    rv_scale: float
    lv_fat: _Shape
    rv_fat: _Shape


def _heart(anatomy: dict, z: float, systole: bool, size: int, rng: np.random.Generator) -> _Heart:
    """The LV, RV and fat rims at depth ``z`` (draws: LV jitter, rotation, shape modes, fat rim)."""
    mm = 1.0 / anatomy["spacing"]                      # px per mm
    centre = (size - 1) / 2.0
    # LV: near the image centre, drifting anterior-left (image up-right) towards the apex.
    jitter = rng.normal(0.0, 1.5, 2)
    lvx = centre + (anatomy["lv_offset"][0] + 6.0 * z + jitter[0]) * mm
    lvy = centre + (anatomy["lv_offset"][1] - 5.0 * z + jitter[1]) * mm
    taper = math.sqrt(max(1.0 - z ** 2.2, 0.05))       # LV radius from base to apex
    r_endo = anatomy["r_endo"] * taper * (anatomy["es_factor"] if systole else 1.0)
    r_endo = max(r_endo, 4.5) * mm
    thicken = (1.08 if anatomy["dilated"] else 1.3) if systole else 1.0
    wall = anatomy["wall"] * (1.0 - 0.2 * z) * thicken * mm
    rot = anatomy["heart_rot"] + rng.normal(0.0, 0.05)
    modes = [(k, amp * rng.uniform(0.7, 1.3), ph + rng.normal(0, 0.2)) for k, amp, ph in anatomy["modes"]]
    b_endo = r_endo * anatomy["ellipticity"]
    endo = _Shape(lvx, lvy, r_endo, b_endo, rot, modes)
    epi = _Shape(lvx, lvy, r_endo, b_endo, rot, modes, grow=wall, grow_modes=anatomy["wall_modes"])
    r_epi = r_endo + wall

    # RV: an ellipse beside the LV; the LV painted over it leaves a crescent round the septum.
    rv_scale = anatomy["rv_size"] * max(0.0, 1.0 - 0.75 * z) * (0.8 if systole else 1.0)
    ang = anatomy["rv_angle"] + 0.5 * rot
    rv_dist = 0.92 * r_epi
    rv = _Shape(lvx + rv_dist * math.cos(ang), lvy + rv_dist * math.sin(ang),
                max(0.78 * r_epi * rv_scale, 1e-3), max(1.45 * r_epi * rv_scale, 1e-3), ang, [(3, 0.05, 0.7)])
    rv_wall = _Shape(rv.cx, rv.cy, rv.a, rv.b, rv.rotation, rv.modes, grow=3.0 * mm)
    # Epicardial / pericardial fat: a thin, patchy rim following the heart's outline.
    fat_rim = rng.uniform(2.0, 4.0) * mm
    lv_fat = _Shape(lvx, lvy, r_endo, b_endo, rot, modes, grow=wall + fat_rim, grow_modes=anatomy["wall_modes"])
    rv_fat = _Shape(rv.cx, rv.cy, rv.a, rv.b, rv.rotation, rv.modes, grow=3.0 * mm + fat_rim)
    return _Heart(lvx, lvy, r_endo, rot, endo, epi, rv, rv_wall, rv_scale, lv_fat, rv_fat)


def _paint_tissues(canvas: _Canvas, anatomy: dict, background: dict, heart: _Heart, z: float, d: float,
                   rng: np.random.Generator) -> float:
    """Paint the chest and the heart (draws: RV blood signal, texture, fat patchiness); returns the
    myocardium's signal."""
    # Signal relative to LV blood; difficulty closes the blood-myocardium and LV-RV gaps.
    blood = anatomy["blood"]
    myo = blood * (0.22 + 0.40 * d)
    rv_blood = blood * (0.72 + 0.28 * d) * rng.uniform(0.95, 1.05)
    fat = anatomy["fat_signal"]
    texture = _smooth_field(rng, (canvas.size, canvas.size), 1.2)

    bg = background
    patchy = np.clip(0.5 + 0.8 * _wave_field(rng, canvas.size, 6.0), 0.0, 1.0)
    canvas.blend(bg["body"], fat * (0.75 + 0.25 * patchy) * (1 + 0.08 * texture))
    canvas.blend(bg["inner"], anatomy["muscle"] * (1 + 0.15 * texture))
    liver_scale = float(np.clip((z - 0.35) / 0.5, 0.0, 1.0))
    if liver_scale > 0:
        lx, ly, la, lb = bg["liver"]
        canvas.paint(_Shape(lx, ly, la * liver_scale, lb * liver_scale, 0.3), 0.42 * (1 + 0.06 * texture),
                     within=bg["inner"])
    canvas.blend(bg["lung_r"] * bg["inner"], 0.05 * (1 + 0.5 * texture))
    canvas.blend(bg["lung_l"] * bg["inner"], 0.05 * (1 + 0.5 * texture))
    canvas.blend(bg["vertebra"], 0.45 * (1 + 0.1 * texture))
    canvas.blend(bg["canal"], 0.8)
    canvas.blend(bg["aorta"], 0.9 * blood)
    rim = np.clip(1.6 * patchy - 0.3, 0.0, 1.0)
    if heart.rv_scale > 0.05:
        canvas.paint(heart.rv_fat, 0.85 * fat, within=rim)
    canvas.paint(heart.lv_fat, 0.85 * fat, within=rim)
    if heart.rv_scale > 0.05:
        canvas.paint(heart.rv_wall, myo)
        canvas.paint(heart.rv, rv_blood * (1 + 0.05 * texture))
    canvas.paint(heart.epi, myo * (1 + 0.12 * texture))
    canvas.paint(heart.endo, blood * (1 + 0.04 * texture))
    return myo


def _paint_cavity(canvas: _Canvas, anatomy: dict, heart: _Heart, z: float, systole: bool, myo: float, d: float,
                  rng: np.random.Generator) -> None:
    """Papillary muscles and trabeculae: dark blobs inside the cavity (inside the i-contour)."""
    mm = 1.0 / anatomy["spacing"]
    lvx, lvy, r_endo = heart.lvx, heart.lvy, heart.r_endo
    if z < 0.75:
        for angle in anatomy["papillary_angles"]:
            a = angle + heart.rot + rng.normal(0, 0.1)
            pr = max(0.15 * r_endo * (1.25 if systole else 1.0), 1.6 * mm)
            dot = _Shape(lvx + 0.68 * r_endo * math.cos(a), lvy + 0.68 * r_endo * math.sin(a), pr, 0.85 * pr, a)
            canvas.paint(dot, 1.05 * myo)
    inside = canvas.coverage(heart.endo)
    for _ in range(int(rng.poisson(2 + 10 * d))):
        a = rng.uniform(0, 2 * math.pi)
        rad = rng.uniform(0.82, 0.95) * r_endo
        tr = rng.uniform(0.8, 1.6) * mm
        canvas.paint(_Shape(lvx + rad * math.cos(a), lvy + rad * math.sin(a), tr, tr), 1.1 * myo, within=inside)


def _acquire(canvas: _Canvas, background: dict, d: float, rng: np.random.Generator) -> np.ndarray:
    """Acquisition: tissue texture, partial-volume blur, bias field, Rician noise; the stored uint16 image."""
    size = canvas.size
    grain = _smooth_field(rng, (size, size), 0.7)
    image = canvas.image * (1.0 + (0.04 + 0.10 * d) * grain)
    image = gaussian_filter(image, 0.45 + 0.35 * d)
    bias = np.exp((0.10 + 0.35 * d) * _wave_field(rng, size, 1.0))
    signal = image * bias * SIGNAL_SCALE * rng.uniform(0.9, 1.1)
    if background["fov"] is not None:
        signal = signal * background["fov"]
    sigma = (0.025 + 0.10 * d) * SIGNAL_SCALE
    noisy = np.hypot(signal + rng.normal(0, sigma, signal.shape), rng.normal(0, sigma, signal.shape))
    return np.clip(np.rint(noisy), 0, 4095).astype(np.uint16)


# --------------------------------------------------------------------------- writing


def _generate(root: Path, params: dict) -> int:
    """Write every file of the data set into ``root``; returns the number of images."""
    from pydicom.uid import generate_uid

    size, slices, difficulty = params["size"], params["slices_per_patient"], params["difficulty"]
    truth: dict[str, np.ndarray] = {}
    canvas = _Canvas(size)
    links = []
    count = 0
    for p in range(params["n_patients"]):
        folder, original = _ids(p)
        links.append((folder, original))
        anatomy = _patient_anatomy(np.random.default_rng([params["seed"], p, 0]), size)
        phase_rng = np.random.default_rng([params["seed"], p, 1])
        study_uid = generate_uid(entropy_srcs=["paperkit-synthetic-cine", str(params), folder, "study"])
        series_uid = generate_uid(entropy_srcs=["paperkit-synthetic-cine", str(params), folder, "series"])
        background = _background(anatomy, canvas)
        template = _dicom_template(folder, study_uid, series_uid, (size, size), anatomy["spacing"])
        for s in range(slices):
            z = 0.05 + 0.8 * s / max(slices - 1, 1)
            systole = bool(phase_rng.random() < 0.5)
            instance = PHASES * s + (ES_PHASE if systole else 0) + 1
            rng = np.random.default_rng([params["seed"], p, 2, s])
            image, endo, epi = _render_slice(anatomy, background, z, systole, canvas, difficulty, rng)
            location = -SLICE_GAP_MM * s
            _write_dicom(
                root / "dicoms" / folder / f"{instance}.dcm", template, image, instance=instance,
                sop_uid=generate_uid(entropy_srcs=["paperkit-synthetic-cine", str(params), folder, str(instance)]),
                slice_location=location, trigger_time=(ES_PHASE if systole else 0) * 45.0,
            )
            for kind, shape in (("i", endo), ("o", epi)):
                name = f"IM-0001-{instance:04d}-{kind}contour-manual.txt"
                lines = "".join(f"{x:.2f} {y:.2f}\n" for x, y in shape.polygon())
                write_text(root / "contourfiles" / original / f"{kind}-contours" / name, lines)
            truth[f"{original}__{instance}__endo"] = canvas.inside(endo)
            truth[f"{original}__{instance}__epi"] = canvas.inside(epi)
            count += 1
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient_id", "original_id"])
    writer.writerows(links)
    write_text(root / "link.csv", buffer.getvalue())
    _write_npz(root / _TRUTH, truth)
    return count


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed ``.npz`` with fixed zip timestamps, so equal arrays give equal bytes
    (``np.savez_compressed`` stamps each member with the current time)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def _dicom_template(patient_id: str, study_uid: str, series_uid: str, shape: tuple[int, int],
                    spacing_mm: float):
    """The per-patient part of a minimal single-frame MR DICOM (Explicit VR Little Endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, MRImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.SeriesDescription = "paperkit synthetic short-axis cine"
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 1
    ds.SliceThickness = "8"
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [f"{spacing_mm:.6f}", f"{spacing_mm:.6f}"]
    ds.Rows, ds.Columns = shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def _write_dicom(path: Path, template, pixels: np.ndarray, *, instance: int, sop_uid: str,
                 slice_location: float, trigger_time: float) -> None:
    """Write one image (16-bit unsigned) with the per-image tags set on ``template``."""
    template.file_meta.MediaStorageSOPInstanceUID = sop_uid
    template.SOPInstanceUID = sop_uid
    template.InstanceNumber = int(instance)
    template.SliceLocation = f"{slice_location:.3f}"
    template.TriggerTime = f"{trigger_time:.1f}"
    template.ImagePositionPatient = ["0", "0", f"{slice_location:.3f}"]
    template.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    with atomic_path(path) as tmp:
        template.save_as(tmp, enforce_file_format=True)
