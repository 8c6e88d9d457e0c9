"""Get and check the Oxford-IIIT Pet dataset (lecture 5, segmentation), or write its synthetic twin.

    python data_scripts/oxford_pets.py [--root DIR] [--decode] [--lenient]
    python data_scripts/oxford_pets.py --make-twin DIR [--fast] [--size 256] [--seed 0]

Downloads images.tar.gz (about 800 MB) and annotations.tar.gz (about 20 MB) from the authors' page
with labkit.data.fetch, unless they are already extracted, verifies their md5 (the checksums torchvision
publishes), extracts them safely to DIR/oxford-pets (DIR defaults to $LABKIT_DATA, i.e. ~/labkit-data) and
checks the result: the split lists, an image and a trimap for every listed name, the counts (3,680
trainval, 3,669 test). --decode also decodes every file and checks the trimap values (a minute).
Offline, put the two archives into DIR/oxford-pets/ yourself and run the script again.
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
from labkit.data.oxford_pets import verify_oxford_pets
from labkit.data.synthetic_pets import FAST_SIZE, FAST_TWIN_COUNTS, write_oxford_pets_twin

NAME = "oxford-pets"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"parent folder of the datasets (default: {labkit.data_dir()}); "
                             "the data goes to DIR/oxford-pets")
    parser.add_argument("--decode", action="store_true", help="decode every image and trimap (slower)")
    parser.add_argument("--lenient", action="store_true", help="report wrong counts as warnings, not errors")
    parser.add_argument("--no-progress", action="store_true", help="no download progress bar")
    parser.add_argument("--make-twin", type=Path, metavar="DIR", default=None,
                        help="write synthetic pet photos and trimaps in the real layout to DIR, then check them")
    parser.add_argument("--fast", action="store_true",
                        help=f"twin only: the fast-mode counts {FAST_TWIN_COUNTS} and {FAST_SIZE}-pixel images")
    parser.add_argument("--size", type=int, default=None, help="twin only: longest image side (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="twin only: random seed")
    args = parser.parse_args(argv)

    strict = not args.lenient
    if args.make_twin is not None:
        counts = FAST_TWIN_COUNTS if args.fast else None
        size = args.size or (FAST_SIZE if args.fast else None)
        try:
            folder = write_oxford_pets_twin(args.make_twin, counts, size=size, seed=args.seed)
        except (FileExistsError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"synthetic Oxford-IIIT Pet written to {folder}")
        strict = False  # the twin is smaller than the release, by design
    else:
        folder = fetch_or_explain(NAME, args.root, progress=not args.no_progress)
        if folder is None:
            return 1
    report = verify_oxford_pets(folder, strict=strict, decode=args.decode or args.make_twin is not None)
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
