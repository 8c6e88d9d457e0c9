"""Synthetic scenes of coloured shapes with boxes and instance masks: the offline twin of a YOLO dataset.

Introduced in lecture 4 (object detection), where a small YOLO is trained on these scenes written to disk
in the Ultralytics YOLO layout (:func:`write_shapes_twin`, read back by :class:`labkit.data.yolo.YOLODataset`);
reused in lecture 5 (segmentation), where :func:`make_shapes_scene` feeds the instance masks to Mask R-CNN.

The generative story of one scene, in the order things are drawn:

1. **Background.** A linear colour gradient between two random colours, plus a smooth noise texture
   (Gaussian noise blurred at a few pixels, different in each channel), so no pixel value says
   "background". Then 0 to 4 thin **clutter lines** of random colour: edges that are not objects, so a
   detector cannot fire on every sharp edge.
2. **Objects.** 1 to ``max_objects`` filled shapes, each a class of :data:`SHAPE_CLASSES`: a circle, a
   square turned by a random angle, or an equilateral triangle turned by a random angle. The size (circle
   diameter, square side, triangle side) is 12% to 45% of the image side (``size_range``; the twin on disk
   uses 18% to 45%, :data:`TWIN_SIZE_RANGE`). The colour is drawn
   independently of the class (so colour never gives the class away), only kept far enough from the
   colours it is painted over to be visible; each shape gets a mild linear shading. Shapes are placed at
   random, fully inside the frame, and may overlap: a later shape hides an earlier one. A placement that
   would hide more than ``max_occlusion`` (:data:`MAX_OCCLUSION`, 60%; the twin on disk uses
   :data:`TWIN_MAX_OCCLUSION`, 35%) of an earlier shape is redrawn elsewhere (a few tries,
   then the shape is left out), so every shape in the picture is labelled and none is mostly hidden.
3. **Camera.** A slight Gaussian blur (focus) and sensor noise.

Where the labels come from: each object's mask is the set of pixels where it is *visible* (the top-most
shape there), its box is the tight box of that mask in pixel-edge coordinates (pixel ``i`` covers
``[i, i + 1)``, so a mask on columns 3..7 has ``x1 = 3, x2 = 8``: the convention of
:class:`labkit.data.PennFudan`, under which a horizontal flip maps a box exactly onto its flipped mask;
``torchvision.ops.masks_to_boxes`` gives ``x2 = 7``), and its label is the index of its class.
Shapes are drawn with hard edges (``cv2.LINE_8``) so the masks are exact; the blur only softens the
picture. OpenCV draws here on plain numpy arrays that are RGB throughout (colours are given as RGB
triples): nothing is read or written through OpenCV's BGR file functions.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image

from labkit.data.common import smooth_noise
from labkit.data.download import staged_directory
from labkit.detection import masks_to_boxes

__all__ = [
    "SHAPE_CLASSES", "MAX_OCCLUSION", "SIZE_RANGE", "TWIN_SIZE_RANGE", "TWIN_MAX_OCCLUSION", "ShapesScene",
    "make_shapes_scene", "write_shapes_twin",
]

SHAPE_CLASSES = ("circle", "square", "triangle")
MAX_OCCLUSION = 0.6  # an object may lose at most this fraction of its pixels behind later objects
SIZE_RANGE = (0.12, 0.45)  # shape size as a fraction of the image side
MIN_CONTRAST = 80.0  # RGB distance (0..441) an object's colour keeps from what it is painted over
# The twin on disk (lecture 4) draws larger, less hidden shapes than make_shapes_scene's defaults: at 96 px
# a 12% circle is 11 pixels wide and hard to tell from a turned square, which is not what the lecture is about.
TWIN_SIZE_RANGE = (0.18, 0.45)
TWIN_MAX_OCCLUSION = 0.35
_SUBPIXEL = 4  # cv2 drawing with fractional coordinates: points are given in 1/16 pixel


class ShapesScene(NamedTuple):
    """One scene: ``image`` uint8 (H, W, 3) RGB; ``boxes`` float32 (N, 4) xyxy pixels; ``labels`` int64 (N,)
    indices into :data:`SHAPE_CLASSES`; ``masks`` bool (N, H, W), the visible pixels of each object."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gradient + smooth texture + clutter lines: float32 (size, size, 3) RGB in [0, 255]."""
    a, b = rng.uniform(20, 235, (2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / np.float32(size - 1)
    t = np.clip(0.5 + (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle), 0, 1)[..., None]
    image = (1 - t) * a + t * b
    image += rng.uniform(6, 18) * smooth_noise(rng, (size, size, 3), rng.uniform(1.5, 4.0) * size / 96)
    for _ in range(rng.integers(0, 5)):
        (x0, y0), (x1, y1) = rng.uniform(-0.1, 1.1, (2, 2)) * size
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))  # an RGB triple: the canvas is RGB
        cv2.line(image, (int(x0 * 16), int(y0 * 16)), (int(x1 * 16), int(y1 * 16)), colour,
                 thickness=int(rng.integers(1, 3)), lineType=cv2.LINE_AA, shift=_SUBPIXEL)
    return image


def _shape_mask(rng: np.random.Generator, kind: int, size: int,
                size_range: tuple[float, float] = SIZE_RANGE) -> np.ndarray:
    """A filled shape of class ``kind`` at a random place fully inside the frame: bool (size, size)."""
    extent = rng.uniform(*size_range) * size  # circle diameter, square side, triangle side
    if kind == 0:
        radius = extent / 2
        centre = rng.uniform(radius, size - 1 - radius, 2)
        mask = np.zeros((size, size), np.uint8)
        cv2.circle(mask, tuple(int(v) for v in np.round(centre * 16)), int(round(radius * 16)), 1,
                   thickness=-1, lineType=cv2.LINE_8, shift=_SUBPIXEL)
        return mask.astype(bool)
    if kind == 1:
        corners, turn = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * extent / 2, np.pi / 2
    else:  # equilateral triangle: circumradius = side / sqrt(3)
        angles = np.pi / 2 + 2 * np.pi / 3 * np.arange(3)
        corners, turn = np.stack([np.cos(angles), np.sin(angles)], 1) * extent / np.sqrt(3), 2 * np.pi / 3
    theta = rng.uniform(0, turn)  # the shape's symmetry makes larger turns redundant
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    corners = corners @ rotation.T
    low, high = corners.min(0), corners.max(0)
    corners += rng.uniform(-low, size - 1 - high)  # keeps every corner inside [0, size - 1]
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(corners * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL)
    return mask.astype(bool)


def _pick_colour(rng: np.random.Generator, under: list[np.ndarray], tries: int = 12) -> np.ndarray:
    """A random RGB colour far (>= MIN_CONTRAST) from every colour in ``under``; the farthest tried if
    none is. The class plays no part: colour must not give the class away."""
    candidates = rng.uniform(0, 255, (tries, 3)).astype(np.float32)
    under = np.asarray(under, np.float32).reshape(-1, 3)
    distance = np.linalg.norm(candidates[:, None, :] - under[None, :, :], axis=-1).min(1)
    good = np.flatnonzero(distance >= MIN_CONTRAST)
    return candidates[good[0] if len(good) else int(distance.argmax())]


def make_shapes_scene(rng: np.random.Generator, size: int = 96, *, max_objects: int = 4,
                      size_range: tuple[float, float] = SIZE_RANGE,
                      max_occlusion: float = MAX_OCCLUSION) -> ShapesScene:
    """Draw one scene of 1 to ``max_objects`` shapes (see the module docstring for the generative story).

    Returns a :class:`ShapesScene`: ``image`` uint8 (size, size, 3) RGB, ``boxes`` float32 (N, 4) xyxy in
    pixels (tight boxes of the masks, pixel edges: ``x2`` is one past the last column), ``labels`` int64 (N,) in ``0 .. len(SHAPE_CLASSES) - 1``,
    ``masks`` bool (N, size, size) of the visible pixels, objects in drawing order (later ones on top).
    ``size_range`` is the shape size as fractions of ``size`` (default :data:`SIZE_RANGE`, 0.12 to 0.45);
    every object keeps at least ``1 - max_occlusion`` of its pixels visible (default :data:`MAX_OCCLUSION`,
    0.6, so 40%). Larger, less hidden shapes make an easier task (lecture 4's fast twin). The defaults are
    what the Mask R-CNN checkpoint of lecture 5 was trained on. The same ``rng`` state gives the same scene.
    Introduced in lecture 4 (object detection); reused in lecture 5 (Mask R-CNN).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}")
    if size < 32:
        raise ValueError(f"size={size} is too small to tell the shapes apart; use at least 32 pixels")
    if max_objects < 1:
        raise ValueError(f"max_objects must be at least 1, got {max_objects}")
    low, high = size_range
    if not 0 < low <= high <= 0.9:
        raise ValueError(f"size_range must be (low, high) fractions of the side with 0 < low <= high <= 0.9, "
                         f"got {size_range}")
    if not 0 <= max_occlusion < 1:
        raise ValueError(f"max_occlusion must be in [0, 1), got {max_occlusion}")

    image = _background(rng, size)
    owner = np.full((size, size), -1, np.int64)  # which object is visible at each pixel (-1: background)
    areas, colours, labels = [], [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        kind = int(rng.integers(len(SHAPE_CLASSES)))
        for _attempt in range(8):
            mask = _shape_mask(rng, kind, size, size_range)
            hidden = np.bincount(owner[mask & (owner >= 0)], minlength=len(areas))
            if len(areas) == 0 or np.all(hidden <= max_occlusion * np.asarray(areas) - _visible_lost(owner, areas)):
                break
        else:
            continue  # no placement leaves the earlier objects visible enough: leave this one out
        # The colours this shape is painted over: the mean background under it, and each object it covers.
        free = mask & (owner < 0)
        under = [image[free].mean(0)] if free.any() else []
        under += [colours[j] for j in np.unique(owner[mask & (owner >= 0)])]
        colour = _pick_colour(rng, under)
        # Mild shading: a linear ramp of +-15 grey levels across the image, oriented at random.
        gy, gx = rng.uniform(-15, 15, 2) / size
        ys, xs = np.nonzero(mask)
        image[ys, xs] = colour + (gx * (xs - xs.mean()) + gy * (ys - ys.mean()))[:, None].astype(np.float32)
        owner[mask] = len(areas)
        areas.append(int(mask.sum()))
        colours.append(colour)
        labels.append(kind)

    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.7) * size / 96)
    image += rng.normal(0, rng.uniform(2, 5), image.shape).astype(np.float32)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)

    masks = owner[None] == np.arange(len(areas))[:, None, None]
    boxes = masks_to_boxes(torch.from_numpy(masks), pixel_edges=True).numpy()
    return ShapesScene(image, boxes, np.asarray(labels, np.int64), masks)


def _visible_lost(owner: np.ndarray, areas: list[int]) -> np.ndarray:
    """How many pixels each earlier object has already lost to the objects drawn after it."""
    visible = np.bincount(owner[owner >= 0], minlength=len(areas))
    return np.asarray(areas) - visible


# ----------------------------------------------------------------------------------------------------------
# The twin on disk: the Ultralytics YOLO layout, read back by labkit.data.yolo.YOLODataset
# ----------------------------------------------------------------------------------------------------------

def _label_lines(scene: ShapesScene, size: int) -> str:
    """The scene's boxes as YOLO label lines ``class xc yc w h``, normalised by the image side."""
    x1, y1, x2, y2 = scene.boxes.astype(np.float64).T / size
    return "".join(f"{label} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for label, cx, cy, w, h
                   in zip(scene.labels, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))


def write_shapes_twin(root: str | os.PathLike, *, n_train: int, n_val: int, size: int, seed: int = 0,
                      size_range: tuple[float, float] = TWIN_SIZE_RANGE,
                      max_occlusion: float = TWIN_MAX_OCCLUSION, overwrite: bool = False) -> Path:
    """Write ``n_train`` + ``n_val`` scenes of :func:`make_shapes_scene` in the YOLO layout; return ``root``.

    Layout (Ultralytics)::

        root/images/{train,val}/shapes_00000.png    root/labels/{train,val}/shapes_00000.txt
        root/classes.txt    (circle, square, triangle)    root/data.yaml    (the same, for Ultralytics)

    Scenes are drawn with ``size_range`` and ``max_occlusion`` (defaults :data:`TWIN_SIZE_RANGE`, 18% to 45% of
    the side, and :data:`TWIN_MAX_OCCLUSION`, 35%: larger and less hidden shapes than
    :func:`make_shapes_scene`'s defaults, so that lecture 4's small YOLO learns them in about a minute on a CPU).
    Label lines are ``class xc yc w h`` normalised by ``size``, from the scene's boxes (so reading them
    back gives those boxes, in pixel-edge coordinates, to within 1e-4 pixel). Images are PNG, not
    JPEG: lossless, so a file holds exactly the generated pixels and JPEG's ringing never blurs the hard
    shape edges that the boxes are measured on (at the cost of about 20-30 KB an image). Scene ``i`` of
    the train split is drawn from ``np.random.default_rng([seed, 0, i])`` (val: ``[seed, 1, i]``), so a
    scene does not depend on how many came before it. The twin is written beside ``root`` and renamed
    into place (no half-written folder after an error); an existing non-empty ``root`` is replaced only
    with ``overwrite=True``. Introduced in lecture 4 (object detection).
    """
    for name, value in (("n_train", n_train), ("n_val", n_val)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    root = Path(root).expanduser()
    with staged_directory(root, overwrite=overwrite) as staging:
        (staging / "classes.txt").write_text("".join(f"{name}\n" for name in SHAPE_CLASSES))
        (staging / "data.yaml").write_text(
            "# Synthetic shapes written by labkit.data.yolo_twin.write_shapes_twin\n"
            "path: .\ntrain: images/train\nval: images/val\n"
            f"names: [{', '.join(SHAPE_CLASSES)}]\n")
        for split_index, (split, count) in enumerate((("train", n_train), ("val", n_val))):
            images, labels = staging / "images" / split, staging / "labels" / split
            images.mkdir(parents=True)
            labels.mkdir(parents=True)
            for i in range(count):
                scene = make_shapes_scene(np.random.default_rng([seed, split_index, i]), size,
                                          size_range=size_range, max_occlusion=max_occlusion)
                Image.fromarray(scene.image, "RGB").save(images / f"shapes_{i:05d}.png", compress_level=1)
                (labels / f"shapes_{i:05d}.txt").write_text(_label_lines(scene, size))
    return root
