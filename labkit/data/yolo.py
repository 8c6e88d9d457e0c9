"""Detection datasets in the YOLO label format: a checked reader, and collate functions for batches.

Introduced in lecture 4 (object detection). A YOLO dataset gives each image a text file of the same stem
with one line per object, ``class x_center y_center width height``, the class a 0-based index into a
names file and the four numbers divided by the image width or height (so they lie in [0, 1]). An empty
label file is an image without objects. Four folder layouts are read:

- **Ultralytics** (the main one; what ``labkit``'s twin writes)::

      root/images/train/*.jpg|png   root/labels/train/*.txt   (same for val/)
      root/classes.txt              one class name per line (or root/data.yaml with ``names:``)

- **Roboflow export**: ``root/train/images``, ``root/train/labels``, ``root/valid/...`` and ``data.yaml``.
- **Darknet** (the book's ``ultralytics/yolov3``): flat ``root/images/`` and ``root/labels/``, lists of
  image paths ``root/train.txt`` and ``root/test.txt`` (or ``valid.txt``), and a ``root/*.names`` file.
- **Flat**, as labelling tools such as labelImg write it: ``root/images/`` and ``root/labels/`` side by
  side with a names file (``classes.txt``, ``data.yaml`` or ``obj.names``, in ``root`` or, as labelImg
  saves it, in ``root/labels/``) and no split at all. ``split=None`` reads the whole folder; split it
  yourself, e.g. with ``torch.utils.data.random_split``.

Split names: ``"val"`` also finds ``valid`` / ``validation`` folders (and, in the darknet layout, the
book's ``test.txt``); ``None`` is the whole flat folder (the darknet layout's ``images/`` without its
lists). ``data.yaml`` is read only when PyYAML is installed (it comes with Ultralytics).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from labkit.data.common import Report, data_root, open_image, scan_images, some_names
from labkit.data.registry import DatasetNotFoundError

__all__ = ["IMAGE_SUFFIXES", "YOLODataset", "find_split", "read_class_names", "read_label_file",
           "train_val_split", "verify_yolo", "pad_targets", "collate_detection"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_SPLIT_ALIASES = {"val": ("val", "valid", "validation"), "train": ("train",), "test": ("test",)}
_DARKNET_LISTS = {"val": ("val", "valid", "validation", "test"), "train": ("train",), "test": ("test",)}
LAYOUT_HELP = (
    "Expected the YOLO layout:\n"
    "  {root}/images/{split}/*.jpg|png   the images\n"
    "  {root}/labels/{split}/*.txt       one file per image, same stem; lines 'class xc yc w h' in [0, 1]\n"
    "  {root}/classes.txt                one class name per line\n"
    "(a Roboflow export, {split}/images + {split}/labels + data.yaml, or the darknet layout, images/ +\n"
    "labels/ + train.txt/test.txt + a .names file, is read too; a flat folder, images/ + labels/ + a\n"
    "names file without splits, is read whole with split=None). Without a dataset, "
    "labkit.data.get('yolo') writes a synthetic one in this layout.")
FLAT_HELP = (
    "{root} is a flat YOLO folder: images/ and labels/ hold the files themselves, with no {split!r} split "
    "(no images/{split}/ folder, no {split}.txt list). Read it whole with YOLODataset(root, split=None), "
    "or let labkit.data.yolo.train_val_split(root) split it at random (seeded).")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _darknet_label_path(image: Path) -> Path:
    """Darknet's rule: the last ``images`` folder of the path becomes ``labels``, the suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _darknet_images(root: Path, listing: Path) -> list[Path]:
    """The images named in a darknet list file, each resolved against the places darknet paths point to."""
    images = []
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        given = Path(name)
        candidates = [given] if given.is_absolute() else [root / given, root.parent / given]
        candidates.append(root / "images" / given.name)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DatasetNotFoundError(f"{listing}, line {number}: image {name!r} not found (looked for "
                                       f"{', '.join(str(c) for c in candidates)}). Fix the path in the list "
                                       f"or put the image in {root / 'images'}.")
        images.append(found)
    return images


def _flat_folders(root: Path) -> bool:
    """``root/images/`` and ``root/labels/`` that hold the files themselves (or nothing), not split folders."""
    if not ((root / "images").is_dir() and (root / "labels").is_dir()):
        return False
    entries = list((root / "images").iterdir())
    return any(_is_image(path) for path in entries) or not any(path.is_dir() for path in entries)


def _darknet_lists(root: Path) -> bool:
    return any((root / f"{name}.txt").is_file() for names in _DARKNET_LISTS.values() for name in names)


def find_split(root: str | os.PathLike, split: str | None) -> list[tuple[Path, Path]] | None:
    """The ``(image, label file)`` pairs of ``split`` under ``root``, in name order; None if no layout matches.

    ``split=None`` pairs ``root/images/`` with ``root/labels/`` as they are: the whole of a flat folder (or
    of a darknet one, its lists ignored); None when ``images/`` holds split folders instead of images.
    Checks the pairing: an image without a label file, or a label file without an image, raises
    DatasetNotFoundError naming it (an EMPTY label file is fine: an image without objects).
    Introduced in lecture 4 (object detection).
    """
    root = Path(root).expanduser()
    if split is None:
        return _pair_folder(root / "images", root / "labels") if _flat_folders(root) else None
    aliases = _SPLIT_ALIASES.get(split, (split,))
    for name in aliases:
        for images_dir, labels_dir in ((root / "images" / name, root / "labels" / name),
                                       (root / name / "images", root / name / "labels")):
            if images_dir.is_dir() and labels_dir.is_dir():
                return _pair_folder(images_dir, labels_dir)
    if (root / "images").is_dir() and (root / "labels").is_dir():
        for name in _DARKNET_LISTS.get(split, (split,)):
            if (root / f"{name}.txt").is_file():
                pairs = [(image, _darknet_label_path(image)) for image in _darknet_images(root, root / f"{name}.txt")]
                for image, label in pairs:
                    if not label.is_file():
                        raise DatasetNotFoundError(_no_label_message(image, label))
                return pairs
    return None


def _no_label_message(image: Path, label: Path) -> str:
    return (f"image {image} has no label file {label}. Every image needs one; for an image without "
            f"objects create an EMPTY file (e.g. `touch {label}`), or move the image out of the dataset.")


def _pair_folder(images_dir: Path, labels_dir: Path) -> list[tuple[Path, Path]]:
    images = {path.stem: path for path in sorted(images_dir.iterdir()) if _is_image(path)}
    # labelImg and some exports keep classes.txt beside the labels: it is not a label file.
    labels = {path.stem: path for path in sorted(labels_dir.glob("*.txt"))
              if path.name != "classes.txt" and not path.name.startswith(".")}
    for stem, image in images.items():
        if stem not in labels:
            raise DatasetNotFoundError(_no_label_message(image, labels_dir / f"{stem}.txt"))
    for stem, label in labels.items():
        if stem not in images:
            raise DatasetNotFoundError(f"label file {label} has no image {images_dir / stem}.<jpg|png> (looked for "
                                       f"{', '.join(IMAGE_SUFFIXES)}). Put the image there or delete the label file.")
    return [(images[stem], labels[stem]) for stem in sorted(images)]


def _yaml_names(path: Path) -> list[str] | None:
    try:
        import yaml  # optional: installed with Ultralytics; never needed for classes.txt
    except ImportError:
        return None
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):  # Ultralytics also writes {0: name, 1: name}
        names = [names[key] for key in sorted(names, key=int)]
    return [str(name) for name in names] if isinstance(names, list) else None


def read_class_names(root: str | os.PathLike) -> tuple[tuple[str, ...], Path]:
    """The class names of a YOLO dataset and the file they came from.

    Looks for ``root/classes.txt``, then ``root/data.yaml`` (``names:``, a list or an index -> name map;
    needs PyYAML), then a single ``root/*.names`` file (darknet), then ``root/labels/classes.txt`` (where
    labelImg saves it), one name per line, blank lines ignored.
    Raises DatasetNotFoundError saying which file to write when there is none, and ValueError when
    ``classes.txt`` and ``data.yaml`` disagree. Introduced in lecture 4 (object detection).
    """
    root = Path(root).expanduser()
    found: list[tuple[tuple[str, ...], Path]] = []
    if (root / "classes.txt").is_file():
        lines = (root / "classes.txt").read_text().splitlines()
        found.append((tuple(line.strip() for line in lines if line.strip()), root / "classes.txt"))
    for name in ("data.yaml", "data.yml"):
        if (root / name).is_file() and (names := _yaml_names(root / name)) is not None:
            found.append((tuple(names), root / name))
            break
    if len(found) == 2 and found[0][0] != found[1][0]:
        raise ValueError(f"{found[0][1]} lists {list(found[0][0])} but {found[1][1]} lists {list(found[1][0])}; "
                         "make them agree (or delete one): the class index in the labels refers to this order.")
    if not found:
        names_files = sorted(root.glob("*.names"))
        if len(names_files) > 1:
            raise ValueError(f"several .names files in {root}: {[p.name for p in names_files]}; keep only "
                             "the one that matches the labels")
        if not names_files and (root / "labels" / "classes.txt").is_file():
            names_files = [root / "labels" / "classes.txt"]
        if names_files:
            lines = names_files[0].read_text().splitlines()
            found.append((tuple(line.strip() for line in lines if line.strip()), names_files[0]))
    if not found:
        raise DatasetNotFoundError(f"no class names in {root}: write {root / 'classes.txt'} with one class name "
                                   "per line, in the order of the class indices used in the label files "
                                   "(line 1 is class 0).")
    names, source = found[0]
    if not names:
        raise ValueError(f"{source} lists no class names; write one name per line (line 1 is class 0)")
    return names, source


def read_label_file(path: str | os.PathLike, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse one YOLO label file: ``(labels int64 (N,), boxes float32 (N, 4) cx cy w h normalised)``.

    Every non-blank line must be ``class x_center y_center width height`` with an integer class (below
    ``num_classes`` when given), the coordinates in [0, 1] and ``width``, ``height`` > 0; anything else
    raises ValueError naming the file and line and saying what was expected. An empty file gives N = 0.
    Introduced in lecture 4 (object detection).
    """
    path = Path(path)
    labels, boxes = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}, line {number} ({line.strip()!r})"
        if len(fields) != 5:
            extra = " (segmentation polygons are not read here: export boxes)" if len(fields) > 5 else ""
            raise ValueError(f"{where}: expected 5 values 'class x_center y_center width height', got "
                             f"{len(fields)}{extra}")
        try:
            number_class = float(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise ValueError(f"{where}: expected numbers 'class x_center y_center width height', e.g. "
                             "'0 0.5 0.5 0.2 0.3'") from None
        if not number_class.is_integer() or number_class < 0:
            raise ValueError(f"{where}: the class must be a 0-based integer index, got {fields[0]!r}")
        if num_classes is not None and number_class >= num_classes:
            raise ValueError(f"{where}: class {int(number_class)} but the names file lists only {num_classes} "
                             f"classes (0 to {num_classes - 1}); add the missing names or fix the index")
        if not all(np.isfinite(values)) or min(values) < 0 or max(values) > 1:
            raise ValueError(f"{where}: x_center, y_center, width and height must be normalised to [0, 1] "
                             "(pixel values divided by the image width or height)")
        if values[2] <= 0 or values[3] <= 0:
            raise ValueError(f"{where}: width and height must be > 0; remove the line of an empty box")
        labels.append(int(number_class))
        boxes.append(values)
    return np.asarray(labels, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4)


class YOLODataset(Dataset):
    """A split of a YOLO-format detection dataset (see the module docstring for the layouts).

    ``split`` names the split (``"train"``, ``"val"``, ``"test"``); ``split=None`` reads a flat folder
    (``images/`` and ``labels/`` without splits, as labelling tools write it) whole, and the caller splits
    it, e.g. ``torch.utils.data.random_split(dataset, [0.8, 0.2])``. Asking a flat folder for a named split
    raises DatasetNotFoundError saying so.

    Item ``i`` is ``(image, target)``: ``image`` float ``Tensor[3, H, W]`` in [0, 1] (RGB, whatever the
    file's mode), ``target = {"boxes": float32 Tensor[N, 4] xyxy pixels, "labels": int64 Tensor[N]}``.
    ``image_size`` (an int for a square, or ``(H, W)``) resizes image and boxes together (no aspect
    ratio kept, as YOLO's square inputs). ``transform(image, target) -> (image, target)`` runs last, on a
    ``tv_tensors.Image`` and ``tv_tensors.BoundingBoxes``, so ``torchvision.transforms.v2`` moves the boxes
    with the pixels (add ``v2.SanitizeBoundingBoxes()`` after crops). ``.class_names`` holds the names.

    Every label file is parsed (and checked) when the dataset is built, so a bad line fails at once with
    the file and line; images are decoded on access (ImageReadError names a damaged one).
    Introduced in lecture 4 (object detection).
    """

    def __init__(self, root: str | os.PathLike, split: str | None = "train", *,
                 image_size: int | tuple[int, int] | None = None,
                 transform: Callable[[Any, dict], tuple[Any, dict]] | None = None):
        self.root = Path(root).expanduser()
        layout = LAYOUT_HELP.format(root=self.root, split="train" if split is None else split)
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"no dataset folder {self.root}. {layout}")
        pairs = find_split(self.root, split)
        if pairs is None and split is None:
            raise DatasetNotFoundError(f"split=None reads a flat folder (images/ and labels/ holding the files), "
                                       f"but {self.root} has none: name the split, e.g. "
                                       f"YOLODataset(root, 'train'). {layout}")
        if pairs is None and _flat_folders(self.root) and not _darknet_lists(self.root):
            raise DatasetNotFoundError(FLAT_HELP.format(root=self.root, split=split))
        if pairs is None:
            raise DatasetNotFoundError(f"no {split!r} split found in {self.root}. {layout}")
        if not pairs:
            where = f"{self.root}" if split is None else f"the {split!r} split of {self.root}"
            raise DatasetNotFoundError(f"{where} has no images ({', '.join(IMAGE_SUFFIXES)}). {layout}")
        self.class_names, self.names_file = read_class_names(self.root)
        self.split = split
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
            raise ValueError(f"image_size must be an int or (H, W) of positive ints, got {image_size!r}")
        self.image_size = image_size
        self.transform = transform
        self.images = [image for image, _ in pairs]
        self.label_files = [label for _, label in pairs]
        parsed = [read_label_file(label, len(self.class_names)) for label in self.label_files]
        self.labels = [labels for labels, _ in parsed]
        self.boxes_cxcywh = [boxes for _, boxes in parsed]  # normalised, as in the files

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (f"YOLODataset({str(self.root)!r}, split={self.split!r}, {len(self)} images, "
                f"{sum(len(labels) for labels in self.labels)} objects, classes={list(self.class_names)})")

    def subset(self, indices: Sequence[int]) -> YOLODataset:
        """The same dataset restricted to ``indices`` (in that order), keeping names and settings."""
        part = copy.copy(self)
        for name in ("images", "label_files", "labels", "boxes_cxcywh"):
            setattr(part, name, [getattr(self, name)[i] for i in indices])
        return part

    def load_image(self, index: int) -> Image.Image:
        """The image file as an RGB PIL image (resized to ``image_size`` when one is set)."""
        image = open_image(self.images[index], "RGB", fix="Copy it again, or delete it and its label file.")
        if self.image_size is not None:
            height, width = self.image_size
            image = image.resize((width, height), Image.BILINEAR)
        return image

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        image = self.load_image(index)
        width, height = image.size
        pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float().div_(255)
        cx, cy, w, h = torch.from_numpy(self.boxes_cxcywh[index]).unbind(-1)
        boxes = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height,
                             (cx + w / 2) * width, (cy + h / 2) * height], dim=-1)
        # Tools round, so a box may poke out of the frame by a hair: clip it to the image.
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        target = {"boxes": boxes, "labels": torch.from_numpy(self.labels[index])}
        if self.transform is not None:
            from torchvision import tv_tensors

            boxes = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width))
            pixels, target = self.transform(tv_tensors.Image(pixels), {**target, "boxes": boxes})
            pixels = pixels.as_subclass(Tensor)
            target = {key: value.as_subclass(Tensor) if isinstance(value, Tensor) else value
                      for key, value in target.items()}
        return pixels, target


def train_val_split(root: str | os.PathLike, *, val_fraction: float = 0.15, seed: int = 0,
                    **options: Any) -> tuple[YOLODataset, YOLODataset]:
    """``(train, val)`` of a YOLO folder: its own ``train`` and ``val`` splits when it has them, else a
    seeded random split of a flat folder (``val_fraction`` of the images, at least one, for validation).
    ``options`` (``image_size``, ``transform``) go to both datasets. Lecture 4."""
    if find_split(root, "train") is not None:
        return YOLODataset(root, "train", **options), YOLODataset(root, "val", **options)
    whole = YOLODataset(root, None, **options)
    if len(whole) < 2:
        raise ValueError(f"{root} holds {len(whole)} image(s): a flat folder needs two or more to split")
    order = torch.randperm(len(whole), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(len(whole) - 1, max(1, round(val_fraction * len(whole))))
    return whole.subset(order[n_val:]), whole.subset(order[:n_val])


def verify_yolo(root: str | os.PathLike | None = None, *, strict: bool = True, decode: bool = False) -> Report:
    """Check a YOLO folder: which splits it has, that every label line parses, images open; never raises.

    Counts images and objects per split and per class. Errors: no split at all, a malformed label or a
    missing pair (named by file and line), unreadable images. ``strict`` is accepted for the common
    verifier signature; a YOLO folder has no release to compare counts with. Lecture 4.
    """
    root = data_root("yolo", root)
    report = Report("YOLO dataset", root)
    splits = [split for split in ("train", "val", "test") if find_split(root, split) is not None] or [None]
    for split in splits:
        name = split or "(flat, all)"
        try:
            dataset = YOLODataset(root, split)
        except (FileNotFoundError, ValueError) as err:
            report.errors.append(f"{name}: {err}")
            continue
        per_class = np.bincount(np.concatenate(dataset.labels).astype(int), minlength=len(dataset.class_names))
        report.counts[name] = (len(dataset), int(per_class.sum()))
        report.summary.append(f"{name:5s}: {len(dataset)} images, {int(per_class.sum())} objects ("
                              + ", ".join(f"{c} {n}" for c, n in zip(dataset.class_names, per_class)) + ")")
        scan = scan_images(dataset.images, decode=decode)
        if scan.unreadable:
            report.errors.append(f"{name}: {len(scan.unreadable)} image(s) cannot be read: "
                                 f"{some_names(scan.unreadable, 3)}")
    return report


def _stack(images: Sequence[Tensor]) -> Tensor:
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise ValueError(f"images of different sizes in one batch: {sorted(shapes)}; give the dataset an "
                         "image_size (e.g. YOLODataset(root, image_size=416)) so they can be stacked")
    return torch.stack(list(images))


def pad_targets(batch: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Tensor, Tensor]:
    """Collate ``(image, target)`` pairs into ``(images (B, 3, H, W), targets (B, M, 5))``.

    Row ``j`` of ``targets[b]`` is ``[label, x1, y1, x2, y2]`` of object ``j`` of image ``b``; images with
    fewer than ``M`` (the most objects in the batch, at least 1) objects are padded with rows whose label
    is -1. One tensor, so ``labkit.train.fit`` can move it to the device. Use as a DataLoader's
    ``collate_fn``. Introduced in lecture 4 (object detection).
    """
    if len(batch) == 0:
        raise ValueError("pad_targets got an empty batch")
    images = _stack([image for image, _ in batch])
    most = max([1] + [len(target["labels"]) for _, target in batch])
    targets = torch.zeros(len(batch), most, 5)
    targets[:, :, 0] = -1
    for b, (_, target) in enumerate(batch):
        n = len(target["labels"])
        targets[b, :n, 0] = target["labels"].float()
        targets[b, :n, 1:] = target["boxes"].float().reshape(-1, 4)
    return images, targets


def collate_detection(batch: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Tensor | list[Tensor], list[dict]]:
    """Collate ``(image, target)`` pairs the torchvision detection way: ``(images, [target, ...])``.

    ``images`` is one ``(B, 3, H, W)`` tensor when all images have the same size, else a list of
    ``(3, H_i, W_i)`` tensors (torchvision's detection models take either). Use as a DataLoader's
    ``collate_fn``. Introduced in lecture 4; used in lecture 5 (Mask R-CNN).
    """
    if len(batch) == 0:
        raise ValueError("collate_detection got an empty batch")
    images = [image for image, _ in batch]
    if len({tuple(image.shape) for image in images}) == 1:
        images = torch.stack(images)
    return images, [target for _, target in batch]
