"""Synthetic catalogue photos: an offline twin of Kaggle's "Fashion Product Images (Small)" for lecture 6.

Introduced in lecture 6 (image search and recommendation), where products are embedded by a network and
retrieved by cosine similarity, and retrieval is scored by whether the neighbours share the query's
article type, colour and pattern. :func:`write_fashion_products_twin` writes the real layout,
``images/<id>.jpg`` (80 pixels high, 60 wide, as the real small images) and ``styles.csv`` with the
real ten columns, so :class:`labkit.data.fashion_products.FashionProducts` reads the twin and the real
data alike. It also writes ``queries/`` (photos of products that are *not* in the catalogue, for the
lecture's "query by an outside image") with ``queries/queries.csv`` naming their attributes.

The generative story of one product (:func:`make_product`), in the order things are drawn:

1. **Attributes** (the ground truth, drawn independently and uniformly): an article type from
   :data:`ARTICLE_TYPES` (shirt, trousers, shoe, handbag, watch, cap: each a silhouette of its own), a
   base colour from :data:`COLOURS` and a pattern from :data:`PATTERNS` (plain, stripes, dots, checks,
   drawn as a lighter shade of the base colour inside the silhouette).
2. **Pose**: the silhouette is mirrored (half of the time), rotated (up to 20 degrees), scaled (55%
   to 100% of the frame) and shifted by up to a tenth of the frame; the pattern turns with it.
3. **Studio**: a pale backdrop (grey level 165 to 250, faintly tinted) with a gradient (real catalogue
   photos are shot on near-white, but not all alike), lighting that darkens one side of the product, a global brightness change, slight blur,
   sensor noise and JPEG compression.

The colour of the product is therefore independent of its type, and its pattern of both: an embedding
trained to tell types apart has no reason to keep colour, which is what the lecture shows.
:func:`make_outside_photo` draws the same products as an amateur photo: smaller and off-centre, rotated
more, on a textured, darker background, at another size. Names in ``productDisplayName`` carry the
pattern as real names do ("Striped", "Checked", "Polka Dot", "Solid"), which is where
:func:`labkit.data.fashion_products.pattern_from_name` reads it. A few rows, as in the real file, have
commas in their name (so they have more than ten fields), and a few rows have no image.
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

__all__ = ["ARTICLE_TYPES", "COLOURS", "PATTERNS", "COLUMNS", "Product", "make_product",
           "make_outside_photo", "write_fashion_products_twin"]

COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year",
           "usage", "productDisplayName")
"""The ten columns of the real ``styles.csv``, in its order."""

# articleType -> (masterCategory, subCategory, the singular used in names), as in the real catalogue.
ARTICLE_TYPES: dict[str, tuple[str, str, str]] = {
    "Shirts": ("Apparel", "Topwear", "Shirt"),
    "Trousers": ("Apparel", "Bottomwear", "Trousers"),
    "Casual Shoes": ("Footwear", "Shoes", "Casual Shoes"),
    "Handbags": ("Accessories", "Bags", "Handbag"),
    "Watches": ("Accessories", "Watches", "Watch"),
    "Caps": ("Accessories", "Headwear", "Cap"),
}
COLOURS: dict[str, tuple[int, int, int]] = {  # baseColour -> RGB, jittered per product
    "Black": (35, 35, 38), "Red": (200, 30, 35), "Blue": (35, 70, 190), "Green": (40, 140, 60),
    "Yellow": (235, 200, 40), "Brown": (120, 75, 40),
}
PATTERNS: dict[str, str] = {"plain": "Solid", "stripes": "Striped", "dots": "Polka Dot", "checks": "Checked"}
"""pattern -> the word a product name uses for it."""

SIZE = (80, 60)  # (H, W) of the real small images


class Product(NamedTuple):
    """One synthetic product photo: ``image`` uint8 (H, W, 3) RGB and its three attributes."""

    image: np.ndarray
    article_type: str
    colour: str
    pattern: str


# Silhouettes as polygons in a unit frame: x right, y down, the product inside [-1, 1] x [-1, 1].
def _shape(article_type: str) -> list[np.ndarray]:
    if article_type == "Shirts":
        return [np.array([(-0.45, -0.85), (-0.15, -0.9), (0, -0.75), (0.15, -0.9), (0.45, -0.85), (0.95, -0.35),
                          (0.75, -0.1), (0.5, -0.35), (0.5, 0.95), (-0.5, 0.95), (-0.5, -0.35), (-0.75, -0.1),
                          (-0.95, -0.35)])]
    if article_type == "Trousers":
        return [np.array([(-0.5, -0.95), (0.5, -0.95), (0.62, 0.95), (0.12, 0.95), (0.0, -0.35), (-0.12, 0.95),
                          (-0.62, 0.95)])]
    if article_type == "Casual Shoes":
        return [np.array([(-0.95, 0.05), (-0.75, -0.2), (-0.2, -0.25), (0.1, -0.5), (0.5, -0.55), (0.6, -0.3),
                          (0.95, -0.05), (0.95, 0.3), (-0.95, 0.3)])]
    if article_type == "Handbags":
        body = np.array([(-0.75, -0.25), (0.75, -0.25), (0.9, 0.8), (-0.9, 0.8)])
        t = np.linspace(np.pi, 2 * np.pi, 24)
        outer = np.stack([0.5 * np.cos(t), -0.25 + 0.65 * np.sin(t)], 1)
        inner = np.stack([0.36 * np.cos(t[::-1]), -0.25 + 0.5 * np.sin(t[::-1])], 1)
        return [body, np.concatenate([outer, inner])]
    if article_type == "Watches":
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        face = np.stack([0.42 * np.cos(t), 0.42 * np.sin(t)], 1)
        strap = np.array([(-0.25, -0.98), (0.25, -0.98), (0.25, 0.98), (-0.25, 0.98)])
        return [strap, face]
    if article_type == "Caps":
        t = np.linspace(np.pi, 2 * np.pi, 24)
        dome = np.stack([0.7 * np.cos(t) - 0.15, 0.2 + 0.75 * np.sin(t)], 1)
        brim = np.array([(0.4, 0.05), (0.98, 0.12), (0.95, 0.32), (0.4, 0.3)])
        return [np.concatenate([dome, [(-0.85, 0.3)]]), brim]
    raise ValueError(f"unknown article type {article_type!r}; known: {', '.join(ARTICLE_TYPES)}")


def _pattern(pattern: str, u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    """1 where the pattern's lighter shade goes, in the product frame (u, v)."""
    if pattern == "plain":
        return np.zeros_like(u)
    if pattern == "stripes":
        return (np.mod(v / period, 1.0) < 0.45).astype(np.float32)
    if pattern == "checks":
        return (np.mod(u / period, 1.0) < 0.5).astype(np.float32) * 0.6 + \
            (np.mod(v / period, 1.0) < 0.5).astype(np.float32) * 0.6
    if pattern == "dots":
        du, dv = np.mod(u / period, 1.0) - 0.5, np.mod(v / period, 1.0) - 0.5
        return ((du * du + dv * dv) < 0.07).astype(np.float32)
    raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")


def _render(rng: np.random.Generator, article_type: str, colour: str, pattern: str, size: tuple[int, int],
            background: np.ndarray, *, scale: float, angle: float, shift: tuple[float, float],
            flip: bool = False) -> np.ndarray:
    """Paint one product over ``background`` (float32 (H, W, 3) in 0..255); returns the float image."""
    h, w = size
    half = 0.5 * min(h, w) * scale  # pixels per unit of the product frame
    cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    centre = np.array([w / 2 + shift[0] * w, h / 2 + shift[1] * h])
    aspect = np.array([1.0, h / w]) if article_type in ("Shirts", "Trousers", "Watches") else np.array([1.0, 1.0])
    rotation = np.array([[cos, -sin], [sin, cos]]) @ np.diag([-1.0 if flip else 1.0, 1.0])  # flip: mirror x

    def to_pixels(points: np.ndarray) -> np.ndarray:
        return (points * aspect * half) @ rotation.T + centre

    mask = np.zeros((h, w), np.uint8)
    for polygon in _shape(article_type):
        cv2.fillPoly(mask, [np.round(to_pixels(polygon) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    alpha = mask.astype(np.float32)[..., None] / 255

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    px, py = xs - centre[0], ys - centre[1]
    u = (cos * px + sin * py) / half * (-1.0 if flip else 1.0)  # the product frame: the pattern turns with it
    v = (-sin * px + cos * py) / half
    base = np.array(COLOURS[colour], np.float32) * rng.uniform(0.85, 1.1, 3).astype(np.float32)
    lighter = base + (255 - base) * rng.uniform(0.45, 0.6)
    shade = _pattern(pattern, u, v, rng.uniform(0.22, 0.3))[..., None]
    paint = base * (1 - shade) + lighter * shade
    light = 1.0 + rng.uniform(0.1, 0.25) * (np.cos(rng.uniform(0, 2 * np.pi)) * u +
                                            np.sin(rng.uniform(0, 2 * np.pi)) * v)[..., None] / 2
    paint = paint * light
    if article_type == "Watches":  # a pale dial with two hands on the coloured strap
        dial = (u * u + v * v * (w / h) ** 2) < 0.32 ** 2
        paint[dial] = rng.uniform(215, 245)
        for angle_hand, length in ((rng.uniform(0, 2 * np.pi), 0.28), (rng.uniform(0, 2 * np.pi), 0.2)):
            along = u * np.cos(angle_hand) + v * np.sin(angle_hand) * (w / h)
            across = -u * np.sin(angle_hand) + v * np.cos(angle_hand) * (w / h)
            paint[dial & (along > 0) & (along < length) & (np.abs(across) < 0.04)] = 30
    return background * (1 - alpha) + paint * alpha


def _studio_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A pale backdrop: a grey level from 165 to 250 with a faint tint, and a light gradient."""
    tint = rng.uniform(165, 250) + rng.uniform(-10, 10, 3).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[-1:1:complex(h), -1:1:complex(w)].astype(np.float32)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys)[..., None] * rng.uniform(0, 30)
    return tint.astype(np.float32) + ramp


def _camera(rng: np.random.Generator, image: np.ndarray, noise: float) -> np.ndarray:
    image = image * rng.uniform(0.85, 1.08)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.7))
    image += rng.standard_normal(image.shape).astype(np.float32) * noise
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def make_product(rng: np.random.Generator, article_type: str | None = None, colour: str | None = None,
                 pattern: str | None = None, size: tuple[int, int] = SIZE) -> Product:
    """One catalogue photo (see the module docstring for the story); attributes not given are drawn.

    ``size`` is (H, W), 80 x 60 as the real small images. Introduced in lecture 6 (image search).
    """
    article_type = article_type or str(rng.choice(list(ARTICLE_TYPES)))
    colour = colour or str(rng.choice(list(COLOURS)))
    pattern = pattern or str(rng.choice(list(PATTERNS)))
    h, w = size
    image = _render(rng, article_type, colour, pattern, size, _studio_background(rng, h, w),
                    scale=rng.uniform(0.55, 1.0), angle=rng.uniform(-20, 20),
                    shift=(rng.uniform(-0.12, 0.12), rng.uniform(-0.1, 0.1)), flip=rng.random() < 0.5)
    return Product(_camera(rng, image, rng.uniform(1.5, 4.0)), article_type, colour, pattern)


def make_outside_photo(rng: np.random.Generator, article_type: str | None = None, colour: str | None = None,
                       pattern: str | None = None, size: tuple[int, int] = (120, 96)) -> Product:
    """A product photographed outside the studio: textured, darker background, smaller, off-centre,
    rotated up to 25 degrees, at another size (default 120 x 96). Not in any catalogue: the lecture's
    "query by an outside image". Introduced in lecture 6 (image search)."""
    article_type = article_type or str(rng.choice(list(ARTICLE_TYPES)))
    colour = colour or str(rng.choice(list(COLOURS)))
    pattern = pattern or str(rng.choice(list(PATTERNS)))
    h, w = size
    wall = rng.uniform(110, 200, 3).astype(np.float32)
    texture = smooth_noise(rng, (h, w), 0.06 * w)[..., None] * rng.uniform(8, 18)
    background = wall + texture
    image = _render(rng, article_type, colour, pattern, size, background, scale=rng.uniform(0.65, 0.9),
                    angle=rng.uniform(-25, 25), shift=(rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)),
                    flip=rng.random() < 0.5)
    return Product(_camera(rng, image, rng.uniform(3.0, 6.0)), article_type, colour, pattern)


def _row(product_id: int, product: Product, rng: np.random.Generator, comma: bool) -> str:
    master, sub, singular = ARTICLE_TYPES[product.article_type]
    gender = str(rng.choice(["Men", "Women", "Unisex"]))
    brand = str(rng.choice(["Labkit", "Twin Studio", "Synthetica"]))
    name = f"{brand} {gender} {product.colour} {PATTERNS[product.pattern]} {singular}"
    if comma:  # as in a few real rows: an unquoted comma, so the row has 11 fields
        name = f"{brand} {gender} {product.colour} {PATTERNS[product.pattern]} {singular}, Pack of 1"
    season = str(rng.choice(["Summer", "Winter", "Fall", "Spring"]))
    return ",".join([str(product_id), gender, master, sub, product.article_type, product.colour, season,
                     str(int(rng.integers(2010, 2018))), "Casual", name])


def write_fashion_products_twin(root: str | os.PathLike, n: int = 20_000, *, n_queries: int = 12,
                                bad_rows: int = 20, missing_images: int = 5, seed: int = 0,
                                overwrite: bool = False) -> Path:
    """Write ``n`` synthetic products in the real layout (``images/<id>.jpg`` + ``styles.csv``); return ``root``.

    ``styles.csv`` has the real ten columns (:data:`COLUMNS`), unquoted as the real file; ``bad_rows``
    of its rows carry a comma in ``productDisplayName`` (11 fields, as the 22 malformed rows of the
    real file) and ``missing_images`` rows have no image file (the real file has 5). Ids are unique
    integers in random order. ``queries/`` holds ``n_queries`` outside photos (:func:`make_outside_photo`)
    named ``q<k>.jpg`` and ``queries/queries.csv`` (file, articleType, baseColour, pattern). Written
    beside ``root`` and renamed into place; an existing non-empty ``root`` is replaced only with
    ``overwrite=True``. The registry's fast twin asks for 3,000 products. Introduced in lecture 6.
    """
    if bad_rows + missing_images > n:
        raise ValueError(f"bad_rows + missing_images ({bad_rows + missing_images}) exceed n ({n})")
    root = Path(root).expanduser()
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1_000, 60_000), size=n, replace=False)
    special = rng.permutation(n)
    with_comma = set(special[:bad_rows].tolist())
    without_image = set(special[bad_rows:bad_rows + missing_images].tolist())
    with staged_directory(root, overwrite=overwrite) as staging:
        (staging / "images").mkdir()
        lines = [",".join(COLUMNS)]
        for k, product_id in enumerate(ids):
            product = make_product(rng)
            lines.append(_row(int(product_id), product, rng, k in with_comma))
            if k not in without_image:
                Image.fromarray(product.image, "RGB").save(staging / "images" / f"{product_id}.jpg", quality=92)
        (staging / "styles.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        queries = staging / "queries"
        queries.mkdir()
        rows = ["file,articleType,baseColour,pattern"]
        for k in range(n_queries):
            # Every type at least once before any repeats, so a handful of queries covers them all.
            kind = list(ARTICLE_TYPES)[k % len(ARTICLE_TYPES)]
            photo = make_outside_photo(rng, kind)
            Image.fromarray(photo.image, "RGB").save(queries / f"q{k}.jpg", quality=90)
            rows.append(f"q{k}.jpg,{photo.article_type},{photo.colour},{photo.pattern}")
        (queries / "queries.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root
