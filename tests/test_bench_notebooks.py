"""bench/notebooks.py keeps earlier rows when only some notebooks are re-measured."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_notebooks", ROOT / "bench" / "notebooks.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

TABLE = """# Notebook wall time and peak memory (LABKIT_FAST=1)

| notebook | wall time (s) | peak memory of the kernel (MiB) | measured (UTC) |
|---|---:|---:|---|
| notebooks/01_a.ipynb | 24.1 | 1964 | 2026-11-30 10:00 |
| notebooks/02_b.ipynb | 61.2 | 1499 | 2026-11-30 10:00 | failed |
"""


def test_rows_are_read_back_from_a_results_table(tmp_path):
    path = tmp_path / "notebooks.md"
    path.write_text(TABLE)
    rows = bench.read_rows(path)
    assert [r["notebook"] for r in rows] == ["notebooks/01_a.ipynb", "notebooks/02_b.ipynb"]
    assert rows[0]["seconds"] == 24.1 and rows[0]["peak_mib"] == 1964
    assert not rows[0]["failed"] and rows[1]["failed"]
    assert bench.read_rows(tmp_path / "absent.md") == []


def test_a_subset_replaces_its_rows_and_keeps_the_others(tmp_path):
    path = tmp_path / "notebooks.md"
    path.write_text(TABLE)
    new = [{"notebook": "notebooks/02_b.ipynb", "seconds": 50.0, "peak_mib": 900.0,
            "measured": "2026-11-30 12:00"},
           {"notebook": "notebooks/00_c.ipynb", "seconds": 5.0, "peak_mib": 100.0,
            "measured": "2026-11-30 12:00"}]
    merged = bench.merge_rows(bench.read_rows(path), new)
    assert [r["notebook"] for r in merged] == [
        "notebooks/00_c.ipynb", "notebooks/01_a.ipynb", "notebooks/02_b.ipynb"]
    assert merged[1]["seconds"] == 24.1 and merged[2]["seconds"] == 50.0
    assert not merged[2].get("failed")
