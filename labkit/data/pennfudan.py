"""PennFudanPed, the pedestrian instance-segmentation set of lecture 5: loader, checker and twin chooser.

Introduced in lecture 5 (segmentation), where Mask R-CNN is fine-tuned on it (the book's chapter 4).

The real data (Wang, Shi, Song, Shen, ACCV 2007) is one zip, ``PennFudanPed.zip``, that unpacks to::

    PennFudanPed/PNGImages/FudanPed00001.png ... FudanPed00074.png, PennPed00001.png ... PennPed00096.png
    PennFudanPed/PedMasks/FudanPed00001_mask.png ...     one channel: 0 background, 1..N one id per person
    PennFudanPed/Annotation/FudanPed00001.txt ...        the same boxes as text (not needed here)

170 RGB photos of various sizes (roughly 300 to 500 pixels a side) with 345 people. ``root`` below is
the ``PennFudanPed`` folder; it defaults to ``labkit.data_dir() / "pennfudan" / "PennFudanPed"``, where
``python -m labkit.data fetch pennfudan`` puts it. ``labkit.data.get("pennfudan")`` returns it, or the
synthetic twin (:mod:`labkit.data.pennfudan_twin`) in the same layout.

Fixes to the book's ``CustomDataset``: images are opened with ``.convert("RGB")``; the joint transforms
are torchvision's ``transforms.v2`` with ``tv_tensors`` (so a flip or a crop moves boxes and masks with
the image) instead of a copy of the v0.3.0 ``references/`` folder; boxes are in pixel-edge coordinates
(see :func:`labkit.detection.masks_to_boxes` with ``pixel_edges=True``), and boxes that transforms make empty are dropped with their masks.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from labkit.data.common import ImageScan, Report, data_root, not_found, open_image, some_names
from labkit.data.pennfudan_twin import REAL_COUNTS
from labkit.data.registry import CLI, DatasetNotFoundError
from labkit.detection import masks_to_boxes

__all__ = ["REAL_IMAGES", "REAL_PEDESTRIANS", "instance_masks", "PennFudan", "split_indices", "verify_pennfudan"]

REAL_IMAGES = sum(REAL_COUNTS.values())  # 170
REAL_PEDESTRIANS = 345
SCRIPT = f"{CLI} verify pennfudan"


def _not_found(root: Path, what: str) -> DatasetNotFoundError:
    return not_found("pennfudan", root, what, contains=("PNGImages", "PedMasks"))


# ----------------------------------------------------------------------------------------------------------
# From an id map to instance targets
# ----------------------------------------------------------------------------------------------------------

def instance_masks(ids: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
    """Split an id map ``(H, W)`` (0 background, 1..N instances) into ``(masks uint8 [N, H, W], ids [N])``.

    Instances are the distinct non-zero values, in increasing order (``np.unique`` as in the book); ids
    need not be consecutive. Introduced in lecture 5 (segmentation).
    """
    ids = torch.as_tensor(np.asarray(ids))
    if ids.ndim != 2:
        raise ValueError(f"an id map must be (H, W), got shape {tuple(ids.shape)}")
    values = torch.unique(ids)
    values = values[values != 0]
    return (ids[None] == values[:, None, None]).to(torch.uint8), values


# ----------------------------------------------------------------------------------------------------------
# The dataset
# ----------------------------------------------------------------------------------------------------------

def _open_ids(path: Path) -> np.ndarray:
    image = open_image(path, None, fix=f"Download the dataset again, then run `{SCRIPT}`.")
    mode, ids = image.mode, np.array(image)  # "L" or "P": the stored values are the ids; no palette lookup
    if ids.ndim != 2 or mode not in ("L", "P", "I", "I;16", "1"):
        raise ValueError(f"{path} is a {mode} image; a PedMasks file must have one channel holding 0 for "
                         "background and 1..N for the people. Was it re-saved as a colour picture? "
                         f"Download the dataset again with `{SCRIPT}`.")
    return ids


class PennFudan(Dataset):
    """PennFudanPed (or its twin) as Mask R-CNN wants it: ``(image, target)`` pairs.

    ``image``: float32 ``Tensor[3, H, W]`` in [0, 1]. ``target``: ``"boxes"`` float32 ``[N, 4]`` (x1, y1,
    x2, y2) in pixel-edge coordinates (:func:`labkit.detection.masks_to_boxes` with ``pixel_edges=True``), ``"labels"`` int64 ``[N]`` all 1
    (person; 0 is Mask R-CNN's background), ``"masks"`` uint8 ``[N, H, W]`` (the visible pixels of each
    person), ``"image_id"`` int (the index), ``"area"`` float32 ``[N]`` (box areas, as in the book),
    ``"iscrowd"`` int64 ``[N]`` zeros.

    ``image_size`` (an int for a square, or ``(H, W)``) resizes every item first, masks with nearest
    neighbours, boxes with them; the aspect ratio is not kept. ``transforms`` is then called as
    ``transforms(image, target)`` on ``tv_tensors`` (``Image`` uint8, ``BoundingBoxes``, ``Mask``), so any
    ``torchvision.transforms.v2`` transform moves the boxes and masks with the image. Afterwards boxes are
    clipped to the image and instances whose box or mask became empty are dropped; ``area`` is computed
    last. Introduced in lecture 5 (segmentation).
    """

    def __init__(self, root: str | os.PathLike | None = None, *,
                 transforms: Callable[..., Any] | None = None, image_size: int | tuple[int, int] | None = None):
        self.root = data_root("pennfudan", root)
        images_dir, masks_dir = self.root / "PNGImages", self.root / "PedMasks"
        for folder in (images_dir, masks_dir):
            if not folder.is_dir():
                raise _not_found(self.root, f"the folder {folder.name}/")
        self.image_paths = sorted(p for p in images_dir.iterdir()
                                  if p.suffix.lower() == ".png" and not p.name.startswith("."))
        if not self.image_paths:
            raise _not_found(self.root, f"images (.png) in {images_dir}")
        self.mask_paths = [masks_dir / f"{p.stem}_mask.png" for p in self.image_paths]
        missing = [p.name for p in self.mask_paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} image(s) in {images_dir} have no mask in {masks_dir}: "
                                    f"{some_names(missing)} are missing. Each <name>.png needs a <name>_mask.png; "
                                    f"extract the archive again or run `{SCRIPT}` to check the folder.")
        self.transforms = transforms
        if image_size is not None:
            image_size = (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(image_size)
            if len(image_size) != 2 or min(image_size) < 1:
                raise ValueError(f"image_size must be a positive int or (H, W), got {image_size!r}")
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.image_paths)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The files of item ``index`` as they are: ``(image uint8 (H, W, 3) RGB, ids uint8 (H, W))``."""
        image = np.asarray(open_image(self.image_paths[index], "RGB",  # palette or RGBA files become RGB
                                      fix=f"Download the dataset again, then run `{SCRIPT}`."))
        ids = _open_ids(self.mask_paths[index])
        if ids.shape != image.shape[:2]:
            raise ValueError(f"{self.mask_paths[index]} is {ids.shape[1]}x{ids.shape[0]} pixels but its image "
                             f"{self.image_paths[index].name} is {image.shape[1]}x{image.shape[0]} (W x H); "
                             f"a mask must match its image. Run `{SCRIPT}` to check the folder.")
        return image, ids

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        image, ids = self.read(index)
        masks, _ = instance_masks(ids)
        height, width = ids.shape
        image = tv_tensors.Image(torch.from_numpy(image.copy()).permute(2, 0, 1))
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(masks_to_boxes(masks, pixel_edges=True), format="XYXY",
                                              canvas_size=(height, width)),
            "labels": torch.ones(len(masks), dtype=torch.int64),
            "masks": tv_tensors.Mask(masks),
            "image_id": index,
        }
        if self.image_size is not None:
            image, target = v2.Resize(self.image_size, antialias=True)(image, target)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return _finish(image, target)


def _finish(image: Tensor, target: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
    """Float image; clip boxes, drop empty instances, add area and iscrowd; plain tensors out."""
    image = image.as_subclass(Tensor)
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    height, width = image.shape[-2:]
    boxes = target["boxes"].as_subclass(Tensor).float().reshape(-1, 4)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    masks = target["masks"].as_subclass(Tensor).to(torch.uint8)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & masks.flatten(1).bool().any(1)
    boxes, masks = boxes[keep], masks[keep]
    out = dict(target)
    out.update(boxes=boxes, masks=masks, labels=target["labels"].as_subclass(Tensor)[keep],
               area=(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
               iscrowd=torch.zeros(len(boxes), dtype=torch.int64))
    return image, out


def split_indices(n: int, n_test: int = 50, seed: int = 1) -> tuple[list[int], list[int]]:
    """The book's split: a seeded permutation of ``range(n)``; the last ``n_test`` are the test set.

    ``torch.randperm`` with a ``torch.Generator`` seeded with ``seed`` (1 in the book), so the split does
    not depend on (or disturb) the global random state. Returns ``(train, test)`` lists of indices for
    ``torch.utils.data.Subset``. Introduced in lecture 5 (segmentation).
    """
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be between 1 and n - 1 = {n - 1}, got {n_test}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return order[:-n_test], order[-n_test:]


# ----------------------------------------------------------------------------------------------------------
# Checking a download
# ----------------------------------------------------------------------------------------------------------

def verify_pennfudan(root: str | os.PathLike | None = None, *, strict: bool = True) -> Report:
    """Check a PennFudanPed folder: layout, a mask per image, readable files, matching sizes, counts.

    Every image and mask is decoded (170 small PNGs: a second or two). Errors: missing folders, images
    without masks, unreadable files, masks of another size than their image or with no person in them,
    and (with ``strict``) counts other than the release's 170 images and 345 people; with
    ``strict=False`` (e.g. for a twin) wrong counts are warnings. Masks without an image are a warning.
    Never raises for a bad folder. Introduced in lecture 5 (segmentation).
    """
    root = data_root("pennfudan", root)
    report = Report("PennFudanPed", root)
    report.counts.update(images=0, pedestrians=0)
    if not (root / "PNGImages").is_dir() or not (root / "PedMasks").is_dir():
        report.errors.append(str(_not_found(root, "PNGImages/ and PedMasks/")))
        return report
    try:
        dataset = PennFudan(root)
    except (FileNotFoundError, ValueError) as err:
        report.errors.append(str(err))
        return report
    stems = {p.stem for p in dataset.image_paths}
    orphans = sorted(p.name for p in (root / "PedMasks").glob("*_mask.png")
                     if p.name[: -len("_mask.png")] not in stems and not p.name.startswith("."))
    if orphans:
        report.warnings.append(f"{len(orphans)} mask(s) have no image and are ignored: {some_names(orphans)}")
    empty, scan = [], ImageScan()
    for index, path in enumerate(dataset.image_paths):
        try:
            image, ids = dataset.read(index)
        except (OSError, ValueError) as err:
            report.errors.append(str(err))
            continue
        report.counts["images"] += 1
        n = len(np.unique(ids[ids != 0]))
        report.counts["pedestrians"] += n
        if n == 0:
            empty.append(dataset.mask_paths[index].name)
        scan.sizes[path] = (image.shape[1], image.shape[0])
    if empty:
        report.errors.append(f"{len(empty)} mask(s) hold no person (all zeros): {some_names(empty)}")
    report.details["sizes"] = scan.size_range()  # by area, (W, H)
    images, people = report.counts["images"], report.counts["pedestrians"]
    report.summary.append(f"{images} images, {people} pedestrians"
                          + (f" (the release has {REAL_IMAGES} and {REAL_PEDESTRIANS})" if images else ""))
    report.summary += scan.summary()
    if (images, people) != (REAL_IMAGES, REAL_PEDESTRIANS) and images:
        message = (f"{images} images and {people} pedestrians, but the release has {REAL_IMAGES} and "
                   f"{REAL_PEDESTRIANS}" + ("; files are missing or extra: extract the zip again" if strict else ""))
        (report.errors if strict else report.warnings).append(message)
    return report
