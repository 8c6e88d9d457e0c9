"""Exact vs approximate nearest-neighbour search (lecture 6): time per query, build time and recall@10.

A synthetic gallery of clustered, L2-normalised vectors (as embeddings are: products come in groups) is
searched with faiss's exact ``IndexFlatIP`` and two approximate indexes, ``IndexHNSWFlat`` and
``IndexIVFFlat`` (via :mod:`labkit.retrieval`), at two settings each. Recall@10 is measured against the
exact search; times are the best of ``--repeats`` runs of all queries, per query. Results go to
``bench/results/retrieval.md``. ``make bench`` runs it; run nothing else CPU-heavy at the same time.
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from labkit.retrieval import flat_index, hnsw_index, ivf_index, l2_normalize, neighbour_recall, search

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "retrieval.md"
K = 10


def clustered(n: int, dim: int, groups: int, spread: float, seed: int) -> np.ndarray:
    """``n`` unit vectors scattered (``spread``) around ``groups`` random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim)).astype(np.float32)
    noise = rng.normal(size=(n, dim)).astype(np.float32)
    return l2_normalize(centres[rng.integers(0, groups, n)] + spread * noise)


def per_query(index, queries: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    """Best-of-``repeats`` milliseconds per query, and the indices found."""
    best, found = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        found, _ = search(index, queries, K)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(queries), found


def bench_size(n: int, dim: int, n_queries: int, repeats: int) -> list[dict]:
    data = clustered(n + n_queries, dim, groups=max(100, n // 50), spread=0.6, seed=n)
    gallery, queries = data[:n], data[n:]
    rows = []
    start = time.perf_counter()
    exact_index = flat_index(gallery)
    build = time.perf_counter() - start
    ms, exact = per_query(exact_index, queries, repeats)
    rows.append(dict(n=n, index="exact (IndexFlatIP)", setting="-", build=build, ms=ms, recall=1.0))
    start = time.perf_counter()
    graph = hnsw_index(gallery, 16, ef_construction=40)
    build = time.perf_counter() - start
    for ef in (32, 128):
        graph.hnsw.efSearch = ef
        ms, found = per_query(graph, queries, repeats)
        rows.append(dict(n=n, index="HNSW (M=16)", setting=f"efSearch={ef}", build=build, ms=ms,
                         recall=neighbour_recall(found, exact)))
    nlist = int(4 * np.sqrt(n))
    start = time.perf_counter()
    cells = ivf_index(gallery, nlist=nlist)
    build = time.perf_counter() - start
    for nprobe in (8, 32):
        cells.nprobe = nprobe
        ms, found = per_query(cells, queries, repeats)
        rows.append(dict(n=n, index=f"IVF (nlist={nlist})", setting=f"nprobe={nprobe}", build=build, ms=ms,
                         recall=neighbour_recall(found, exact)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 200_000], help="gallery sizes")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="faiss threads (default 1: steadier timings)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)

    rows = []
    for n in args.sizes:
        print(f"gallery of {n:,} vectors ...", flush=True)
        rows += bench_size(n, args.dim, args.queries, args.repeats)
        for row in rows[-5:]:
            print(f"  {row['index']:<22} {row['setting']:<14} {row['ms']:8.3f} ms/query  recall@10 "
                  f"{row['recall']:.3f}  build {row['build']:.1f} s")

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Exact vs approximate nearest-neighbour search (lecture 6)",
        "",
        f"{when}; faiss {faiss.__version__}, {args.threads} thread(s), {platform.machine()}, "
        f"CPython {platform.python_version()}. Synthetic clustered unit vectors of {args.dim} numbers; "
        f"{args.queries} queries from the same distribution, not in the gallery; inner product (= cosine). "
        f"Time per query is the best of {args.repeats} runs of all queries; recall@{K} is against the exact "
        "search. Other jobs may share the machine: compare rows of one run, not runs.",
        "",
        "| gallery | index | setting | build (s) | ms per query | speed-up vs exact | recall@10 |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    exact_ms = {row["n"]: row["ms"] for row in rows if row["index"].startswith("exact")}
    for row in rows:
        lines.append(f"| {row['n']:,} | {row['index']} | {row['setting']} | {row['build']:.2f} | {row['ms']:.4f} | "
                     f"{exact_ms[row['n']] / row['ms']:.1f}x | {row['recall']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
