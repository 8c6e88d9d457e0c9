"""How much slower is ``labkit.train.fit`` than the bare loop it wraps?

Times one epoch of a small CNN on random 3x32x32 batches three ways: a hand-written minimal loop,
``fit(quiet=True)`` and ``fit`` with its progress bar (written to /dev/null so the terminal's speed
does not count). Same model initialisation, same batches (pre-built, so no data loading is timed),
same optimizer. The variants are interleaved (A B C D D C B A) on every repeat so that load from
other jobs on the machine hits them alike, and the overhead is the median over repeats of the
paired ratio fit / minimal loop. A control (the minimal loop timed a second time) shows the noise.

Because a busy machine makes CNN timings jitter by more than the overhead itself, the same three
variants are also run on a tiny linear model, where the loop's own bookkeeping dominates: that
gives fit's fixed cost in microseconds per batch, and that cost as a share of the CNN's batch time.

Writes a markdown table to ``bench/results/train_overhead.md`` (``--out`` elsewhere, e.g. on a busy machine).
Run: ``python bench/train_overhead.py [--quick] [--repeats N] [--device cpu|cuda] [--threads N] [--out PATH]``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
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


def tiny_linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 10)


def make_batches(n: int, shape: tuple[int, ...], device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(*shape, generator=g).to(device),
             torch.randint(0, 10, (shape[0],), generator=g).to(device)) for _ in range(n)]


def minimal_loop(model, batches, optimizer, loss_fn) -> None:
    model.train()
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()


# "minimal loop, again" is a control: the same loop timed twice shows how much noise the machine adds.
VARIANTS = ["minimal loop", "minimal loop, again", "fit, quiet=True", "fit, progress bar"]


def time_variant(variant: str, make_model, batches, device: torch.device) -> float:
    """Seconds per batch for one epoch of ``variant``."""
    model = make_model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    if variant.startswith("minimal loop"):
        minimal_loop(model, batches, optimizer, loss_fn)
    else:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            fit(model, batches, epochs=1, optimizer=optimizer, loss_fn=loss_fn, device=device,
                quiet=variant == "fit, quiet=True")
    sync()
    return (time.perf_counter() - start) / len(batches)


def interleaved(make_model, batches, device, repeats: int, verbose: bool):
    """Per-batch seconds of each variant, and each variant's paired ratio to the minimal loop.

    Every repeat runs the variants in an A B C D D C B A pattern (reversed on odd repeats), so a
    slow drift in machine load hits every variant alike; the ratio of a repeat compares sums taken
    side by side in time.
    """
    for v in VARIANTS:  # warm-up: allocator, kernels, tqdm's first use
        time_variant(v, make_model, batches[:3], device)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rep in range(repeats):
        order = VARIANTS if rep % 2 == 0 else VARIANTS[::-1]
        total = dict.fromkeys(VARIANTS, 0.0)
        for v in order + order[::-1]:
            t = time_variant(v, make_model, batches, device)
            times[v].append(t)
            total[v] += t
        for v in VARIANTS:
            ratios[v].append(total[v] / total["minimal loop"] - 1)
        if verbose:
            print(f"repeat {rep + 1}/{repeats}: "
                  + ", ".join(f"{v} {total[v] / 2 * 1e3:.2f} ms" for v in VARIANTS))
    return times, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: steadier timings on a shared machine; 0 = torch default)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where the table goes (default {RESULTS})")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    n_batches, batch_size = (10, 32) if args.quick else (20, 64)
    repeats = args.repeats or (3 if args.quick else 30)

    cnn, cnn_ratio = interleaved(small_cnn, make_batches(n_batches, (batch_size, 3, 32, 32), device),
                                 device, repeats, verbose=True)
    tiny, _ = interleaved(tiny_linear, make_batches(10 * n_batches, (8, 4), device), device,
                          repeats, verbose=False)

    base_best = min(cnn["minimal loop"])
    rows = []
    for v in VARIANTS:
        med, best = statistics.median(cnn[v]), min(cnn[v])
        if v == "minimal loop":
            rows.append(f"| {v} | {med * 1e3:.3f} | {best * 1e3:.3f} | (baseline) | - |")
            continue
        fixed_us = (min(tiny[v]) - min(tiny["minimal loop"])) * 1e6
        rows.append(f"| {v} | {med * 1e3:.3f} | {best * 1e3:.3f} "
                    f"| {statistics.median(cnn_ratio[v]) * 100:+.2f} % "
                    f"| {fixed_us:+.1f} us = {fixed_us / (base_best * 1e6) * 100:+.2f} % |")
    table = "\n".join([
        "| variant | median ms/batch | best ms/batch | overhead vs minimal loop (median of paired ratios) "
        "| fixed cost per batch (tiny model), share of a CNN batch |",
        "|---|---:|---:|---:|---:|", *rows])
    header = (f"# fit() overhead vs a minimal training loop\n\n"
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}; device {device}"
              f" ({platform.machine()}, {torch.get_num_threads()} threads); small CNN, {n_batches} batches "
              f"of {batch_size}x3x32x32 per epoch; {repeats} repeats of an ABBA-interleaved round"
              f"{' (--quick)' if args.quick else ''}. Target: under 3 %.\n\n"
              f"Other jobs may share the machine. The control row (the minimal loop timed twice) shows the "
              f"noise level of the CNN comparison. The last column is fit's own bookkeeping per batch, "
              f"measured on a tiny linear model where it dominates ({10 * n_batches} batches of 8x4), and "
              f"that cost as a share of the best CNN batch time.\n\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + table + "\n")
    print("\n" + table + f"\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
