"""Check a copy of ALL-IDB (lecture 2), or write its synthetic twin.

    python data_scripts/all_idb.py [--root DIR] [--lenient]
    python data_scripts/all_idb.py --make-twin DIR [--patch-size 64] [--seed 0]

ALL-IDB is given by its authors on request (https://scotti.di.unimi.it/all/). Put the two folders you
receive, ALL_IDB1/ and ALL_IDB2/, into one folder DIR (default: $LABKIT_DATA/all-idb, i.e.
~/labkit-data/all-idb) and run this script: it prints what it found and what is wrong, and exits with
status 1 if anything would stop the lecture's loaders. --lenient turns wrong image counts into warnings.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import labkit
except ImportError:  # run from a clone without `pip install -e .`: use the package next to this folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import labkit

from labkit.data import get_dataset, verify_all_idb, write_all_idb_twin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"folder containing ALL_IDB1/ and ALL_IDB2/ (default: {get_dataset('all-idb').folder()})")
    parser.add_argument("--lenient", action="store_true", help="report wrong image counts as warnings, not errors")
    parser.add_argument("--make-twin", type=Path, metavar="DIR", default=None,
                        help="write a synthetic ALL-IDB in the real layout to DIR, then check it")
    parser.add_argument("--patch-size", type=int, default=None,
                        help="twin only: patch side in pixels (default 257, the real size; 64 with LABKIT_FAST=1)")
    parser.add_argument("--seed", type=int, default=0, help="twin only: random seed")
    args = parser.parse_args(argv)

    root = args.root
    if args.make_twin is not None:
        try:
            root = write_all_idb_twin(args.make_twin, seed=args.seed, patch_size=args.patch_size)
        except (FileExistsError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"synthetic ALL-IDB written to {root}")
    report = verify_all_idb(root, strict=not args.lenient)
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
