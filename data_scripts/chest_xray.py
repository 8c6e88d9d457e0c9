"""Get and check the chest X-ray films of lecture 3, or write their synthetic twin.

    python data_scripts/chest_xray.py [--root DIR] [--decode] [--lenient]      check a folder
    python data_scripts/chest_xray.py --download [--source auto|kaggle|mendeley] [--root DIR]
    python data_scripts/chest_xray.py --make-twin DIR [--height 96] [--seed 0] [--fast]

DIR is the folder that holds train/ and test/ (default: $LABKIT_DATA/chest-xray/chest_xray, i.e.
~/labkit-data/chest-xray/chest_xray). --download gets the book's release ("Labeled Chest X-Ray Images",
5,232 + 624 films, about 1.2 GB) with the Kaggle command-line client and your own Kaggle token if you
have them, otherwise from its public home on Mendeley Data; if neither works it prints the manual steps.
Every mode ends with the check: counts per split and class, layout, readable images. Exit status 1 when
something would stop the lecture's loaders.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

try:
    import labkit
except ImportError:  # run from a clone without `pip install -e .`: use the package next to this folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import labkit

from labkit.data import DownloadError, download, extract
from labkit.data.chest_xray import FAST_TWIN_COUNTS, default_root, verify_chest_xray, write_chest_xray_twin

KAGGLE_DATASET = "tolgadincer/labeled-chest-xray-images"
KAGGLE_PAGE = f"https://www.kaggle.com/datasets/{KAGGLE_DATASET}"
# Kermany, Zhang, Goldbaum (2018), Mendeley Data v2, doi:10.17632/rscbjbr9sj.2: the file ChestXRay2017.zip.
# No checksum is published, so the download is reported as unverified, with the SHA-256 computed.
MENDELEY_PAGE = "https://data.mendeley.com/datasets/rscbjbr9sj/2"
MENDELEY_URL = ("https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
                "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded")
ARCHIVE = "ChestXRay2017.zip"


def kaggle_ready() -> bool:
    """True when the ``kaggle`` command exists and a token is configured (file or environment)."""
    if shutil.which("kaggle") is None:
        return False
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    config = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return (config / "kaggle.json").is_file() or (Path.home() / ".config" / "kaggle" / "kaggle.json").is_file()


def manual_steps(root: Path) -> str:
    return (f"Get the films by hand, then run this script again to check them:\n"
            f"  a) Kaggle (free account): download the zip from {KAGGLE_PAGE}\n"
            f"  b) or Mendeley Data (no account): 'ChestXRay2017.zip' on {MENDELEY_PAGE}\n"
            f"Unzip it so that {root}/train/NORMAL, {root}/train/PNEUMONIA, {root}/test/NORMAL and "
            f"{root}/test/PNEUMONIA hold the .jpeg files.\n"
            f"The other Kaggle copy (paultimothymooney/chest-xray-pneumonia) works too: use its chest_xray "
            f"folder (train/, val/, test/) as {root}.")


def _find_split_parent(folder: Path, depth: int = 3) -> Path | None:
    """The first folder under ``folder`` (itself included, ``depth`` levels) holding train/NORMAL and test/."""
    candidates = [folder]
    for _ in range(depth + 1):
        for candidate in candidates:
            if (candidate / "train" / "NORMAL").is_dir() and (candidate / "test").is_dir():
                return candidate
        candidates = [child for c in candidates for child in sorted(c.iterdir())
                      if child.is_dir() and child.name != "__MACOSX"]
    return None


def _move_into_place(unpacked: Path, root: Path) -> None:
    found = _find_split_parent(unpacked)
    if found is None:
        raise FileNotFoundError(f"the archive was unpacked into {unpacked}, but no folder with train/NORMAL "
                                "and test/ is in it: the file on the server may have changed")
    if found != root:
        root.parent.mkdir(parents=True, exist_ok=True)
        os.replace(found, root)


def fetch_with_kaggle(root: Path) -> None:
    """``kaggle datasets download`` into a folder beside ``root``, then move train/ and test/ into ``root``."""
    staging = root.parent / ".chest-xray-download"
    staging.mkdir(parents=True, exist_ok=True)
    command = ["kaggle", "datasets", "download", "-d", KAGGLE_DATASET, "-p", str(staging), "--unzip"]
    print("running:", " ".join(command))
    subprocess.run(command, check=True)
    _move_into_place(staging, root)
    shutil.rmtree(staging, ignore_errors=True)


def fetch_from_mendeley(root: Path) -> None:
    """Download ChestXRay2017.zip (resumable), unpack it safely beside ``root``, move it into place."""
    staging = root.parent / ".chest-xray-download"
    root.parent.mkdir(parents=True, exist_ok=True)
    archive = download(MENDELEY_URL, root.parent / ARCHIVE)
    try:
        extract(archive, staging)
    except zipfile.BadZipFile as err:  # e.g. the server answered with a web page instead of the file
        archive.unlink()
        raise ValueError(f"{ARCHIVE} from Mendeley Data is not a zip archive ({err}); it was deleted") from err
    _move_into_place(staging, root)
    shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()


def get_data(root: Path, source: str = "auto") -> bool:
    """Fetch the films into ``root`` unless they are there; True when ``root`` then holds train/ and test/."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        print(f"{root} already holds train/ and test/; checking it.")
        return True
    if source in ("auto", "kaggle"):
        if kaggle_ready():
            try:
                fetch_with_kaggle(root)
                return True
            except (subprocess.CalledProcessError, OSError) as err:
                print(f"the Kaggle download failed: {err}", file=sys.stderr)
        elif source == "kaggle":
            print("the kaggle command or your token is missing: `pip install kaggle`, then put the token from "
                  "your Kaggle account settings in ~/.kaggle/kaggle.json", file=sys.stderr)
    if source in ("auto", "mendeley"):
        if labkit.is_online():
            try:
                fetch_from_mendeley(root)
                return True
            except (DownloadError, OSError, ValueError) as err:
                print(f"the Mendeley download failed: {err}", file=sys.stderr)
        else:
            print("this machine is offline: nothing can be downloaded", file=sys.stderr)
    print(manual_steps(root), file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"folder holding train/ and test/ (default: {default_root()})")
    parser.add_argument("--download", action="store_true", help="fetch the films first if they are not there")
    parser.add_argument("--source", choices=("auto", "kaggle", "mendeley"), default="auto",
                        help="with --download: the Kaggle client (needs your token), Mendeley Data, "
                             "or auto (both, in that order)")
    parser.add_argument("--decode", action="store_true", help="decode every image (slow) to find truncated files")
    parser.add_argument("--lenient", action="store_true", help="report unexpected counts as warnings, not errors")
    parser.add_argument("--make-twin", type=Path, metavar="DIR", default=None,
                        help="write synthetic films in the real layout to DIR, then check them")
    parser.add_argument("--height", type=int, default=None,
                        help="twin only: smallest film height (default 240, 96 with --fast)")
    parser.add_argument("--fast", action="store_true",
                        help=f"twin only: the small fast-mode counts {FAST_TWIN_COUNTS}")
    parser.add_argument("--seed", type=int, default=0, help="twin only: random seed")
    args = parser.parse_args(argv)

    root = (args.root or default_root()).expanduser()
    strict = not args.lenient
    if args.make_twin is not None:
        counts = FAST_TWIN_COUNTS if args.fast else None
        height = args.height or (96 if args.fast else None)
        try:
            root = write_chest_xray_twin(args.make_twin, counts, height=height, seed=args.seed)
        except (FileExistsError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"synthetic chest X-rays written to {root}")
        strict = strict and not args.fast  # the fast twin has fewer films than any release, by design
    elif args.download and not get_data(root, args.source):
        return 1
    report = verify_chest_xray(root, strict=strict, decode=args.decode)
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
