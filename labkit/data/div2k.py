"""DIV2K, the super-resolution training set of lecture 9: loader and checker.

Introduced in lecture 9 (super-resolution). DIV2K (Agustsson and Timofte, NTIRE 2017) has 1,000 2K
photos: 800 for training, 100 for validation (the other 100, the test set, were never published in HR).
The HR archives unpack to::

    DIV2K_train_HR/0001.png ... 0800.png      DIV2K_train_HR.zip, about 3.5 GB
    DIV2K_valid_HR/0801.png ... 0900.png      DIV2K_valid_HR.zip, about 450 MB

RGB PNGs, about 2040 pixels on the long side. The archives of LR images (``DIV2K_train_LR_bicubic``
and the like) are not needed: the LR image of a pair is made here from the HR crop itself
(:func:`labkit.superres.lr_hr_pair`). The small benchmark sets (Set5, Set14, ...) have no stable
official download; put their HR images in ``<root>/Set5/`` etc. and read them with ``split="Set5"``.
``labkit.data.get("div2k")`` returns ``root``, or the twin (:mod:`labkit.data.div2k_twin`: photos that
ship with scikit-image and scikit-learn, split by image) in the same layout.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from labkit.data.common import Report, data_root, is_system_file, not_found, open_image, scan_images, some_names
from labkit.data.registry import CLI

__all__ = ["SPLITS", "REAL_COUNTS", "DIV2K", "split_folder", "verify_div2k"]

SCRIPT = f"{CLI} verify div2k"
SPLITS = {"train": "DIV2K_train_HR", "valid": "DIV2K_valid_HR"}
REAL_COUNTS = {"train": 800, "valid": 100}
FIRST_NUMBER = {"train": 1, "valid": 801}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_NAME = re.compile(r"\d{4}\.png")


def _fix(split: str) -> str:
    archive = f"{SPLITS[split]}.zip" if split in SPLITS else f"the images of {split}"
    return f"Extract {archive} again, then run `{SCRIPT}`."


def split_folder(root: str | os.PathLike | None, split: str) -> Path:
    """The folder of ``split``: ``DIV2K_train_HR`` / ``DIV2K_valid_HR``, or ``root/split`` for a
    benchmark set such as ``"Set5"``. Introduced in lecture 9."""
    root = data_root("div2k", root)
    return root / SPLITS.get(split, split)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not is_system_file(p))


class DIV2K(Dataset):
    """One split of DIV2K (or its twin, or a benchmark folder) as (LR, HR) pairs, LR made from HR.

    ``split``: ``"train"``, ``"valid"`` or the name of a folder of HR images under ``root`` (e.g.
    ``"Set5"``). Without ``crop_size`` item ``i`` is the whole image ``i``, cropped to a multiple of
    ``scale`` (:func:`labkit.superres.modcrop`), and its LR version: ``(lr Tensor[3, H/s, W/s], hr
    Tensor[3, H, W])`` in [0, 1], for evaluation. With ``crop_size`` the items are random crops
    (``crops_per_image`` per image and epoch) with the LR made from each crop, flipped and turned by
    multiples of 90 degrees when ``augment`` (default: for ``"train"``), for training. ``in_memory``
    decodes every image once and keeps it (the twin, small sets); otherwise each item reads its file.
    Grey images are read as RGB. Introduced in lecture 9.
    """

    def __init__(self, root: str | os.PathLike | None = None, split: str = "train", *, scale: int = 4,
                 crop_size: int | None = None, crops_per_image: int = 1, augment: bool | None = None,
                 in_memory: bool = False):
        self.root = data_root("div2k", root)
        folder = split_folder(self.root, split)
        if not folder.is_dir():
            if split in SPLITS:
                raise not_found("div2k", self.root, f"{SPLITS[split]}/", contains=tuple(SPLITS.values()),
                                nested_in=("DIV2K",))
            raise FileNotFoundError(f"{folder} not found: put the HR images of {split} there (any PNG or "
                                    f"JPEG files), or use split='train' or 'valid'.")
        self.files = _images(folder)
        if not self.files:
            raise FileNotFoundError(f"{folder} holds no images (.png, .jpg ...). {_fix(split)}")
        if crop_size is not None and crop_size % scale:
            raise ValueError(f"crop_size={crop_size} must be a multiple of scale={scale}")
        self.split, self.scale, self.crop_size = split, scale, crop_size
        self.crops_per_image = crops_per_image if crop_size is not None else 1
        self.augment = (split == "train") if augment is None else augment
        self._cache: dict[int, Tensor] | None = {} if in_memory else None

    def __len__(self) -> int:
        return len(self.files) * self.crops_per_image

    def hr(self, index: int) -> Tensor:
        """The whole HR image ``index`` as stored: ``Tensor[3, H, W]`` float32 in [0, 1]."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image = np.asarray(open_image(self.files[index], "RGB", fix=_fix(self.split)))
        tensor = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255
        if self._cache is not None:
            self._cache[index] = tensor
        return tensor

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        from labkit.superres.degradation import degrade, lr_hr_pair, modcrop, random_flip_rot90

        if not -len(self) <= index < len(self):  # also ends `for lr, hr in dataset`
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        image = self.hr(index % len(self.files))
        if self.crop_size is None:
            hr = modcrop(image, self.scale)
            return degrade(hr, self.scale), hr
        height, width = image.shape[-2:]
        if min(height, width) < self.crop_size:
            raise ValueError(f"{self.files[index % len(self.files)]} is {width}x{height} pixels, smaller than "
                             f"crop_size={self.crop_size}: choose a smaller crop or remove the image")
        top = int(torch.randint(height - self.crop_size + 1, (1,)))
        left = int(torch.randint(width - self.crop_size + 1, (1,)))
        lr, hr = lr_hr_pair(image, top, left, self.crop_size, self.scale)
        if self.augment:
            lr, hr = random_flip_rot90(lr, hr)  # the same move for both: the pair stays aligned
        return lr.contiguous(), hr.contiguous()


def verify_div2k(root: str | os.PathLike | None = None, *, strict: bool = True, decode: bool = False) -> Report:
    """Check a DIV2K folder: both HR folders, the release's file names and counts, readable images.

    Errors: a missing ``DIV2K_train_HR/`` or ``DIV2K_valid_HR/``, an empty one, unreadable files
    (named), images smaller than 96 pixels a side (the paper's crop), and with ``strict`` counts other
    than 800 and 100 or names other than ``0001.png ... 0800.png`` / ``0801.png ... 0900.png``
    (warnings with ``strict=False``, e.g. for the twin). Images are opened (header) and fully decoded
    with ``decode``. Never raises for a bad folder. Introduced in lecture 9.
    """
    root = data_root("div2k", root)
    report = Report("DIV2K (HR images)", root)
    if not any((root / folder).is_dir() for folder in SPLITS.values()):
        report.errors.append(str(not_found("div2k", root, "DIV2K_train_HR/ and DIV2K_valid_HR/",
                                           contains=tuple(SPLITS.values()), nested_in=("DIV2K",))))
        return report
    for split, name in SPLITS.items():
        folder = root / name
        if not folder.is_dir():
            report.errors.append(f"{folder} is missing. {_fix(split)}")
            continue
        files = _images(folder)
        report.counts[split] = len(files)
        if not files:
            report.errors.append(f"{folder} holds no images. {_fix(split)}")
            continue
        scan = scan_images(files, decode=decode)
        report.errors += [f"cannot read {name}/{item}: the file is damaged. {_fix(split)}" for item in scan.unreadable]
        small = [p.name for p, (w, h) in scan.sizes.items() if min(w, h) < 96]
        if small:
            report.errors.append(f"{name}: {len(small)} image(s) smaller than 96 pixels a side: {some_names(small)}")
        expected = [f"{n:04d}.png" for n in range(FIRST_NUMBER[split], FIRST_NUMBER[split] + REAL_COUNTS[split])]
        names = [p.name for p in files]
        problems = []
        if len(files) != REAL_COUNTS[split]:
            problems.append(f"{name} holds {len(files)} images, the release {REAL_COUNTS[split]}")
        odd = [n for n in names if not _NAME.fullmatch(n) or n not in expected]
        if odd:
            problems.append(f"{name}: {len(odd)} file name(s) not in the release: {some_names(odd)}")
        for message in problems:
            (report.errors if strict else report.warnings).append(
                message + ("; extract the archive again" if strict else ""))
        report.summary.append(f"{split}: {len(files)} images in {name}/")
        report.summary += [f"  {line}" for line in scan.summary()]
    report.details["splits"] = [s for s, n in SPLITS.items() if (root / n).is_dir()]
    return report
