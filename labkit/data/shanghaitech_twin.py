"""Synthetic crowds seen from above with every head marked: the ShanghaiTech twin of lecture 10.

Introduced in lecture 10 (video analytics), where a small network learns to count people from
density maps. ShanghaiTech (Zhang et al., CVPR 2016) marks one point per head in photos of crowds;
this module draws crowds with known head points and :func:`write_shanghaitech_twin` writes them in
the dataset's layout (``part_B/train_data/images/IMG_1.jpg`` and
``part_B/train_data/ground-truth/GT_IMG_1.mat``, the points in MATLAB's ``image_info`` structure), so
:class:`labkit.data.shanghaitech.ShanghaiTech` reads the twin and the real data alike.

The generative story of one image, in the order things are drawn:

1. **Ground.** A paved square seen from a high camera: one colour with a brightness gradient, paving
   joints and a soft texture.
2. **People** (the labels live here). Their number is drawn uniformly between ``min_people`` and
   ``max_people``. About half of them stand in **groups** (one to three clusters with people packed
   close together, so heads touch), the others anywhere; a head may overlap a neighbour's but never
   covers its centre. Perspective: the higher in the picture, the
   farther, so the smaller (head radius grows linearly from top to bottom) and the more people fit.
   Each person is shoulders (an ellipse in clothing colour) under a head (dark to light hair, or a
   hat in any colour, seen from above). Shoulders are drawn first, from far to near, then the heads:
   from a high camera a head is rarely hidden.
3. **Camera.** Global brightness, a slight blur and sensor noise.

The label of each person is the centre of its head, ``(x, y)`` in pixels, marked even where another
head overlaps it (annotators do the same). The count is the number of points. What varies:
colours, the count, grouping, head sizes and overlap, lighting and noise. Counts on the twin say that
a model learnt to count these drawings, not how it would do on photographs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import scipy.io
from PIL import Image

from labkit.data.common import blob_noise, smooth_noise
from labkit.data.download import staged_directory

__all__ = ["Crowd", "make_crowd", "write_points_mat", "write_shanghaitech_twin", "REAL_COUNTS"]

# Images per split in the release (Zhang et al. 2016): part A 300 + 182, part B 400 + 316.
REAL_COUNTS = {"A": {"train": 300, "test": 182}, "B": {"train": 400, "test": 316}}


class Crowd(NamedTuple):
    """One synthetic crowd: ``image`` uint8 ``(H, W, 3)`` RGB and ``points`` float64 ``(N, 2)`` head
    centres as ``(x, y)`` pixels."""

    image: np.ndarray
    points: np.ndarray


def _colour(rng: np.random.Generator, value: tuple[float, float], saturation: tuple[float, float]) -> list[float]:
    hsv = np.uint8([[[rng.integers(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(float).tolist()


def _positions(rng: np.random.Generator, n: int, h: int, w: int, head_px: tuple[float, float]) -> np.ndarray:
    """n head centres (x, y): about half in 1-3 tight groups, the rest spread, more of them towards the
    top; a head may touch another but its centre stays outside it (candidates that would hide one are
    drawn again, and after 50 tries per head the crowd keeps the heads it has)."""
    centres = np.column_stack([rng.uniform(0.15, 0.85, 3) * w, rng.uniform(0.15, 0.85, 3) * h])
    n_groups = int(rng.integers(1, 4))
    points: list[tuple[float, float]] = []
    for _ in range(50 * n):
        if len(points) == n:
            break
        if rng.random() < 0.5:
            x, y = centres[rng.integers(n_groups)] + rng.normal(0, 0.1 * min(h, w), 2)
        else:
            x, y = rng.uniform(0, w), h * rng.uniform(0, 1) ** 1.4
        if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
            continue
        r = head_px[0] + (head_px[1] - head_px[0]) * y / (h - 1)
        if all((x - px) ** 2 + (y - py) ** 2 >= (1.1 * r) ** 2 for px, py in points):
            points.append((float(x), float(y)))
    return np.array(points, np.float64).reshape(-1, 2)


def make_crowd(rng: np.random.Generator, size: tuple[int, int] = (96, 128), *, min_people: int = 10,
               max_people: int = 80, head_px: tuple[float, float] = (1.8, 4.0)) -> Crowd:
    """Draw one crowd (see the module docstring); ``head_px`` is the head radius at the top and bottom."""
    h, w = size
    if min(h, w) < 32 or not 0 <= min_people <= max_people:
        raise ValueError(f"need a size of at least 32 px and 0 <= min_people <= max_people, got {size}, "
                         f"{min_people}, {max_people}")
    ground = np.array(_colour(rng, (0.55, 0.8), (0.0, 0.2)), np.float32)
    gradient = np.linspace(rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.15), h, dtype=np.float32)
    image = ground * gradient[:, None, None] * (1 + 0.05 * blob_noise(rng, (h, w), w / 6))[..., None]
    image = image + 4 * smooth_noise(rng, (h, w), 1.0)[..., None]
    step = int(rng.uniform(0.1, 0.2) * w)
    for x in range(int(rng.integers(0, step)), w, step):
        cv2.line(image, (x, 0), (x, h), (ground * 0.85).tolist(), 1)
    n = int(rng.integers(min_people, max_people + 1))
    points = _positions(rng, n, h, w, head_px)
    points = points[np.argsort(points[:, 1])]  # far (top) first, so near people are drawn over them
    radii = head_px[0] + (head_px[1] - head_px[0]) * points[:, 1] / (h - 1)
    for (x, y), r in zip(points, radii):  # shoulders first: from a high camera heads are rarely hidden
        body = _colour(rng, (0.15, 0.9), (0.1, 0.8))
        cv2.ellipse(image, (int(round(x)), int(round(y + 1.2 * r))), (max(1, int(round(1.7 * r))),
                    max(1, int(round(1.0 * r)))), float(rng.uniform(-20, 20)), 0, 360, body, -1, cv2.LINE_AA)
    for (x, y), r in zip(points, radii):
        hair = _colour(rng, (0.05, 0.3), (0.0, 0.5)) if rng.random() < 0.85 else _colour(rng, (0.4, 0.95), (0.3, 1))
        cv2.circle(image, (int(round(x)), int(round(y))), max(1, int(round(r))), hair, -1, cv2.LINE_AA)
    image *= np.float32(rng.uniform(0.8, 1.15))
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.7))
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(2, 5))
    return Crowd(np.clip(image + 0.5, 0, 255).astype(np.uint8), points.astype(np.float64))


def write_points_mat(path: str | os.PathLike, points: np.ndarray) -> None:
    """Save head points ``(N, 2)`` as ShanghaiTech does: ``image_info{1}.location`` and ``.number``."""
    inner = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    inner[0, 0]["location"] = np.asarray(points, np.float64).reshape(-1, 2)
    inner[0, 0]["number"] = np.array([[float(len(points))]])
    info = np.empty((1, 1), dtype=object)
    info[0, 0] = inner
    scipy.io.savemat(str(path), {"image_info": info})


def write_shanghaitech_twin(root: str | os.PathLike, counts: dict[str, int] | None = None, *,
                            size: tuple[int, int] = (192, 256), max_people: int = 160,
                            head_px: tuple[float, float] = (3.5, 8.0), part: str = "B", seed: int = 0,
                            overwrite: bool = False) -> Path:
    """Write crowds in ShanghaiTech's layout under ``root/part_<part>``; return ``root``.

    ``counts`` maps ``"train"``/``"test"`` to a number of images (default: part B's 400 and 316).
    Each image ``<split>_data/images/IMG_<k>.jpg`` (k from 1) has ``<split>_data/ground-truth/
    GT_IMG_<k>.mat`` beside it. Written through a staging folder; an existing non-empty ``root`` is
    replaced only with ``overwrite=True``. Lecture 10.
    """
    counts = dict(REAL_COUNTS["B"]) if counts is None else dict(counts)
    if set(counts) != {"train", "test"} or min(counts.values()) < 1:
        raise ValueError(f"counts must give 'train' and 'test' at least one image each, got {counts}")
    rng = np.random.default_rng(seed)
    with staged_directory(root, overwrite=overwrite) as staging:
        for split, n in counts.items():
            images, truth = staging / f"part_{part}" / f"{split}_data" / "images", None
            truth = images.parent / "ground-truth"
            images.mkdir(parents=True)
            truth.mkdir()
            for k in range(1, n + 1):
                crowd = make_crowd(rng, tuple(size), min_people=max(1, max_people // 8), max_people=max_people,
                                   head_px=tuple(head_px))
                Image.fromarray(crowd.image, "RGB").save(images / f"IMG_{k}.jpg", quality=92)
                write_points_mat(truth / f"GT_IMG_{k}.mat", crowd.points)
    return Path(root).expanduser()
