"""Synthetic LGE-MRI scans with graded quality defects, in the LA 2018 challenge layout (offline default).

:func:`make_synthetic_lge` writes a folder that :func:`paperkit.data.datasets.la2018.load_la2018` reads
through its real NRRD path::

    <root>/Training Set/SYN-000/lgemri.nrrd   # float32 (X, Y, Z) volume, 1.25 x 1.25 x 2.5 mm
    <root>/Training Set/SYN-000/laendo.nrrd   # LA blood pool, uint8 0 / 255 (as the release)
    <root>/scores.csv                          # case_id, 3 attribute scores, fibrosis_quality (1-5)
    <root>/train.list, <root>/test.list        # the stage-1 (segmentation) split, 80 / 20 as the
                                               # challenge's lists (see write_stage1_lists)
    <root>/manifest.json                       # parameters + each case's true levels; written last

The scene (per case, geometry jittered by the seed), axial slices along Z: a body of
moderate signal in air; the left-atrial blood pool (a lumpy ellipsoid, bright with
gadolinium) inside a thin wall carrying enhanced fibrosis patches; the left ventricle's blood
pool below it, wrapped in a nulled (dark) myocardium; the aorta (bright blood, enhanced wall)
beside the atrium; an enhanced mitral-valve ring between atrium and ventricle; smooth texture.

Quality signal: each case draws five degradation levels (:func:`paperkit.data.synthetic.lge_degrade.sample_levels`:
a shared scan quality plus per-defect jitter) and is degraded with them
(:func:`paperkit.data.synthetic.lge_degrade.degrade`, the myocardium, enhanced-structure and blood-pool
masks known exactly). The scores are :func:`paperkit.data.synthetic.lge_degrade.scores_from_levels`.

``difficulty`` (0..1) makes the task harder in three documented ways: the defects' effect
shrinks (``strength = 1 - 0.5 * difficulty``); each written score is off by one (up or down,
within 1-5) with probability ``0.25 * difficulty`` (observer disagreement); and every scan
gets quality-unrelated nuisance blur (sigma up to ``0.6 * difficulty`` px) and noise (up to
``0.05 * difficulty`` of the blood signal). The default 0.5 keeps results away from both 100 %
and chance.

:func:`make_degraded_la2018` applies the same degradations to real LA 2018 volumes with their
real LA masks (``dataset="la2018-degraded"``); without myocardium or enhanced-structure
masks it uses the mask-free variants documented in :mod:`paperkit.data.synthetic.lge_degrade`. Its labels
describe the applied defects and assume the source scans are themselves of good quality.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from paperkit.atomic import MANIFEST, atomic_path, build_folder
from paperkit.data.datasets.la2018 import IMAGE_FILE, MASK_FILE, find_cases, write_scores
from paperkit.data.synthetic import lge_degrade
from paperkit.paths import cache_dir

__all__ = ["GENERATOR_VERSION", "make_degraded_la2018", "make_synthetic_lge", "read_manifest", "synthetic_case",
           "write_nrrd", "write_stage1_lists"]

GENERATOR_VERSION = 2  # 2: writes the stage-1 train.list / test.list
SPACING_MM = (1.25, 1.25, 2.5)  # the paper's acquisition resolution
SET_FOLDER = "Training Set"


# --------------------------------------------------------------------------- writing


def write_nrrd(path: str | os.PathLike, array: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> Path:
    """Atomically write a 3D array as NRRD (gzip) with ``space directions`` from ``spacing`` (mm).

    Byte-identical for identical input (pynrrd's timestamp comment is removed).
    """
    import nrrd

    header = {"space": "left-posterior-superior", "space directions": np.diag(np.asarray(spacing, dtype=float)),
              "encoding": "gzip"}
    with atomic_path(path) as tmp:
        nrrd.write(str(tmp), np.asarray(array), header, compression_level=1)  # level 9 is 5x slower on noisy floats
        # pynrrd stamps the write time in a comment line; drop it so equal data give equal bytes.
        data = tmp.read_bytes()
        start = data.find(b"\n# on ", 0, 512)
        if start >= 0:
            data = data[:start] + data[data.index(b"\n", start + 1):]
            tmp.write_bytes(data)
    return Path(path)


def _write_case(root: Path, case_id: str, image: np.ndarray, blood: np.ndarray, spacing) -> None:
    folder = root / SET_FOLDER / case_id
    write_nrrd(folder / IMAGE_FILE, image.astype(np.float32), spacing)
    write_nrrd(folder / MASK_FILE, (np.asarray(blood, dtype=bool) * 255).astype(np.uint8), spacing)


def write_stage1_lists(root: str | os.PathLike, lists: dict[str, list[str]]) -> None:
    """Write ``train.list`` / ``test.list`` (one case id per line) into ``root``, atomically."""
    for name in ("train", "test"):
        with atomic_path(Path(root) / f"{name}.list") as tmp:
            tmp.write_text("".join(f"{case}\n" for case in lists.get(name, [])), encoding="utf-8")


def _stage1_lists(case_ids: list[str], seed: int, test_fraction: float = 0.2) -> dict[str, list[str]]:
    """A random ``test_fraction`` (at least one case when there are two) as test, the rest train, by seed.

    The stage-1 UNet's own split, as the challenge ships ``train.list``/``test.list`` (80 / 20);
    it is drawn independently of the chapter's QA split, like the paper's separate segmentation cohort.
    """
    order = np.random.default_rng([seed, 2018]).permutation(len(case_ids))
    n_test = max(1, int(round(test_fraction * len(case_ids)))) if len(case_ids) > 1 else 0
    test = sorted(case_ids[i] for i in order[:n_test])
    return {"train": [c for c in case_ids if c not in test], "test": test}


def read_manifest(root: str | os.PathLike) -> dict:
    """The ``manifest.json`` of a generated root (parameters and per-case levels)."""
    return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))


def _digest(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def _perturb_scores(scores: dict, rng: np.random.Generator, p: float) -> dict:
    """Each score moved by +-1 (kept within 1-5) with probability ``p``: observer disagreement."""
    out = {}
    for key, value in scores.items():
        if rng.random() < p:
            value = int(np.clip(value + rng.choice([-1, 1]), 1, 5))
        out[key] = int(value)
    return out


# --------------------------------------------------------------------------- phantom


def _ellipsoid(grid, centre, radii) -> np.ndarray:
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii))


def synthetic_case(rng: np.random.Generator, size: int = 96, n_slices: int = 24) -> dict[str, np.ndarray]:
    """One clean phantom: ``image`` (X, Y, Z) float32 (blood pool ~ 1) and boolean masks
    ``blood`` (LA), ``myocardium`` (LV) and ``enhanced`` (aorta wall, valve, LA fibrosis)."""
    n, nz = size, n_slices
    x, y, z = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32),
                          np.arange(nz, dtype=np.float32), indexing="ij")
    zs = z * (SPACING_MM[2] / SPACING_MM[0])  # slices in in-plane pixel units
    c = n / 2 + rng.uniform(-0.04, 0.04, 2) * n
    jitter = lambda: rng.uniform(0.85, 1.15)  # noqa: E731
    body = ((x - c[0]) / (0.46 * n)) ** 2 + ((y - c[1]) / (0.38 * n)) ** 2 <= 1
    lumps = ndimage.gaussian_filter(rng.normal(size=x.shape).astype(np.float32), sigma=(6, 6, 3))
    lumps /= max(float(np.abs(lumps).max()), 1e-6)
    # Left atrium: a lumpy ellipsoid in the upper part of the stack.
    la_c = (c[0] + rng.uniform(-3, 3), c[1] - 0.08 * n, 0.58 * nz * SPACING_MM[2] / SPACING_MM[0])
    la_r = (0.14 * n * jitter(), 0.11 * n * jitter(), 0.28 * nz * SPACING_MM[2] / SPACING_MM[0] * jitter())
    la_d = _ellipsoid((x, y, zs), la_c, la_r) + 0.35 * lumps
    blood = la_d <= 1
    wall_out = la_d <= (1 + 2.2 / min(la_r[:2])) ** 2
    wall = wall_out & ~blood
    patches = ndimage.gaussian_filter(rng.normal(size=x.shape).astype(np.float32), sigma=(3, 3, 1.5))
    fibrosis = wall & (patches > np.percentile(patches[wall], 100 - rng.uniform(20, 45))) if wall.any() else wall
    # Left ventricle below the atrium: blood pool in a thick myocardium.
    lv_c = (c[0] - 0.04 * n, c[1] + 0.17 * n, 0.25 * nz * SPACING_MM[2] / SPACING_MM[0])
    lv_r = (0.14 * n * jitter(), 0.12 * n * jitter(), 0.35 * nz * SPACING_MM[2] / SPACING_MM[0])
    lv_d = _ellipsoid((x, y, zs), lv_c, lv_r)
    lv_blood = lv_d <= 1
    myocardium = (lv_d <= (1 + 0.055 * n / min(lv_r[:2])) ** 2) & ~lv_blood & ~wall_out
    # Aorta: a vertical tube beside the atrium, with an enhanced wall.
    ao_c = (c[0] + 0.2 * n, c[1] - 0.16 * n)
    ao_r = 0.06 * n * jitter()
    ao_d = np.hypot(x - ao_c[0], y - ao_c[1])
    aorta = (ao_d <= ao_r) & (zs > 0.2 * nz * SPACING_MM[2] / SPACING_MM[0])
    aorta_wall = (ao_d <= ao_r + 1.6) & ~aorta & (zs > 0.2 * nz * SPACING_MM[2] / SPACING_MM[0]) & ~wall_out
    # Mitral valve ring: a thin enhanced disc where atrium and ventricle meet.
    mv_c = [(a + b) / 2 for a, b in zip(la_c, lv_c)]
    valve = (_ellipsoid((x, y, zs), mv_c, (0.09 * n, 0.09 * n, 1.6)) <= 1) & ~blood & ~lv_blood
    image = np.zeros(x.shape, dtype=np.float32)
    image[body] = rng.uniform(0.28, 0.4)
    image[myocardium] = 0.04
    image[lv_blood] = 1.0
    image[aorta_wall] = rng.uniform(1.45, 1.7)
    image[aorta] = 1.0
    image[wall] = 0.4
    image[fibrosis] = rng.uniform(1.5, 1.8)
    image[blood] = 1.0
    image[valve] = rng.uniform(1.4, 1.6)
    texture = ndimage.gaussian_filter(rng.normal(size=x.shape).astype(np.float32), sigma=(2, 2, 1))
    image *= 1 + 0.6 * texture / max(float(texture.std()), 1e-6) * 0.08
    image = ndimage.gaussian_filter(image, sigma=(0.5, 0.5, 0))  # partial volume
    enhanced = fibrosis | aorta_wall | valve
    return {"image": image.astype(np.float32), "blood": blood, "myocardium": myocardium, "enhanced": enhanced}


# --------------------------------------------------------------------------- public API


def _check_difficulty(difficulty) -> float:
    difficulty = float(difficulty)
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty={difficulty!r}: expected a value in [0, 1]")
    return round(difficulty, 6)


def make_synthetic_lge(out_dir: str | os.PathLike | None = None, n_cases: int = 60, size: int = 96,
                       n_slices: int = 24, seed: int = 0, difficulty: float = 0.5) -> Path:
    """Write (or reuse) a synthetic LA 2018-layout data set with quality scores; return its root.

    The root is ``out_dir / "lge-<hash of the parameters>"`` (``out_dir`` defaults to
    ``paths.cache_dir("synthetic", "lge_quality")``). Deterministic by ``seed``; built in a
    temporary folder and renamed into place; reused when its manifest matches. 60 cases of
    96 x 96 x 24 take a few seconds. See the module docstring for the scene and ``difficulty``.
    """
    for name, value, low in (("n_cases", n_cases, 1), ("size", size, 32), ("n_slices", n_slices, 8)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}={value!r}: expected an integer >= {low}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed={seed!r}: expected an integer")
    params = {"generator": "paperkit.data.synthetic.lge", "version": GENERATOR_VERSION, "n_cases": int(n_cases),
              "size": int(size), "n_slices": int(n_slices), "seed": int(seed),
              "difficulty": _check_difficulty(difficulty)}
    parent = Path(out_dir).expanduser() if out_dir is not None else cache_dir("synthetic", "lge_quality")

    def build(tmp: Path) -> dict:
        d = params["difficulty"]
        strength = 1.0 - 0.5 * d
        scores, levels_of = {}, {}
        for i in range(params["n_cases"]):
            rng = np.random.default_rng([params["seed"], i])
            case_id = f"SYN-{i:03d}"
            phantom = synthetic_case(rng, params["size"], params["n_slices"])
            levels = lge_degrade.sample_levels(rng)
            image = lge_degrade.degrade(phantom["image"], levels, blood=phantom["blood"],
                                        myocardium=phantom["myocardium"], enhanced=phantom["enhanced"],
                                        seed=int(rng.integers(2 ** 31)), strength=strength)
            image = _nuisance(image, rng, d)
            _write_case(tmp, case_id, image, phantom["blood"], SPACING_MM)
            scores[case_id] = _perturb_scores(lge_degrade.scores_from_levels(levels), rng, 0.25 * d)
            levels_of[case_id] = levels
        write_scores(tmp / "scores.csv", scores)
        write_stage1_lists(tmp, _stage1_lists(sorted(scores), params["seed"]))
        return {"levels": levels_of, "layout": "LA 2018 challenge NRRD (see paperkit.data.datasets.la2018)"}

    return build_folder(parent, f"lge-{_digest(params)}", params, build)


def _nuisance(image: np.ndarray, rng: np.random.Generator, difficulty: float) -> np.ndarray:
    """Quality-unrelated blur and noise, scaled by ``difficulty`` (the blood pool is ~1)."""
    sigma = rng.uniform(0.0, 0.6 * difficulty)
    if sigma > 0:
        image = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0))
    amount = rng.uniform(0.0, 0.05 * difficulty)
    return (image + rng.normal(0.0, amount, image.shape)).astype(np.float32) if amount > 0 else image


def make_degraded_la2018(source: str | os.PathLike, out_dir: str | os.PathLike | None = None, copies: int = 1,
                         seed: int = 0, difficulty: float = 0.5, layout: str = "auto") -> Path:
    """Degrade every real case of ``source`` (an LA 2018 folder) and write the set in the NRRD layout.

    Each case gets ``copies`` degraded versions (case ids ``<id>`` for one copy,
    ``<id>-c<k>`` for more), each with its own levels; the scores CSV's ``subject_id`` is the
    source case, so splits keep copies of one scan together. The real LA cavity mask is
    written as ``laendo.nrrd`` and serves as the blood-pool reference. Written to
    ``out_dir / "la2018-degraded-<hash>"`` (default ``paths.cache_dir("la2018-degraded")``);
    the hash covers the parameters and the source files' names, sizes and times. When the source
    has ``train.list``/``test.list``, each copy is listed where its source case is (the stage-1 split).
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies={copies!r}: expected a positive int")
    source = Path(source).expanduser()
    cases = find_cases(source, layout)
    stamp = [[c.case_id, str(c.image_path), c.image_path.stat().st_size, c.image_path.stat().st_mtime_ns,
              c.list_name] for c in cases]
    params = {"generator": "paperkit.data.synthetic.lge.make_degraded_la2018", "version": GENERATOR_VERSION,
              "source": str(source.resolve()), "files": stamp, "copies": copies, "seed": int(seed),
              "difficulty": _check_difficulty(difficulty)}
    parent = Path(out_dir).expanduser() if out_dir is not None else cache_dir("la2018-degraded")

    def build(tmp: Path) -> dict:
        d = params["difficulty"]
        scores, levels_of, lists = {}, {}, {}
        for ci, case in enumerate(cases):
            image, mask = case.load()
            spacing = case.spacing if case.spacing and len(case.spacing) == 3 else (1.0, 1.0, 1.0)
            for k in range(copies):
                rng = np.random.default_rng([params["seed"], ci, k])
                case_id = case.case_id if copies == 1 else f"{case.case_id}-c{k}"
                levels = lge_degrade.sample_levels(rng)
                out = lge_degrade.degrade(image, levels, blood=mask, seed=int(rng.integers(2 ** 31)),
                                          strength=1.0 - 0.5 * d)
                _write_case(tmp, case_id, out, mask, spacing)
                entry = _perturb_scores(lge_degrade.scores_from_levels(levels), rng, 0.25 * d)
                entry["subject_id"] = case.case_id
                scores[case_id] = entry
                levels_of[case_id] = levels
                if case.list_name:  # a copy stays in its source case's stage-1 list
                    lists.setdefault(case.list_name, []).append(case_id)
        write_scores(tmp / "scores.csv", scores)
        if lists:
            write_stage1_lists(tmp, lists)
        return {"levels": levels_of, "layout": "LA 2018 challenge NRRD (see paperkit.data.datasets.la2018)"}

    return build_folder(parent, f"la2018-degraded-{_digest(params)}", params, build)
