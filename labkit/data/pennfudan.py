"""PennFudanPed, the pedestrian instance-segmentation set of lecture 5: loader, checker and twin chooser.

Introduced in lecture 5 (segmentation), where Mask R-CNN is fine-tuned on it (the book's chapter 4).

The real data (Wang, Shi, Song, Shen, ACCV 2007) is one zip, ``PennFudanPed.zip``, that unpacks to::

    PennFudanPed/PNGImages/FudanPed00001.png ... FudanPed00074.png, PennPed00001.png ... PennPed00096.png
    PennFudanPed/PedMasks/FudanPed00001_mask.png ...     one channel: 0 background, 1..N one id per person
    PennFudanPed/Annotation/FudanPed00001.txt ...        the same boxes as text (not needed here)

170 RGB photos of various sizes (roughly 300 to 500 pixels a side) with 345 people. ``root`` below is
the ``PennFudanPed`` folder; it defaults to ``labkit.data_dir() / "pennfudan" / "PennFudanPed"``, where
``python data_scripts/pennfudan.py`` puts it. Without it, :func:`pennfudan_data` writes and uses the
synthetic twin of :mod:`labkit.data.synthetic_pedestrians`, in the same layout.

Fixes to the book's ``CustomDataset``: images are opened with ``.convert("RGB")``; the joint transforms
are torchvision's ``transforms.v2`` with ``tv_tensors`` (so a flip or a crop moves boxes and masks with
the image) instead of a copy of the v0.3.0 ``references/`` folder; boxes are in pixel-edge coordinates
(see :func:`labkit.detection.masks_to_boxes` with ``pixel_edges=True``), and boxes that transforms make empty are dropped with their masks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from labkit.data.all_idb import ImageReadError
from labkit.data.registry import DatasetNotFoundError, get_dataset
from labkit.data.report import findings_lines, some_names
from labkit.data.synthetic_pedestrians import REAL_COUNTS, write_pennfudan_twin
from labkit.detection import masks_to_boxes

__all__ = ["REAL_IMAGES", "REAL_PEDESTRIANS", "default_root", "instance_masks",
           "PennFudan", "split_indices", "PennFudanReport", "verify_pennfudan", "pennfudan_data"]

REAL_IMAGES = sum(REAL_COUNTS.values())  # 170
REAL_PEDESTRIANS = 345
TWIN_VERSION = 1  # part of the twin's cache folder name: bump it when synthetic_pedestrians changes
SCRIPT = "python data_scripts/pennfudan.py"


def default_root() -> Path:
    """``labkit.data_dir() / "pennfudan" / "PennFudanPed"``: the folder holding PNGImages/ and PedMasks/."""
    return get_dataset("pennfudan").folder() / "PennFudanPed"


def _resolve(root: str | os.PathLike | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def _not_found(root: Path, what: str) -> DatasetNotFoundError:
    info = get_dataset("pennfudan")
    hint = ""
    if root.name in ("PNGImages", "PedMasks", "Annotation"):
        hint = f"\n(root should be the folder that CONTAINS PNGImages/ and PedMasks/: did you mean {root.parent}?)"
    elif (root / "PennFudanPed" / "PNGImages").is_dir():
        hint = f"\n(the data is one level down: use root={root / 'PennFudanPed'})"
    return DatasetNotFoundError(
        f"{what} not found under {root}.{hint}\n{info.how_to_get(root.parent)}\n"
        f"`{SCRIPT}` downloads, extracts and checks it (to {default_root()}; with `--root DIR`, to "
        "DIR/pennfudan/PennFudanPed). Without the real data, "
        "`labkit.data.pennfudan.pennfudan_data()` writes and uses a synthetic twin in the same layout.")


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

def _open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # decodes every pixel here; palette or RGBA files become RGB
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(f"cannot read the image {path} ({err}); the file is damaged or not an image: "
                             f"download the dataset again with `{SCRIPT}`") from err


def _open_ids(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            mode = image.mode
            ids = np.array(image)  # "L" or "P": the stored values are the ids; no palette lookup
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageReadError(f"cannot read the mask {path} ({err}); download the dataset again with "
                             f"`{SCRIPT}`") from err
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
        self.root = _resolve(root)
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
        image = np.asarray(_open_rgb(self.image_paths[index]))
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

@dataclass
class PennFudanReport:
    """What :func:`verify_pennfudan` found; ``ok`` is True when there is no error; ``str()`` reads well."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    images: int = 0
    pedestrians: int = 0
    sizes: tuple[tuple[int, int], tuple[int, int]] | None = None  # (smallest (W, H), largest (W, H)) by area

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        lines = [f"PennFudanPed in {self.root}", f"  {self.images} images, {self.pedestrians} pedestrians"
                 + (f" (the release has {REAL_IMAGES} and {REAL_PEDESTRIANS})" if self.images else "")]
        if self.sizes:
            (w0, h0), (w1, h1) = self.sizes
            lines.append(f"  sizes from {w0}x{h0} to {w1}x{h1} (W x H)")
        lines += findings_lines(self.errors, self.warnings, "OK: the lecture's loader will read this folder.")
        return "\n".join(lines)


def verify_pennfudan(root: str | os.PathLike | None = None, *, strict: bool = True) -> PennFudanReport:
    """Check a PennFudanPed folder: layout, a mask per image, readable files, matching sizes, counts.

    Every image and mask is decoded (170 small PNGs: a second or two). Errors: missing folders, images
    without masks, unreadable files, masks of another size than their image or with no person in them,
    and (with ``strict``) counts other than the release's 170 images and 345 people; with
    ``strict=False`` (e.g. for a twin) wrong counts are warnings. Masks without an image are a warning.
    Never raises for a bad folder. Introduced in lecture 5 (segmentation).
    """
    root = _resolve(root)
    report = PennFudanReport(root)
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
    empty, sizes = [], []
    for index, path in enumerate(dataset.image_paths):
        try:
            image, ids = dataset.read(index)
        except (OSError, ValueError) as err:
            report.errors.append(str(err))
            continue
        report.images += 1
        n = len(np.unique(ids[ids != 0]))
        report.pedestrians += n
        if n == 0:
            empty.append(dataset.mask_paths[index].name)
        sizes.append((image.shape[1], image.shape[0]))
    if empty:
        report.errors.append(f"{len(empty)} mask(s) hold no person (all zeros): {some_names(empty)}")
    if sizes:
        report.sizes = (min(sizes, key=lambda s: s[0] * s[1]), max(sizes, key=lambda s: s[0] * s[1]))
    if (report.images, report.pedestrians) != (REAL_IMAGES, REAL_PEDESTRIANS) and report.images:
        message = (f"{report.images} images and {report.pedestrians} pedestrians, but the release has "
                   f"{REAL_IMAGES} and {REAL_PEDESTRIANS}" + ("; files are missing or extra: extract the zip again"
                                                                 if strict else ""))
        (report.errors if strict else report.warnings).append(message)
    return report


# ----------------------------------------------------------------------------------------------------------
# Real data or twin
# ----------------------------------------------------------------------------------------------------------

def pennfudan_data(root: str | os.PathLike | None = None, *, twin_root: str | os.PathLike | None = None,
                   seed: int = 0, quiet: bool = False, **twin_options: Any) -> tuple[Path, bool]:
    """The folder to train on, and whether it is the real data: ``(path, is_real)``.

    The real data is used when ``root`` (default :func:`default_root`) holds ``PNGImages/`` and
    ``PedMasks/``. Otherwise the synthetic twin is used: written once by
    :func:`labkit.data.synthetic_pedestrians.write_pennfudan_twin` (fast or full defaults) to
    ``twin_root``, by default ``labkit.data_dir() / "twins" / "pennfudan-v<version>-<fast|full>-seed<seed>"
    / "PennFudanPed"``, and reused afterwards; ``twin_options`` (``n``, ``size``, ``max_people``) go to
    the writer. One line says which path was taken. Introduced in lecture 5 (segmentation).
    """
    from labkit.data.choose import real_or_twin, twin_folder

    def complete(folder: Path) -> bool:
        return (folder / "PNGImages").is_dir() and (folder / "PedMasks").is_dir()

    if twin_root is None:
        twin_root = twin_folder("pennfudan", TWIN_VERSION, seed) / "PennFudanPed"
    return real_or_twin("PennFudanPed", _resolve(root), twin_root, is_complete=complete, quiet=quiet,
                        write_twin=lambda folder: write_pennfudan_twin(folder, seed=seed, **twin_options))
