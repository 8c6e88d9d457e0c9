"""The course's datasets from a terminal (installed with labkit, so it works on Colab too).

    python -m labkit.data list                       what exists, sizes, licences, homepages
    python -m labkit.data fetch NAME [--root DIR]    download, verify, extract (or check a manual download)
    python -m labkit.data verify NAME [--root DIR | --folder PATH] [--lenient] [--decode]
    python -m labkit.data twin NAME [--out DIR] [--seed 0] [--full | --fast]

DIR is the parent folder of the datasets ($LABKIT_DATA, default ~/labkit-data): NAME lives in DIR/NAME.
``verify --folder`` checks any folder in the dataset's layout (the one its loader reads). ``twin`` writes
the synthetic twin where lectures cache it (or to --out) and checks it. Exit status 1 on any error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit.data.access import FETCH_ERRORS, fetch, twin_folder, write_twin
from labkit.data.registry import REGISTRY, get_dataset
from labkit.env import data_dir


def list_datasets() -> str:
    """One block per dataset: name, how it is obtained, sizes, licence, homepage and lectures."""
    blocks = []
    for info in REGISTRY.values():
        how = "manual download" if info.manual else "download: " + ", ".join(
            f"{remote.filename} ({remote.size or 'size unknown'})" for remote in info.files)
        lectures = ", ".join(str(n) for n in info.lectures) or "-"
        blocks.append(f"{info.name:12s} {info.title}\n{'':12s} {how}; twin v{info.twin_version}\n"
                      f"{'':12s} licence: {info.licence}\n{'':12s} {info.homepage} (lecture {lectures})")
    return "\n".join(blocks)


def _verify(name: str, folder: Path, *, strict: bool, decode: bool) -> int:
    report = get_dataset(name).verify(folder, strict=strict, decode=decode)
    print(report)
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,fetch,verify,twin}")
    commands.add_parser("list", help="list the datasets")
    root_help = f"parent folder of the datasets (default: {data_dir()})"

    fetch_cmd = commands.add_parser("fetch", help="download, verify and extract a dataset, then check it")
    fetch_cmd.add_argument("name")
    fetch_cmd.add_argument("--root", type=Path, default=None, help=root_help)
    fetch_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")

    verify_cmd = commands.add_parser("verify", help="check a dataset folder and say what is wrong")
    verify_cmd.add_argument("name")
    where = verify_cmd.add_mutually_exclusive_group()
    where.add_argument("--root", type=Path, default=None, help=root_help)
    where.add_argument("--folder", type=Path, default=None, help="check this folder (the one the loader reads)")
    verify_cmd.add_argument("--lenient", action="store_true", help="wrong counts are warnings, not errors")
    verify_cmd.add_argument("--decode", action="store_true", help="decode every image (slower; finds truncated files)")

    twin_cmd = commands.add_parser("twin", help="write a dataset's synthetic twin, then check it")
    twin_cmd.add_argument("name")
    twin_cmd.add_argument("--out", type=Path, default=None,
                          help="dataset folder to write (default: the cache that labkit.data.get uses)")
    twin_cmd.add_argument("--seed", type=int, default=0)
    size = twin_cmd.add_mutually_exclusive_group()
    size.add_argument("--fast", dest="fast", action="store_true", default=None, help="the small fast-mode twin")
    size.add_argument("--full", dest="fast", action="store_false", help="the full-size twin")
    twin_cmd.add_argument("--overwrite", action="store_true", help="replace an existing twin")

    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(list_datasets())
            return 0
        info = get_dataset(args.name)
        if args.command == "fetch":
            print(f"{info.name} is ready in {fetch(info.name, args.root, progress=not args.no_progress)}")
            return _verify(info.name, info.data_folder(args.root), strict=True, decode=False)
        if args.command == "verify":
            folder = args.folder if args.folder is not None else info.data_folder(args.root)
            return _verify(info.name, folder, strict=not args.lenient, decode=args.decode)
        out = args.out if args.out is not None else twin_folder(info.name, args.seed, fast=args.fast)
        folder = write_twin(info.name, out, seed=args.seed, fast=args.fast, overwrite=args.overwrite)
        print(f"synthetic twin of {info.name} written to {folder}")
        return _verify(info.name, folder, strict=False, decode=False)  # twins are smaller than the release
    except FETCH_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
