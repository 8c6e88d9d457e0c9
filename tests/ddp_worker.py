"""A tiny training job for tests/test_distributed.py, run under ``torchrun`` or as one process.

Trains a small model with :func:`labkit.train.fit` on fixed synthetic data and writes, from rank 0,
``result.pt`` (the model's state_dict and the history) into ``--out``. Every call of the checkpoint
writer is logged to ``saves-rank<R>.txt``, so the test can see which ranks wrote. ``--fail-rank R``
makes rank R raise in its second epoch.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import labkit.train as train


class FailingLoss(nn.Module):
    """Cross-entropy that raises on the given rank once ``after`` batches have been seen."""

    def __init__(self, rank: int, fail_rank: int, after: int) -> None:
        super().__init__()
        self.rank, self.fail_rank, self.after, self.calls = rank, fail_rank, after, 0

    def forward(self, outputs, targets):
        self.calls += 1
        if self.rank == self.fail_rank and self.calls > self.after:
            raise RuntimeError(f"planted failure on rank {self.rank}")
        return nn.functional.cross_entropy(outputs, targets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="per rank")
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--fail-rank", type=int, default=-1)
    args = parser.parse_args()
    rank = int(os.environ.get("RANK", 0))
    args.out.mkdir(parents=True, exist_ok=True)

    saver = train.save_atomic

    def logged_save(obj, path):
        with open(args.out / f"saves-rank{rank}.txt", "a") as log:
            log.write(f"{path.name}\n")
        saver(obj, path)

    train.save_atomic = logged_save

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(96, 10, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    data, val = TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])
    torch.manual_seed(0)  # the same initial weights on every rank and in the single process
    model = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    loader = DataLoader(data, batch_size=args.batch, shuffle=args.shuffle,
                        generator=torch.Generator().manual_seed(1))
    history = train.fit(model, loader, DataLoader(val, batch_size=5), epochs=args.epochs,
                        optimizer=optimizer, loss_fn=FailingLoss(rank, args.fail_rank, after=8),
                        metrics={"acc": train.accuracy}, device="cpu",
                        checkpoint=args.checkpoint, resume=args.resume, quiet=True)
    if rank == 0:
        torch.save({"model": model.state_dict(), "history": history.to_dict(),
                    "world": int(os.environ.get("WORLD_SIZE", 1))}, args.out / "result.pt")


if __name__ == "__main__":
    main()
