"""How much slower is ``labkit.train.fit`` than the bare loop it wraps?

Times one epoch of a small CNN on random 3x32x32 batches three ways: a hand-written minimal loop,
``fit(quiet=True)`` and ``fit`` with its progress bar (written to /dev/null so the terminal's speed
does not count). Same model initialisation, same batches (pre-built, so no data loading is timed),
same optimizer. The variants are interleaved in a shuffled order on every repeat so that load from
other jobs on the machine hits them alike; the overhead is the median over repeats of the paired
ratio fit / minimal. Writes a markdown table to ``bench/results/train_overhead.md``.

Run: ``python bench/train_overhead.py [--quick] [--repeats N] [--device cpu|cuda]``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from labkit.train import fit

RESULTS = Path(__file__).resolve().parent / "results" / "train_overhead.md"


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 10),
    )


def make_batches(n: int, batch_size: int, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(batch_size, 3, 32, 32, generator=g).to(device),
             torch.randint(0, 10, (batch_size,), generator=g).to(device)) for _ in range(n)]


def minimal_loop(model, batches, optimizer, loss_fn) -> None:
    model.train()
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()


def time_variant(variant: str, batches, device: torch.device) -> float:
    """Seconds per batch for one epoch of ``variant``."""
    model = small_cnn().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    if variant == "minimal loop":
        minimal_loop(model, batches, optimizer, loss_fn)
    else:
        quiet = variant == "fit, quiet=True"
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            fit(model, batches, epochs=1, optimizer=optimizer, loss_fn=loss_fn, device=device, quiet=quiet)
    sync()
    return (time.perf_counter() - start) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    n_batches, batch_size = (10, 32) if args.quick else (40, 64)
    repeats = args.repeats or (3 if args.quick else 15)

    batches = make_batches(n_batches, batch_size, device)
    variants = ["minimal loop", "fit, quiet=True", "fit, progress bar"]
    for v in variants:  # warm-up: allocator, kernels, tqdm import paths
        time_variant(v, batches[:3], device)

    times: dict[str, list[float]] = {v: [] for v in variants}
    order_rng = random.Random(0)
    for rep in range(repeats):
        order = variants[:]
        order_rng.shuffle(order)
        for v in order:
            times[v].append(time_variant(v, batches, device))
        print(f"repeat {rep + 1}/{repeats}: " + ", ".join(f"{v} {times[v][-1] * 1e3:.2f} ms" for v in variants))

    base = times["minimal loop"]
    rows = []
    for v in variants:
        med = statistics.median(times[v])
        paired = statistics.median(t / b - 1 for t, b in zip(times[v], base)) * 100
        rows.append(f"| {v} | {med * 1e3:.3f} | {min(times[v]) * 1e3:.3f} | "
                    f"{'-' if v == 'minimal loop' else f'{paired:+.2f} %'} |")
    table = "\n".join([
        "| variant | median ms/batch | best ms/batch | overhead vs minimal (median of paired ratios) |",
        "|---|---:|---:|---:|", *rows])
    header = (f"# fit() overhead vs a minimal training loop\n\n"
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}; device {device}"
              f" ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads); "
              f"small CNN, {n_batches} batches of {batch_size}x3x32x32 per epoch, {repeats} interleaved "
              f"repeats{' (--quick)' if args.quick else ''}. Target: under 3 %.\n"
              f"Other jobs may share the machine: single timings are noisy, paired medians less so.\n\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(header + table + "\n")
    print("\n" + table + f"\n\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
