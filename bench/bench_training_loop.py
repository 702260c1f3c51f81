"""The training loop's own cost: `fit` on the chapter's clip dataset beside a bare step on ready tensors.

Video4MRI's classroom shapes (TSM-Res18, K = 8 frames of 32 px, batch 8) on synthetic brain
volumes. "bare" is forward + cross-entropy + backward + Adam step on clips that are already
stacked in memory; "loop" is one :func:`paperkit.train.fit` epoch over the same number of
batches of :class:`paperkit.data.mri_frames.MRIFrames`, i.e. with reading the cached volume,
TSN sampling, normalising and resizing each frame, collation, the seeded sampler and the
progress bookkeeping. Both run in interleaved rounds (:func:`paperkit.timing.time_side_by_side`).
Prints the throughput ratio loop/bare (target >= 0.9 on this CPU) with workers as
:func:`paperkit.runtime.default_num_workers` chooses them and, for comparison, with 1 worker.
``--paper`` uses the paper's K = 32 frames of 224 px, batch 4 (a GPU is advisable).
"""
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from paperkit.data.brain_mri import load_brain_mri, split_cohort
from paperkit.data.io.cache import VolumeCache
from paperkit.data.mri_frames import MRIFrames
from paperkit.data.synthetic.brain import SYNTHETIC_LAYOUT, make_synthetic_brain
from paperkit.models.video import create_video_model
from paperkit.runtime import default_num_workers
from paperkit.timing import time_side_by_side
from paperkit.train import Batches, fit

BATCH, SEGMENTS, SIZE, N_BATCHES, ROUNDS, WARMUP = 8, 8, 32, 4, 5, 1
RESULTS: list[tuple[str, float, str, bool]] = []  # (ratio, value, target, met), summarised by run_all.py
if "--paper" in sys.argv:
    BATCH, SEGMENTS, SIZE, N_BATCHES = 4, 32, 224, 2


def main():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_synthetic_brain(Path(tmp) / "data", n_subjects=20, visits=2, size=64, seed=0)
        cohort = load_brain_mri(SYNTHETIC_LAYOUT, root)
        train = split_cohort(cohort, (0.7, 0.3), seed=0)["train"]
        clips = MRIFrames(train, segments=SEGMENTS, frame_size=SIZE, train=True, normalize="minmax",
                          cache=VolumeCache(Path(tmp) / "volumes"))
        n = min(len(clips), BATCH * N_BATCHES)
        subset = torch.utils.data.Subset(clips, range(n))
        for i in range(n):  # the volume cache is warm for both, as from a chapter's second epoch on
            clips[i]
        ready = [torch.stack([clips[j][0] for j in range(i, min(i + BATCH, n))]) for i in range(0, n, BATCH)]
        labels = [torch.tensor([clips[j][1] for j in range(i, min(i + BATCH, n))]) for i in range(0, n, BATCH)]
        ready, labels = [x.to(device) for x in ready], [y.to(device) for y in labels]

        torch.manual_seed(0)
        model = create_video_model("tsm_r18", num_classes=2, in_channels=1, num_segments=SEGMENTS).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        loss = nn.CrossEntropyLoss()

        def bare():
            model.train()
            for x, y in zip(ready, labels):
                opt.zero_grad(set_to_none=True)
                loss(model(x), y).backward()
                opt.step()

        def loop(workers):
            return lambda: fit(model, subset, loss=loss, optimizer=opt, epochs=1,
                               batches=Batches(BATCH, num_workers=workers), device=device, progress=False)

        default = default_num_workers(device)
        steps = {"bare": bare, f"loop ({default} workers)": loop(default)}
        if default != 1:
            steps["loop (1 worker)"] = loop(1)
        print(f"TSM-Res18, {N_BATCHES} batches of {BATCH} clips (1, {SEGMENTS}, {SIZE}, {SIZE}) on {device}, "
              f"threads {torch.get_num_threads()}, median of {ROUNDS} interleaved rounds after {WARMUP} warm-up")
        timed = time_side_by_side(steps, warmup=WARMUP, rounds=ROUNDS, device=device)
        for name in timed.names:
            print(f"  {name:<18} {n / timed.median(name):7.1f} clips/s")
        for name in timed.names[1:]:
            r = timed.ratio("bare", name)  # time(bare) / time(loop) = throughput(loop) / throughput(bare)
            RESULTS.append((f"training loop / bare step, {name}", r.value, ">= 0.9", r.value >= 0.9))
            print(f"  throughput {name} / bare {r.value:.2f}x (per-round interquartile range {r.q1:.2f}-{r.q3:.2f}; "
                  f"target >= 0.9) -> {'OK' if r.value >= 0.9 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
