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


def read_rows(results: Path) -> list[dict]:
    """Rows of an earlier results table (empty if there is none)."""
    if not results.exists():
        return []
    rows = []
    for line in results.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("notebooks/"):
            rows.append({"notebook": cells[0], "seconds": float(cells[1]), "peak_mib": float(cells[2]),
                         "measured": cells[3], "failed": len(cells) > 4 and cells[4] == "failed"})
    return rows


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """The old rows with the newly measured notebooks replaced or added, sorted by path."""
    by_name = {r["notebook"]: r for r in old}
    by_name.update({r["notebook"]: r for r in new})
    return [by_name[name] for name in sorted(by_name)]


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

    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}"
    for r in rows:
        r["measured"] = stamp
    if args.notebooks:  # a subset: keep the other notebooks' rows from the last run
        rows = merge_rows(read_rows(results), rows)
    lines = [
        f"# Notebook wall time and peak memory (LABKIT_FAST={env['LABKIT_FAST']})",
        "",
        f"Measured on {os.cpu_count()} CPU cores, "
        f"{platform.python_implementation()} {platform.python_version()}, torch {torch.__version__}, "
        f"CUDA available: {torch.cuda.is_available()}"
        + (f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "")
        + ", one notebook at a time. Wall time includes kernel start-up; twins and checkpoints already in the"
        " data folder are reused (delete them first to time a student's first run).",
        "",
        "| notebook | wall time (s) | peak memory of the kernel (MiB) | measured (UTC) |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {r['notebook']} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | {r['measured']} |"
              + (" failed |" if r.get("failed") else "") for r in rows]
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(lines) + "\n")
    print(f"wrote {results.relative_to(ROOT)}")
    if any(r.get("failed") for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
