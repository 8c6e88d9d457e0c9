"""Wall time and peak memory of every notebook, fast mode (``make bench``) or full (``make bench FULL=1``).

Each notebook runs in its own child process (``python bench/notebooks.py --one NB``) so that the peak
resident memory of its kernel, the largest descendant, is measured alone. Results go to
``bench/results/notebooks.md`` (``notebooks-full.md`` with ``--full``, the full lessons, for which a GPU
is expected). Run nothing else CPU-heavy at the same time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "notebooks.md"
RESULTS_FULL = ROOT / "bench" / "results" / "notebooks-full.md"


def run_one(path: Path, timeout: int) -> dict:
    """Execute one notebook in a fresh kernel; report seconds and the kernel's peak RSS (MiB)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    # ru_maxrss of waited-for descendants is the largest single one: the kernel (KiB on Linux).
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"notebook": path.relative_to(ROOT).as_posix(), "seconds": seconds, "peak_mib": peak_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", type=Path, help="(internal) run a single notebook and print JSON")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--full", action="store_true", help="full lessons (LABKIT_FAST=0)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_one(args.one.resolve(), args.timeout)))
        return

    paths = args.notebooks or sorted((ROOT / "notebooks").rglob("*.ipynb"))
    paths = [p.resolve() for p in paths if ".ipynb_checkpoints" not in p.parts]
    env = dict(os.environ, LABKIT_FAST="0" if args.full else "1")
    results = RESULTS_FULL if args.full else RESULTS
    rows = []
    for path in paths:
        proc = subprocess.run([sys.executable, __file__, "--one", str(path), "--timeout", str(args.timeout)],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            rows.append({"notebook": path.relative_to(ROOT).as_posix(), "seconds": float("nan"),
                         "peak_mib": float("nan"), "failed": True})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['notebook']}: {r['seconds']:.1f} s, peak {r['peak_mib']:.0f} MiB"
              + (" FAILED" if r.get("failed") else ""))

    import torch  # only for the header line

    lines = [
        f"# Notebook wall time and peak memory (LABKIT_FAST={env['LABKIT_FAST']})",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPU cores, "
        f"{platform.python_implementation()} {platform.python_version()}, torch {torch.__version__}, "
        f"CUDA available: {torch.cuda.is_available()}"
        + (f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "")
        + ". Wall time includes kernel start-up.",
        "",
        "| notebook | wall time (s) | peak memory of the kernel (MiB) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r['notebook']} | {r['seconds']:.1f} | {r['peak_mib']:.0f} |"
              + (" failed |" if r.get("failed") else "") for r in rows]
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(lines) + "\n")
    print(f"wrote {results.relative_to(ROOT)}")
    if any(r.get("failed") for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
