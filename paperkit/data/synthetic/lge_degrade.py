"""Graded LGE-MRI degradations (levels 1-5) and the rule turning levels into quality scores.

Each degradation takes a 3D volume ``(X, Y, Z)`` (axial slices along the last axis, as
:mod:`paperkit.data.datasets.la2018` reads them) and a **level** from 1 to 5 that is the quality
score it leaves behind: **5 = untouched, 1 = worst** (the direction of the paper's scores,
where >= 3 is diagnostic). In-plane sizes are given in pixels *of a 128-px slice* (the size
the QA models see) and scaled by ``max(X, Y) / 128``, so a blur survives the resize.

===================  =====================================================================
degradation          what it does (``level`` 5 -> 1)
===================  =====================================================================
``poor_nulling``     myocardium brightened from signal-free towards, then above, the blood
                     pool (fraction of the blood-background gap 0, .3, .6, .9, 1.2). With a
                     myocardium mask it moves that mask; without one (real volumes) it lifts
                     every non-air voxel outside the blood pool that is darker than the pool
                     by that fraction of its gap to the blood (a wrong inversion time greys
                     all dark tissue)
``blur``             in-plane Gaussian blur, sigma 0, .6, 1.1, 1.7, 2.4 px (128-px slice)
``weak_enhancement`` enhanced structures (aorta wall, valve, LA-wall fibrosis) pulled towards
                     the blood-pool intensity, keeping 1, .7, .45, .2, 0 of their excess.
                     Without a mask (real volumes): voxels brighter than the blood pool's
                     90th percentile within 6 px (128-px slice) around the LA cavity
``noise``            Rician noise, sigma 0, .03, .06, .10, .15 x the blood-background gap
``motion_ghosting``  periodic respiratory displacement along the phase-encode axis (axis 0)
                     applied in k-space: ghosts; amplitude 0, .4, .9, 1.6, 2.6 px
===================  =====================================================================

``strength`` (0..1] scales every effect (the synthetic data's difficulty knob). Random parts
(noise, the breathing phase and period) draw from ``np.random.default_rng(seed)``, so the
same inputs and seed give the same output. Intensities of any scale and sign are handled
(the HDF5 sample is z-scored); the reference levels come from the blood-pool mask (the LA
cavity) and the volume's 2nd percentile (background).

Scores (:func:`scores_from_levels`): the three attribute scores are the levels of their own
degradation (myocardium nulling <- ``poor_nulling``, sharpness <- ``blur``, enhancement of
aorta and valve <- ``weak_enhancement``); noise and ghosting have no attribute of their own
and act on the overall fibrosis-quality score, which is the rounded mean of all five levels
capped at one above the worst level (a single level-1 defect makes the scan non-diagnostic).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy import fft as scipy_fft
from scipy import ndimage

__all__ = [
    "DEGRADATIONS", "LEVELS", "ORDER", "blur", "degrade", "gradient_energy", "motion_ghosting", "noise",
    "poor_nulling", "reference_intensities", "sample_levels", "scores_from_levels", "weak_enhancement",
]

LEVELS = (1, 2, 3, 4, 5)
NULLING_FRACTION = {5: 0.0, 4: 0.3, 3: 0.6, 2: 0.9, 1: 1.2}
BLUR_SIGMA = {5: 0.0, 4: 0.6, 3: 1.1, 2: 1.7, 1: 2.4}
ENHANCEMENT_KEPT = {5: 1.0, 4: 0.7, 3: 0.45, 2: 0.2, 1: 0.0}
NOISE_SIGMA = {5: 0.0, 4: 0.03, 3: 0.06, 2: 0.10, 1: 0.15}
GHOST_AMPLITUDE = {5: 0.0, 4: 0.4, 3: 0.9, 2: 1.6, 1: 2.6}
REFERENCE_SIZE = 128
ENHANCEMENT_SHELL = 6.0  # px of a 128-px slice around the LA cavity searched for enhanced voxels


def _check(volume, level, strength) -> tuple[np.ndarray, int, float]:
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D (X, Y, Z) volume, got shape {volume.shape}")
    if isinstance(level, bool) or int(level) != level or level not in LEVELS:
        raise ValueError(f"level={level!r}: expected an integer 1 (worst) .. 5 (untouched)")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength={strength!r}: expected a value in (0, 1]")
    return volume, int(level), float(strength)


def _scale(volume: np.ndarray) -> float:
    """Pixels of this volume per pixel of a 128-px slice."""
    return max(volume.shape[0], volume.shape[1]) / REFERENCE_SIZE


def _interp(table: Mapping[int, float], level: int, strength: float) -> float:
    """The table's value at ``level``, moved towards the untouched value by ``1 - strength``."""
    return table[5] + strength * (table[level] - table[5])


def reference_intensities(volume: np.ndarray, blood: np.ndarray | None) -> tuple[float, float]:
    """``(blood, background)``: the blood pool's median (mask; else the 95th percentile) and the 2nd percentile."""
    volume = np.asarray(volume, dtype=np.float32)
    background = float(np.percentile(volume, 2))
    if blood is not None and np.any(blood):
        level = float(np.median(volume[np.asarray(blood, dtype=bool)]))
    else:
        level = float(np.percentile(volume, 95))
    if level <= background:  # degenerate volume: keep a positive gap
        level = background + float(volume.std()) + 1e-6
    return level, background


def poor_nulling(volume, level: int, *, myocardium=None, blood=None, strength: float = 1.0) -> np.ndarray:
    """Brighten the myocardium (or all dark non-air tissue) towards and beyond the blood pool."""
    volume, level, strength = _check(volume, level, strength)
    fraction = _interp(NULLING_FRACTION, level, strength)
    if fraction == 0.0:
        return volume.copy()
    blood_level, background = reference_intensities(volume, blood)
    gap = blood_level - background
    if myocardium is not None:
        myo = np.asarray(myocardium, dtype=bool)
        if myo.shape != volume.shape:
            raise ValueError(f"myocardium mask of shape {myo.shape}; expected the volume's {volume.shape}")
        current = float(np.median(volume[myo])) if myo.any() else background
        # Soft edge so the brightened myocardium is not cut out with a sharp border.
        weight = ndimage.gaussian_filter(myo.astype(np.float32), sigma=(0.7, 0.7, 0))
        return volume + weight * (background + fraction * gap - current)
    smooth = ndimage.gaussian_filter(volume, sigma=(2 * _scale(volume), 2 * _scale(volume), 0))
    tissue = np.clip((smooth - background) / (0.15 * gap), 0.0, 1.0)  # ~0 in air, 1 in the body
    if blood is not None:  # the blood pool itself keeps its signal
        tissue = tissue * (1.0 - np.asarray(blood, dtype=np.float32))
    below_blood = np.clip(blood_level - volume, 0.0, None)
    return volume + fraction * below_blood * tissue


def blur(volume, level: int, *, strength: float = 1.0) -> np.ndarray:
    """In-plane Gaussian blur whose sigma grows as the level falls."""
    volume, level, strength = _check(volume, level, strength)
    sigma = _interp(BLUR_SIGMA, level, strength) * _scale(volume)
    if sigma == 0.0:
        return volume.copy()
    return ndimage.gaussian_filter(volume, sigma=(sigma, sigma, 0.0))


def weak_enhancement(volume, level: int, *, enhanced=None, blood=None, strength: float = 1.0) -> np.ndarray:
    """Pull enhanced structures' excess over the blood pool towards zero."""
    volume, level, strength = _check(volume, level, strength)
    kept = _interp(ENHANCEMENT_KEPT, level, strength)
    if kept == 1.0:
        return volume.copy()
    blood_level, _ = reference_intensities(volume, blood)
    if enhanced is None:
        if blood is None or not np.any(blood):
            raise ValueError("weak_enhancement: pass an enhanced-structure mask or a blood-pool mask to find one")
        cavity = np.asarray(blood, dtype=bool)
        radius = ENHANCEMENT_SHELL * _scale(volume)
        shell = np.zeros_like(cavity)
        for z in np.flatnonzero(cavity.any(axis=(0, 1))):  # in-plane distance, slice by slice
            shell[..., z] = ndimage.distance_transform_edt(~cavity[..., z]) <= radius
        shell &= ~cavity
        weight = (shell & (volume > np.percentile(volume[cavity], 90))).astype(np.float32)
    else:
        weight = np.asarray(enhanced, dtype=np.float32)
        if weight.shape != volume.shape:
            raise ValueError(f"enhanced mask of shape {weight.shape}; expected the volume's {volume.shape}")
    excess = np.clip(volume - blood_level, 0.0, None)
    return volume - (1.0 - kept) * excess * weight


def noise(volume, level: int, *, blood=None, seed: int = 0, strength: float = 1.0) -> np.ndarray:
    """Rician noise (magnitude of complex Gaussian noise added to the shifted, non-negative signal)."""
    volume, level, strength = _check(volume, level, strength)
    blood_level, background = reference_intensities(volume, blood)
    sigma = _interp(NOISE_SIGMA, level, strength) * (blood_level - background)
    if sigma == 0.0:
        return volume.copy()
    rng = np.random.default_rng(seed)
    floor = float(volume.min())
    real = volume - floor + rng.normal(0.0, sigma, volume.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, volume.shape).astype(np.float32)
    return np.sqrt(real ** 2 + imag ** 2) + floor


def motion_ghosting(volume, level: int, *, seed: int = 0, strength: float = 1.0) -> np.ndarray:
    """Respiratory ghosts: a sinusoidal displacement along axis 0 per phase-encode line, applied in k-space."""
    volume, level, strength = _check(volume, level, strength)
    amplitude = _interp(GHOST_AMPLITUDE, level, strength) * _scale(volume)
    if amplitude == 0.0:
        return volume.copy()
    rng = np.random.default_rng(seed)
    n = volume.shape[0]
    period = rng.uniform(5.0, 12.0)  # phase-encode lines per breath
    phase = rng.uniform(0.0, 2 * np.pi)
    ky = np.fft.fftfreq(n) * n  # signed line index
    shift = amplitude * np.sin(2 * np.pi * np.arange(n) / period + phase)
    # Line ky sees the object shifted by shift[ky] pixels: a linear phase along axis 0.
    modulation = np.exp(-2j * np.pi * ky * shift / n)[:, None, None]
    floor = float(volume.min())
    k = scipy_fft.fft(volume - floor, axis=0)  # single precision in, complex64 out
    return (np.abs(scipy_fft.ifft(k * modulation.astype(np.complex64), axis=0)) + floor).astype(np.float32)


DEGRADATIONS = {
    "nulling": poor_nulling, "enhancement": weak_enhancement, "ghosting": motion_ghosting,
    "blur": blur, "noise": noise,
}
# Physical order: contrast (inversion time, uptake) -> acquisition (motion) -> resolution -> noise.
ORDER = ("nulling", "enhancement", "ghosting", "blur", "noise")


def degrade(volume, levels: Mapping[str, int], *, blood=None, myocardium=None, enhanced=None, seed: int = 0,
            strength: float = 1.0) -> np.ndarray:
    """Apply every degradation of ``levels`` (names of :data:`DEGRADATIONS` -> 1-5) in :data:`ORDER`.

    Missing names stay untouched (level 5). The reference intensities are taken from the
    input volume, so later steps do not drift with earlier ones.
    """
    unknown = sorted(set(levels) - set(DEGRADATIONS))
    if unknown:
        raise ValueError(f"unknown degradation(s) {unknown}; expected names from {list(DEGRADATIONS)}")
    out = np.asarray(volume, dtype=np.float32)
    rng = np.random.default_rng(seed)
    seeds = {name: int(rng.integers(2 ** 31)) for name in ORDER}
    for name in ORDER:
        level = int(levels.get(name, 5))
        if name == "nulling":
            out = poor_nulling(out, level, myocardium=myocardium, blood=blood, strength=strength)
        elif name == "enhancement":
            out = weak_enhancement(out, level, enhanced=enhanced, blood=blood, strength=strength)
        elif name == "ghosting":
            out = motion_ghosting(out, level, seed=seeds[name], strength=strength)
        elif name == "blur":
            out = blur(out, level, strength=strength)
        else:
            out = noise(out, level, blood=blood, seed=seeds[name], strength=strength)
    return out.astype(np.float32)


def scores_from_levels(levels: Mapping[str, int]) -> dict[str, int]:
    """The four 1-5 scores a scan with these degradation levels gets (rule in the module docstring)."""
    full = {name: int(levels.get(name, 5)) for name in ORDER}
    overall = min(int(np.floor(np.mean(list(full.values())) + 0.5)), min(full.values()) + 1)
    return {"myocardium_nulling": full["nulling"], "sharpness": full["blur"],
            "enhancement_aorta_valve": full["enhancement"], "fibrosis_quality": overall}


def sample_levels(rng: np.random.Generator, spread: float = 1.0) -> dict[str, int]:
    """Levels for one scan: a shared scan quality ~ U(1, 5) plus independent N(0, ``spread``) per degradation.

    The shared part makes the attributes correlate with each other and with the overall score,
    as the paper's Table 1 reports for real scores.
    """
    base = rng.uniform(1.0, 5.0)
    return {name: int(np.clip(np.floor(base + rng.normal(0.0, spread) + 0.5), 1, 5)) for name in ORDER}


def gradient_energy(image, mask=None, presmooth: float = 0.0) -> float:
    """Mean squared gradient magnitude (Sobel, axes 0 and 1) of an intensity-standardised image.

    A simple sharpness feature: blur lowers it, noise raises it; ``presmooth`` (a Gaussian
    sigma in pixels, applied first) damps the noise part. ``mask`` restricts the mean.
    """
    image = np.asarray(image, dtype=np.float64)
    if presmooth > 0:
        image = ndimage.gaussian_filter(image, sigma=(presmooth, presmooth) + (0,) * (image.ndim - 2))
    image = (image - image.mean()) / max(image.std(), 1e-12)
    gx = ndimage.sobel(image, axis=0)
    gy = ndimage.sobel(image, axis=1)
    energy = gx ** 2 + gy ** 2
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        return float(energy[mask].mean()) if mask.any() else float("nan")
    return float(energy.mean())
