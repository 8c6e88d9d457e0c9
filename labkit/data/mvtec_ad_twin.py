"""Synthetic defective textures: an offline twin of MVTec AD's texture categories for lecture 8.

Introduced in lecture 8 (anomaly detection), where a detector learns what *good* looks like from
defect-free images only and must then find defects it has never seen, in the image and in the pixel.
MVTec AD (Bergmann et al., CVPR 2019) has five texture categories (carpet, grid, leather, tile, wood);
this module draws four of them in the same spirit and :func:`write_mvtec_ad_twin` writes them in the
real layout, so :class:`labkit.data.mvtec_ad.MVTecAD` reads the twin and the real data alike::

    <category>/train/good/000.png                     good images only
    <category>/test/good/000.png                      good images to test on
    <category>/test/<defect>/000.png                  defective images
    <category>/ground_truth/<defect>/000_mask.png     0 = good pixel, 255 = defect

The generative story, in the order things are drawn:

1. **Texture** (what every image of a category shares, with its own random phase, colour and grain):
   ``carpet``, a woven pattern of warp and weft threads with fibre noise; ``grid``, a metal mesh of
   dark wires on a light ground, slightly rotated; ``leather``, brown grain of fine blobs and creases;
   ``wood``, growth rings bent by smooth noise, with fine streaks.
2. **Defect** (test images of a defect type only; the mask is painted with it, so it is exact): a
   ``scratch`` (a thin bright or dark curve), a ``hole`` (a dark disc with a lighter rim), a ``stain``
   (a soft blob of another colour), a ``crack`` (a dark jagged random walk) or a ``misprint`` (an
   ellipse where the pattern is shifted or its scale changed). Each category has three of them.
3. **Camera**: a little brightness jitter and sensor noise, on good and defective images alike.

What varies: phase, colour, scale jitter, orientation and noise of the texture; the type, place, size
and shape of the defect. Where the labels come from: a test image is defective exactly when it has a
defect drawn into it, and its mask is the set of pixels the defect changed (at least a few percent of
the image, as in MVTec, where small defects exist too). The textures are meant to be learnable from a
few dozen good images on a CPU, not to be photographs: scores on the twin say that a detector works on
data built to have the property it needs, not how well it would do on MVTec AD.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from labkit.data.common import smooth_noise
from labkit.data.download import staged_directory

__all__ = ["TWIN_DEFECTS", "DefectiveTexture", "make_texture", "draw_defect", "make_defective_texture",
           "write_mvtec_ad_twin"]

# The twin's categories (real MVTec texture names) and the three defect types drawn into each.
TWIN_DEFECTS: dict[str, tuple[str, ...]] = {
    "carpet": ("hole", "stain", "misprint"),
    "grid": ("scratch", "hole", "misprint"),
    "leather": ("scratch", "stain", "crack"),
    "wood": ("scratch", "stain", "crack"),
}


class DefectiveTexture(NamedTuple):
    """One twin image: ``image`` uint8 (H, W, 3) RGB; ``mask`` bool (H, W), True where the defect is."""

    image: np.ndarray
    mask: np.ndarray


# ----------------------------------------------------------------------------------------------------------
# Textures (float32 (H, W, 3) in 0..1)
# ----------------------------------------------------------------------------------------------------------

def _grid_coords(size: int, angle: float, scale: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by ``angle`` (radians), scaled by ``scale``, with a random phase."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u = (c * x + s * y) * scale + rng.uniform(0, 100)
    v = (-s * x + c * y) * scale + rng.uniform(0, 100)
    return u, v


def _carpet(rng: np.random.Generator, size: int, period: float) -> np.ndarray:
    u, v = _grid_coords(size, rng.normal(0, 0.03), 1.0 / period, rng)
    warp = 0.5 + 0.5 * np.cos(2 * np.pi * u)
    weft = 0.5 + 0.5 * np.cos(2 * np.pi * v)
    over = (np.floor(u) + np.floor(v)) % 2  # which thread lies on top in each cell: the weave
    weave = np.where(over > 0, warp, weft) * 0.6 + 0.4 * warp * weft
    fibres = smooth_noise(rng, (size, size), 0.7)
    value = 0.3 + 0.6 * weave + 0.05 * fibres
    tint = np.array([0.55, 0.6, 0.75]) * rng.uniform(0.97, 1.03, 3)
    return value[..., None] * tint


def _grid(rng: np.random.Generator, size: int, period: float) -> np.ndarray:
    u, v = _grid_coords(size, rng.normal(0, 0.05), 1.0 / period, rng)
    width = 0.18
    wires = np.maximum(np.abs((u % 1) - 0.5) > 0.5 - width, np.abs((v % 1) - 0.5) > 0.5 - width)
    value = np.where(wires, 0.25, 0.75) + 0.04 * smooth_noise(rng, (size, size), 1.0)
    value = cv2.GaussianBlur(value.astype(np.float32), (0, 0), 0.6)
    return np.repeat(value[..., None], 3, axis=2) * rng.uniform(0.95, 1.05)


def _leather(rng: np.random.Generator, size: int, period: float) -> np.ndarray:
    grain = smooth_noise(rng, (size, size), period / 6)
    creases = np.abs(smooth_noise(rng, (size, size), period / 2))
    value = 0.5 + 0.07 * grain - 0.08 * np.exp(-4 * creases)
    tint = np.array([0.75, 0.5, 0.3]) * rng.uniform(0.97, 1.03, 3)
    return value[..., None] * tint / 0.5


def _wood(rng: np.random.Generator, size: int, period: float) -> np.ndarray:
    u, v = _grid_coords(size, rng.normal(0, 0.05), 1.0 / period, rng)
    bend = 0.8 * smooth_noise(rng, (size, size), size / 6)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (u + bend))
    streaks = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigmaX=0.5, sigmaY=4)
    value = 0.55 + 0.2 * rings ** 3 + 0.03 * streaks
    tint = np.array([0.85, 0.6, 0.35]) * rng.uniform(0.97, 1.03, 3)
    return value[..., None] * tint / 0.7


_TEXTURES = {"carpet": (_carpet, 0.11), "grid": (_grid, 0.12), "leather": (_leather, 0.12), "wood": (_wood, 0.15)}


def make_texture(rng: np.random.Generator, category: str, size: int = 128) -> np.ndarray:
    """A good image of ``category`` (one of :data:`TWIN_DEFECTS`): float32 (size, size, 3) in [0, 1].

    The pattern's period is a fixed fraction of ``size`` (about 9-15%), so a twin at 64 and at 256
    pixels shows the same number of threads, wires or rings. Introduced in lecture 8 (anomaly detection).
    """
    if category not in _TEXTURES:
        raise ValueError(f"unknown twin category {category!r}; the twin draws {', '.join(_TEXTURES)}")
    draw, period = _TEXTURES[category]
    image = draw(rng, size, period * size * rng.uniform(0.95, 1.05))
    return np.clip(image, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# Defects: each changes the image and returns the mask of what it changed
# ----------------------------------------------------------------------------------------------------------

def _curve(rng: np.random.Generator, size: int, jagged: bool) -> np.ndarray:
    """Points of a random curve across part of the image: smooth for a scratch, jagged for a crack."""
    n = 12
    start = rng.uniform(0.2, 0.8, 2) * size
    length = rng.uniform(0.35, 0.6) * size
    heading = rng.uniform(0, 2 * np.pi)
    turns = rng.normal(0, 0.5 if jagged else 0.08, n).cumsum()
    steps = np.stack([np.cos(heading + turns), np.sin(heading + turns)], 1) * length / n
    return (start + np.vstack([[0, 0], steps.cumsum(0)])).astype(np.int32)


def _blob(rng: np.random.Generator, size: int, radius: float) -> np.ndarray:
    """A soft random blob (float32 (H, W) in [0, 1]) about ``radius`` pixels wide at a random place."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    sy, sx = radius * rng.uniform(0.7, 1.3, 2)
    wobble = 0.35 * smooth_noise(rng, (size, size), radius / 2)
    distance = np.sqrt(((y - cy) / sy) ** 2 + ((x - cx) / sx) ** 2) + wobble
    return np.clip((1.15 - distance) / 0.3, 0, 1).astype(np.float32)


def draw_defect(rng: np.random.Generator, image: np.ndarray, defect: str, category: str) -> DefectiveTexture:
    """Draw a ``defect`` into a float image from :func:`make_texture`; return the uint8 image and its mask.

    ``scratch``, ``hole``, ``stain``, ``crack`` or ``misprint`` (the twin's generative story, module
    docstring). The mask is True where the defect changed the picture. Introduced in lecture 8.
    """
    size = image.shape[0]
    out = image.copy()
    if defect in ("scratch", "crack"):
        layer = np.zeros((size, size), np.uint8)
        thickness = max(1, round(size * (0.025 if defect == "scratch" else 0.03)))
        cv2.polylines(layer, [_curve(rng, size, jagged=defect == "crack")], False, 255, thickness, cv2.LINE_AA)
        alpha = layer.astype(np.float32)[..., None] / 255
        ink = rng.uniform(0.85, 1.0) if (defect == "scratch" and rng.random() < 0.5) else rng.uniform(0.0, 0.12)
        out = out * (1 - alpha) + ink * alpha
        mask = layer > 64
    elif defect == "hole":
        radius = size * rng.uniform(0.06, 0.1)
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        distance = np.hypot(y - cy, x - cx) / radius
        rim = np.clip(1.3 - distance, 0, 0.3) / 0.3
        core = np.clip((1.0 - distance) / 0.15, 0, 1)
        out = out * (1 - rim[..., None]) + 0.8 * rim[..., None]
        out = out * (1 - core[..., None]) + 0.05 * core[..., None]
        mask = rim > 0.3
    elif defect == "stain":
        blob = _blob(rng, size, size * rng.uniform(0.08, 0.14))
        # A colour far from the texture's own (its complement, jittered): oil on wood, coffee on carpet.
        colour = np.clip(1 - image.mean(axis=(0, 1)) + rng.normal(0, 0.08, 3), 0.05, 0.95).astype(np.float32)
        strength = rng.uniform(0.5, 0.8)
        out = out * (1 - strength * blob[..., None]) + strength * blob[..., None] * colour
        mask = blob > 0.3
    elif defect == "misprint":
        # The same texture drawn again, turned by 30-60 degrees and enlarged 1.4-1.8 times (the pattern
        # printed askew and out of scale), seen through a soft elliptical window.
        patch = make_texture(rng, category, size)
        turn = cv2.getRotationMatrix2D((size / 2, size / 2), rng.choice([-1, 1]) * rng.uniform(30, 60),
                                       rng.uniform(1.4, 1.8))
        patch = cv2.warpAffine(patch, turn, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        blob = _blob(rng, size, size * rng.uniform(0.14, 0.2))
        out = out * (1 - blob[..., None]) + patch * blob[..., None]
        mask = blob > 0.3
    else:
        raise ValueError(f"unknown defect {defect!r}; the twin draws scratch, hole, stain, crack and misprint")
    return DefectiveTexture(_to_uint8(out), mask)


def _camera(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    gain = rng.uniform(0.95, 1.05)
    return image * gain + rng.normal(0, 0.012, image.shape).astype(np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def make_defective_texture(rng: np.random.Generator, category: str, defect: str | None,
                           size: int = 128) -> DefectiveTexture:
    """One twin image of ``category``: good when ``defect`` is None (all-False mask), else with that defect.

    Texture, then the defect, then the camera (module docstring). Introduced in lecture 8.
    """
    image = make_texture(rng, category, size)
    if defect is None:
        return DefectiveTexture(_to_uint8(_camera(rng, image)), np.zeros((size, size), bool))
    drawn = draw_defect(rng, image, defect, category)
    return DefectiveTexture(_to_uint8(_camera(rng, drawn.image.astype(np.float32) / 255)), drawn.mask)


def write_mvtec_ad_twin(root: str | os.PathLike, *, categories: tuple[str, ...] | list[str] | None = None,
                        n_train: int = 200, n_test_good: int = 30, n_per_defect: int = 12, size: int = 256,
                        seed: int = 0, overwrite: bool = False) -> Path:
    """Write the twin in MVTec AD's layout under ``root`` (the folder that holds the categories); return it.

    For each category of ``categories`` (default: all of :data:`TWIN_DEFECTS`): ``n_train`` good images
    in ``train/good``, ``n_test_good`` in ``test/good``, and for each of its three defect types
    ``n_per_defect`` images in ``test/<defect>`` with their masks in ``ground_truth/<defect>/NNN_mask.png``
    (mode L, 0 or 255, as MVTec's). Images are RGB PNGs of ``size x size`` pixels; names are 000.png,
    001.png, ... as in the release. Every category gets its own random stream (``seed`` and its index), so
    writing fewer categories gives the same pictures. Written atomically; an existing non-empty ``root``
    is replaced only with ``overwrite=True``. Introduced in lecture 8 (anomaly detection).
    """
    categories = tuple(TWIN_DEFECTS) if categories is None else tuple(categories)
    unknown = [c for c in categories if c not in TWIN_DEFECTS]
    if unknown or not categories:
        raise ValueError(f"unknown twin categories {unknown}; choose from {', '.join(TWIN_DEFECTS)}")
    if min(n_train, n_test_good, n_per_defect) < 1:
        raise ValueError("n_train, n_test_good and n_per_defect must each be at least 1")
    with staged_directory(root, overwrite=overwrite) as staging:
        for category in categories:
            rng = np.random.default_rng([seed, list(TWIN_DEFECTS).index(category)])
            folders = {"train": [None] * n_train, "test": [None] * n_test_good}
            for split, defects in folders.items():
                (staging / category / split / "good").mkdir(parents=True)
                for index, _ in enumerate(defects):
                    item = make_defective_texture(rng, category, None, size)
                    Image.fromarray(item.image, "RGB").save(staging / category / split / "good" / f"{index:03d}.png")
            for defect in TWIN_DEFECTS[category]:
                (staging / category / "test" / defect).mkdir(parents=True)
                (staging / category / "ground_truth" / defect).mkdir(parents=True)
                for index in range(n_per_defect):
                    item = make_defective_texture(rng, category, defect, size)
                    Image.fromarray(item.image, "RGB").save(staging / category / "test" / defect / f"{index:03d}.png")
                    Image.fromarray(item.mask.astype(np.uint8) * 255, "L").save(
                        staging / category / "ground_truth" / defect / f"{index:03d}_mask.png")
    return Path(root).expanduser()
