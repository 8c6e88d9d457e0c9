"""Download, verify and extract a dataset of the course, or check a manual download.

    python data_scripts/fetch.py --list
    python data_scripts/fetch.py oxford-pets [--root DIR]

The data goes to DIR/NAME, with DIR defaulting to $LABKIT_DATA or ~/labkit-data (labkit.data_dir()).
Rerunning after an interruption resumes the download. See data_scripts/README.md.
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

from labkit.data import REGISTRY, fetch
from labkit.data.registry import FETCH_ERRORS


def list_datasets() -> str:
    """One block per dataset: name, how it is obtained, sizes, licence and homepage."""
    blocks = []
    for info in REGISTRY.values():
        how = "manual download" if info.manual else "download: " + ", ".join(
            f"{remote.filename} ({remote.size or 'size unknown'})" for remote in info.files)
        lectures = ", ".join(str(n) for n in info.lectures) or "-"
        blocks.append(f"{info.name:12s} {info.title}\n{'':12s} {how}\n{'':12s} licence: {info.licence}\n"
                      f"{'':12s} {info.homepage} (lecture {lectures})")
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="dataset name, e.g. oxford-pets (see --list)")
    parser.add_argument("--root", type=Path, default=None,
                        help=f"parent folder of the datasets (default: {labkit.data_dir()})")
    parser.add_argument("--list", action="store_true", help="list the datasets and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.list:
        print(list_datasets())
        return 0
    if args.name is None:
        parser.error("give a dataset name, or --list to see them")
    try:
        folder = fetch(args.name, args.root, progress=not args.no_progress)
    except FETCH_ERRORS as err:  # missing, offline, bad download or archive
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.name} is ready in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
