"""Video4MRI's cost claims measured side by side: TSM-Res18 vs TSN-Res18 training steps, TSM-Res18 vs R3D-18 inference.

The paper reports 20 s vs 19 s per epoch (TSM vs TSN, ResNet-18) and 28.9 ms vs 38.4 ms per sample
(TSM-Res18 vs 3DResNet-18). The temporal shift moves channels between neighbouring frames and adds
no parameters or FLOPs, so a training step (forward + cross-entropy + backward + Adam step) should
cost about the same. All models get the same clips and labels and are timed with
:func:`paperkit.timing.time_side_by_side` (warm-up, interleaved rounds, the median per model), the
helper the chapter's ledger uses. Prints the ratios with the interquartile range of the per-round
ratios (targets: TSM/TSN training step <= 1.05; TSM-Res18/R3D-18 inference < 1). Sizes are reduced
for a CPU (the paper: batch 4, K = 32, 224 px); pass ``--paper`` for those (GPU advisable).
"""
import sys

import torch

from paperkit.models.video import create_video_model
from paperkit.timing import inference_step, time_side_by_side, training_step

BATCH, SEGMENTS, SIZE, ROUNDS, WARMUP = 2, 8, 112, 7, 2
RESULTS: list[tuple[str, float, str, bool]] = []  # (ratio, value, target, met), summarised by run_all.py
if "--paper" in sys.argv:
    BATCH, SEGMENTS, SIZE = 4, 32, 224


def build(name: str, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)  # same initial weights for the shared layers
    return create_video_model(name, num_classes=2, in_channels=1, num_segments=SEGMENTS).to(device)


def main():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    x = torch.randn(BATCH, 1, SEGMENTS, SIZE, SIZE, device=device)
    y = torch.randint(0, 2, (BATCH,), device=device)
    print(f"clips {tuple(x.shape)} on {device}, threads {torch.get_num_threads()}, median of {ROUNDS} "
          f"interleaved rounds after {WARMUP} warm-up")
    train = time_side_by_side({n: training_step(build(n, device), x, y) for n in ("tsn_r18", "tsm_r18")},
                              warmup=WARMUP, rounds=ROUNDS, device=device)
    infer = time_side_by_side({n: inference_step(build(n, device), x) for n in ("tsm_r18", "r3d_18")},
                              warmup=WARMUP, rounds=ROUNDS, device=device)
    for name in train.names:
        print(f"  {name:<8} training step : {train.median(name) * 1000:.0f} ms")
    for name in infer.names:
        print(f"  {name:<8} inference     : {infer.median(name) * 1000 / BATCH:.1f} ms per sample")
    shift, speed = train.ratio("tsm_r18", "tsn_r18"), infer.ratio("tsm_r18", "r3d_18")
    shapes = f"{BATCH} x {SEGMENTS} x {SIZE} px"
    RESULTS.append((f"TSM-R18 / TSN-R18 training step ({shapes})", shift.value, "<= 1.05", shift.value <= 1.05))
    RESULTS.append((f"TSM-R18 / R3D-18 inference ({shapes})", speed.value, "< 1", speed.value < 1))
    print(f"  training step {shift.describe()} (target <= 1.05; paper 20 s / 19 s = 1.053) -> "
          f"{'OK' if shift.value <= 1.05 else 'ABOVE TARGET'}")
    print(f"  inference {speed.describe()} (target < 1; paper 28.9 / 38.4 = 0.75) -> "
          f"{'OK' if speed.value < 1 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
