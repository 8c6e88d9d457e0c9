"""The offline stand-in for DIV2K: photos that ship with scikit-image and scikit-learn, split by image.

Introduced in lecture 9 (super-resolution). Super-resolution needs real photographs (edges, textures
and the blur of a real lens), which no simple generator imitates well, so this twin is mostly *real
data*: the photos bundled with ``skimage.data`` and ``sklearn.datasets.load_sample_images``, written in
DIV2K's layout. The generative story:

1. **Split by image.** Each photo goes to exactly one side (:data:`TRAIN_PHOTOS`,
   :data:`VALID_PHOTOS`): crops of one photo never appear on both sides, so a validation score is
   about unseen images. The two views of the stereo pair (``motorcycle_left``/``right``) are nearly
   the same picture, so only the left one is used. Grey photos (camera, coins, textures such as brick
   and gravel) are repeated to RGB.
2. **Size.** A photo longer than ``max_side`` is shrunk (antialiased) to it; none is enlarged.
3. **Synthetic textures** (``n_textures``, training side only; :func:`make_texture`): oriented
   gratings of random period and contrast, a smooth colour field and a few hard-edged polygons, for
   the fine periodic detail and sharp edges the few photos have little of.
4. **Files.** ``DIV2K_train_HR/0001.png ...`` and ``DIV2K_valid_HR/0801.png ...`` as in the release,
   and ``twin_sources.csv`` naming the source of every file (the loader ignores it).

No labels to get right: the "label" of an SR pair is the HR image itself.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from labkit.data.common import smooth_noise
from labkit.data.download import staged_directory

__all__ = ["TRAIN_PHOTOS", "VALID_PHOTOS", "SOURCES_FILE", "bundled_photo", "make_texture", "write_div2k_twin"]

# skimage.data functions (or "sklearn:<file>") on each side of the split.
TRAIN_PHOTOS = ("rocket", "sklearn:china.jpg", "immunohistochemistry", "motorcycle_left", "retina",
                "hubble_deep_field", "camera", "coins", "brick", "grass", "gravel", "moon")
VALID_PHOTOS = ("astronaut", "coffee", "chelsea", "sklearn:flower.jpg")
SOURCES_FILE = "twin_sources.csv"


def bundled_photo(name: str) -> np.ndarray:
    """A photo shipped with scikit-image (``"astronaut"``) or scikit-learn (``"sklearn:flower.jpg"``):
    uint8 ``(H, W, 3)`` RGB, grey ones repeated to three channels."""
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(name.split(":", 1)[1])
    else:
        import skimage.data

        if name == "motorcycle_left":
            image = skimage.data.stereo_motorcycle()[0]
        else:
            image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.dtype != np.uint8:  # e.g. a float or bool image: to 0..255
        image = np.clip(np.asarray(image, np.float64) * (255 if image.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3])


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1:
        return image
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC, reducing_gap=None))


def make_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """One synthetic texture, uint8 ``(size, size, 3)`` RGB.

    Drawn in order: a smooth colour field (noise blurred over about a tenth of the side); two to four
    sinusoidal gratings at random angles, periods of 3 to 24 pixels and contrasts, each tinted with a
    random colour; three to eight filled polygons with hard, antialiased edges in random colours.
    """
    field = np.stack([smooth_noise(rng, (size, size), size / 10) for _ in range(3)], axis=2)
    image = 0.5 + 0.12 * field
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for _ in range(rng.integers(2, 5)):
        angle, period = rng.uniform(0, np.pi), rng.uniform(3, 24)
        phase = 2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period
        tint = rng.uniform(-1, 1, 3).astype(np.float32)
        image += rng.uniform(0.04, 0.15) * np.sin(phase)[..., None] * tint
    canvas = np.clip(image * 255, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(3, 9)):
        centre = rng.uniform(0, size, 2)
        radius = rng.uniform(size / 20, size / 6)
        n = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], colour, lineType=cv2.LINE_AA, shift=4)
    return canvas


def write_div2k_twin(folder: str | os.PathLike, *, n_textures: int = 8, texture_size: int = 512,
                     max_side: int = 1024, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the twin in DIV2K's layout into ``folder`` (atomically); returns ``folder``.

    The bundled photos (:data:`TRAIN_PHOTOS` for training, :data:`VALID_PHOTOS` held out), shrunk to
    ``max_side`` where longer, plus ``n_textures`` textures of ``texture_size`` pixels (training only,
    drawn from ``seed``). Introduced in lecture 9.
    """
    rng = np.random.default_rng(seed)
    with staged_directory(Path(folder), overwrite=overwrite) as staging:
        rows = []
        for split, photos, first in (("train", TRAIN_PHOTOS, 1), ("valid", VALID_PHOTOS, 801)):
            out = staging / f"DIV2K_{split}_HR"
            out.mkdir(parents=True)
            images = [(name, _shrink(bundled_photo(name), max_side)) for name in photos]
            if split == "train":
                images += [(f"synthetic texture {i + 1} (seed {seed})", make_texture(rng, texture_size))
                           for i in range(n_textures)]
            for number, (source, image) in enumerate(images, start=first):
                Image.fromarray(image).save(out / f"{number:04d}.png", compress_level=1)  # fast, still lossless
                rows.append((f"DIV2K_{split}_HR/{number:04d}.png", split, source))
        with open(staging / SOURCES_FILE, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("file", "split", "source"))
            writer.writerows(rows)
    return Path(folder)
