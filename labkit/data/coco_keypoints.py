"""COCO person keypoints (and your own photos): loader, checker and the format's rules, for lecture 7.

Introduced in lecture 7 (pose estimation). COCO 2017 (Lin et al., ECCV 2014) is published as
``annotations_trainval2017.zip`` and the image archives ``train2017.zip`` / ``val2017.zip``; unpacked
side by side they give::

    annotations/person_keypoints_train2017.json     149,813 people in 56,599 images (with keypoints)
    annotations/person_keypoints_val2017.json       6,352 people in 2,346 images
    train2017/000000000009.jpg ...                  (images/train2017/ is read as well)
    val2017/000000000139.jpg ...
    photos/                                         optional: your own JPG/PNG photos for the demo

Any other COCO-format export (CVAT, Label Studio, Roboflow) named ``person_keypoints_<split>.json``
with its images in ``<split>/`` works the same way. In a keypoint file each annotation has ``bbox``
``[x, y, w, h]``, ``area``, ``iscrowd``, ``num_keypoints`` and ``keypoints``: 17 x 3 numbers ``x, y, v``
in the order of the ``person`` category's ``keypoints`` list (``v``: 0 not labelled, 1 hidden,
2 visible). :func:`read_keypoint_file` checks all of that and names the first bad record.
``labkit.data.get("coco-keypoints")`` returns the folder, or the synthetic twin
(:mod:`labkit.data.coco_keypoints_twin`) in the same layout.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from labkit.data.common import (Report, data_root, is_system_file, not_found, open_image, scan_images,
                                some_names, verify_command)
from labkit.keypoints import KEYPOINT_NAMES

__all__ = ["CocoKeypoints", "PersonPhotos", "read_keypoint_file", "keypoint_files", "verify_coco_keypoints",
           "PHOTO_SUFFIXES"]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_FIX = "Download the annotations again (annotations_trainval2017.zip) or re-export them in COCO keypoint format"


def keypoint_files(root: Path) -> dict[str, Path]:
    """``{split: path}`` for every ``annotations/person_keypoints_<split>.json`` under ``root``."""
    folder = Path(root) / "annotations"
    if not folder.is_dir():
        return {}
    return {p.stem[len("person_keypoints_"):]: p for p in sorted(folder.glob("person_keypoints_*.json"))}


def _bad(path: Path, where: str, problem: str) -> ValueError:
    return ValueError(f"{path}: {where}: {problem}. {_FIX}, then run `python -m labkit.data verify "
                      f"coco-keypoints --folder {path.parent.parent}`.")


def _number_list(value: Any, n: int) -> bool:
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value))


def read_keypoint_file(path: str | os.PathLike) -> dict[str, Any]:
    """A ``person_keypoints_*.json`` file, checked: ``{"images": {id: image dict}, "people": {image id:
    [annotation, ...]}, "keypoint_names": [...]}``.

    Raises ``ValueError`` naming the file and the first bad record (which annotation, which field,
    what was expected) for: invalid JSON, missing ``images``/``annotations``/``categories``, no person
    category with 17 keypoint names in COCO's order, an annotation whose ``keypoints`` is not 51
    numbers, whose ``v`` is not 0, 1 or 2, whose ``bbox`` is not 4 numbers with ``w, h >= 0``, whose
    ``num_keypoints`` disagrees with its ``v > 0`` count, or whose ``image_id`` is not in ``images``.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise _bad(path, f"line {err.lineno}, column {err.colno}", f"not valid JSON ({err.msg})") from err
    if not isinstance(document, dict):
        raise _bad(path, "top level", "expected an object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(document.get(key), list):
            raise _bad(path, "top level", f"the list {key!r} is missing")
    people = [c for c in document["categories"] if isinstance(c, dict) and c.get("name") == "person"]
    if not people:
        raise _bad(path, "categories", "no category named 'person' (is this instances_*.json, not person_keypoints_*.json?)")
    category = people[0]
    names = category.get("keypoints")
    if names != list(KEYPOINT_NAMES):
        raise _bad(path, f"categories (person, id {category.get('id')})",
                   f"keypoints must be COCO's 17 names in order {list(KEYPOINT_NAMES)}, got {names!r}")
    images: dict[int, dict] = {}
    for i, image in enumerate(document["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or not image.get("file_name"):
            raise _bad(path, f"images[{i}]", "each image needs an integer 'id' and a 'file_name'")
        images[image["id"]] = image
    by_image: dict[int, list[dict]] = {}
    for i, ann in enumerate(document["annotations"]):
        where = f"annotations[{i}] (id {ann.get('id') if isinstance(ann, dict) else '?'})"
        if not isinstance(ann, dict):
            raise _bad(path, where, "an annotation must be an object")
        if ann.get("category_id") != category.get("id"):
            continue  # other categories carry no keypoints
        if ann.get("image_id") not in images:
            raise _bad(path, where, f"image_id {ann.get('image_id')!r} is not in 'images'")
        if not _number_list(ann.get("keypoints"), 3 * len(KEYPOINT_NAMES)):
            raise _bad(path, where, "'keypoints' must be a list of 51 numbers (x, y, v for each of the 17 joints)")
        v = np.asarray(ann["keypoints"], float)[2::3]
        if not np.isin(v, (0, 1, 2)).all():
            raise _bad(path, where, f"visibility flags must be 0, 1 or 2, got {sorted(set(v.tolist()))}")
        bbox = ann.get("bbox")
        if not _number_list(bbox, 4) or bbox[2] < 0 or bbox[3] < 0:
            raise _bad(path, where, f"'bbox' must be [x, y, width, height] with width, height >= 0, got {bbox!r}")
        if "num_keypoints" in ann and ann["num_keypoints"] != int((v > 0).sum()):
            raise _bad(path, where, f"num_keypoints is {ann['num_keypoints']} but {int((v > 0).sum())} "
                                    "joints have v > 0")
        by_image.setdefault(ann["image_id"], []).append(ann)
    return {"images": images, "people": by_image, "keypoint_names": names}


def _image_folder(root: Path, split: str) -> Path | None:
    for folder in (root / split, root / "images" / split):
        if folder.is_dir():
            return folder
    return None


class CocoKeypoints(Dataset):
    """The images of one split that show at least one person: ``(image, target)`` pairs.

    ``image``: uint8 ``(H, W, 3)`` RGB array (crops are cut from it by
    :func:`labkit.keypoints.crop_person`). ``target``: ``"image_id"`` int, ``"keypoints"`` float32
    ``(N, 17, 3)``, ``"boxes"`` float32 ``(N, 4)`` COCO ``(x, y, w, h)``, ``"area"`` ``(N,)``,
    ``"iscrowd"`` int64 ``(N,)``. ``split`` is the part of ``person_keypoints_<split>.json``
    (``"val2017"``, ``"train2017"``); images are read from ``<split>/`` or ``images/<split>/``.
    ``max_images`` keeps the first images only (in ``id`` order), to try things quickly.
    Introduced in lecture 7 (pose estimation).
    """

    def __init__(self, root: str | os.PathLike | None = None, split: str = "val2017", *,
                 max_images: int | None = None):
        self.root = data_root("coco-keypoints", root)
        files = keypoint_files(self.root)
        if split not in files:
            found = f" (found the splits {', '.join(files)})" if files else ""
            raise not_found("coco-keypoints", self.root, f"annotations/person_keypoints_{split}.json{found}",
                            contains=("annotations",))
        self.split = split
        self.annotation_file = files[split]
        parsed = read_keypoint_file(self.annotation_file)
        self.images_dir = _image_folder(self.root, split)
        if self.images_dir is None:
            raise not_found("coco-keypoints", self.root, f"the image folder {split}/ (or images/{split}/)",
                            contains=("annotations",))
        self.image_ids = sorted(parsed["people"])[:max_images]
        self._images, self._people = parsed["images"], parsed["people"]

    def __len__(self) -> int:
        return len(self.image_ids)

    def image_path(self, index: int) -> Path:
        return self.images_dir / self._images[self.image_ids[index]]["file_name"]

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        image_id = self.image_ids[index]
        image = np.asarray(open_image(self.image_path(index), "RGB",
                                      fix=f"Download or copy the {self.split} images again."))
        people = self._people[image_id]
        return image, {
            "image_id": image_id,
            "keypoints": torch.tensor([p["keypoints"] for p in people], dtype=torch.float32).reshape(-1, 17, 3),
            "boxes": torch.tensor([p["bbox"] for p in people], dtype=torch.float32).reshape(-1, 4),
            "area": torch.tensor([float(p.get("area", p["bbox"][2] * p["bbox"][3])) for p in people]),
            "iscrowd": torch.tensor([int(p.get("iscrowd", 0)) for p in people], dtype=torch.int64),
        }


class PersonPhotos(Dataset):
    """Your own photos in ``<root>/photos/`` (JPG, PNG, BMP, WebP), as ``(name, uint8 (H, W, 3) RGB)``.

    The demo input of Keypoint R-CNN in lecture 7. Hidden and system files are skipped; an empty or
    missing folder raises an error saying where to put the photos.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = data_root("coco-keypoints", root)
        folder = self.root / "photos"
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES
                            and not is_system_file(p)) if folder.is_dir() else []
        if not self.paths:
            raise FileNotFoundError(f"no photos (any of {', '.join(PHOTO_SUFFIXES)}) in {folder}: put a few "
                                    "photos of people there (your own, with their consent) and run the cell again.")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[str, np.ndarray]:
        path = self.paths[index]
        return path.name, np.asarray(open_image(path, "RGB", fix="Replace or delete this photo."))


def verify_coco_keypoints(folder: str | os.PathLike, *, strict: bool = True, decode: bool = False) -> Report:
    """Check a COCO keypoint folder; never raises for a bad folder. ``decode`` opens every image
    (slow on COCO's 118,000), otherwise only their presence is checked; ``strict`` makes a missing
    image an error rather than a warning."""
    root = Path(folder).expanduser()
    report = Report("COCO person keypoints", root)
    files = keypoint_files(root)
    if not files:
        report.errors.append(f"no annotations/person_keypoints_<split>.json under {root}")
        return report
    for split, path in files.items():
        try:
            parsed = read_keypoint_file(path)
        except (ValueError, OSError) as err:
            report.errors.append(str(err))
            continue
        images_dir = _image_folder(root, split)
        n_people = sum(len(v) for v in parsed["people"].values())
        report.counts[split] = {"images": len(parsed["people"]), "people": n_people}
        report.summary.append(f"{split}: {n_people} people with keypoints in {len(parsed['people'])} images")
        if images_dir is None:
            report.errors.append(f"{path.name} has no image folder {split}/ (or images/{split}/)")
            continue
        paths = [images_dir / parsed["images"][i]["file_name"] for i in sorted(parsed["people"])]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            message = f"{len(missing)} image(s) of {split} are missing from {images_dir}: {some_names(missing)}"
            (report.errors if strict else report.warnings).append(message)
        if decode:
            scan = scan_images([p for p in paths if p.is_file()], decode=True)
            report.errors += [f"unreadable image {u}" for u in scan.unreadable]
    photos = root / "photos"
    n_photos = len([p for p in photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES]) if photos.is_dir() else 0
    report.counts["photos"] = n_photos
    report.summary.append(f"photos/: {n_photos} photos" if n_photos else
                          "photos/: none (optional: your own photos for the Keypoint R-CNN demo)")
    report.details["splits"] = sorted(files)
    report.details["check"] = verify_command("coco-keypoints", root)
    return report
