"""Synthetic chest X-rays written in CheXpert's layout: the offline default for ``rethink_transfer``.

:func:`make_synthetic_cxr` draws frontal chest-X-ray-like images and WRITES them as a
CheXpert folder -- ``CheXpert-v1.0-small/train.csv``, ``valid.csv`` (Stanford's 19 column
names) and ``train/patientNNNNN/studyK/view1_frontal.jpg`` -- so the chapter reads them back
through :func:`paperkit.data.datasets.chexpert.load_chexpert`, the same code that reads the real data.
Images are 8-bit grey **JPEG** (quality 95) as CheXpert ships them, or lossless **PNG**
with ``image_format="png"`` (same reader, ``.png`` paths). Only frontal views are drawn.

Anatomy (random position and scale per patient, shared by a patient's studies): dark
background, bright body with neck and shoulders, two dark lung fields with domed
diaphragms, posterior ribs as curved bright bands, clavicles, spine with vertebrae,
trachea, mediastinum with aortic knob, heart silhouette (extending to the patient's left),
gastric bubble, vessel-like lung markings radiating from the hila, a smooth exposure bias,
blur and noise.

Findings
--------
The labels are the paper's 13 plus ``Support Devices``. Each row of :data:`FINDINGS` gives
the label, what puts it in the pixels, the kind of signal, the probability that the CSV
says ``1.0`` (:data:`PREVALENCE`) and whether it is drawn per patient (kept across a
patient's studies) or per study. With U-Zeros the positive rate in the loaded table equals
this probability.

==========================  ===================================================  ===========  =====  =======
label                       signal in the image                                  kind         prev.  level
==========================  ===================================================  ===========  =====  =======
Enlarged Cardiomediastinum  upper-mediastinum width / thorax width > 0.25        shape        0.08   patient
Cardiomegaly                heart width / thorax width (CTR) > 0.50              shape        0.12   patient
Lung Opacity                diffuse brighter patchy texture in one lung field    texture      0.20   study
Lung Lesion                 small bright round nodule in a lung                  blob         0.05   patient
Edema                       bilateral perihilar hazy texture                     texture      0.12   study
Consolidation               dense, fairly sharp-edged opacity at one lung base   texture      0.07   study
Pneumonia                   small faint patchy opacity (weak)                    texture      0.03   study
Atelectasis                 thin plate-like band + raised hemidiaphragm (weak)   shape        0.10   study
Pneumothorax                apical rim without lung markings + pleural line      texture      0.07   study
Pleural Effusion            bright fluid meniscus at a lung base                 shape/int.   0.18   study
Pleural Other               thin pleural thickening along a lateral wall (weak)  texture      0.03   patient
Fracture                    gap and callus in one rib (weak)                     shape        0.04   patient
Support Devices             thin bright central line from the neck (not used)    shape        0.20   study
No Finding                  none of the 12 pathologies above is 1 or -1          derived      ~0.18  study
==========================  ===================================================  ===========  =====  =======

Findings are drawn independently of one another. ``difficulty`` (0..1, default 0.5)
scales the findings' contrast (``1.6 - 1.3 * difficulty`` times a base amplitude) against
noise (sigma ``0.02 + 0.03 * difficulty``) and narrows the gap between the negative and
positive width ratios of the shape labels (``0.04 * (1 - difficulty) + 0.004`` either side
of the threshold), so that results are neither trivial nor noise.

Uncertain labels: in ``train.csv`` each pathology is ``-1.0`` for :data:`UNCERTAIN_RATE`
(4 %) of the rows; half of those show the finding at half strength (for shape labels: a
ratio right at the threshold), so U-Zeros maps a few faint positives to 0, as in the real
data. Negatives are mostly blank (not mentioned), sometimes ``0.0``. ``valid.csv`` holds
only ``1.0``/``0.0``, like Stanford's radiologist-labelled validation set.

Caching: the folder carries ``synthetic_cxr.json`` with the generator's parameters; a
second call with the same parameters reuses it. It is built in a temporary folder and
renamed into place, so a killed run never leaves a half-written dataset.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paperkit.atomic import atomic_path, write_text
from paperkit.data.datasets.chexpert import CHEXPERT_COLUMNS, CHEXPERT_LABELS
from paperkit.data.io.errors import DataError
from paperkit.paths import cache_dir

GENERATOR_VERSION = "synthetic-cxr-v1"  # part of the manifest: bump when the drawing changes
DATASET_FOLDER = "CheXpert-v1.0-small"
MANIFEST = "synthetic_cxr.json"

# label -> (signal, kind, probability of 1.0, level); see the module docstring's table.
FINDINGS = {
    "Enlarged Cardiomediastinum": ("upper-mediastinum width / thorax width > 0.25", "shape", 0.08, "patient"),
    "Cardiomegaly": ("heart width / thorax width (CTR) > 0.50", "shape", 0.12, "patient"),
    "Lung Opacity": ("diffuse brighter patchy texture in one lung field", "texture", 0.20, "study"),
    "Lung Lesion": ("small bright round nodule in a lung", "blob", 0.05, "patient"),
    "Edema": ("bilateral perihilar hazy texture", "texture", 0.12, "study"),
    "Consolidation": ("dense, fairly sharp-edged opacity at one lung base", "texture", 0.07, "study"),
    "Pneumonia": ("small faint patchy opacity (weak)", "texture", 0.03, "study"),
    "Atelectasis": ("thin plate-like band + raised hemidiaphragm (weak)", "shape", 0.10, "study"),
    "Pneumothorax": ("apical rim without lung markings + pleural line", "texture", 0.07, "study"),
    "Pleural Effusion": ("bright fluid meniscus at a lung base", "shape/intensity", 0.18, "study"),
    "Pleural Other": ("thin pleural thickening along a lateral wall (weak)", "texture", 0.03, "patient"),
    "Fracture": ("gap and callus in one rib (weak)", "shape", 0.04, "patient"),
    "Support Devices": ("thin bright central line from the neck (not used by the paper)", "shape", 0.20, "study"),
}
PATHOLOGIES = tuple(label for label in FINDINGS if label != "Support Devices")
PREVALENCE = {label: row[2] for label, row in FINDINGS.items()}
UNCERTAIN_RATE = 0.04
PREVALENCE["No Finding"] = float(np.prod([1 - PREVALENCE[p] - UNCERTAIN_RATE for p in PATHOLOGIES]))
CTR_THRESHOLD = 0.50
MEDIASTINUM_THRESHOLD = 0.25
THORAX_WIDTH = 0.72  # lateral lung edge to lateral lung edge at the widest, in body units
RIB_SPACINGS = (0.062, 0.066, 0.070)  # posterior rib pitch, one chosen per patient
HEART_TILT = 0.45  # radians; the heart's long axis runs down towards the patient's left

# Anatomy in body units: u (left-right), v (top-bottom), origin at the image centre for scale 1.
_LUNG_CU, _LUNG_CV, _LUNG_HW = 0.20, -0.02, 0.15
_HILUM_U, _HILUM_V = 0.085, 0.0


def findings_table() -> pd.DataFrame:
    """:data:`FINDINGS` as a DataFrame (label, signal, kind, prevalence, level), for the book."""
    rows = [{"label": k, "signal": s, "kind": kind, "prevalence": p, "level": lvl}
            for k, (s, kind, p, lvl) in FINDINGS.items()]
    rows.append({"label": "No Finding", "signal": "none of the 12 pathologies is 1 or -1",
                 "kind": "derived", "prevalence": round(PREVALENCE["No Finding"], 3), "level": "study"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- parameters


def _strength(difficulty: float) -> float:
    return 1.6 - 1.3 * difficulty


def _margin(difficulty: float) -> float:
    return 0.04 * (1 - difficulty) + 0.004


def _studies(rng: np.random.Generator, n: int, images_per_patient) -> np.ndarray:
    if isinstance(images_per_patient, (int, np.integer)):
        lo = hi = int(images_per_patient)
    else:
        lo, hi = (int(v) for v in images_per_patient)
    if not 1 <= lo <= hi:
        raise ValueError(f"images_per_patient={images_per_patient!r}: expected an int >= 1 "
                         "or (lo, hi) with 1 <= lo <= hi")
    return rng.integers(lo, hi + 1, size=n)


def _sample_cases(rng: np.random.Generator, n_patients: int, first_id: int, images_per_patient,
                  difficulty: float, split: str) -> pd.DataFrame:
    """One row per image: CSV values and every drawing parameter (all numbers, no images)."""
    n_studies = _studies(rng, n_patients, images_per_patient)
    pat = np.repeat(np.arange(n_patients), n_studies)
    study = np.concatenate([np.arange(1, k + 1) for k in n_studies])
    n = len(pat)
    uncertain_rate = UNCERTAIN_RATE if split == "train" else 0.0
    A = _strength(difficulty)
    m = _margin(difficulty)

    def per_patient(values: np.ndarray) -> np.ndarray:
        return values[pat]

    c = pd.DataFrame({"patient_index": pat + first_id, "study": study})
    # Patient-level anatomy and demographics.
    c["sex"] = per_patient(rng.choice(["Male", "Female"], n_patients))
    c["age"] = per_patient(rng.integers(18, 91, n_patients))
    c["dx"] = per_patient(rng.uniform(-0.04, 0.04, n_patients)) + rng.normal(0, 0.006, n)
    c["dy"] = per_patient(rng.uniform(-0.03, 0.04, n_patients)) + rng.normal(0, 0.006, n)
    c["scale"] = per_patient(rng.uniform(0.86, 1.02, n_patients)) * rng.uniform(0.98, 1.02, n)
    c["lung_hh"] = per_patient(rng.uniform(0.27, 0.31, n_patients))
    c["dome"] = per_patient(rng.uniform(0.03, 0.07, n_patients))
    c["rib_variant"] = per_patient(rng.integers(0, len(RIB_SPACINGS), n_patients))
    c["heart_v"] = per_patient(rng.uniform(0.15, 0.20, n_patients))
    c["ap"] = rng.random(n) < 0.7

    # Label values as written in the CSV: 1, 0 or -1 (NaN = blank is decided at write time).
    values = {}
    amp = {}
    for label, (_, _, prev, level) in FINDINGS.items():
        k = n_patients if level == "patient" else n
        draw = rng.random(k)
        val = np.where(draw < prev, 1, np.where(draw < prev + uncertain_rate, -1, 0))
        faint = (val == -1) & (rng.random(k) < 0.5)   # uncertain: half show a faint finding
        if level == "patient":
            val, faint = val[pat], faint[pat]
        values[label] = val
        amp[label] = A * rng.uniform(0.75, 1.25, n) * np.where(val == 1, 1.0, np.where(faint, 0.5, 0.0))
    # Shape labels: ratios drawn on the side of the threshold given by the label.
    for label, col, t, lo, hi in (("Cardiomegaly", "ctr", CTR_THRESHOLD, 0.38, 0.62),
                                  ("Enlarged Cardiomediastinum", "mr", MEDIASTINUM_THRESHOLD, 0.17, 0.31)):
        val = values[label]
        u = rng.random(n_patients)[pat]
        neg = lo + u * (t - m - lo)
        pos = t + m + u * (hi - t - m)
        border = t + (u - 0.5) * 2 * 0.01
        c[col] = np.where(val == 1, pos, np.where(amp[label] > 0, border, neg))
    c["heart_jitter"] = rng.normal(0, 0.01, n)
    for label in FINDINGS:
        c[f"v:{label}"] = values[label]
        c[f"a:{label}"] = amp[label]
    # Finding geometry (side -1 = image left = patient's right; +1 = image right).
    for key in ("lo", "co", "pn", "at", "px", "pe", "po", "fr", "ll"):
        c[f"{key}_side"] = rng.choice([-1.0, 1.0], n)
    for key in ("po", "fr", "ll"):  # patient-level findings keep their place
        c[f"{key}_side"] = per_patient(rng.choice([-1.0, 1.0], n_patients))
    c["ll_u"] = per_patient(rng.uniform(-0.07, 0.07, n_patients))
    c["ll_v"] = per_patient(rng.uniform(-0.17, 0.14, n_patients))
    c["ll_r"] = per_patient(rng.uniform(0.022, 0.036, n_patients))
    c["lo_v"] = rng.uniform(-0.08, 0.17, n)
    c["pn_v"] = rng.uniform(-0.02, 0.15, n)
    c["at_v"] = rng.uniform(0.08, 0.18, n)
    c["px_gap"] = rng.uniform(0.035, 0.065, n)
    c["pe_h"] = rng.uniform(0.06, 0.12, n)
    c["fr_rib"] = per_patient(rng.integers(2, 7, n_patients)).astype(float)
    c["fr_u"] = per_patient(rng.uniform(0.17, 0.30, n_patients))
    c["sd_a"] = rng.uniform(-0.17, -0.09, n)   # a central line entering from the image-left neck
    c["sd_b"] = rng.uniform(0.15, 0.35, n)
    c["sd_end"] = rng.uniform(-0.05, 0.12, n)
    # Exposure.
    c["contrast"] = rng.uniform(0.9, 1.1, n)
    c["brightness"] = rng.uniform(-0.03, 0.03, n)
    c["bias_u"] = rng.normal(0, 0.08, n)
    c["bias_v"] = rng.normal(0, 0.08, n)
    c["noise"] = 0.02 + 0.03 * difficulty
    return c


# --------------------------------------------------------------------------- drawing helpers


def _ramp(z):
    """A cheap soft step: 0 below z = -2, 1 above z = 2, slope 1/4 (like a logistic at 0)."""
    return np.clip(z * 0.25 + 0.5, 0, 1)


def _gauss(x, centre, width):
    return np.exp(-(((x - centre) / width) ** 2))


def _resample_matrix(size: int, cells: int) -> np.ndarray:
    """(size, cells) bilinear weights taking ``cells`` pixel centres to ``size`` pixel centres."""
    pos = np.clip((np.arange(size) + 0.5) * cells / size - 0.5, 0, cells - 1)
    i0 = np.minimum(np.floor(pos).astype(int), cells - 2) if cells > 1 else np.zeros(size, int)
    w = (pos - i0).astype(np.float32)
    m = np.zeros((size, cells), dtype=np.float32)
    m[np.arange(size), i0] = 1 - w
    if cells > 1:
        m[np.arange(size), i0 + 1] += w
    return m


def _double(x: np.ndarray, axis: int) -> np.ndarray:
    """Bilinear 2x upsampling along ``axis`` (pixel centres aligned, edges clamped)."""
    x = np.moveaxis(x, axis, -1)
    left = np.concatenate([x[..., :1], x[..., :-1]], axis=-1)
    right = np.concatenate([x[..., 1:], x[..., -1:]], axis=-1)
    out = np.empty(x.shape[:-1] + (2 * x.shape[-1],), dtype=np.float32)
    out[..., 0::2] = 0.75 * x + 0.25 * left
    out[..., 1::2] = 0.75 * x + 0.25 * right
    return np.moveaxis(out, -1, axis)


def _upsample(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a stack (n, h, h) to (n, size, size), as two plain matrix products."""
    n, h, _ = x.shape
    if size == 2 * h:
        return np.ascontiguousarray(_double(_double(x, 2), 1))
    m = _resample_matrix(size, h)
    cols = (x.reshape(n * h, h) @ m.T).reshape(n, h, size)              # resize columns
    rows = cols.transpose(0, 2, 1).reshape(n * size, h) @ m.T            # then rows
    return np.ascontiguousarray(rows.reshape(n, size, size).transpose(0, 2, 1))


def _smooth_noise(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """(n, size, size) smooth noise of about unit variance, feature size ``size / cells``."""
    coarse = rng.standard_normal((n, cells, cells), dtype=np.float32)
    return _upsample(coarse, size) * np.float32(1 / 0.75)


def _lung(u, v, cu, cv, hw, hh, dome, soft=0.010, with_rho=False):
    """Soft lung mask (and, if asked, ``rho`` = lateral position / half-width at that height).

    The outline is elliptical above the centre (a tapering apex), widening laterally towards
    an almost flat base that a diaphragm dome lifts in the middle, so the costophrenic angles
    are sharp.
    """
    du = u - cu                                   # (n, 1, S)
    x = np.clip(1 - (du / hw) ** 2, 0, 1)
    t0 = (v - cv) / hh                            # (n, S, 1)
    t = t0 + (dome / hh) * x * np.clip(2 * t0, 0, 1)
    t2 = t * t
    inner = np.where(t < 0, t2, t2 * t2 * t2)
    # The lateral edge widens towards the base (narrow apex); the medial edge stays straight.
    taper = np.where(du * cu > 0, 1 + 0.25 * np.clip(t, -1, 1), np.float32(1))
    w = np.where(inner < 1, hw * taper * np.sqrt(np.clip(1 - inner, 0, 1)), np.float32(-0.05))
    mask = _ramp((w - np.abs(du)) / soft)
    if with_rho:
        return mask, np.abs(du) / np.maximum(w, np.float32(1e-3))
    return mask


def _side(side, left, right):
    """Per image: ``left`` where side < 0, else ``right``."""
    return np.where(side < 0, left, right)


def _rib_profile(u, v, spacing):
    """Posterior ribs (bands along curved rib coordinates) and the rib coordinate ``rr``."""
    f_u = 0.45 * (u_abs := np.abs(u)) - 1.5 * u_abs ** 2     # rib: v = const - f(u), an arc
    a_v = (2 * np.pi / spacing) * (v + 0.36)
    b_u = (2 * np.pi / spacing) * f_u
    cos_r = np.cos(a_v) * np.cos(b_u) - np.sin(a_v) * np.sin(b_u)   # cos(a + b), separable
    rr = v + f_u
    in_cage = (u_abs > 0.045) & (u_abs < 0.40)
    ribs = np.clip((cos_r - 0.5) * (1 / 0.5), 0, 1) * ((rr > -0.36) & (rr < 0.30)) * in_cage
    return ribs, rr


_TEMPLATE_EXTENT = 0.66  # the template covers u, v in [-0.66, 0.66] body units


def _static_template(cells: int, rib_spacing: float) -> np.ndarray:
    """The anatomy every image shares, in body units: body, bones, trachea, gastric bubble.

    Drawn once at ``cells`` x ``cells`` over [-0.66, 0.66]^2 and resampled into each image
    with its shift and scale (:func:`_place`).
    """
    from scipy.ndimage import gaussian_filter

    g = np.linspace(-_TEMPLATE_EXTENT, _TEMPLATE_EXTENT, cells, dtype=np.float32)
    u, v = g[None, :], g[:, None]
    au = np.abs(u)
    # Body outline: neck, sloping shoulders, chest wall, abdomen.
    shoulder = np.clip((v + 0.47) / 0.13, 0, 1)
    half_width = 0.09 + 0.38 * shoulder * shoulder * (3 - 2 * shoulder) - 0.03 * np.clip((v + 0.3) / 0.5, 0, 1)
    body = _ramp((half_width - au) / 0.010)
    thickness = 0.85 + 0.15 * np.clip(1 - (u / 0.47) ** 2, 0, 1)
    typical_lung = np.maximum(*(_lung(u, v, s * _LUNG_CU, _LUNG_CV, _LUNG_HW, 0.29, 0.05) for s in (-1, 1)))
    ribs, _ = _rib_profile(u, v, rib_spacing)
    rr2 = v + 0.55 * au
    ribs2 = (np.clip((np.cos(2 * np.pi * (rr2 + 0.30) / 0.09) - 0.7) * (1 / 0.3), 0, 1)
             * ((rr2 > -0.30) & (rr2 < 0.24)) * ((au > 0.12) & (au < 0.38)))
    clavicle = np.clip(1 - np.abs(v + 0.36 + 0.22 * (au - 0.05)) / 0.016, 0, 1) * ((au > 0.03) & (au < 0.33))
    spine = _ramp((0.034 - au) / 0.005) * (0.85 + 0.15 * np.cos(2 * np.pi * v / 0.047))
    trachea = _ramp((0.016 - np.abs(u - 0.005)) / 0.003) * _ramp((-0.12 - v) / 0.015)
    bubble = _ramp((1 - ((u - 0.2) / 0.06) ** 2 - ((v - 0.38) / 0.035) ** 2) / 0.2)
    img = (0.06 + 0.50 * body * thickness + 0.07 * spine + 0.085 * ribs * (0.4 + 0.6 * typical_lung)
           + 0.04 * ribs2 + 0.12 * clavicle
           - 0.08 * trachea - 0.10 * bubble) * body
    return gaussian_filter(img.astype(np.float32), 0.5 * cells / 256)


def _place(template: np.ndarray, dx, dy, scale, size: int) -> np.ndarray:
    """Bilinear resampling of ``template`` into (n, size, size) images with per-image shift/scale.

    Separable: first the columns (one gather shared by all images), then whole rows.
    """
    cells = template.shape[0]
    g = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    step = 2 * _TEMPLATE_EXTENT / (cells - 1)

    def index(offset):
        body_units = (g[None, :] - offset[:, None]) / scale[:, None]       # (n, size)
        pos = np.clip((body_units + _TEMPLATE_EXTENT) / step, 0, cells - 1.001)
        i0 = pos.astype(np.intp)
        return i0, (pos - i0).astype(np.float32)

    iy, wy = index(dy)
    ix, wx = index(dx)
    cols = np.take(template, ix, axis=1) * (1 - wx) + np.take(template, ix + 1, axis=1) * wx  # (cells, n, size)
    b = np.arange(len(dx))[:, None]
    return cols[iy, b] * (1 - wy)[..., None] + cols[iy + 1, b] * wy[..., None]


_TEMPLATES: dict[tuple[int, int], np.ndarray] = {}


@dataclass
class _Body:
    """The per-image drawing of a batch at half resolution: body coordinates and the smooth parts.

    ``u`` (n, 1, H) and ``v`` (n, H, 1) are body units; ``col`` the cases' numeric columns as
    (n, 1, 1) arrays; the rest are coverages in [0, 1]. Findings draw on it.
    """

    col: dict
    u: np.ndarray
    v: np.ndarray
    heart: np.ndarray
    med: np.ndarray
    lungs: dict
    lung: np.ndarray
    outside: np.ndarray
    markings: np.ndarray

    def one_lung(self, idx, side):
        return _side(side, self.lungs[-1.0][idx], self.lungs[1.0][idx])


def _render(cases: pd.DataFrame, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the images of ``cases`` (rows of :func:`_sample_cases`) as uint8 (n, size, size).

    The shared anatomy comes from a template placed with each image's shift and scale
    (full resolution, so ribs stay sharp); the per-image parts -- lungs, heart, mediastinum,
    lung markings and findings -- are drawn at half resolution in body units ``u`` (n, 1, H)
    and ``v`` (n, H, 1) and upsampled, since they are smooth; noise is added at full size.
    ``rng`` is drawn from in a fixed order (markings, the findings in :data:`_FINDING_PAINTERS`
    order, then noise): the generated data, and so every synthetic result, depend on it.
    """
    n, S = len(cases), size
    H = S // 2
    col = {k: cases[k].to_numpy(dtype=np.float32)[:, None, None] for k in cases.columns
           if cases[k].dtype.kind in "fiub"}
    static = _placed_templates(cases, S)
    body = _body(col, H, n, rng)
    extra = np.zeros((n, H, H), dtype=np.float32)
    for label, paint in _FINDING_PAINTERS:
        idx, a = _present(cases, label)
        if len(idx):
            extra[idx] += paint(body, idx, a, rng)
    device = np.zeros_like(extra)
    idx, _ = _present(cases, "Support Devices")
    if len(idx):
        device[idx] = _support_device(body, idx)
    img = static + _upsample(_soft_tissue(body, extra, device), S)
    idx, a = _present(cases, "Fracture")
    if len(idx):
        img[idx] += _fracture(col, cases["rib_variant"].to_numpy(), idx, a, S)
    return _exposed(img, col, S, rng)


def _present(cases: pd.DataFrame, label: str):
    """Indices of the images showing finding ``label`` and its amplitude there, (k, 1, 1)."""
    a = cases[f"a:{label}"].to_numpy(dtype=np.float32)
    idx = np.flatnonzero(a > 0)
    return idx, a[idx, None, None]


def _placed_templates(cases: pd.DataFrame, S: int) -> np.ndarray:
    """The static anatomy (ribs, spine, clavicles) of each image: its rib variant's template, placed."""
    flat = {k: cases[k].to_numpy(dtype=np.float32) for k in ("dx", "dy", "scale")}
    variant = cases["rib_variant"].to_numpy()
    static = np.empty((len(cases), S, S), dtype=np.float32)
    for k, spacing in enumerate(RIB_SPACINGS):
        idx = np.flatnonzero(variant == k)
        if len(idx):
            if (S, k) not in _TEMPLATES:
                _TEMPLATES[(S, k)] = _static_template(3 * S // 2, spacing)
            static[idx] = _place(_TEMPLATES[(S, k)], flat["dx"][idx], flat["dy"][idx], flat["scale"][idx], S)
    return static


def _body(col: dict, H: int, n: int, rng: np.random.Generator) -> _Body:
    """Heart, mediastinum, lungs and lung markings of every image at half resolution (one draw: markings)."""
    g = (np.arange(H, dtype=np.float32) + 0.5) / H
    u = (g[None, None, :] - 0.5 - col["dx"]) / col["scale"]
    v = (g[None, :, None] - 0.5 - col["dy"]) / col["scale"]

    # Heart: a tilted ellipse, its horizontal extent CTR * thorax width, about 1/3 of it
    # right of the midline and 2/3 left (image right), the apex pointing down and out.
    wh = col["ctr"] * THORAX_WIDTH
    hb = 0.075 + 0.10 * wh
    cos_t, sin_t = np.float32(np.cos(HEART_TILT)), np.float32(np.sin(HEART_TILT))
    ha = np.sqrt(np.maximum((wh / 2) ** 2 - (hb * sin_t) ** 2, 1e-4)) / cos_t
    du, dv = u - (0.17 * wh + col["heart_jitter"]), v - col["heart_v"]
    heart = _ramp((1 - ((du * cos_t + dv * sin_t) / ha) ** 2 - ((dv * cos_t - du * sin_t) / hb) ** 2) / 0.05)
    # Upper mediastinum with the aortic knob, above the heart.
    wm = col["mr"] * THORAX_WIDTH / 2
    med = _ramp((wm - np.abs(u - 0.01)) / 0.006) * (_ramp((v + 0.40) / 0.015) * _ramp((col["heart_v"] - v) / 0.02))
    knob = _ramp((1 - ((u - wm - 0.005) / 0.035) ** 2 - ((v + 0.19) / 0.035) ** 2) / 0.12)
    med = np.maximum(med, knob)

    # Lungs (image left = patient's right lung, slightly shorter). Atelectasis raises one base.
    lift_at = np.where(col["a:Atelectasis"] > 0, np.float32(0.035), np.float32(0))
    lungs = {}
    for side in (-1.0, 1.0):
        lift = lift_at * (col["at_side"] == side)
        hh = col["lung_hh"] * (0.97 if side < 0 else 1.0) - lift / 2
        cv = _LUNG_CV + (0.0 if side < 0 else 0.01) - lift / 2
        lungs[side] = _lung(u, v, side * _LUNG_CU, cv, _LUNG_HW, hh, col["dome"])
    lung = np.maximum(lungs[-1.0], lungs[1.0])
    outside = (1 - heart) * (1 - med)

    # Lung markings: thin ridges of smooth noise (vessel-like), densest near the hila.
    ridges = np.clip(1 - np.abs(_smooth_noise(rng, n, H, max(6, H // 5))) * 3.0, 0, 1)
    markings = ridges * (_gauss(u, -_HILUM_U, 0.26) * lungs[-1.0] + _gauss(u, _HILUM_U, 0.26) * lungs[1.0]) \
        * _gauss(v, _HILUM_V, 0.32)
    return _Body(col, u, v, heart, med, lungs, lung, outside, markings)


# Findings drawn at half resolution: each returns what it adds to its images (idx), amplitude a.


def _pneumothorax(b: _Body, idx, a, rng):
    """An apical/lateral rim without markings, darker, edged by a pleural line."""
    col, u, v = b.col, b.u, b.v
    side, gap = col["px_side"][idx], col["px_gap"][idx]
    full = b.one_lung(idx, side)
    inner = _lung(u[idx], v[idx], side * (_LUNG_CU - gap / 2), _LUNG_CV + gap, _LUNG_HW - gap / 2,
                  col["lung_hh"][idx] - gap / 2, col["dome"][idx], soft=0.006)
    upper = _ramp((0.02 - v[idx]) / 0.02)
    rim = full * (1 - inner) * upper
    b.markings[idx] *= 1 - rim
    return a * (-0.07 * rim + 0.16 * 4 * inner * (1 - inner) * full * upper)


def _lung_opacity(b: _Body, idx, a, rng):
    """Patchy brighter texture in one lung field."""
    col, u, v = b.col, b.u, b.v
    side = col["lo_side"][idx]
    env = _gauss(u[idx], side * _LUNG_CU, 0.12) * _gauss(v[idx], col["lo_v"][idx], 0.14)
    patch = np.clip(_smooth_noise(rng, len(idx), u.shape[-1], 6) + 0.6, 0, None)
    return a * 0.13 * patch * env * b.one_lung(idx, side) * (1 - b.heart[idx])


def _edema(b: _Body, idx, a, rng):
    """Bilateral perihilar haze with a fine texture."""
    u, v = b.u, b.v
    env = (_gauss(u[idx], -_HILUM_U, 0.17) + _gauss(u[idx], _HILUM_U, 0.17)) * _gauss(v[idx], _HILUM_V, 0.17)
    fine = 0.7 + 0.3 * _smooth_noise(rng, len(idx), u.shape[-1], 14)
    return a * 0.07 * env * fine * b.lung[idx] * (1 - b.heart[idx])


def _consolidation(b: _Body, idx, a, rng):
    """A dense base opacity with a fairly sharp edge."""
    col, u, v = b.col, b.u, b.v
    side = col["co_side"][idx]
    q = ((u[idx] - side * (_LUNG_CU + 0.03)) / 0.10) ** 2 + ((v[idx] - 0.15) / 0.08) ** 2
    wobble = _smooth_noise(rng, len(idx), u.shape[-1], 8)
    blob = _ramp((1 - q + 0.35 * wobble) / 0.10) * (0.85 + 0.15 * wobble)
    return a * 0.20 * blob * b.one_lung(idx, side)


def _pneumonia(b: _Body, idx, a, rng):
    """A small faint patchy opacity."""
    col, u, v = b.col, b.u, b.v
    side = col["pn_side"][idx]
    env = _gauss(u[idx], side * _LUNG_CU, 0.07) * _gauss(v[idx], col["pn_v"][idx], 0.07)
    patch = np.clip(_smooth_noise(rng, len(idx), u.shape[-1], 9) + 0.4, 0, None)
    return a * 0.14 * patch * env * b.one_lung(idx, side)


def _lung_lesion(b: _Body, idx, a, rng):
    """A small bright round nodule."""
    col, u, v = b.col, b.u, b.v
    side, rad = col["ll_side"][idx], col["ll_r"][idx]
    q = ((u[idx] - side * _LUNG_CU - col["ll_u"][idx]) / rad) ** 2 + ((v[idx] - col["ll_v"][idx]) / rad) ** 2
    return a * 0.26 * _ramp((1 - q) / 0.4)


def _atelectasis(b: _Body, idx, a, rng):
    """A plate-like band in the lower zone (the raised base is drawn with the lungs)."""
    col, u, v = b.col, b.u, b.v
    side = col["at_side"][idx]
    band = _gauss(v[idx], col["at_v"][idx], 0.010) * _gauss(u[idx], side * _LUNG_CU, 0.08)
    return a * 0.16 * band * b.one_lung(idx, side)


def _pleural_effusion(b: _Body, idx, a, rng):
    """Fluid at a lung base, its level rising laterally (meniscus)."""
    col, u, v = b.col, b.u, b.v
    side, h = col["pe_side"][idx], col["pe_h"][idx]
    base = _LUNG_CV + col["lung_hh"][idx] - col["dome"][idx] * 0.5
    lateral = np.clip(side * (u[idx] - side * _LUNG_CU) / _LUNG_HW, 0, 1)
    level = base - h - 1.2 * h * lateral ** 2
    return a * 0.24 * _ramp((v[idx] - level) / 0.010) * b.one_lung(idx, side)


def _pleural_other(b: _Body, idx, a, rng):
    """Thickening along the lateral wall."""
    col, u, v = b.col, b.u, b.v
    side = col["po_side"][idx]
    hh = col["lung_hh"][idx] * _side(side, 0.97, 1.0)
    cv = _LUNG_CV + _side(side, 0.0, 0.01)
    _, rho = _lung(u[idx], v[idx], side * _LUNG_CU, cv, _LUNG_HW, hh, col["dome"][idx], with_rho=True)
    lateral = side * (u[idx] - side * _LUNG_CU) > 0
    band = (_ramp((rho - 0.80) / 0.02) * _ramp((1.08 - rho) / 0.02) * lateral
            * _ramp((0.18 - np.abs(v[idx] - 0.02)) / 0.02))
    return a * 0.20 * band


# In this order: the order is part of the random draw (see _render).
_FINDING_PAINTERS = (
    ("Pneumothorax", _pneumothorax),
    ("Lung Opacity", _lung_opacity),
    ("Edema", _edema),
    ("Consolidation", _consolidation),
    ("Pneumonia", _pneumonia),
    ("Lung Lesion", _lung_lesion),
    ("Atelectasis", _atelectasis),
    ("Pleural Effusion", _pleural_effusion),
    ("Pleural Other", _pleural_other),
)


def _support_device(b: _Body, idx) -> np.ndarray:
    """A thin tube from the neck."""
    col, u, v = b.col, b.u, b.v
    line = col["sd_a"][idx] + col["sd_b"][idx] * (v[idx] + 0.5) ** 2
    return 0.25 * np.clip(1 - np.abs(u[idx] - line) / 0.007, 0, 1) * (v[idx] < col["sd_end"][idx])


def _soft_tissue(b: _Body, extra: np.ndarray, device: np.ndarray) -> np.ndarray:
    """Everything drawn at half resolution, composed; findings only show outside the heart."""
    # Lower zones are less dark (overlying soft tissue).
    air = 0.30 * (1 - 0.25 * np.clip((b.v + 0.05) / 0.35, 0, 1))
    above_diaphragm = _ramp((0.26 - b.v) / 0.02)
    return (-air * b.lung * b.outside + 0.06 * b.heart * above_diaphragm + 0.05 * b.med
            + 0.08 * b.markings * b.outside + extra * b.outside + device)


def _fracture(col: dict, variant: np.ndarray, idx, a, S: int) -> np.ndarray:
    """Rib fracture, at full resolution on the few images concerned: a gap across one posterior
    rib plus a little callus."""
    gf = (np.arange(S, dtype=np.float32) + 0.5) / S
    uf_, vf_ = ((gf[None, None, :] - 0.5 - col["dx"][idx]) / col["scale"][idx],
                (gf[None, :, None] - 0.5 - col["dy"][idx]) / col["scale"][idx])
    side, rib, uf = col["fr_side"][idx], col["fr_rib"][idx], col["fr_u"][idx]
    spacing = np.asarray(RIB_SPACINGS, dtype=np.float32)[variant[idx]][:, None, None]
    ribs, rr = _rib_profile(uf_, vf_, spacing)
    centre = rib * spacing - 0.36
    in_rib = (np.abs(rr - centre) < spacing / 2) & (uf_ * side > 0)
    cut = _gauss(np.abs(uf_), uf, 0.007) * in_rib * np.minimum(0.5 + 0.5 * a, 1)
    uc = uf + 0.022                                          # callus just lateral to the gap
    vf = centre - (0.45 * uc - 1.5 * uc ** 2)
    callus = _gauss(uf_, side * uc, 0.012) * _gauss(vf_, vf, 0.012)
    return -0.17 * ribs * cut + a * 0.07 * callus


def _exposed(img: np.ndarray, col: dict, S: int, rng: np.random.Generator) -> np.ndarray:
    """Exposure: a smooth linear bias, contrast and brightness per image, then noise; as uint8."""
    gs = (np.arange(S, dtype=np.float32) + 0.5) / S - 0.5
    img *= col["contrast"] * (1 + col["bias_u"] * gs[None, None, :] + col["bias_v"] * gs[None, :, None])
    img += col["brightness"] + col["noise"] * rng.standard_normal(img.shape, dtype=np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- CSV rows


def _csv_rows(cases: pd.DataFrame, split: str, rng: np.random.Generator, suffix: str) -> pd.DataFrame:
    """CheXpert CSV rows for ``cases`` (blank = not mentioned, in train only)."""
    paths = [f"{DATASET_FOLDER}/{split}/patient{p:05d}/study{s}/view1_frontal.{suffix}"
             for p, s in zip(cases["patient_index"], cases["study"])]
    out = pd.DataFrame({
        "Path": paths,
        "Sex": cases["sex"].to_numpy(),
        "Age": cases["age"].to_numpy(),
        "Frontal/Lateral": "Frontal",
        "AP/PA": np.where(cases["ap"].to_numpy(), "AP", "PA"),
    })
    any_finding = np.zeros(len(cases), dtype=bool)
    for label in PATHOLOGIES:
        any_finding |= cases[f"v:{label}"].to_numpy() != 0
    text = {1: "1.0", 0: "0.0", -1: "-1.0"}

    def column(values: np.ndarray) -> list[str]:
        words = [text[int(x)] for x in values]
        if split == "train":  # most negatives are simply not mentioned
            blank = rng.random(len(values)) < 0.85
            words = ["" if (w == "0.0" and b) else w for w, b in zip(words, blank)]
        return words

    out["No Finding"] = column((~any_finding).astype(int))
    for label in CHEXPERT_LABELS[1:]:
        out[label] = column(cases[f"v:{label}"].to_numpy())
    return out[list(CHEXPERT_COLUMNS)]


# --------------------------------------------------------------------------- the folder


def _params(n_patients, images_per_patient, size, seed, difficulty, n_valid_patients, image_format) -> dict:
    ipp = list(images_per_patient) if not isinstance(images_per_patient, (int, np.integer)) else int(images_per_patient)
    return {"generator": GENERATOR_VERSION, "n_patients": int(n_patients), "images_per_patient": ipp,
            "size": int(size), "seed": int(seed), "difficulty": float(difficulty),
            "n_valid_patients": int(n_valid_patients), "image_format": image_format}


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_split(tmp: Path, cases: pd.DataFrame, split: str, size: int, seed_seq: np.random.SeedSequence,
                 image_format: str, batch: int = 256) -> pd.DataFrame:
    """Render and write one split's images and CSV into the temporary build folder ``tmp``.

    Images go straight into ``tmp`` (not through ``atomic_path``, which would add a
    temporary file and a rename per image): ``tmp`` only becomes the dataset folder by one
    rename once everything is written, so no half-written image is ever visible there.
    """
    from PIL import Image

    csv_seq, render_seq = seed_seq.spawn(2)
    rows = _csv_rows(cases, split, np.random.default_rng(csv_seq), image_format)
    options = {"format": "JPEG", "quality": 95} if image_format == "jpg" else {"format": "PNG", "compress_level": 1}
    studies = sorted({tuple(p.split("/")[1:-1]) for p in rows["Path"]})
    for folder in sorted({f[:k] for f in studies for k in range(1, len(f) + 1)}):  # parents first
        os.mkdir(tmp.joinpath(*folder))
    n_batches = max(1, -(-len(cases) // batch))
    for b, child in enumerate(render_seq.spawn(n_batches)):
        part = cases.iloc[b * batch:(b + 1) * batch]
        images = _render(part, size, np.random.default_rng(child))
        for img, rel in zip(images, rows["Path"].iloc[b * batch:(b + 1) * batch]):
            Image.fromarray(img, mode="L").save(tmp.joinpath(*rel.split("/")[1:]), **options)
    write_text(tmp / f"{split}.csv", rows.to_csv(index=False, lineterminator="\n"))
    return rows


def make_synthetic_cxr(
    out_dir: str | os.PathLike | None = None,
    n_patients: int = 1000,
    images_per_patient: int | Sequence[int] = (1, 2),
    size: int = 128,
    seed: int = 0,
    difficulty: float = 0.5,
    *,
    n_valid_patients: int | None = None,
    image_format: str = "jpg",
    overwrite: bool = False,
) -> Path:
    """Write (or reuse) a synthetic CheXpert folder and return it (the folder holding ``train.csv``).

    ``out_dir/CheXpert-v1.0-small/`` receives ``train.csv`` (``n_patients`` patients,
    ``images_per_patient`` studies each -- an int or an inclusive ``(lo, hi)`` range --
    numbered ``patient00001``...), ``valid.csv`` (``n_valid_patients``, default
    ``max(2, n_patients // 20)``, one study each, numbered after the train patients), the
    images (``size`` x ``size``, JPEG or ``image_format="png"``) and the manifest
    ``synthetic_cxr.json``. ``out_dir=None`` uses
    ``cache_dir("synthetic", "chexpert", <hash of the parameters>)``.

    Deterministic by ``seed``; ``difficulty`` in [0, 1] (module docstring). If the folder
    exists with the same manifest it is reused untouched; with another manifest this is an
    error unless ``overwrite=True``. Built in a temporary sibling folder and renamed into
    place. Drawing takes about 2 ms per 128-px image on a slow CPU core; creating the
    per-study folders and files usually takes longer than drawing.
    """
    if n_patients < 1:
        raise ValueError(f"n_patients={n_patients!r}: expected at least 1")
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty={difficulty!r}: expected a number in [0, 1]")
    if size < 32:
        raise ValueError(f"size={size!r}: expected at least 32 pixels")
    if n_valid_patients is None:
        n_valid_patients = max(2, n_patients // 20)
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format={image_format!r}: expected 'jpg' (as CheXpert ships) or 'png'")
    params = _params(n_patients, images_per_patient, size, seed, difficulty, n_valid_patients, image_format)
    _studies(np.random.default_rng(0), 1, images_per_patient)  # validate early
    if out_dir is None:
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        out_dir = cache_dir("synthetic", "chexpert", key)
    out_dir = Path(os.path.abspath(os.fspath(out_dir)))
    root = out_dir / DATASET_FOLDER
    if root.exists():
        found = _read_manifest(root)
        if found == params:
            return root
        if not overwrite:
            raise DataError(
                f"{root}: exists but was not made with these parameters (its {MANIFEST}: {found}; "
                f"wanted {params}); pass overwrite=True or use another out_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DATASET_FOLDER}.", suffix=".tmp", dir=out_dir))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is an ordinary folder
        seq = np.random.SeedSequence([int(seed), 20220701])
        s_train, s_valid, s_render_t, s_render_v = seq.spawn(4)
        train = _sample_cases(np.random.default_rng(s_train), n_patients, 1, images_per_patient,
                              difficulty, "train")
        valid = _sample_cases(np.random.default_rng(s_valid), n_valid_patients, n_patients + 1, 1,
                              difficulty, "valid")
        _write_split(tmp, train, "train", size, s_render_t, image_format)
        _write_split(tmp, valid, "valid", size, s_render_v, image_format)
        write_text(tmp / MANIFEST, json.dumps(params, indent=2, sort_keys=True) + "\n")
        if root.exists():  # overwrite=True: move the old folder aside, then swap
            old = out_dir / f".{DATASET_FOLDER}.old-{os.getpid()}-{time.time_ns()}"
            os.rename(root, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, root)
        except OSError:
            if _read_manifest(root) == params:  # another process finished the same build first
                return root
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


# --------------------------------------------------------------------------- looking at it


def write_sample_grid(table: pd.DataFrame, path: str | os.PathLike, label_columns: Sequence[str], *,
                      n: int = 16, columns: int = 4, tile: int = 192, seed: int = 0,
                      rows: Sequence[int] | None = None) -> Path:
    """Save a PNG grid of ``n`` images of an image table, each captioned with its positive labels.

    Rows are drawn at random with ``seed`` unless ``rows`` (positions in ``table``) are given.
    Works on any image table (real or synthetic); written atomically.
    """
    from PIL import Image, ImageDraw

    from paperkit.data.io.readers import read_image

    if rows is None:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(table), size=min(n, len(table)), replace=False)
    rows = list(rows)
    n_rows = -(-len(rows) // columns)
    caption = 28
    canvas = Image.new("L", (columns * tile, n_rows * (tile + caption)), color=0)
    draw = ImageDraw.Draw(canvas)
    abbreviations = {"Enlarged Cardiomediastinum": "EC", "Cardiomegaly": "Ca", "Lung Opacity": "LO",
                     "Lung Lesion": "LL", "Edema": "Ed", "Consolidation": "Co", "Pneumonia": "Pn",
                     "Atelectasis": "At", "Pneumothorax": "Pt", "Pleural Effusion": "PE",
                     "Pleural Other": "PO", "Fracture": "Fr", "Support Devices": "SD", "No Finding": "NF"}
    for k, i in enumerate(rows):
        row = table.iloc[int(i)]
        img = read_image(row["path"]).array
        if img.dtype != np.uint8:
            img = (np.clip(img / max(float(img.max()), 1.0), 0, 1) * 255).astype(np.uint8)
        im = Image.fromarray(img)
        im = im.resize((tile, tile), Image.BILINEAR)
        x0, y0 = (k % columns) * tile, (k // columns) * (tile + caption)
        canvas.paste(im, (x0, y0))
        positives = [abbreviations.get(c, c) for c in label_columns if row[c] == 1]
        draw.text((x0 + 3, y0 + tile + 2), f"{row['patient']}", fill=160)
        draw.text((x0 + 3, y0 + tile + 14), " ".join(positives) or "-", fill=255)
    with atomic_path(path) as t:
        canvas.save(t, format="PNG")
    return Path(path)
