"""Train a toy classifier with paperkit.train.fit; used by the resume and DDP tests.

usage: python fit_toy.py OUT_WEIGHTS CHECKPOINT [--kill-after K] [--epochs N] [--batch B]
Under torchrun every process runs this; rank 0 writes OUT_WEIGHTS.
"""
import argparse
import os
import signal

import torch
from torch import nn
from torch.utils.data import TensorDataset

from paperkit.schedules import warmup_cosine
from paperkit.train import Batches, fit, steps_per_epoch


def toy_data(n=64, seed=123):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return TensorDataset(x, y)


def toy_model(dropout=0.0):
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("checkpoint")
    ap.add_argument("--kill-after", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dropout", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = toy_data()
    model = toy_model(args.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    steps = steps_per_epoch(len(data), args.batch)
    sched = warmup_cosine(opt, steps, args.epochs * steps)

    def maybe_kill(epoch, record):
        if args.kill_after is not None and epoch == args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no cleanup, no exception handlers

    fit(model, data, loss=nn.CrossEntropyLoss(), optimizer=opt, scheduler=sched, epochs=args.epochs,
        batches=Batches(args.batch), checkpoint=args.checkpoint if args.checkpoint != "-" else None,
        seed=3, progress=False, on_epoch_end=maybe_kill, device="cpu")
    if int(os.environ.get("RANK", 0)) == 0:
        torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
