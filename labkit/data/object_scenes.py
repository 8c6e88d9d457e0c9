"""A labelled image folder (one folder per class, per split), with optional object boxes: read and checked.

Introduced in lecture 11 (explainable AI): the homework classifies a small folder of labelled photos with
three architectures and compares their accuracy and saliency maps; where the folder also gives each
image's object box, the maps are scored against it (pointing game, energy in the box).

The layout is the one ``torchvision.datasets.ImageFolder`` reads, once per split::

    <folder>/train/<class>/<any name>.jpg|.jpeg|.png|.bmp|.webp
    <folder>/test/<class>/...          (or val/ instead of test/)
    <folder>/boxes.csv                 optional: file,x1,y1,x2,y2 (file relative to <folder>)

Class names are the folder names, sorted (ImageFolder's order), and must be the same in every split.
Boxes are in pixels of the stored image, ``x2``/``y2`` exclusive (torchvision's convention); an image
may have several rows (several objects of its class) or none. A photo folder labelled by hand (e.g.
with a few images per ImageNet class for the ImageNet-pretrained models) is read the same way as the
synthetic twin (:mod:`labkit.data.object_scenes_twin`), which always has boxes.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from labkit.data.common import (Report, data_root, is_system_file, not_found, open_image, scan_images,
                                some_names, verify_command)

__all__ = ["ObjectScenes", "verify_object_scenes", "read_boxes", "IMAGE_SUFFIXES", "SPLITS"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = ("train", "val", "test")
_NAME = "object-scenes"


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not is_system_file(p) and p.suffix.lower() in IMAGE_SUFFIXES)


def read_boxes(root: str | os.PathLike) -> dict[str, Tensor]:
    """``root/boxes.csv`` as ``{file relative to root (posix): float Tensor[M, 4]}``; {} without the file.

    Raises ValueError naming the line for a header other than ``file,x1,y1,x2,y2``, a wrong number of
    fields, a value that is not a number or a box with ``x2 <= x1`` or ``y2 <= y1``.
    Introduced in lecture 11 (explainable AI).
    """
    path = Path(root) / "boxes.csv"
    if not path.is_file():
        return {}
    boxes: dict[str, list[list[float]]] = {}
    with open(path, newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or [h.strip() for h in header] != ["file", "x1", "y1", "x2", "y2"]:
            raise ValueError(f"{path}, line 1: the header must be file,x1,y1,x2,y2, got {header}")
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != 5:
                raise ValueError(f"{path}, line {line}: expected 5 fields (file,x1,y1,x2,y2), got {len(row)}")
            try:
                x1, y1, x2, y2 = (float(v) for v in row[1:])
            except ValueError as err:
                raise ValueError(f"{path}, line {line}: a coordinate is not a number ({err})") from None
            if x2 <= x1 or y2 <= y1:
                raise ValueError(f"{path}, line {line}: the box {row[1:]} is empty; boxes are x1,y1,x2,y2 "
                                 "with x2 > x1 and y2 > y1 (pixels, x2/y2 exclusive)")
            boxes.setdefault(Path(row[0].strip()).as_posix(), []).append([x1, y1, x2, y2])
    return {file: torch.tensor(b, dtype=torch.float32) for file, b in boxes.items()}


class ObjectScenes(Dataset):
    """One split of a labelled image folder: ``(image, label)`` pairs, with each image's boxes on request.

    Args:
        root: the folder holding ``train/`` and ``test/`` (or ``val/``); default
            ``labkit.data_dir() / "object-scenes"``. ``labkit.data.get("object-scenes")`` returns it, or
            the synthetic twin in the same layout.
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: applied to the RGB PIL image (e.g. ``weights.transforms()`` or a ``v2.Compose``).

    Attributes: ``classes`` (sorted folder names), ``samples`` (``(path, label)`` pairs, ImageFolder's
    order), ``labels``. ``boxes(i)`` is image ``i``'s ``Tensor[M, 4]`` from ``boxes.csv`` (``M = 0`` when
    the folder has no boxes for it); ``has_boxes`` says whether every image of the split has one.
    Raises DatasetNotFoundError (saying what to do) for a missing split folder, ValueError when the
    split has no class folders or no images, or its classes differ from ``train/``'s.
    Introduced in lecture 11 (explainable AI).
    """

    def __init__(self, root: str | os.PathLike | None = None, split: str = "train",
                 transform: Callable[[Image.Image], Any] | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = data_root(_NAME, root)
        folder = self.root / split
        if not folder.is_dir():
            raise not_found(_NAME, self.root, f"the {split!r} split (a folder {folder} with one folder per class)",
                            contains=("train",))
        self.classes = _class_folders(folder)
        if not self.classes:
            raise ValueError(f"{folder} holds no class folders: put each class's images in {folder}/<class>/ "
                             f"(`{verify_command(_NAME, self.root)}` lists what is wrong)")
        train = self.root / "train"
        if split != "train" and train.is_dir() and _class_folders(train) != self.classes:
            raise ValueError(f"the classes of {folder} ({self.classes}) differ from those of {train} "
                             f"({_class_folders(train)}): every split needs the same class folders, or the "
                             "label numbers would mean different classes")
        self.split, self.transform = split, transform
        self.samples = [(path, label) for label, name in enumerate(self.classes)
                        for path in _images(folder / name)]
        if not self.samples:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {folder}")
        self.labels = [label for _, label in self.samples]
        self._boxes = read_boxes(self.root)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        image = open_image(path, "RGB", fix=f"Replace or delete the file, then check the folder with "
                                            f"`{verify_command(_NAME, self.root)}`.")
        return (self.transform(image) if self.transform is not None else image), label

    def relative(self, index: int) -> str:
        """Image ``index``'s path relative to ``root``, as ``boxes.csv`` names it."""
        return self.samples[index][0].relative_to(self.root).as_posix()

    def boxes(self, index: int) -> Tensor:
        """The object boxes of image ``index``: float ``Tensor[M, 4]`` xyxy in stored pixels (M may be 0)."""
        return self._boxes.get(self.relative(index), torch.zeros(0, 4))

    @property
    def has_boxes(self) -> bool:
        return all(self.relative(i) in self._boxes for i in range(len(self)))


def verify_object_scenes(root: str | os.PathLike | None = None, *, strict: bool = True,
                         decode: bool = False) -> Report:
    """Check a labelled image folder; never raises for a bad folder.

    Errors: no ``train/``, or neither ``test/`` nor ``val/``; a split without class folders, a class
    folder without images, or class folders that differ between splits; unreadable images; a malformed
    ``boxes.csv``, or a box outside its image or naming a file that is not there. Warnings: files that
    are not images (skipped), classes with fewer than 5 images, no ``boxes.csv`` (the maps cannot be
    scored, only shown). ``strict`` is taken for the common verifier interface: a folder of one's own
    has no published counts to match. ``decode`` decodes every pixel.
    Introduced in lecture 11 (explainable AI).
    """
    root = data_root(_NAME, root)
    report = Report("labelled image folder", root)
    if not root.is_dir():
        report.errors.append(str(not_found(_NAME, root, "the image folder", contains=("train",))))
        return report
    splits = [s for s in SPLITS if (root / s).is_dir()]
    if "train" not in splits:
        report.errors.append(f"no train/ folder in {root}")
    if "test" not in splits and "val" not in splits:
        report.errors.append(f"no test/ (or val/) folder in {root}")
    reference = _class_folders(root / splits[0]) if splits else []
    scan = None
    for split in splits:
        classes = _class_folders(root / split)
        if not classes:
            report.errors.append(f"{split}/ holds no class folders")
            continue
        if classes != reference:
            report.errors.append(f"{split}/ has the classes {some_names(classes, 8)}, {splits[0]}/ has "
                                 f"{some_names(reference, 8)}: every split needs the same class folders")
        counts = {}
        for name in classes:
            files = [p for p in (root / split / name).iterdir() if p.is_file() and not is_system_file(p)]
            images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            others = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
            if others:
                report.warnings.append(f"{split}/{name}: {len(others)} file(s) that are not images are skipped: "
                                       f"{some_names(others, 4)}")
            if not images:
                report.errors.append(f"{split}/{name}/ holds no images")
            elif len(images) < 5:
                report.warnings.append(f"{split}/{name}/ holds only {len(images)} image(s)")
            counts[name] = len(images)
            scan = scan_images(images, decode=decode, into=scan)
        report.counts[split] = counts
        report.summary.append(f"{split}: {sum(counts.values())} images in {len(classes)} classes "
                              f"({some_names([f'{k} {v}' for k, v in counts.items()], 6)})")
    if scan is not None:
        report.summary += scan.summary()
        for bad in scan.unreadable:
            report.errors.append(f"cannot read {bad}")
    try:
        boxes = read_boxes(root)
    except ValueError as err:
        report.errors.append(str(err))
        boxes = {}
    if not (root / "boxes.csv").is_file():
        report.warnings.append("no boxes.csv: the maps can be drawn but not scored against object boxes")
    sizes = {p.relative_to(root).as_posix(): s for p, s in (scan.sizes.items() if scan else ())}
    missing = [file for file in boxes if file not in sizes]
    if missing:
        report.errors.append(f"boxes.csv names {len(missing)} file(s) not in the folder: {some_names(missing, 3)}")
    outside = [file for file, b in boxes.items() if file in sizes and
               (b[:, :2].min() < 0 or b[:, 2].max() > sizes[file][0] or b[:, 3].max() > sizes[file][1])]
    if outside:
        report.errors.append(f"boxes.csv has boxes outside their image for {some_names(outside, 3)}")
    if boxes:
        report.summary.append(f"boxes.csv: {sum(len(b) for b in boxes.values())} boxes for {len(boxes)} images")
    report.details.update(classes=reference, boxes=len(boxes), splits=splits)
    return report
