"""TSM-Res18 vs TSN-Res18: training-step time on the same input (Video4MRI's "TSM adds no cost").

The paper reports 20 s vs 19 s per epoch (TSM vs TSN, ResNet-18). The temporal shift moves
channels between neighbouring frames and adds no parameters or FLOPs, so a training step
(forward + cross-entropy + backward + optimizer step) should cost about the same. Both models
get the same clips and labels; steps alternate between the two models after a warm-up, so both
see the same machine load, and the median over repetitions is compared.
Prints the ratio TSM / TSN (target <= 1.05). Sizes are reduced for a CPU (the paper: batch 4,
K = 32, 224 px); pass ``--paper`` for those (GPU advisable).
"""
import statistics
import sys
import time

import torch
from torch import nn

import paperkit.models.video  # noqa: F401  (registers tsn_r18, tsm_r18, ...)
from paperkit.models import create

BATCH, SEGMENTS, SIZE, REPEATS, WARMUP = 2, 8, 112, 7, 2
if "--paper" in sys.argv:
    BATCH, SEGMENTS, SIZE = 4, 32, 224


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_time(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds for one forward + loss + backward + optimizer step."""
    sync(x.device)
    t0 = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    sync(x.device)
    return time.perf_counter() - t0


def main():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    x = torch.randn(BATCH, 1, SEGMENTS, SIZE, SIZE, device=device)
    y = torch.randint(0, 2, (BATCH,), device=device)
    models = {}
    for name in ("tsn_r18", "tsm_r18"):
        torch.manual_seed(0)  # same initial weights for the shared layers
        model = create(name, num_classes=2, in_channels=1, num_segments=SEGMENTS).to(device).train()
        models[name] = (model, torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=1e-4))
    times = {name: [] for name in models}
    for repeat in range(WARMUP + REPEATS):
        for name, (model, optimizer) in models.items():  # interleaved
            seconds = step_time(model, optimizer, x, y)
            if repeat >= WARMUP:
                times[name].append(seconds)
    tsn, tsm = statistics.median(times["tsn_r18"]), statistics.median(times["tsm_r18"])
    print(f"clips {tuple(x.shape)} on {device}, threads {torch.get_num_threads()}, median of {REPEATS} "
          f"interleaved training steps after {WARMUP} warm-up")
    print(f"  TSN-Res18 : {tsn * 1000:.0f} ms/step")
    print(f"  TSM-Res18 : {tsm * 1000:.0f} ms/step")
    ratio = tsm / tsn
    print(f"  ratio TSM/TSN step time: {ratio:.3f} (target <= 1.05; paper 20 s / 19 s = 1.053) -> "
          f"{'OK' if ratio <= 1.05 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
