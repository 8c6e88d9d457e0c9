"""MVTec AD, the industrial anomaly-detection benchmark of lecture 8: loader and checker.

Introduced in lecture 8 (anomaly detection). The real data (Bergmann, Fauser, Sattlegger, Steger, CVPR
2019) is a manual download under CC BY-NC-SA 4.0 (non-commercial): 5,354 images of 15 categories, five
textures (carpet, grid, leather, tile, wood) and ten objects. Each category unpacks to::

    <category>/train/good/000.png ...                     defect-free images only (training)
    <category>/test/good/000.png ...                      defect-free test images
    <category>/test/<defect_type>/000.png ...             defective test images, one folder per type
    <category>/ground_truth/<defect_type>/000_mask.png    0 = good pixel, 255 = defect (good: no mask)

Images are PNGs of 700 to 1024 pixels a side, RGB or grey (grid, screw and zipper are grey; they are
read as RGB here). ``root`` below is the folder that holds the category folders; it defaults to
``labkit.data_dir() / "mvtec-ad"``. ``labkit.data.get("mvtec-ad")`` returns it, or the synthetic twin
(:mod:`labkit.data.mvtec_ad_twin`, four texture categories) in the same layout.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from PIL import Image
from torch.utils.data import Dataset

from labkit.data.common import (ImageReadError, Report, data_root, is_system_file, not_found, open_image,
                                some_names)
from labkit.data.registry import CLI, DatasetNotFoundError

__all__ = ["REAL_COUNTS", "TEXTURES", "Sample", "categories", "MVTecAD", "verify_mvtec_ad"]

SCRIPT = f"{CLI} verify mvtec-ad"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
TEXTURES = ("carpet", "grid", "leather", "tile", "wood")
# (train images, test images) per category in the release: 3,629 + 1,725 = 5,354.
REAL_COUNTS = {
    "bottle": (209, 83), "cable": (224, 150), "capsule": (219, 132), "carpet": (280, 117), "grid": (264, 78),
    "hazelnut": (391, 110), "leather": (245, 124), "metal_nut": (220, 115), "pill": (267, 167),
    "screw": (320, 160), "tile": (230, 117), "toothbrush": (60, 42), "transistor": (213, 100),
    "wood": (247, 79), "zipper": (240, 151),
}


def _fix() -> str:
    return f"Extract the category's archive again, then run `{SCRIPT}`."


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not is_system_file(p))


def _not_found(root: Path) -> DatasetNotFoundError:
    """The missing-data error; it points to a copy one level down (e.g. mvtec_anomaly_detection/)."""
    error = not_found("mvtec-ad", root, "category folders with train/good/", contains=tuple(REAL_COUNTS))
    nested = [p for p in sorted(root.iterdir()) if p.is_dir() and categories(p)] if root.is_dir() else []
    if nested:
        return DatasetNotFoundError(f"{error}\n(the data is one level down: use {nested[0]})")
    return error


def categories(root: str | os.PathLike | None = None) -> list[str]:
    """The category folders under ``root`` that have ``train/good``, sorted. Introduced in lecture 8."""
    root = data_root("mvtec-ad", root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "train" / "good").is_dir())


class Sample(NamedTuple):
    """One file of the dataset: its category, defect type ("good" for none), image and mask paths."""

    category: str
    defect: str
    image: Path
    mask: Path | None

    @property
    def label(self) -> int:
        """1 for a defective image, 0 for a good one."""
        return int(self.defect != "good")


class MVTecAD(Dataset):
    """One split of MVTec AD (or its twin): ``(image, mask, label)`` triples.

    ``image``: float32 ``Tensor[3, H, W]`` in [0, 1] (grey categories repeated to RGB); ``mask``:
    float32 ``Tensor[1, H, W]``, 1 on defective pixels, all zeros for good images; ``label``: int, 1 for
    a defective image. ``category`` is one name or a list (None: every category under ``root``);
    ``split`` is ``"train"`` (good images only) or ``"test"``. ``image_size`` (an int or ``(H, W)``)
    resizes every item, the image bilinearly (antialiased) and the mask with nearest neighbours, so a
    batch can be stacked. ``samples`` lists the files in order. Introduced in lecture 8.
    """

    def __init__(self, root: str | os.PathLike | None = None, category: str | list[str] | None = None,
                 split: str = "test", *, image_size: int | tuple[int, int] | None = None):
        self.root = data_root("mvtec-ad", root)
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        found = categories(self.root)
        if not found:
            raise _not_found(self.root)
        wanted = found if category is None else [category] if isinstance(category, str) else list(category)
        missing = [c for c in wanted if c not in found]
        if missing:
            raise FileNotFoundError(f"category {', '.join(missing)} not found under {self.root}; it holds "
                                    f"{', '.join(found)}. Each category is its own archive on the MVTec page: "
                                    f"extract it there, then run `{SCRIPT}`.")
        self.split, self.categories = split, wanted
        self.samples: list[Sample] = []
        for name in wanted:
            self.samples += self._category_samples(name)
        if image_size is not None:
            image_size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(image_size)
        self.image_size = image_size

    def _category_samples(self, name: str) -> list[Sample]:
        folder = self.root / name / self.split
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: a category of MVTec AD has train/good/, test/ and "
                                    f"ground_truth/. Extract it again, then run `{SCRIPT}`.")
        defects = sorted(p.name for p in folder.iterdir() if p.is_dir() and not is_system_file(p))
        if self.split == "train" and defects != ["good"]:
            raise ValueError(f"{folder} must hold only good/ (MVTec AD trains on defect-free images), but it "
                             f"holds {', '.join(defects)}. Move the other folders to test/ and run `{SCRIPT}`.")
        samples = []
        for defect in ["good"] + [d for d in defects if d != "good"]:
            if not (folder / defect).is_dir():
                continue
            for path in _images(folder / defect):
                mask = None
                if defect != "good":
                    mask = self.root / name / "ground_truth" / defect / f"{path.stem}_mask.png"
                    if not mask.is_file():
                        raise FileNotFoundError(f"{path} has no mask {mask}: every defective test image needs "
                                                f"ground_truth/{defect}/{path.stem}_mask.png. {_fix()}")
                samples.append(Sample(name, defect, path, mask))
        return samples

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        """1 for each defective image, 0 for each good one, in order."""
        return [s.label for s in self.samples]

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The files of item ``index`` as stored: ``(image uint8 (H, W, 3) RGB, mask bool (H, W))``."""
        sample = self.samples[index]
        image = np.asarray(open_image(sample.image, "RGB", fix=_fix()))
        if sample.mask is None:
            return image, np.zeros(image.shape[:2], bool)
        mask = np.asarray(open_image(sample.mask, "L", fix=_fix())) > 127
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{sample.mask} is {mask.shape[1]}x{mask.shape[0]} pixels but its image "
                             f"{sample.image.name} is {image.shape[1]}x{image.shape[0]} (W x H); a mask must "
                             f"match its image. {_fix()}")
        return image, mask

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, int]:
        image, mask = self.read(index)
        image = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255
        mask = torch.from_numpy(mask.copy())[None].float()
        if self.image_size is not None and tuple(image.shape[-2:]) != self.image_size:
            image = F.interpolate(image[None], size=self.image_size, mode="bilinear", antialias=True,
                                  align_corners=False)[0].clamp(0, 1)
            mask = F.interpolate(mask[None], size=self.image_size, mode="nearest")[0]
        return image, mask, self.samples[index].label


def verify_mvtec_ad(root: str | os.PathLike | None = None, *, strict: bool = True, decode: bool = False) -> Report:
    """Check an MVTec AD folder: layout, a mask for each defective image, readable files, counts.

    Errors: no category folder, a category without ``train/good`` or ``test/``, a train folder with
    anything but ``good/``, defective images without a mask, masks of another size than their image
    or with no defect pixel, unreadable files (named), and, with ``strict``, image counts other than
    the release's for a known category (warnings with ``strict=False``, e.g. for a twin). Masks without
    an image and unknown category names are warnings. Every mask is decoded; images are opened (their
    header) and fully decoded only with ``decode``. Never raises for a bad folder. Introduced in lecture 8.
    """
    root = data_root("mvtec-ad", root)
    report = Report("MVTec AD", root)
    found = categories(root)
    if not found:
        report.errors.append(str(_not_found(root)))
        return report
    unknown = [c for c in found if c not in REAL_COUNTS]
    if unknown:
        report.warnings.append(f"{len(unknown)} folder(s) are not MVTec AD categories and are read as such "
                               f"anyway: {some_names(unknown)}")
    for name in found:
        counts = {}
        for split in ("train", "test"):
            try:
                dataset = MVTecAD(root, name, split)
            except (FileNotFoundError, ValueError) as err:
                report.errors.append(str(err))
                continue
            counts[split] = len(dataset)
            defects = sorted({s.defect for s in dataset.samples} - {"good"})
            report.counts[f"{name}/{split}"] = len(dataset)
            for index, sample in enumerate(dataset.samples):
                try:
                    if decode or sample.mask is not None:
                        _, mask = dataset.read(index)
                        if sample.mask is not None and not mask.any():
                            report.errors.append(f"{sample.mask} holds no defect pixel (all zeros). {_fix()}")
                    else:
                        open_image(sample.image, None, fix=_fix()) if decode else _header(sample.image)
                except (OSError, ValueError) as err:
                    report.errors.append(str(err))
            if split == "test":
                orphans = [f"{d}/{p.name}" for d in defects for p in _images(root / name / "ground_truth" / d)
                           if not (root / name / "test" / d / p.name.replace("_mask", "")).exists()]
                if orphans:
                    report.warnings.append(f"{name}: {len(orphans)} mask(s) have no image: {some_names(orphans)}")
                report.summary.append(f"{name}: {counts.get('train', 0)} train, {len(dataset)} test "
                                      f"({sum(dataset.labels)} defective: {', '.join(defects) or 'none'})")
        if name in REAL_COUNTS and len(counts) == 2 and (counts["train"], counts["test"]) != REAL_COUNTS[name]:
            message = (f"{name}: {counts['train']} train and {counts['test']} test images, but the release has "
                       f"{REAL_COUNTS[name][0]} and {REAL_COUNTS[name][1]}"
                       + ("; files are missing or extra: extract the archive again" if strict else ""))
            (report.errors if strict else report.warnings).append(message)
    report.details["categories"] = found
    return report


def _header(path: Path) -> None:
    """Open an image's header only (fast), raising ImageReadError like open_image for a broken file."""
    try:
        with Image.open(path):
            pass
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot read {path} ({err}): the file is damaged or is not an image. {_fix()}") from err
