"""A synthetic brain-MRI cohort on the MNI152 template, in the OASIS-2 layout (Video4MRI's offline default).

:func:`make_synthetic_brain` turns the ICBM 2009a MNI152 template that nilearn ships inside its
package (T1, grey- and white-matter maps; the files behind
``nilearn.datasets.load_mni152_template`` / ``load_mni152_gm_template`` /
``load_mni152_wm_template``, read directly so nothing is downloaded) into "subjects" with and
without an Alzheimer-like atrophy, and writes them exactly as OASIS-2 is distributed, so that
:func:`paperkit.data.datasets.oasis.load_oasis2` (dataset name :data:`SYNTHETIC_LAYOUT`, ``"oasis2"``, in
:func:`paperkit.data.brain_mri.load_brain_mri`) reads them like the real thing::

    <root>/OAS2_RAW_PART1/OAS2_0001_MR1/RAW/mpr-1.nifti.hdr (+ mpr-1.nifti.img)   # NIfTI-1 pair, int16
    <root>/OAS2_RAW_PART1/OAS2_0001_MR2/RAW/mpr-1.nifti.hdr ...                   # one folder per visit
    <root>/oasis_longitudinal.csv   # Subject ID, MRI ID, Group (Demented / Nondemented), Visit, MR Delay,
                                    # M/F, Hand, Age, EDUC, SES, MMSE, CDR, eTIV, nWBV, ASF
    <root>/synthetic_markers.csv    # the generator's ground truth per scan (load_synthetic_markers)
    <root>/manifest.json            # parameters; written last

The real OASIS-2 ``RAW/mpr-<n>.nifti.hdr`` files are NIfTI-1 header/image pairs too, so the
loader needed no change. Each visit has one MPRAGE run (real sessions have 3-4). The template
is skull-stripped, so the volumes are brain-only (like OASIS's ``masked`` images): ``size``^3
voxels, RAS+, over a 192 mm field of view (64^3: 3 mm voxels), int16, white matter near 1000.

**Per subject and scan** (nuisance, growing with ``difficulty``): head size (brain scale
SD 4%, plus up to 3% anisotropy), a smooth random deformation (displacements SD
1 + 2 * difficulty mm on a 4^3 control grid, cubic), head pose per visit (rotation up to
1 + 5 * difficulty degrees per axis, shift up to 1 + 3 * difficulty mm), grey/white contrast
(+-10% * difficulty), a smooth multiplicative bias field and Rician noise.

**The disease signal.** Each scan has a latent atrophy score ``A`` (units: the between-subject
SD of each marker)::

    A = 0.04 * (age - 75)                                     # normal ageing, both groups
      + [Demented] * separation * severity * (1 + 0.2 * visit)  # disease, progressing per visit

with ``severity ~ U(0.6, 1.4)`` per demented subject and ``separation = 4.0 * (1 - difficulty)
+ 0.3`` (2.3 SD at the default ``difficulty=0.5``; 0.3 SD at 1). Four markers move by ``A`` times
their own SD around a subject-specific value:

* ventricle enlargement (SD 2 mm): the ventricles are the CSF (brain mask minus GM and WM
  maps) inside the brain near its centre, at least 12 mm from the brain surface; a warp along
  the gradient of the smoothed ventricle mask pushes their walls outwards by that many mm;
* cortical thinning (SD 0.5 mm): cortical grey matter within that depth of the outer
  brain surface or of sulcal CSF turns into CSF;
* sulcal widening (SD 0.6 mm): extra erosion next to sulcal CSF only (the sulci open);
* hippocampal shrinkage (SD 12% of its grey matter): in an approximate medial-temporal region
  (ellipsoids around MNI (+-28, -22, -14) mm, radii 9 x 20 x 10 mm) that fraction of the grey
  matter turns into CSF (the temporal horn widens).

Demented subjects are older on average (ages ~U(66, 92) vs ~U(62, 88)); age alone predicts
the label a little, as in real cohorts. ``visits`` yearly-ish scans per subject (``MR Delay``
grows by 1-2 years per visit); the CSV's CDR (0 vs 0.5/1), MMSE, eTIV, nWBV and ASF are
filled in plausibly from the subject's traits. Every visit of a subject shares its anatomy, so
:func:`paperkit.data.brain_mri.split_cohort` (by subject) matters.

Measured once (defaults: 40 subjects x 2 visits, 64^3, seed 0, difficulty 0.5; 2-core CPU shared
with other jobs, load ~6): a standardised logistic regression on the volumes averaged in 8^3-voxel
blocks (512 features, C=0.01) reaches 81% (+-7%) in 5-fold cross-validation grouped by subject, and
on a 24-bin intensity histogram of the brain (C=0.1) 92% (+-7%); on one subject-level 7:3 split
(12 test subjects) the block model scored 62%. So the task is learnable and far from solved.
Generation: ~0.3 s per 64^3 scan on that loaded machine (80 scans in 36 s, plus ~4 s to prepare
the template once per process); a finished cohort is reused from the cache.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from paperkit.atomic import build_folder, write_text
from paperkit.data.io.errors import DataError
from paperkit.paths import cache_dir

__all__ = ["GENERATOR_VERSION", "MARKERS_FILE", "OASIS2_TABLE_COLUMNS", "SYNTHETIC_LAYOUT",
           "load_synthetic_markers", "make_synthetic_brain", "mni152_tissues", "render_scan"]

GENERATOR_VERSION = 2
SYNTHETIC_LAYOUT = "oasis2"  # the load_brain_mri dataset name that reads a synthetic root
FOV_MM = 192.0
FOV_CENTRE_MM = (0.0, -17.0, 10.0)  # MNI coordinates of the brain's bounding-box centre
MARKERS_FILE = "synthetic_markers.csv"
# Exactly the header of the public oasis_longitudinal.csv.
OASIS2_TABLE_COLUMNS = ("Subject ID", "MRI ID", "Group", "Visit", "MR Delay", "M/F", "Hand", "Age", "EDUC",
                        "SES", "MMSE", "CDR", "eTIV", "nWBV", "ASF")
_MARKERS = ("ventricle_mm", "thinning_mm", "sulcal_mm", "hippocampus_loss")
_SD = {"ventricle_mm": 2.0, "thinning_mm": 0.5, "sulcal_mm": 0.6, "hippocampus_loss": 0.12}
_BASE = {"ventricle_mm": 0.0, "thinning_mm": 0.4, "sulcal_mm": 0.4, "hippocampus_loss": 0.1}
_LIMITS = {"ventricle_mm": (-3.0, 10.0), "thinning_mm": (0.0, 3.0), "sulcal_mm": (0.0, 3.5),
           "hippocampus_loss": (0.0, 0.8)}
_HIPPOCAMPI = (((-28.0, -22.0, -14.0), (9.0, 20.0, 10.0)), ((28.0, -22.0, -14.0), (9.0, 20.0, 10.0)))


# --------------------------------------------------------------------------- public API


def make_synthetic_brain(out_dir: str | os.PathLike | None = None, n_subjects: int = 40, visits: int = 2,
                         size: int = 64, seed: int = 0, difficulty: float = 0.5,
                         ad_fraction: float = 0.5) -> Path:
    """Write (or reuse) a synthetic OASIS-2-layout cohort and return its root (module docstring).

    The root is ``out_dir / "brain-<hash of the parameters>"`` (``out_dir`` defaults to
    ``paths.cache_dir("synthetic", "video4mri")``); read it with
    ``load_brain_mri(SYNTHETIC_LAYOUT, root)`` (= ``paperkit.data.datasets.oasis.load_oasis2(root)``).
    ``n_subjects`` subjects (``round(ad_fraction * n_subjects)`` Demented, the rest
    Nondemented), ``visits`` sessions each, ``size``^3 voxels; ``difficulty`` in [0, 1]
    weakens the atrophy and strengthens the nuisance variation. Deterministic (same
    parameters, same bytes), idempotent (a root whose manifest matches is returned
    untouched) and atomic (built in a temporary sibling folder, renamed into place).
    """
    params = _check_params(n_subjects, visits, size, seed, difficulty, ad_fraction)
    parent = Path(out_dir).expanduser() if out_dir is not None else cache_dir("synthetic", "video4mri")
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]

    def build(tmp: Path) -> dict:
        return {"generator": "paperkit.data.synthetic.brain", "images": _generate(tmp, params),
                "layout": "OASIS-2 (see paperkit.data.datasets.oasis)",
                "read_with": f"load_brain_mri({SYNTHETIC_LAYOUT!r}, root)"}

    return build_folder(parent, f"brain-{digest}", params, build)


def load_synthetic_markers(root: str | os.PathLike):
    """The generator's truth per scan as a DataFrame indexed by ``scan_id`` (``"OAS2_0001_MR1/mpr-1"``,
    the :class:`~paperkit.data.brain_mri.BrainScan` ``scan_id``).

    Columns: ``subject``, ``mri_id``, ``group`` (Demented / Nondemented), ``visit``, ``age``,
    ``atrophy`` (the latent score A), ``ventricle_mm``, ``thinning_mm``, ``sulcal_mm``,
    ``hippocampus_loss``.
    """
    import pandas as pd

    path = Path(root) / MARKERS_FILE
    if not path.is_file():
        raise DataError(f"{path}: expected the generator's markers, not found (is {root} a synthetic root?)")
    return pd.read_csv(path, index_col="scan_id")


@functools.lru_cache(maxsize=1)
def mni152_tissues() -> dict:
    """The packaged MNI152 template at 2 mm with what the generator derives from it (cached).

    Keys: ``affine`` (2 mm grid, MNI mm), ``t1`` (0..1), ``gm``, ``wm``, ``csf``, ``mask``
    (probabilities), ``ventricles`` (bool), ``ventricle_push`` (3, ...) the unit outward warp
    of the ventricle walls, ``depth_outer`` / ``depth_sulcal`` (mm from the outer brain surface
    / from sulcal CSF), ``cortex`` (weight of cortical vs deep grey matter), ``hippocampus``
    (weight of the medial-temporal region), ``intensity`` (template T1 of pure GM/WM/CSF).
    """
    import importlib.util

    import nibabel as nib

    # The files nilearn.datasets.load_mni152_template & co. read; located without importing
    # nilearn.datasets (slow to import) and read at their native 1 mm.
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("nilearn is not installed; expected its packaged MNI152 template (pip install nilearn)")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"

    def load(kind):
        path = data / f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz"
        if not path.is_file():
            raise DataError(f"{path}: expected nilearn's packaged MNI152 {kind} template, not found")
        img = nib.load(str(path))
        a = np.asarray(img.dataobj, dtype=np.float32) / 255.0
        shape = [s - s % 2 for s in a.shape]  # 1 mm -> 2 mm by averaging 2x2x2 blocks
        a = a[:shape[0], :shape[1], :shape[2]]
        a = a.reshape(shape[0] // 2, 2, shape[1] // 2, 2, shape[2] // 2, 2).mean(axis=(1, 3, 5))
        affine = img.affine.copy()
        affine[:3, :3] *= 2.0
        affine[:3, 3] += 0.5 * np.diag(img.affine)[:3]  # the block's centre
        return a, affine

    t1, affine = load("t1")
    gm, _ = load("gm")
    wm, _ = load("wm")
    mask = np.clip(ndimage.gaussian_filter((t1 > 0.05).astype(np.float32), 0.5), 0, 1)
    csf = np.clip(mask - gm - wm, 0.0, 1.0)
    inside = mask > 0.5
    depth_outer = ndimage.distance_transform_edt(inside).astype(np.float32) * 2.0
    # Ventricles: CSF deep inside the brain (>= 12 mm from its surface), near the centre.
    coords = _grid_mm(t1.shape, affine)
    central = ((coords[0] / 30.0) ** 2 + ((coords[1] + 10.0) / 50.0) ** 2 + ((coords[2] - 12.0) / 30.0) ** 2) < 1
    ventricles = (csf > 0.5) & (depth_outer >= 12.0) & central
    labels, n = ndimage.label(ventricles)
    if n > 1:  # keep the large components (the lateral ventricles), not stray CSF voxels
        sizes = ndimage.sum(ventricles, labels, range(1, n + 1))
        ventricles = np.isin(labels, 1 + np.flatnonzero(sizes >= 0.1 * sizes.max()))
    smooth = ndimage.gaussian_filter(ventricles.astype(np.float32), 2.0)
    push = np.stack(np.gradient(smooth, 2.0))  # per mm; points into the ventricles
    push /= float(np.abs(push).max() + 1e-6) * 1.0  # so a warp of w mm moves the walls by ~w mm
    sulcal = (csf > 0.4) & ~ventricles & (depth_outer > 2.0)
    depth_sulcal = ndimage.distance_transform_edt(~sulcal).astype(np.float32) * 2.0
    cortex = (1.0 / (1.0 + np.exp((depth_outer - 14.0) / 2.0))).astype(np.float32)
    hippocampus = np.zeros_like(t1)
    for centre, radii in _HIPPOCAMPI:
        q = sum(((coords[i] - centre[i]) / radii[i]) ** 2 for i in range(3))
        hippocampus = np.maximum(hippocampus, np.clip(1.5 - q, 0.0, 1.0))
    # T1 of pure tissue, by least squares of the template on the tissue maps.
    sel = inside.ravel()
    design = np.stack([gm.ravel()[sel], wm.ravel()[sel], csf.ravel()[sel]], axis=1)
    intensity = np.linalg.lstsq(design, t1.ravel()[sel], rcond=None)[0]
    import torch

    channels = [t1, gm, wm, mask, depth_outer, depth_sulcal, cortex, hippocampus]  # render_scan's order
    stack = torch.from_numpy(np.stack(channels).astype(np.float32))[None]
    push_stack = torch.from_numpy(push.astype(np.float32))[None]
    # Channels last: grid_sample then reads all channels of a voxel together (about 2x faster on CPU).
    stack = stack.contiguous(memory_format=torch.channels_last_3d)
    push_stack = push_stack.contiguous(memory_format=torch.channels_last_3d)
    return {"stack": stack, "push_stack": push_stack, "affine": affine, "t1": t1, "gm": gm, "wm": wm, "csf": csf,
            "mask": mask, "ventricles": ventricles,
            "ventricle_push": push.astype(np.float32), "depth_outer": depth_outer, "depth_sulcal": depth_sulcal,
            "cortex": cortex, "hippocampus": hippocampus.astype(np.float32),
            "intensity": dict(zip(("gm", "wm", "csf"), (float(v) for v in intensity)))}


def render_scan(markers: dict, anatomy: dict, size: int = 64, *, rotation_deg=(0.0, 0.0, 0.0),
                shift_mm=(0.0, 0.0, 0.0), contrast: float = 0.0) -> np.ndarray:
    """One noiseless float32 brain volume (``size``^3, RAS+, FOV :data:`FOV_MM`, white matter ~1).

    ``markers`` are the scan's atrophy markers (``ventricle_mm``, ``thinning_mm``,
    ``sulcal_mm``, ``hippocampus_loss``); ``anatomy`` the subject's fixed shape (``scale``, a
    3-vector, and ``warp``, a (3, 4, 4, 4) control grid of displacements in mm, or None);
    the pose places the head in the field of view; ``contrast`` shifts grey vs white matter.
    """
    t = mni152_tissues()
    spacing = FOV_MM / size
    axis = (np.arange(size, dtype=np.float32) - (size - 1) / 2.0) * np.float32(spacing)
    world = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"))  # scanner mm, RAS
    rot = _rotation(np.deg2rad(rotation_deg)).astype(np.float32)
    # scanner -> subject head (undo pose) -> template mm (undo head size) + the subject's smooth warp
    head = np.einsum("ji,j...->i...", rot, world - np.asarray(shift_mm, np.float32)[:, None, None, None])
    mni = head / np.asarray(anatomy["scale"], np.float32)[:, None, None, None]
    mni += np.asarray(FOV_CENTRE_MM, np.float32)[:, None, None, None]
    if anatomy.get("warp") is not None:
        mni += np.stack([_upsample(c, size) for c in anatomy["warp"]])
    inv = np.linalg.inv(t["affine"]).astype(np.float32)
    vox = np.einsum("ij,j...->i...", inv[:3, :3], mni) + inv[:3, 3][:, None, None, None]
    # Ventricle enlargement: sample from nearer the ventricles, so their walls move outwards.
    if markers["ventricle_mm"]:
        push = _sample(t["push_stack"], vox)
        vox = vox + push * np.float32(markers["ventricle_mm"] / 2.0)  # mm -> 2 mm voxels
    t1, gm, wm, mask, depth_outer, depth_sulcal, cortex, hippocampus = _sample(t["stack"], vox)
    # Cortical thinning (from both surfaces) and sulcal widening: grey matter within reach becomes CSF.
    thin, wide = markers["thinning_mm"], markers["sulcal_mm"]
    erosion = np.maximum(thin - depth_outer, thin + wide - depth_sulcal)
    lost = gm * cortex * np.clip(erosion / 2.0 + 0.5, 0.0, 1.0)
    lost = np.minimum(gm, lost + gm * hippocampus * np.float32(markers["hippocampus_loss"]))
    level = t["intensity"]
    image = t1 - lost * np.float32(level["gm"] - level["csf"])
    image += np.float32(contrast) * (wm - (gm - lost)) * np.float32(level["wm"] - level["gm"])
    image = np.clip(image, 0.0, None) * np.clip(mask * 1.5, 0.0, 1.0)
    return (image / np.float32(level["wm"])).astype(np.float32)


# --------------------------------------------------------------------------- geometry


def _grid_mm(shape, affine) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij"))
    return np.einsum("ij,j...->i...", affine[:3, :3].astype(np.float32), idx) + affine[:3, 3].astype(
        np.float32)[:, None, None, None]


def _rotation(angles: np.ndarray) -> np.ndarray:
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _sample(stack, vox: np.ndarray) -> np.ndarray:
    """Trilinear samples of every channel of ``stack`` (torch ``(1, C, X, Y, Z)``) at voxel
    coordinates ``vox`` (3, ...); zero outside. One ``grid_sample`` call for all channels."""
    import torch
    import torch.nn.functional as F

    dims = torch.tensor(stack.shape[2:], dtype=torch.float32)
    coords = torch.from_numpy(np.ascontiguousarray(vox)).reshape(3, -1)
    norm = 2.0 * coords / (dims[:, None] - 1.0) - 1.0  # align_corners=True convention
    grid = norm.flip(0).T.reshape(1, 1, 1, -1, 3)  # grid_sample wants (z, y, x) = (W, H, D) order
    with torch.no_grad():
        out = F.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0, :, 0, 0].reshape(stack.shape[1], *vox.shape[1:]).numpy()


@functools.lru_cache(maxsize=8)
def _cubic_matrix(n_low: int, size: int) -> np.ndarray:
    """(size, n_low) matrix of cubic-spline upsampling weights (ndimage.zoom of unit vectors)."""
    eye = np.eye(n_low, dtype=np.float64)
    return np.stack([ndimage.zoom(e, size / n_low, order=3, mode="nearest") for e in eye], axis=1)


def _upsample(low: np.ndarray, size: int) -> np.ndarray:
    """A smooth ``size``^3 field through a small cubic control grid (separable spline, fast)."""
    m = _cubic_matrix(low.shape[0], size)
    return np.einsum("ai,bj,ck,ijk->abc", m, m, m, low, optimize=True).astype(np.float32)


# --------------------------------------------------------------------------- subjects and scans


def _subject(rng: np.random.Generator, demented: bool, difficulty: float) -> dict:
    """Fixed anatomy and traits of one subject."""
    scale = float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)) * np.clip(rng.normal(1.0, 0.015, 3), 0.97, 1.03)
    return {
        "age": float(rng.uniform(66, 92) if demented else rng.uniform(62, 88)),
        "sex": "F" if rng.random() < 0.55 else "M",
        "educ": int(rng.choice([8, 12, 12, 14, 16, 16, 18, 20])),
        "ses": int(rng.integers(1, 6)),
        "severity": float(rng.uniform(0.6, 1.4)) if demented else 0.0,
        "z": {name: float(rng.normal()) for name in _MARKERS},
        "anatomy": {"scale": scale, "warp": rng.normal(0.0, 1.0 + 2.0 * difficulty, (3, 4, 4, 4))},
    }


def _markers(subject: dict, visit: int, years: float, separation: float) -> dict:
    """Latent atrophy score A and the four markers of one scan (module docstring)."""
    age = subject["age"] + years
    atrophy = 0.04 * (age - 75.0) + separation * subject["severity"] * (1.0 + 0.2 * visit)
    out = {"age": age, "atrophy": atrophy}
    for name in _MARKERS:
        low, high = _LIMITS[name]
        out[name] = float(np.clip(_BASE[name] + _SD[name] * (subject["z"][name] + atrophy), low, high))
    return out


def _acquire(clean: np.ndarray, rng: np.random.Generator, difficulty: float) -> np.ndarray:
    """Bias field, slight blur and Rician noise; stored as int16 with white matter ~1000."""
    bias = _upsample(rng.normal(size=(4, 4, 4)), clean.shape[0])
    bias = np.exp((0.03 + 0.1 * difficulty) * bias / (bias.std() + 1e-6))
    image = ndimage.gaussian_filter(clean * bias, 0.4)
    sigma = 0.02 + 0.04 * difficulty
    noisy = np.hypot(image + rng.normal(0, sigma, image.shape), rng.normal(0, sigma, image.shape))
    return np.clip(np.rint(noisy * 1000.0 * rng.uniform(0.9, 1.1)), 0, 32767).astype(np.int16)


# --------------------------------------------------------------------------- writing


def _generate(root: Path, params: dict) -> int:
    """Write every file of the data set into ``root``; returns the number of images."""
    n, size, difficulty = params["n_subjects"], params["size"], params["difficulty"]
    n_demented = int(round(params["ad_fraction"] * n))
    # Demented subjects interleaved with the others by a seeded permutation, so ids say nothing.
    demented = np.zeros(n, dtype=bool)
    demented[np.random.default_rng([params["seed"], 7919]).permutation(n)[:n_demented]] = True
    separation = 4.0 * (1.0 - difficulty) + 0.3
    spacing = FOV_MM / size
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -(size - 1) / 2.0 * spacing
    rows, truth = [], []
    for s in range(n):
        subject = _subject(np.random.default_rng([params["seed"], s, 0]), bool(demented[s]), difficulty)
        sid = f"OAS2_{s + 1:04d}"
        group = "Demented" if demented[s] else "Nondemented"
        delay = 0
        for visit in range(params["visits"]):
            rng = np.random.default_rng([params["seed"], s, 1, visit])
            if visit:
                delay += int(rng.integers(365, 2 * 365))
            markers = _markers(subject, visit, delay / 365.25, separation)
            rot = rng.uniform(-1, 1, 3) * (1.0 + 5.0 * difficulty)
            shift = rng.uniform(-1, 1, 3) * (1.0 + 3.0 * difficulty)
            contrast = float(rng.uniform(-0.1, 0.1) * difficulty)
            clean = render_scan(markers, subject["anatomy"], size, rotation_deg=rot, shift_mm=shift,
                                contrast=contrast)
            mri_id = f"{sid}_MR{visit + 1}"
            _write_nifti_pair(root / "OAS2_RAW_PART1" / mri_id / "RAW" / "mpr-1.nifti.hdr",
                              _acquire(clean, rng, difficulty), affine)
            rows.append(_table_row(subject, sid, mri_id, group, visit, delay, markers, rng))
            truth.append([f"{mri_id}/mpr-1", sid, mri_id, group, visit + 1] + [
                round(markers[k], 4) for k in ("age", "atrophy", *_MARKERS)])
    _write_csv(root / "oasis_longitudinal.csv", list(OASIS2_TABLE_COLUMNS), rows)
    _write_csv(root / MARKERS_FILE, ["scan_id", "subject", "mri_id", "group", "visit", "age", "atrophy",
                                     *_MARKERS], truth)
    return len(rows)


def _table_row(subject, sid, mri_id, group, visit, delay, markers, rng) -> list:
    """One oasis_longitudinal.csv row, with plausible clinical values."""
    demented = group == "Demented"
    cdr = (0.5 if subject["severity"] < 1.1 else 1.0) if demented else 0.0
    mmse = int(np.clip(round(29.5 - (4.0 + 3.0 * markers["atrophy"] if demented else 0.3 * max(0.0, markers[
        "atrophy"])) + rng.normal(0, 1)), 4, 30))
    etiv = int(round(1480 * float(np.prod(subject["anatomy"]["scale"])) * (1.08 if subject["sex"] == "M" else 0.95)))
    nwbv = round(0.76 - 0.006 * (markers["age"] - 75.0) - 0.008 * max(0.0, markers["atrophy"]), 3)
    return [sid, mri_id, group, visit + 1, delay, subject["sex"], "R", int(markers["age"]), subject["educ"],
            subject["ses"], mmse, cdr, etiv, nwbv, round(1755.0 / etiv, 3)]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def _write_nifti_pair(path: Path, array: np.ndarray, affine: np.ndarray) -> None:
    """A NIfTI-1 header/image pair (``.hdr`` + ``.img``), as OASIS-2 ships its runs.

    Written inside the generator's temporary folder, which is renamed into place when complete.
    """
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Pair(array, affine)
    img.header.set_xyzt_units("mm")
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    img.to_filename(str(path))


def _check_params(n_subjects, visits, size, seed, difficulty, ad_fraction) -> dict:
    if int(n_subjects) != n_subjects or n_subjects < 2:
        raise ValueError(f"n_subjects={n_subjects!r}: expected an int >= 2")
    if int(visits) != visits or not 1 <= visits <= 5:
        raise ValueError(f"visits={visits!r}: expected an int in 1..5 (OASIS-2 has 2 to 5 visits)")
    if int(size) != size or not 24 <= size <= 160:
        raise ValueError(f"size={size!r}: expected an int in 24..160 (voxels per side)")
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty={difficulty!r}: expected a value in [0, 1]")
    if not 0.0 < float(ad_fraction) < 1.0:
        raise ValueError(f"ad_fraction={ad_fraction!r}: expected a value in (0, 1)")
    n_demented = int(round(ad_fraction * n_subjects))
    if n_demented < 1 or n_demented > n_subjects - 1:
        raise ValueError(f"ad_fraction={ad_fraction} of {n_subjects} subjects leaves a group empty")
    return {"n_subjects": int(n_subjects), "visits": int(visits), "size": int(size), "seed": int(seed),
            "difficulty": float(difficulty), "ad_fraction": float(ad_fraction),
            "version": GENERATOR_VERSION}


