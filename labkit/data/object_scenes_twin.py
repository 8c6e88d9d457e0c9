"""Synthetic scenes of patterned objects with a known box: the offline twin of a labelled image folder.

Introduced in lecture 11 (explainable AI), where three networks are trained on these scenes and their
saliency maps are scored against the box: the twin knows *where* the evidence for the label is.

The generative story of one scene, in the order things are drawn:

1. **Background.** The background of the shapes scenes of lecture 4
   (:mod:`labkit.data.yolo_twin`): a colour gradient, a smooth noise texture and 0 to 4 thin clutter
   lines, so that no pixel value and no sharp edge by itself says "object".
2. **The object's place.** One object per scene, 40% to 55% of the image side, fully inside the
   frame. Its outline is a disc, a turned square or a turned triangle (:data:`OUTLINES`), drawn
   independently of the class.
3. **Distractors.** 1 to ``max_distractors`` things of no class, each outside the object's box (a few
   tries, then it is left out), in random colours: a thick **bar** (a turned rectangle at least three
   times as long as it is wide), a soft colour **blob**, or a smaller **plain shape** (an outline with
   no pattern). They appear in every class alike, so they carry no information about the label, and a
   map that points at one misses the box.
4. **The object.** Filled with its class's pattern (:data:`OBJECT_CLASSES`): ``checks`` (a
   checkerboard), ``dots`` (a lattice of dots), ``grid`` (thin crossing lines), ``rings`` (concentric
   rings around the object's centre) or ``stripes`` (parallel bands), in a dark and a light colour, at a
   random period (10% to 13% of the side) and angle. Colours and outline never depend on the class:
   only the pattern, which is found inside the box and nowhere else, gives the class away.
5. **Camera.** A slight Gaussian blur and sensor noise.

Where the labels come from: the class is the index of the pattern drawn in step 4, in the sorted order
:data:`OBJECT_CLASSES` (the order ``torchvision.datasets.ImageFolder`` gives the class folders); the box
is the tight box of the object's outline in pixel-edge coordinates (``x2`` is one past the last column,
as ``torchvision.ops.box_iou`` expects). OpenCV draws on RGB numpy arrays; nothing goes through its
BGR file functions.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from labkit.data.download import staged_directory
from labkit.data.yolo_twin import _background

__all__ = ["OBJECT_CLASSES", "OUTLINES", "DISTRACTORS", "ObjectScene", "make_object_scene", "write_object_scenes_twin",
           "BOXES_FILE"]

OBJECT_CLASSES = ("checks", "dots", "grid", "rings", "stripes")  # sorted: ImageFolder's order
OUTLINES = ("disc", "square", "triangle")  # the object's outline, drawn independently of its class
DISTRACTORS = ("bar", "blob", "plain shape")
BOXES_FILE = "boxes.csv"  # beside the split folders: file,x1,y1,x2,y2 (pixels, x2/y2 exclusive)
OBJECT_SIZE = (0.4, 0.55)  # the object's extent as a fraction of the image side
_SHIFT = 4  # cv2 drawing with fractional coordinates: points in 1/16 pixel


class ObjectScene(NamedTuple):
    """One scene: ``image`` uint8 (H, W, 3) RGB; ``label`` the index in :data:`OBJECT_CLASSES`; ``box``
    float32 (4,) xyxy of the object (pixel edges); ``mask`` bool (H, W) the object's pixels;
    ``distractor_boxes`` float32 (D, 4), the boxes of the distractors."""

    image: np.ndarray
    label: int
    box: np.ndarray
    mask: np.ndarray
    distractor_boxes: np.ndarray


def _pts(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points) * 16).astype(np.int32)


def _turned(corners: np.ndarray, theta: float) -> np.ndarray:
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return corners @ rotation.T


def _outline(rng: np.random.Generator, size: int, extent: float,
             centre: np.ndarray | None = None) -> np.ndarray:
    """A disc, turned square or turned triangle ``extent`` pixels across: bool (size, size)."""
    half = extent / 2
    centre = rng.uniform(half + 1, size - 2 - half, 2) if centre is None else centre
    mask = np.zeros((size, size), np.uint8)
    kind = OUTLINES[int(rng.integers(len(OUTLINES)))]
    if kind == "disc":
        cv2.circle(mask, tuple(_pts(centre)), int(round(half * 16)), 1, -1, cv2.LINE_8, _SHIFT)
    elif kind == "square":  # turned by theta, it must still fit in the extent
        theta = rng.uniform(0, np.pi / 2)
        side = extent / (abs(np.cos(theta)) + abs(np.sin(theta)))
        square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * side / 2
        cv2.fillPoly(mask, [_pts(_turned(square, theta) + centre)], 1, cv2.LINE_8, _SHIFT)
    else:
        angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi / 3 * np.arange(3)
        corners = np.stack([np.cos(angles), np.sin(angles)], 1) * half
        cv2.fillPoly(mask, [_pts(corners + centre)], 1, cv2.LINE_8, _SHIFT)
    return mask.astype(bool)


def _pattern(rng: np.random.Generator, label: int, size: int, centre: np.ndarray) -> np.ndarray:
    """The class's fill pattern over the whole canvas, turned at random: bool (size, size)."""
    period = rng.uniform(0.1, 0.13) * size
    theta = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = x - centre[0], y - centre[1]
    u = (np.cos(theta) * dx + np.sin(theta) * dy) / period + rng.uniform(0, 1)
    v = (-np.sin(theta) * dx + np.cos(theta) * dy) / period + rng.uniform(0, 1)
    name = OBJECT_CLASSES[label]
    if name == "checks":
        return (np.floor(u) + np.floor(v)) % 2 == 0
    if name == "dots":
        return (u - np.round(u)) ** 2 + (v - np.round(v)) ** 2 < 0.3 ** 2
    if name == "grid":
        return (np.abs(u - np.round(u)) < 0.17) | (np.abs(v - np.round(v)) < 0.17)
    if name == "rings":
        return np.sin(2 * np.pi * np.hypot(dx, dy) / period) > 0
    return np.sin(2 * np.pi * u) > 0  # stripes


def _distractor(rng: np.random.Generator, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A distractor's mask (bool) and opacity (float32 in [0, 1], soft for blobs) at a random place."""
    canvas = np.zeros((size, size), np.float32)
    centre = rng.uniform(0.1, 0.9, 2) * size
    if kind == "bar":
        length, width = rng.uniform(0.25, 0.4) * size, rng.uniform(0.04, 0.07) * size
        bar = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * (length / 2, width / 2)
        cv2.fillPoly(canvas, [_pts(_turned(bar, rng.uniform(0, np.pi)) + centre)], 1.0, cv2.LINE_8, _SHIFT)
    elif kind == "blob":
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        sx, sy = rng.uniform(0.05, 0.1, 2) * size
        canvas = np.exp(-0.5 * (((x - centre[0]) / sx) ** 2 + ((y - centre[1]) / sy) ** 2)).astype(np.float32)
    else:  # a plain shape: an object's outline, smaller, with no pattern
        extent = rng.uniform(0.15, 0.25) * size
        centre = np.clip(centre, extent / 2 + 1, size - 2 - extent / 2)
        canvas = _outline(rng, size, extent, centre).astype(np.float32)
    return canvas > 0.25, canvas


def _box_of(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.float32)


def _overlaps(box: np.ndarray, other: np.ndarray, margin: float) -> bool:
    return not (box[2] + margin <= other[0] or other[2] + margin <= box[0] or
                box[3] + margin <= other[1] or other[3] + margin <= box[1])


def make_object_scene(rng: np.random.Generator, label: int, size: int = 64, *,
                      max_distractors: int = 3) -> ObjectScene:
    """Draw one scene of class ``label`` (see the module docstring for the generative story).

    ``label`` indexes :data:`OBJECT_CLASSES`; ``size`` is the image side (at least 32 pixels). Returns an
    :class:`ObjectScene`; the same ``rng`` state gives the same scene. Introduced in lecture 11.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}")
    if not 0 <= label < len(OBJECT_CLASSES):
        raise ValueError(f"label must be in 0..{len(OBJECT_CLASSES) - 1} ({', '.join(OBJECT_CLASSES)}), got {label}")
    if size < 32:
        raise ValueError(f"size={size} is too small to tell the patterns apart; use at least 32 pixels")
    if max_distractors < 0:
        raise ValueError(f"max_distractors must be >= 0, got {max_distractors}")

    image = _background(rng, size)
    extent = rng.uniform(*OBJECT_SIZE) * size
    centre = rng.uniform(extent / 2 + 1, size - 2 - extent / 2, 2)
    mask = _outline(rng, size, extent, centre)
    box = _box_of(mask)
    distractor_boxes = []
    for _ in range(int(rng.integers(1, max_distractors + 1)) if max_distractors else 0):
        kind = DISTRACTORS[int(rng.integers(len(DISTRACTORS)))]
        for _attempt in range(6):
            d_mask, alpha = _distractor(rng, kind, size)
            if d_mask.any() and not _overlaps(_box_of(d_mask), box, margin=1):
                break
        else:
            continue
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        image = image * (1 - alpha[..., None]) + colour * alpha[..., None]
        distractor_boxes.append(_box_of(d_mask))

    # A dark and a light colour (which is which is random); the class's pattern says which pixel gets which.
    dark = rng.uniform(0, 70, 3).astype(np.float32)
    light = rng.uniform(170, 255, 3).astype(np.float32)
    first, second = (dark, light) if rng.random() < 0.5 else (light, dark)
    pattern = _pattern(rng, label, size, centre)
    image[mask & pattern] = first
    image[mask & ~pattern] = second

    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.5) * size / 64)
    image += rng.normal(0, rng.uniform(2, 5), image.shape).astype(np.float32)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    boxes = np.asarray(distractor_boxes, np.float32).reshape(-1, 4)
    return ObjectScene(image, int(label), box, mask, boxes)


def write_object_scenes_twin(root: str | os.PathLike, counts: dict[str, int] | None = None, *,
                             size: int = 96, seed: int = 0, overwrite: bool = False) -> Path:
    """Write scenes of :func:`make_object_scene` as a labelled image folder with boxes; return ``root``.

    Layout (``torchvision.datasets.ImageFolder`` per split, the layout of a student's own folder)::

        root/train/<class>/train_00000.png ...    root/test/<class>/test_00000.png ...
        root/boxes.csv    file,x1,y1,x2,y2 (file relative to root; the object's box in pixels)

    ``counts`` maps each split to its number of scenes (default ``{"train": 4000, "test": 1000}``; the
    registry's fast twin asks for fewer and smaller). Classes take turns, so each split is balanced.
    Scene ``i`` of split ``k`` (in the order of ``counts``) is drawn from
    ``np.random.default_rng([seed, k, i])``. PNG keeps the hard edges the boxes are measured on. The twin
    is written beside ``root`` and renamed into place; an existing non-empty ``root`` is replaced only
    with ``overwrite=True``. Introduced in lecture 11 (explainable AI).
    """
    counts = {"train": 4000, "test": 1000} if counts is None else dict(counts)
    for split, n in counts.items():
        if n < 0:
            raise ValueError(f"counts[{split!r}] must be >= 0, got {n}")
    root = Path(root).expanduser()
    with staged_directory(root, overwrite=overwrite) as staging:
        rows = []
        for k, (split, n) in enumerate(counts.items()):
            for name in OBJECT_CLASSES:
                (staging / split / name).mkdir(parents=True)
            for i in range(n):
                label = i % len(OBJECT_CLASSES)
                scene = make_object_scene(np.random.default_rng([seed, k, i]), label, size)
                file = f"{split}/{OBJECT_CLASSES[label]}/{split}_{i:05d}.png"
                Image.fromarray(scene.image, "RGB").save(staging / file, compress_level=1)
                rows.append([file, *(int(v) for v in scene.box)])
        with open(staging / BOXES_FILE, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "x1", "y1", "x2", "y2"])
            writer.writerows(rows)
    return root
