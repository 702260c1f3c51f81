"""Decoded-volume cache vs decoding every time: throughput of reading the same NIfTI volumes.

An epoch re-reads every volume; the cache decodes a .nii.gz once and memory-maps the .npy after.
Prints the measured ratio (target: cached at least 10x faster), measured side by side in one run.
"""
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from paperkit.data import VolumeCache, read_volume

N_VOLUMES, SHAPE, EPOCHS = 8, (176, 208, 176), 3  # OASIS-sized T1 volumes


def epoch(paths, load):
    t0 = time.perf_counter()
    total = 0.0
    for p in paths:
        total += float(np.asarray(load(p), dtype=np.float64).sum())  # read every voxel, as a loader would
    return time.perf_counter() - t0, total


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for i in range(N_VOLUMES):
            vol = (rng.normal(size=SHAPE) * 100 + 500).astype(np.float32)
            path = tmp / f"sub-{i:02d}.nii.gz"
            nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
            paths.append(path)
        cache = VolumeCache(tmp / "cache")
        epoch(paths, cache.load)  # warm the cache (first epoch decodes)
        plain, cached = [], []
        for _ in range(EPOCHS):  # interleaved, so both see the same machine load
            plain.append(epoch(paths, lambda p: read_volume(p).array)[0])
            cached.append(epoch(paths, cache.load)[0])
        p, c = np.median(plain), np.median(cached)
        print(f"{N_VOLUMES} volumes of {SHAPE}, median of {EPOCHS} epochs each")
        print(f"  decode every time : {p:.3f} s/epoch ({N_VOLUMES / p:.1f} volumes/s)")
        print(f"  cached (memmap)   : {c:.3f} s/epoch ({N_VOLUMES / c:.1f} volumes/s)")
        ratio = p / c
        print(f"  ratio cached/plain throughput: {ratio:.1f}x (target >= 10x) -> "
              f"{'OK' if ratio >= 10 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
