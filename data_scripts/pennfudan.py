"""Get and check PennFudanPed (lecture 5, Mask R-CNN), or write its synthetic twin.

    python data_scripts/pennfudan.py [--root DIR] [--lenient]
    python data_scripts/pennfudan.py --make-twin DIR [--n 170] [--size 256] [--fast] [--seed 0]

Downloads PennFudanPed.zip (about 50 MB) from the authors' page with labkit.data.fetch, unless it is
already there, extracts it safely to DIR/pennfudan/PennFudanPed (DIR defaults to $LABKIT_DATA, i.e.
~/labkit-data), then checks it: a mask for every image, readable files, matching sizes, 170 images and
345 pedestrians. The authors publish no checksum, so the download is reported as unverified with the
SHA-256 it had. Offline, put PennFudanPed.zip into DIR/pennfudan/ yourself and run the script again.
Exit status 1 when something would stop the lecture's loader.
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

from labkit.data.registry import fetch_or_explain
from labkit.data.pennfudan import verify_pennfudan
from labkit.data.synthetic_pedestrians import FAST_SIZE, write_pennfudan_twin

NAME = "pennfudan"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"parent folder of the datasets (default: {labkit.data_dir()}); "
                             "the data goes to DIR/pennfudan/PennFudanPed")
    parser.add_argument("--lenient", action="store_true", help="report wrong counts as warnings, not errors")
    parser.add_argument("--no-progress", action="store_true", help="no download progress bar")
    parser.add_argument("--make-twin", type=Path, metavar="DIR", default=None,
                        help="write synthetic street scenes in the real layout to DIR (it plays PennFudanPed/), "
                             "then check them")
    parser.add_argument("--n", type=int, default=None, help="twin only: number of images (default 170)")
    parser.add_argument("--size", type=int, default=None, help="twin only: image side (default 256)")
    parser.add_argument("--fast", action="store_true", help=f"twin only: {FAST_SIZE}-pixel images")
    parser.add_argument("--seed", type=int, default=0, help="twin only: random seed")
    args = parser.parse_args(argv)

    strict = not args.lenient
    if args.make_twin is not None:
        size = args.size or (FAST_SIZE if args.fast else None)
        try:
            folder = write_pennfudan_twin(args.make_twin, args.n, size=size, seed=args.seed)
        except (FileExistsError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"synthetic PennFudanPed written to {folder}")
        strict = False  # the twin's pedestrian count is its own, by design
    else:
        folder = fetch_or_explain(NAME, args.root, progress=not args.no_progress)
        if folder is None:
            return 1
        folder = folder / "PennFudanPed"
    report = verify_pennfudan(folder, strict=strict)
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
