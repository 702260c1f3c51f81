"""A synthetic brain-MRI cohort in the ADNI download layout (the offline default of Video4MRI).

:func:`make_synthetic_brain` writes T1-weighted-like head volumes of AD-like and control
"subjects" as an IDA download (layout in :mod:`paperkit.data.ida`), read back through
:func:`paperkit.data.ida.load_adni` like real ADNI::

    <root>/ADNI/941_S_0001/MPRAGE/2010-01-05_09_00_00.0/I100001/
        ADNI_941_S_0001_MR_MPRAGE_br_raw_20100105090000000_1_S200001_I100001.nii.gz
    <root>/SYNTHETIC_ADNI_1_01_2024.csv       # IDA collection CSV: Image Data ID, Subject, Group (AD/CN), ...
    <root>/synthetic_markers.csv              # the generator's ground truth per image (see below)
    <root>/manifest.json                      # parameters; written last

**Anatomy** (schematic, proportions exaggerated so they survive ~3 mm voxels): scalp with a
fat layer, dark skull, subarachnoid CSF, a cerebrum whose cortex (grey matter) is folded by
CSF-filled sulci around white matter, lateral ventricles, thalami and putamina, hippocampi in
CSF-lined temporal horns, cerebellum with folia, brainstem. Volumes are ``size``^3 voxels in
RAS+ order over a 200 mm field of view (64^3: 3.1 mm voxels), int16 with white matter near 1000.

**The signal** is atrophy, the paper's kind (Sec. 1: shrinking gyri, deepening sulci,
thinner cortex). Each scan has a latent atrophy score ``A`` (in units of the
between-subject standard deviation of each marker)::

    A = 0.03 * (age - 72)                                  # normal ageing, both classes
      + [AD] * separation * severity * (1 + 0.15 * visit)   # disease, progressing per visit

with ``severity ~ U(0.6, 1.4)`` per AD subject and ``separation = 2.5 * (1 - difficulty) +
0.25`` (``difficulty=0`` separates the classes by 2.75 SD per marker, ``1`` by 0.25 SD).
Five markers move by ``A`` times their own between-subject SD: lateral-ventricle size
(log-scale SD 0.2), cortical thickness (SD 0.8 mm around 6.5 mm; a thinner cortex leaves CSF
between brain and skull), sulcal width (SD 0.8 mm), hippocampus size (SD 10%) and the
brain-skull CSF gap (SD 1 mm). AD subjects are older on average (ages ~U(64, 90) vs
~U(60, 86)), a confounder: age alone predicts the label a little. Nuisance variation per scan,
growing with ``difficulty``: head size and shape, the subject's own gyral pattern, head pose
(rotation up to 1 + 4 * difficulty degrees per axis, shift up to 1 + 3 * difficulty mm),
tissue contrast, a smooth multiplicative bias field and Rician noise.

``visits > 1`` gives every subject that many yearly scans (``sc``, ``m12``, ``m24``...), so a
split by scan would leak subjects; :func:`paperkit.data.brain_mri.split_cohort` splits by subject.
``synthetic_markers.csv`` lists per image the true atrophy score and markers
(:func:`load_synthetic_markers`), to check what a model picked up.

Measured once (defaults: 40 subjects x 1 visit, 64^3, seed 0, difficulty 0.5): a standardised
logistic regression (C=0.01) on volumes averaged in 8^3-voxel blocks (512 features) reaches
75% on the subject-level 7:3 test split and 75% (+-8%) in 5-fold cross-validation; with 80
subjects, 71% and 76%; at difficulty 0, 96% and 99%; at difficulty 1, chance (49% CV). ``tests/test_synthetic_brain.py``
checks that the central brain darkens with the latent atrophy score.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from paperkit.atomic import atomic_path, write_json, write_text
from paperkit.data.errors import DataError
from paperkit.data.ida import IDA_COLUMNS
from paperkit.paths import cache_dir

__all__ = ["GENERATOR_VERSION", "MARKERS_FILE", "load_synthetic_markers", "make_synthetic_brain", "render_brain"]

GENERATOR_VERSION = 1
FOV_MM = 200.0
MARKERS_FILE = "synthetic_markers.csv"
_MANIFEST = "manifest.json"
_CSV_NAME = "SYNTHETIC_ADNI_1_01_2024.csv"
_VISIT_CODES = ("sc", "m12", "m24", "m36", "m48", "m60")

# T1-like tissue intensities, relative to white matter.
WM, GM, DEEP_GM, CSF, SKULL, SCALP, FAT = 1.0, 0.62, 0.76, 0.14, 0.07, 0.55, 0.95
# Between-subject SD of each atrophy marker; the disease moves each by A of its SDs.
_SD = {"ventricle_log": 0.2, "cortex_mm": 0.8, "sulcus_mm": 0.8, "hippocampus": 0.1, "gap_mm": 1.0}
_BASE = {"cortex_mm": 6.5, "sulcus_mm": 1.6, "gap_mm": 2.5}


# --------------------------------------------------------------------------- public API


def make_synthetic_brain(out_dir: str | os.PathLike | None = None, n_subjects: int = 40, visits: int = 1,
                         size: int = 64, seed: int = 0, difficulty: float = 0.5, ad_fraction: float = 0.5) -> Path:
    """Write (or reuse) a synthetic ADNI-layout cohort and return its root (module docstring).

    The root is ``out_dir / "brain-<hash of the parameters>"`` (``out_dir`` defaults to
    ``paths.cache_dir("synthetic", "video4mri")``); read it with
    ``paperkit.data.ida.load_adni(root)``. ``n_subjects`` subjects (``round(ad_fraction *
    n_subjects)`` AD, the rest CN), ``visits`` yearly scans each, ``size``^3 voxels.
    Deterministic: the same parameters give byte-identical files. Idempotent: a root whose
    manifest matches is returned untouched. Atomic: built in a temporary sibling folder and
    renamed into place. 40 subjects at 64^3 take a few seconds.
    """
    params = _check_params(n_subjects, visits, size, seed, difficulty, ad_fraction)
    parent = Path(out_dir).expanduser() if out_dir is not None else cache_dir("synthetic", "video4mri")
    parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    root = parent / f"brain-{digest}"
    if _manifest_matches(root, params):
        return root
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=parent))
    try:
        count = _generate(tmp, params)
        write_json(tmp / _MANIFEST, {"generator": "paperkit.data.synthetic_brain", "params": params,
                                     "images": count, "layout": "LONI IDA ADNI download (see paperkit.data.ida)"})
        stale = None
        if root.exists():  # an incomplete or edited copy: move it aside, then replace it
            stale = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".old", dir=parent))
            os.replace(root, stale / root.name)
        try:
            os.replace(tmp, root)
        except OSError:
            if _manifest_matches(root, params):  # another process finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return root
            raise
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def load_synthetic_markers(root: str | os.PathLike):
    """The generator's truth per image as a DataFrame indexed by Image Data ID (``I100001``).

    Columns: ``subject``, ``group``, ``visit``, ``age``, ``atrophy`` (the latent score A),
    ``ventricle_scale``, ``cortex_mm``, ``sulcus_mm``, ``hippocampus_scale``, ``gap_mm``.
    """
    import pandas as pd

    path = Path(root) / MARKERS_FILE
    if not path.is_file():
        raise DataError(f"{path}: expected the generator's markers, not found (is {root} a synthetic root?)")
    return pd.read_csv(path, index_col="image_id")


def render_brain(markers: dict, anatomy: dict, size: int = 64, *, rotation_deg=(0.0, 0.0, 0.0),
                 shift_mm=(0.0, 0.0, 0.0), contrast: float = 1.0) -> np.ndarray:
    """One noiseless float32 head volume (``size``^3, RAS+, white matter ~1).

    ``markers`` are the atrophy markers of the scan (``ventricle_scale``, ``cortex_mm``,
    ``sulcus_mm``, ``hippocampus_scale``, ``gap_mm``), ``anatomy`` the subject's fixed
    shape (from ``_subject``); the pose moves the head in the field of view.
    """
    spacing = FOV_MM / size
    axis = ((np.arange(size) - (size - 1) / 2.0) * spacing).astype(np.float32)
    world = np.meshgrid(axis, axis, axis, indexing="ij")  # x, y, z in mm, RAS
    rot = _rotation(np.deg2rad(rotation_deg))
    # Head coordinates = R^T (world - shift), one float32 array per component.
    p = tuple(sum(np.float32(rot[i, j]) * (world[i] - np.float32(shift_mm[i])) for i in range(3)).astype(np.float32)
              for j in range(3))
    edge = 0.45 * spacing  # partial-volume width of every boundary
    s = anatomy["head_scale"]

    def ellipsoid(center, radii):
        return _ellipsoid_distance(p, np.asarray(center) * s, np.asarray(radii) * s * anatomy["shape"])

    def soft(d):
        return _soft(d, edge)

    head_r = np.array([72.0, 90.0, 80.0])
    image = np.zeros(p[0].shape, dtype=np.float32)

    def paint(mask, value):  # cover what is below by ``mask`` (partial volume blends)
        np.multiply(image, 1.0 - mask, out=image)
        np.add(image, mask * value, out=image, casting="unsafe")

    paint(soft(ellipsoid((0, 0, 0), head_r)), SCALP)
    paint(soft(ellipsoid((0, 0, 0), head_r - 2.5)), FAT)
    paint(soft(ellipsoid((0, 0, 0), head_r - 5.0)), SKULL)
    inner = soft(ellipsoid((0, 0, 0), head_r - 11.0))
    paint(inner, CSF)

    # Cerebrum: white matter shrinks from the skull with the CSF gap; the cortex on it is
    # cortex_mm thick, so a thinner cortex leaves more CSF (atrophy), not more white matter.
    shrink = markers["gap_mm"] + _BASE["cortex_mm"] - markers["cortex_mm"]
    brain_d = ellipsoid((0, 4, 6), head_r - 11.0 - np.array([3.0, 4.0, 8.0]) - shrink)
    depth = -brain_d  # mm inside the brain surface
    folds = _folding(tuple(c / np.float32(s) for c in p), anatomy["folds"])  # unit-SD field, wavelength ~ 24 mm
    sulcal_half = markers["sulcus_mm"] / 2.0 * anatomy["fold_gradient"]
    sulcus_dist = (np.abs(folds) - sulcal_half) / anatomy["fold_gradient"]  # mm from the sulcal wall
    in_brain = soft(brain_d)
    sulcal_depth = 16.0
    sulcus = soft(sulcus_dist) * soft(depth - sulcal_depth)
    grey = soft(np.minimum(depth, np.where(depth < sulcal_depth + 2.0, sulcus_dist, np.inf)) - markers["cortex_mm"])
    tissue = (sulcus * CSF + (1 - sulcus) * (grey * GM + (1 - grey) * WM)) * contrast
    paint(in_brain * inner, tissue)

    # Cerebellum (folia: thin GM/WM stripes) and brainstem.
    cereb = soft(ellipsoid((0, -52, -42), (46, 26, 21)))
    folia = 0.5 + 0.5 * np.cos(np.float32(2 * np.pi / 7.0) * (p[2] + np.float32(0.4) * p[1]))
    paint(cereb * inner, (GM + (WM - GM) * 0.6 * folia) * contrast)
    paint(soft(ellipsoid((0, -22, -40), (11, 12, 26))) * inner, 0.88 * contrast)

    # Deep grey matter, then ventricles (CSF) that grow with atrophy.
    for sign in (-1, 1):
        paint(soft(ellipsoid((sign * 10, -8, 6), (9, 14, 9))), DEEP_GM * contrast)
        paint(soft(ellipsoid((sign * 23, 6, 4), (5, 14, 10))), DEEP_GM * contrast)
    v = markers["ventricle_scale"] * anatomy["ventricle_shape"]
    for sign in (-1, 1):
        paint(soft(ellipsoid((sign * 8 * v[0] ** 0.5, 4, 14), (5.5, 27, 8) * v)), CSF)
        # Temporal horn (CSF) around the hippocampus: the horn stays, the hippocampus shrinks.
        paint(soft(ellipsoid((sign * 28, -12, -16), (10, 24, 10))), CSF)
        h = markers["hippocampus_scale"]
        paint(soft(ellipsoid((sign * 28, -12, -16), (7.5 * h, 20 * h, 7.5 * h))), GM * 1.05 * contrast)
    paint(soft(ellipsoid((0, 0, 8), (2.0, 14, 8) * v)), CSF)  # third ventricle
    return image


# --------------------------------------------------------------------------- geometry


def _rotation(angles: np.ndarray) -> np.ndarray:
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _ellipsoid_distance(p: tuple[np.ndarray, ...], center: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance (mm) to an axis-aligned ellipsoid: (q - 1) / |grad q|.

    ``p`` is the (x, y, z) coordinate arrays (float32, computed per component for speed).
    """
    q2 = np.zeros_like(p[0])
    g2 = np.zeros_like(p[0])
    for coord, c, r in zip(p, center, radii):
        u = (coord - np.float32(c)) * np.float32(1.0 / r)
        q2 += u * u
        g2 += (u * np.float32(1.0 / r)) ** 2
    q = np.sqrt(q2)
    grad = np.sqrt(g2) / np.maximum(q, np.float32(1e-6))
    return (q - 1.0) / np.maximum(grad, np.float32(1e-6))


def _soft(d: np.ndarray, width: float) -> np.ndarray:
    """Partial-volume occupancy of the inside (d < 0) of a boundary."""
    return (0.5 - 0.5 * np.tanh(np.clip(d / (2.0 * width), -20, 20))).astype(np.float32)


def _folding(p: np.ndarray, waves: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Unit-SD random field, a sum of plane waves: the gyral pattern (sulci at its zeros)."""
    k, phase = waves
    field = np.zeros_like(p[0])
    for kv, ph in zip(k.astype(np.float32), phase.astype(np.float32)):
        field += np.cos(p[0] * kv[0] + p[1] * kv[1] + p[2] * kv[2] + ph)
    return field * np.float32(math.sqrt(2.0 / len(k)))


# --------------------------------------------------------------------------- subjects and scans


def _subject(rng: np.random.Generator, is_ad: bool) -> dict:
    """Fixed anatomy and latent traits of one subject."""
    n_waves, wavelength = 24, 24.0
    directions = rng.normal(size=(n_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    k = directions * (2 * np.pi / wavelength) * rng.uniform(0.8, 1.25, (n_waves, 1))
    # The unit-SD field's RMS gradient is the RMS wavenumber: converts field units to mm.
    fold_gradient = float(np.sqrt(np.mean(np.sum(k * k, axis=1))))
    return {
        "age": float(rng.uniform(64, 90) if is_ad else rng.uniform(60, 86)),
        "sex": "F" if rng.random() < 0.5 else "M",
        "severity": float(rng.uniform(0.6, 1.4)) if is_ad else 0.0,
        "z": {name: float(rng.normal()) for name in _SD},
        "anatomy": {
            "head_scale": float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)),
            "shape": np.clip(rng.normal(1.0, 0.03, 3), 0.93, 1.07),
            "ventricle_shape": np.clip(rng.normal(1.0, 0.06, 3), 0.85, 1.15),
            "folds": (k, rng.uniform(0, 2 * np.pi, n_waves)),
            "fold_gradient": fold_gradient,
        },
    }


def _markers(subject: dict, visit: int, separation: float) -> dict:
    """Atrophy score A and the five markers of one scan (module docstring)."""
    age = subject["age"] + visit
    atrophy = 0.03 * (age - 72.0) + separation * subject["severity"] * (1.0 + 0.15 * visit)
    z = subject["z"]
    return {
        "age": age,
        "atrophy": atrophy,
        "ventricle_scale": float(math.exp(_SD["ventricle_log"] * (z["ventricle_log"] + atrophy))),
        "cortex_mm": float(max(2.5, _BASE["cortex_mm"] + _SD["cortex_mm"] * (z["cortex_mm"] - atrophy))),
        "sulcus_mm": float(max(0.3, _BASE["sulcus_mm"] + _SD["sulcus_mm"] * (z["sulcus_mm"] + atrophy))),
        "hippocampus_scale": float(max(0.5, 1.0 + _SD["hippocampus"] * (z["hippocampus"] - atrophy))),
        "gap_mm": float(max(0.5, _BASE["gap_mm"] + _SD["gap_mm"] * (z["gap_mm"] + atrophy))),
    }


def _acquire(clean: np.ndarray, rng: np.random.Generator, difficulty: float) -> np.ndarray:
    """Bias field, slight blur and Rician noise; stored as int16 with white matter ~1000."""
    size = clean.shape[0]
    low = rng.normal(size=(4, 4, 4))
    bias = np.asarray(_upsample(low, size), dtype=np.float32)
    bias = np.exp((0.03 + 0.12 * difficulty) * bias / (bias.std() + 1e-6))
    image = gaussian_filter(clean * bias, 0.35)
    sigma = 0.02 + 0.06 * difficulty
    noisy = np.hypot(image + rng.normal(0, sigma, image.shape), rng.normal(0, sigma, image.shape))
    return np.clip(np.rint(noisy * 1000.0 * rng.uniform(0.9, 1.1)), 0, 32767).astype(np.int16)


def _upsample(low: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import zoom

    return zoom(low, size / low.shape[0], order=3, mode="nearest")


# --------------------------------------------------------------------------- writing


def _subject_id(index: int) -> str:
    return f"941_S_{index + 1:04d}"


def _generate(root: Path, params: dict) -> int:
    """Write every file of the data set into ``root``; returns the number of images."""
    n, size, difficulty = params["n_subjects"], params["size"], params["difficulty"]
    n_ad = int(round(params["ad_fraction"] * n))
    # AD subjects interleaved with CN ones by a seeded permutation, so ids say nothing.
    is_ad = np.zeros(n, dtype=bool)
    is_ad[np.random.default_rng([params["seed"], 7919]).permutation(n)[:n_ad]] = True
    separation = 2.5 * (1.0 - difficulty) + 0.25
    spacing = FOV_MM / size
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -(size - 1) / 2.0 * spacing
    rows, truth = [], []
    image_number, count = 100000, 0
    start = dt.datetime(2010, 1, 4, 9, 0, 0)
    for s in range(n):
        subject = _subject(np.random.default_rng([params["seed"], s, 0]), bool(is_ad[s]))
        sid = _subject_id(s)
        for visit in range(params["visits"]):
            rng = np.random.default_rng([params["seed"], s, 1, visit])
            markers = _markers(subject, visit, separation)
            rot = rng.uniform(-1, 1, 3) * (1.0 + 4.0 * difficulty)
            shift = rng.uniform(-1, 1, 3) * (1.0 + 3.0 * difficulty)
            contrast = float(rng.uniform(1.0 - 0.08 * difficulty, 1.0 + 0.08 * difficulty))
            clean = render_brain(markers, subject["anatomy"], size, rotation_deg=rot, shift_mm=shift,
                                 contrast=contrast)
            stored = _acquire(clean, rng, difficulty)
            image_number += 1
            count += 1
            image_id = f"I{image_number}"
            when = start + dt.timedelta(days=7 * s + 365 * visit)
            folder = root / "ADNI" / sid / "MPRAGE" / when.strftime("%Y-%m-%d_%H_%M_%S.0") / image_id
            name = (f"ADNI_{sid}_MR_MPRAGE_br_raw_{when.strftime('%Y%m%d%H%M%S')}000_1_"
                    f"S{image_number + 100000}_{image_id}.nii.gz")
            _write_nifti(folder / name, stored, affine)
            group = "AD" if is_ad[s] else "CN"
            rows.append([image_id, sid, group, subject["sex"], int(markers["age"]), _visit_code(visit), "MRI",
                         "MPRAGE", "Original", f"{when.month}/{when.day:02d}/{when.year}", "NiFTI", "1/01/2024"])
            truth.append([image_id, sid, group, _visit_code(visit)] + [
                round(markers[k], 4) for k in ("age", "atrophy", "ventricle_scale", "cortex_mm", "sulcus_mm",
                                               "hippocampus_scale", "gap_mm")])
    _write_csv(root / _CSV_NAME, list(IDA_COLUMNS), rows)
    _write_csv(root / MARKERS_FILE, ["image_id", "subject", "group", "visit", "age", "atrophy", "ventricle_scale",
                                     "cortex_mm", "sulcus_mm", "hippocampus_scale", "gap_mm"], truth)
    return count


def _visit_code(visit: int) -> str:
    return _VISIT_CODES[visit] if visit < len(_VISIT_CODES) else f"m{12 * visit}"


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def _write_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> None:
    """Gzipped NIfTI-1 with a zero gzip timestamp, so equal arrays give equal bytes."""
    import nibabel as nib

    img = nib.Nifti1Image(array, affine)
    img.header.set_xyzt_units("mm")
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    data = gzip.compress(img.to_bytes(), mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _check_params(n_subjects, visits, size, seed, difficulty, ad_fraction) -> dict:
    if int(n_subjects) != n_subjects or n_subjects < 2:
        raise ValueError(f"n_subjects={n_subjects!r}: expected an int >= 2")
    if int(visits) != visits or not 1 <= visits <= 10:
        raise ValueError(f"visits={visits!r}: expected an int in 1..10")
    if int(size) != size or not 24 <= size <= 256:
        raise ValueError(f"size={size!r}: expected an int in 24..256 (voxels per side)")
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty={difficulty!r}: expected a value in [0, 1]")
    if not 0.0 < float(ad_fraction) < 1.0:
        raise ValueError(f"ad_fraction={ad_fraction!r}: expected a value in (0, 1)")
    n_ad = int(round(ad_fraction * n_subjects))
    if n_ad < 1 or n_ad > n_subjects - 1:
        raise ValueError(f"ad_fraction={ad_fraction} of {n_subjects} subjects leaves a class empty")
    return {"n_subjects": int(n_subjects), "visits": int(visits), "size": int(size), "seed": int(seed),
            "difficulty": float(difficulty), "ad_fraction": float(ad_fraction), "version": GENERATOR_VERSION}


def _manifest_matches(root: Path, params: dict) -> bool:
    try:
        manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("params") == params
