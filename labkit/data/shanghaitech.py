"""ShanghaiTech crowd counting (or its synthetic twin) for lecture 10: loader and checker.

Introduced in lecture 10 (video analytics), where a small network learns to count people from
density maps. The release (Zhang, Zhou, Chen, Gao, Ma, CVPR 2016) has two parts, A (482 dense crowd
photos from the web) and B (716 street photos from Shanghai, 768 x 1024), each split into train and
test, with one point per head in a MATLAB file beside each image::

    part_A/train_data/images/IMG_1.jpg ...           (the original archive names it part_A_final)
    part_A/train_data/ground-truth/GT_IMG_1.mat ...  image_info{1}.location: N x 2 (x, y) pixels
    part_A/test_data/...   part_B/train_data/...   part_B/test_data/...

``root`` below is the folder holding ``part_A`` and/or ``part_B`` (default:
``labkit.data_dir() / "shanghaitech"``). ``labkit.data.get("shanghaitech")`` returns it, or the
synthetic twin (:mod:`labkit.data.shanghaitech_twin`) in the same layout.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import scipy.io
import torch
from torch import Tensor
from torch.utils.data import Dataset

from labkit.data.common import Report, data_root, not_found, open_image, scan_images, some_names
from labkit.data.registry import CLI
from labkit.data.shanghaitech_twin import REAL_COUNTS

__all__ = ["ShanghaiTech", "read_points", "part_folder", "verify_shanghaitech"]

SCRIPT = f"{CLI} verify shanghaitech"
NESTED = ("ShanghaiTech", "ShanghaiTech_Crowd_Counting_Dataset")  # the folders archives unpack to
IMAGE_NAME = re.compile(r"IMG_(\d+)\.jpg", re.IGNORECASE)


def part_folder(root: Path, part: str | None) -> Path:
    """``root/part_<X>`` or ``root/part_<X>_final``; with ``part=None`` part B if present, else A."""
    for name in ([part.upper()] if part else ["B", "A"]):
        for folder in (root / f"part_{name}", root / f"part_{name}_final"):
            if folder.is_dir():
                return folder
    names = ("part_A", "part_B", "part_A_final", "part_B_final")
    # the hint of not_found looks one level down for the first name: put the one that is there first
    there = [n for n in names if any((root / inner / n).is_dir() for inner in NESTED)]
    raise not_found("shanghaitech", root, f"part_{part.upper() if part else 'A or part_B'}",
                    contains=tuple(there[:1]) + tuple(n for n in names if n not in there[:1]), nested_in=NESTED)


def read_points(path: str | os.PathLike) -> np.ndarray:
    """The head points ``(N, 2)`` float64 ``(x, y)`` of a ShanghaiTech ``GT_IMG_k.mat`` file.

    They are ``image_info{1}.location`` in MATLAB, ``mat["image_info"][0, 0][0, 0]["location"]``
    from :func:`scipy.io.loadmat`. A file without them raises ``ValueError`` naming it. Lecture 10.
    """
    try:
        mat = scipy.io.loadmat(str(path))
        points = np.asarray(mat["image_info"][0, 0][0, 0]["location"], np.float64)
    except (OSError, ValueError, KeyError, IndexError, TypeError, NotImplementedError) as err:
        raise ValueError(f"{path} is not a ShanghaiTech ground-truth file with image_info.location ({err}); "
                         f"extract the dataset again, then run `{SCRIPT}`") from err
    if points.size == 0:
        return np.zeros((0, 2))
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"{path}: image_info.location has shape {points.shape}, expected (N, 2) x, y pixels")
    return points


class ShanghaiTech(Dataset):
    """One split of one part: ``(image, points)`` pairs, ``image`` float32 ``Tensor[3, H, W]`` in [0, 1]
    (RGB; part B's few grey photos are converted), ``points`` float32 ``Tensor[N, 2]`` as ``(x, y)``.

    ``part`` is ``"A"``, ``"B"`` or None (B if present, else A); ``split`` ``"train"`` or ``"test"``.
    Images are sorted by their number (``IMG_2`` before ``IMG_10``). ``transform(image, points)``, if
    given, returns the pair to use (e.g. a resize that scales the points too). Lecture 10.
    """

    def __init__(self, root: str | os.PathLike | None = None, part: str | None = None, split: str = "train",
                 transform: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.root = data_root("shanghaitech", root)
        self.folder = part_folder(self.root, part) / f"{split}_data"
        images = self.folder / "images"
        if not images.is_dir():
            raise not_found("shanghaitech", self.root, f"{images.relative_to(self.root)}",
                            contains=("part_A", "part_B"))
        named = [(IMAGE_NAME.fullmatch(p.name), p) for p in images.iterdir() if not p.name.startswith(".")]
        self.files = [p for m, p in sorted(((m, p) for m, p in named if m), key=lambda mp: int(mp[0].group(1)))]
        if not self.files:
            raise not_found("shanghaitech", self.root, f"IMG_<k>.jpg images in {images}", contains=("part_A", "part_B"))
        self.transform = transform

    def truth_path(self, index: int) -> Path:
        return self.folder / "ground-truth" / f"GT_{self.files[index].stem}.mat"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        truth = self.truth_path(index)
        if not truth.is_file():
            raise ValueError(f"{self.files[index].name} has no ground truth: {truth} is missing; extract the "
                             f"dataset again, then run `{SCRIPT}`")
        image = open_image(self.files[index], "RGB", fix=f"Extract the dataset again, then run `{SCRIPT}`.")
        pixels = torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1).contiguous()
        points = torch.from_numpy(read_points(truth)).float()
        return self.transform(pixels, points) if self.transform else (pixels, points)


def verify_shanghaitech(root: str | os.PathLike | None = None, *, strict: bool = True,
                        decode: bool = False) -> Report:
    """Check a ShanghaiTech folder: every image has its points, the points lie in the image, and the
    numbers of images match the release (a warning, or an error with ``strict``). Never raises."""
    root = data_root("shanghaitech", root)
    report = Report("ShanghaiTech crowd counting", root)
    parts = [p for p in ("A", "B") if (root / f"part_{p}").is_dir() or (root / f"part_{p}_final").is_dir()]
    if not parts:
        report.errors.append(f"no part_A or part_B folder in {root}: see `{CLI} fetch shanghaitech`")
        return report
    for part in parts:
        for split in ("train", "test"):
            try:
                data = ShanghaiTech(root, part, split)
            except FileNotFoundError as err:
                report.errors.append(str(err).splitlines()[0])
                continue
            scan = scan_images(data.files, decode=decode)
            heads, bad = 0, []
            for k, path in enumerate(data.files):
                try:
                    points = read_points(data.truth_path(k))
                except ValueError as err:
                    bad.append(f"{path.name} ({str(err).split(' (')[0].split('/')[-1]})")
                    continue
                heads += len(points)
                size = scan.sizes.get(path)
                if size and len(points) and ((points < -0.5).any() or (points[:, 0] > size[0] + 0.5).any()
                                             or (points[:, 1] > size[1] + 0.5).any()):
                    report.warnings.append(f"{path.name}: head points outside the {size[0]}x{size[1]} image")
            if bad:
                report.errors.append(f"part {part} {split}: {len(bad)} image(s) without readable points: "
                                     f"{some_names(bad)}")
            if scan.unreadable:
                report.errors.append(f"part {part} {split}: unreadable images: {some_names(scan.unreadable)}")
            report.counts[f"{part}/{split}"] = len(data)
            report.counts[f"{part}/{split} heads"] = heads
            report.summary.append(f"part {part} {split}: {len(data)} images, {heads} heads "
                                  f"({heads / max(len(data), 1):.1f} per image)")
            expected = REAL_COUNTS[part][split]
            if len(data) != expected:
                message = f"part {part} {split}: {len(data)} images, the release has {expected}"
                (report.errors if strict else report.warnings).append(message)
    report.details["parts"] = parts
    return report
