"""ALL-IDB, the Acute Lymphoblastic Leukemia Image Database, read as its authors publish it.

Introduced in lecture 2 (GAP and CAM): a classifier is trained on the single-cell crops of ALL-IDB2 and
its class activation maps are computed on the whole slides of ALL-IDB1.

The release (given by its authors on request, https://scotti.di.unimi.it/all/) unpacks to::

    ROOT/ALL_IDB2/img/Im001_1.tif ... Im260_0.tif   260 crops of one white cell each, about 257 x 257
    ROOT/ALL_IDB1/im/Im001_1.jpg ... Im108_0.jpg    108 photos of whole smears (2592 x 1944 or 1712 x 1368)
    ROOT/ALL_IDB1/xyc/Im001_1.xyc ...               centroids of the blasts in each photo, "x y" per line

The digit after ``_`` is the label: 1 = blast (lymphoblast; for ALL-IDB1, a slide from an ALL patient),
0 = normal. The lab of the lecture reads it as ``int(name[6:7])``; :func:`label_from_name` reads the same
digit with a regular expression, so a stray file cannot shift the labels silently: any other file name
raises ValueError (only hidden files and the system files Thumbs.db / desktop.ini are skipped). The
slides folder is ``im`` in the release; ``img`` (as in the lecture's code) is accepted too.

``ROOT`` defaults to ``labkit.data_dir() / "all-idb"``. ``labkit.data.get("all-idb")`` returns it, or
the synthetic twin (:mod:`labkit.data.all_idb_twin`) in the same layout, read by the same classes.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from labkit.data.common import (Report, data_root, is_system_file, not_found, open_image, scan_images, some_names,
                                verify_command)

__all__ = [
    "ALLIDB1", "ALLIDB2", "label_from_name", "parse_xyc",
    "verify_all_idb", "ALL_IDB_NAME", "EXPECTED_COUNTS",
]

ALL_IDB_NAME = re.compile(r"Im(\d{3})_([01])\.(tif|jpg)", re.IGNORECASE)
EXPECTED_COUNTS = {"ALL-IDB1": 108, "ALL-IDB2": 260}
ALL_IDB2_SIZES = {(257, 257)}  # (W, H); the lecture also mentions 256 and 240 pixel crops: warned about
ALL_IDB1_SIZES = {(2592, 1944), (1712, 1368)}  # (W, H): the camera's size, and the one of some copies
SLIDE_DIRS = ("im", "img")  # "im" in the release, "img" in the lecture's code
CONTAINS = ("ALL_IDB1", "ALL_IDB2")


def label_from_name(name: str) -> int:
    """The label in an ALL-IDB file name: ``"Im001_1.tif"`` -> 1 (blast), ``"Im131_0.tif"`` -> 0.

    Raises ValueError, naming the file, for any name that is not ``ImNNN_L.tif`` / ``.jpg`` with L in {0, 1}
    (upper or lower case). Introduced in lecture 2 (GAP and CAM).
    """
    match = ALL_IDB_NAME.fullmatch(Path(name).name)
    if match is None:
        raise ValueError(f"{name!r} is not an ALL-IDB file name (ImNNN_L.tif or ImNNN_L.jpg, L = 0 or 1), so "
                         "its label cannot be read. Move it out of the dataset folder, or restore its original "
                         "name from the archive you received.")
    return int(match.group(2))


def _name_problems(files: list[Path]) -> list[str]:
    """What stops ``files`` being read as ALL-IDB: a name that is not ImNNN_L, or a number used twice."""
    problems, numbers = [], {}
    for path in files:
        match = ALL_IDB_NAME.fullmatch(path.name)
        if match is None:
            problems.append(f"{path} is not an ALL-IDB file name (ImNNN_L.tif or .jpg, L = 0 or 1), so its "
                            "label cannot be read: move it out, or restore its name from the archive")
        elif match.group(1) in numbers:
            problems.append(f"{numbers[match.group(1)]} and {path} have the same number Im{match.group(1)}: "
                            "one is a renamed copy; keep the one from the archive you received")
        else:
            numbers[match.group(1)] = path
    return problems


def _list_images(folder: Path) -> list[Path]:
    """The image files of ``folder``, sorted by name; raises ValueError for any other file (bar system files)."""
    files = sorted((p for p in folder.iterdir() if p.is_file() and not is_system_file(p)), key=lambda p: p.name)
    problems = _name_problems(files)
    if problems:
        raise ValueError(problems[0])
    return files


def _not_found(root: Path, what: str):
    return not_found("all-idb", root, what, contains=CONTAINS)


def _slides_folder(root: Path) -> Path | None:
    """``ALL_IDB1/im`` (the release) or ``ALL_IDB1/img``, whichever holds files; None if neither exists."""
    candidates = [root / "ALL_IDB1" / name for name in SLIDE_DIRS if (root / "ALL_IDB1" / name).is_dir()]
    filled = [folder for folder in candidates if any(_images_in(folder))]
    if len(filled) > 1:
        raise ValueError(f"both {filled[0]} and {filled[1]} hold images; keep one of them (the release uses "
                         f"{root / 'ALL_IDB1' / 'im'})")
    return (filled or candidates or [None])[0]


def _images_in(folder: Path):
    return (p for p in folder.iterdir() if p.is_file() and not is_system_file(p))


def _open_rgb(path: Path) -> Image.Image:
    """The image at ``path`` decoded and converted to RGB (explicitly: ALL-IDB has no alpha or palette)."""
    return open_image(path, "RGB", fix="Copy it again from the archive you received, then check the folder "
                      f"with `{verify_command('all-idb', path.parent.parent.parent)}`.")


def _to_tensor(image: Image.Image) -> torch.Tensor:
    """(3, H, W) float32 in [0, 1] from an RGB PIL image."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)


def parse_xyc(path: str | os.PathLike) -> np.ndarray:
    """The blast centroids of an ALL-IDB1 ``.xyc`` file as float32 (M, 2) of (x, y) pixels.

    The file holds whitespace-separated integers, one "x y" pair per line; an empty file (a healthy
    slide) gives shape (0, 2). Raises ValueError naming the file if it holds anything else.
    """
    path = Path(path)
    text = path.read_text(encoding="ascii", errors="replace")
    tokens = text.replace(",", " ").split()
    try:
        values = np.array([float(token) for token in tokens], dtype=np.float32)
    except ValueError as err:
        raise ValueError(f"{path} should hold 'x y' pixel coordinates, one pair per line, but has {err}; "
                         "copy it again from the ALL-IDB archive") from None
    if len(values) % 2:
        raise ValueError(f"{path} holds an odd number of coordinates ({len(values)}): a pair is cut; "
                         "copy it again from the ALL-IDB archive")
    return values.reshape(-1, 2)


class ALLIDB2(Dataset):
    """ALL-IDB2: single-cell crops, as ``(image, label)`` with label 1 = blast, 0 = normal.

    Args:
        root: the folder containing ``ALL_IDB2/`` (default ``labkit.data_dir() / "all-idb"``).
        transform: called on the RGB PIL image; its result is returned as the image. Without one the
            image is a float tensor (3, H, W) in [0, 1]. The crops are not all the same size (most are
            257 x 257), so batching needs a transform that resizes, e.g. ``transforms.Resize((224, 224))``.

    Files are sorted by name (Im001_1 ... Im260_0); in the release the 130 blasts come first, so split
    with shuffling or stratification, never "the first 200 for training". ``files`` and ``labels`` list
    them in that order.

    Raises:
        DatasetNotFoundError: no ``ALL_IDB2/img`` folder, or no image in it (the message says what to do).
        ValueError: a file name that is not ImNNN_L.tif / .jpg (named), or two files with one number.
        ImageReadError: (when an item is read) a damaged image, named.

    Introduced in lecture 2 (GAP and CAM).
    """

    def __init__(self, root: str | os.PathLike | None = None, transform: Callable[[Image.Image], Any] | None = None):
        self.root = data_root("all-idb", root)
        self.folder = self.root / "ALL_IDB2" / "img"
        if not self.folder.is_dir() or not any(_images_in(self.folder)):
            raise _not_found(self.root, f"ALL-IDB2 (the folder {self.folder} with Im001_1.tif ...)")
        self.transform = transform
        self.files = _list_images(self.folder)
        self.labels = [label_from_name(path.name) for path in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = _open_rgb(self.files[index])
        return (self.transform(image) if self.transform is not None else _to_tensor(image)), self.labels[index]


class ALLIDB1(Dataset):
    """ALL-IDB1: whole smear photos, as ``(image, label, centroids)``.

    ``label`` is 1 for a slide from an ALL patient (it shows blasts), 0 for a healthy one. ``centroids`` is
    a float32 array (M, 2) of the blasts' (x, y) pixel positions from ``ALL_IDB1/xyc/ImNNN_L.xyc``. Where
    that file (or the whole ``xyc`` folder) is absent, as in some copies, ``centroids`` is an empty (0, 2)
    array: absent annotations, not "no blast" (check ``has_annotation[i]`` to tell them apart).

    Args:
        root: the folder containing ``ALL_IDB1/`` (default ``labkit.data_dir() / "all-idb"``).
        transform: called on the RGB PIL image. Without one the image is a uint8 numpy array (H, W, 3) in
            RGB order: a 2592 x 1944 slide as float would take 60 MB, and a CAM overlay wants the photo.

    Raises:
        DatasetNotFoundError: no ``ALL_IDB1/im`` (or ``img``) folder, or no image in it.
        ValueError: a badly named image (named), or a ``.xyc`` file that is not "x y" pairs (named).
        ImageReadError: (when an item is read) a damaged image, named.

    Introduced in lecture 2 (GAP and CAM).
    """

    def __init__(self, root: str | os.PathLike | None = None, transform: Callable[[Image.Image], Any] | None = None):
        self.root = data_root("all-idb", root)
        folder = _slides_folder(self.root)
        if folder is None or not any(_images_in(folder)):
            raise _not_found(self.root, f"ALL-IDB1 (the folder {self.root / 'ALL_IDB1' / 'im'} with Im001_1.jpg ...)")
        self.folder, self.xyc_folder = folder, self.root / "ALL_IDB1" / "xyc"
        self.transform = transform
        self.files = _list_images(folder)
        self.labels = [label_from_name(path.name) for path in self.files]
        xyc_files = [self.xyc_folder / (path.stem + ".xyc") for path in self.files]
        self.has_annotation = [xyc.is_file() for xyc in xyc_files]
        # Parsed now, so a damaged annotation is reported before any training starts.
        self.centroids = [parse_xyc(xyc) if present else np.zeros((0, 2), np.float32)
                          for xyc, present in zip(xyc_files, self.has_annotation)]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Any, int, np.ndarray]:
        image = _open_rgb(self.files[index])
        image = self.transform(image) if self.transform is not None else np.asarray(image, dtype=np.uint8).copy()
        return image, self.labels[index], self.centroids[index].copy()


def _check_images(report: Report, part: str, folder: Path, sizes: set[tuple[int, int]],
                  strict: bool) -> dict[str, tuple[int, int]]:
    """Names, count, readability and sizes of one part; returns {stem: (W, H)} of the readable images."""
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    problems = _name_problems([p for p in entries if p.is_file() and not is_system_file(p)])
    report.errors += [f"{part}: {problem}" for problem in problems[:5]]
    if len(problems) > 5:
        report.errors.append(f"{part}: and {len(problems) - 5} more file name problems")
    subfolders = [p.name for p in entries if p.is_dir()]
    if subfolders:
        report.warnings.append(f"{part}: {folder} has subfolders, which are ignored: {some_names(subfolders)}")
    images = [p for p in entries if p.is_file() and ALL_IDB_NAME.fullmatch(p.name)]
    report.counts[part] = len(images)
    labels = [label_from_name(path.name) for path in images]
    report.details.setdefault("labels", {})[part] = {1: labels.count(1), 0: labels.count(0)}
    if len(images) != EXPECTED_COUNTS[part]:
        message = (f"{part}: {len(images)} images in {folder}, expected {EXPECTED_COUNTS[part]}; "
                   "some files are missing or extra: unpack the archive again")
        (report.errors if strict else report.warnings).append(message)

    scan = scan_images(images, decode=True)  # truncated files fail here, not in the middle of training
    unreadable = scan.unreadable
    found = {path.stem: size for path, size in scan.sizes.items()}
    odd_sizes = [(path.name, size) for path, size in scan.sizes.items() if size not in sizes]
    odd_modes = [f"{path.name} ({mode})" for path, mode in scan.modes.items() if mode != "RGB"]
    if unreadable:
        report.errors.append(f"{part}: {len(unreadable)} image(s) cannot be read: {some_names(unreadable, 3)}. "
                             "Copy them again from the archive.")
    if odd_sizes:
        expected = " or ".join(f"{w}x{h}" for w, h in sorted(sizes, reverse=True))
        by_size: dict[str, list[str]] = {}
        for name, size in odd_sizes:
            by_size.setdefault(f"{size[0]}x{size[1]}", []).append(name)
        found_sizes = "; ".join(f"{size}: {len(names)} (e.g. {names[0]})" for size, names in by_size.items())
        report.warnings.append(f"{part}: {len(odd_sizes)} image(s) are not {expected}: {found_sizes}. "
                               "The loaders read any size; resize before batching.")
    if odd_modes:
        report.warnings.append(f"{part}: {len(odd_modes)} image(s) are not plain RGB and will be converted: "
                               f"{some_names(odd_modes)}")
    return found


def verify_all_idb(root: str | os.PathLike | None = None, *, strict: bool = True) -> Report:
    """Check a copy of ALL-IDB under ``root`` (default ``labkit.data_dir() / "all-idb"``) and report.

    Errors (the loaders would fail, or the data is incomplete): a missing part, badly named files,
    duplicate numbers, unreadable images, malformed ``.xyc`` files, and counts other than 260 / 108
    (only warnings with ``strict=False``, e.g. for a synthetic twin of another size). Warnings: image sizes
    other than 257 x 257 (ALL-IDB2) or 2592 x 1944 / 1712 x 1368 (ALL-IDB1), non-RGB images, missing
    annotations, centroids outside their image, and labels that disagree with the annotations.
    Never raises for a bad dataset: everything goes into the report. ``python -m labkit.data verify
    all-idb`` prints it.

    Introduced in lecture 2 (GAP and CAM).
    """
    root = data_root("all-idb", root)
    report = Report("ALL-IDB", root)
    _check_parts(report, root, strict)
    for part in ("ALL-IDB2", "ALL-IDB1"):
        if part in report.counts:
            by_label = report.details["labels"].get(part, {})
            report.summary.append(f"{part}: {report.counts[part]} images (expected {EXPECTED_COUNTS[part]}); "
                                  f"label 1: {by_label.get(1, 0)}, label 0: {by_label.get(0, 0)}")
    return report


def _check_parts(report: Report, root: Path, strict: bool) -> None:
    if not root.is_dir():
        report.errors.append(str(_not_found(root, "ALL-IDB")))
        return

    patches = root / "ALL_IDB2" / "img"
    if patches.is_dir():
        _check_images(report, "ALL-IDB2", patches, ALL_IDB2_SIZES, strict)
    else:
        report.errors.append(f"ALL-IDB2: no folder {patches}; put the ALL_IDB2 folder of the archive in {root}")

    try:
        slides = _slides_folder(root)
    except ValueError as err:
        report.errors.append(f"ALL-IDB1: {err}")
        return
    if slides is None:
        report.errors.append(f"ALL-IDB1: no folder {root / 'ALL_IDB1' / 'im'}; put the ALL_IDB1 folder of the "
                             f"archive in {root}")
        return
    sizes = _check_images(report, "ALL-IDB1", slides, ALL_IDB1_SIZES, strict)
    _check_annotations(report, root / "ALL_IDB1" / "xyc", slides, sizes)


def _check_annotations(report: Report, xyc_folder: Path, slides: Path,
                       sizes: dict[str, tuple[int, int]]) -> None:
    if not xyc_folder.is_dir():
        report.warnings.append(f"ALL-IDB1: no folder {xyc_folder}: blast centroids are unavailable (ALLIDB1 "
                               "returns empty centroids), so localisation cannot be scored")
        return
    stems = {p.stem for p in slides.iterdir() if p.is_file() and ALL_IDB_NAME.fullmatch(p.name)}
    missing = sorted(stem + ".xyc" for stem in stems if not (xyc_folder / (stem + ".xyc")).is_file())
    if missing:
        report.warnings.append(f"ALL-IDB1: {len(missing)} slide(s) have no .xyc annotation (their centroids "
                               f"will be empty): {some_names(missing)}")
    stray = sorted(p.name for p in xyc_folder.glob("*.xyc") if p.stem not in stems)
    if stray:
        report.warnings.append(f"ALL-IDB1: {len(stray)} .xyc file(s) match no slide: {some_names(stray)}")
    outside, blasts_without, healthy_with = [], [], []
    for stem in sorted(stems - {name[:-4] for name in missing}):
        try:
            centroids = parse_xyc(xyc_folder / (stem + ".xyc"))
        except ValueError as err:
            report.errors.append(f"ALL-IDB1: {err}")
            continue
        label = label_from_name(stem + ".jpg")
        if label == 1 and len(centroids) == 0:
            blasts_without.append(stem)
        if label == 0 and len(centroids) > 0:
            healthy_with.append(stem)
        if stem in sizes and len(centroids):
            width, height = sizes[stem]
            if ((centroids < 0) | (centroids >= (width, height))).any():
                outside.append(stem)
    if outside:
        report.warnings.append(f"ALL-IDB1: centroids outside their image in {some_names(outside)}")
    if blasts_without:
        report.warnings.append(f"ALL-IDB1: slides labelled 1 but with no blast centroid: {some_names(blasts_without)}")
    if healthy_with:
        report.warnings.append(f"ALL-IDB1: slides labelled 0 but with blast centroids: {some_names(healthy_with)}")
