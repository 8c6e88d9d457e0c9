"""Synthetic blood smears: an offline twin of ALL-IDB for lecture 2 (GAP and CAM).

Introduced in lecture 2 (GAP and CAM), where a classifier trained on single-cell patches (the twin of
ALL-IDB2) is run fully convolutionally on whole slides (the twin of ALL-IDB1) to localise white cells.

The generative story, in the order things are drawn:

1. **Glass and light.** A pale pinkish-beige background, lit a little unevenly (a linear gradient and a
   slight vignette), as a bright-field microscope photo is.
2. **Red cells.** Many pink discs, slightly elliptic, of varying radius, each thinner (lighter) in its
   centre, the "central pallor" of a biconcave disc. They lie on a jittered hexagonal lattice with gaps,
   so they touch and partly overlap like in a real smear; where two overlap the picture is darker,
   because stain absorbance adds up (everything is drawn as optical density and turned into light by
   Beer-Lambert's law at the end). A few small purple platelets lie between them.
3. **White cells** (the class lives here), drawn over the red cells, which they push aside:

   - a **blast** (label 1) is a large cell whose round-to-irregular nucleus fills most of it; the
     chromatin is fine (lighter purple, finely textured) and shows 1 to 3 paler nucleoli; a scant rim
     of pale-blue cytoplasm surrounds it;
   - a **normal lymphocyte** (label 0) is a smaller cell with a smaller, dense, dark, round nucleus of
     coarse clumped chromatin and a thin pale-blue rim of cytoplasm.

   Size, darkness, texture and irregularity overlap a little between the classes, so the task is easy
   for a CNN but not a single threshold.
4. **Camera.** A stain colour jitter per image, a Gaussian blur (focus) and sensor noise.

What varies: positions, radii, ellipticity and orientation of every cell, the nucleus shape and its
offset in the cell, stain colours and strength, illumination, blur and noise. Where the label comes from:
only the white cell (patches) or the white cells (slides); red cells and platelets are class-blind.

Scale. ``cell_radius_px`` is the nominal white-cell radius in pixels (blasts are about 1.1x it,
lymphocytes about 0.85x; red cells about 0.75x). Patches use ``CELL_FRACTION * size`` (0.2: a cell spans
about 40% of a patch, as in the 257-pixel ALL-IDB2 crops), so a slide drawn with the same
``cell_radius_px`` as the patches shows cells at the scale the classifier was trained on, and the
classifier can run fully convolutionally on it. :func:`write_all_idb_twin` keeps slides and patches at
the ALL-IDB ratio (patch 257 : slide 2592 x 1944).
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

__all__ = [
    "CELL_FRACTION", "REAL_PATCH_SIZE", "REAL_SLIDE_SIZE", "Slide",
    "default_cell_radius", "make_patch", "make_slide", "write_all_idb_twin",
]

CELL_FRACTION = 0.2  # nominal white-cell radius / patch side: a ~100 px cell in a 257 px ALL-IDB2 crop
REAL_PATCH_SIZE = 257  # ALL-IDB2 crops are 257 x 257
REAL_SLIDE_SIZE = (1944, 2592)  # ALL-IDB1 photos, (H, W)
FAST_PATCH_SIZE = 64  # the fast twin's patch side (registry): make_slide's default cell scale

# Colours are stored as optical densities, OD = -ln(I / 255), so stains add and overlaps darken.
def _od(rgb: tuple[float, float, float]) -> np.ndarray:
    return -np.log(np.asarray(rgb, dtype=np.float32) / 255.0)


_BACKGROUND = _od((238, 226, 224))  # pale pinkish-beige glass
_RBC = _od((222, 150, 156)) - _BACKGROUND  # a red cell's rim, over the background
_CYTOPLASM = np.maximum(_od((190, 196, 226)) - _BACKGROUND, 0.0)  # pale blue
_NUCLEUS_NORMAL = _od((72, 42, 118))  # dense, dark purple
_NUCLEUS_BLAST = _od((132, 98, 172))  # lighter purple: fine, open chromatin
_NUCLEOLUS = _od((176, 156, 206))  # paler still
_PLATELET = _od((120, 80, 150)) - _BACKGROUND


def default_cell_radius(patch_size: int) -> float:
    """The nominal white-cell radius (pixels) that a patch of side ``patch_size`` is drawn with."""
    return CELL_FRACTION * patch_size


# ----------------------------------------------------------------------------------------------------------
# Drawing primitives: each works on the small window around one object (so a 2592 x 1944 slide with a
# thousand red cells costs a thousand small array operations, not a thousand full-image ones).
# ----------------------------------------------------------------------------------------------------------

def _window(cx: float, cy: float, reach: float, shape: tuple[int, int]):
    """Slices of the canvas within ``reach`` of (cx, cy), and the x, y offsets of their pixels (broadcastable)."""
    height, width = shape
    x0, x1 = max(int(np.floor(cx - reach)), 0), min(int(np.ceil(cx + reach)) + 1, width)
    y0, y1 = max(int(np.floor(cy - reach)), 0), min(int(np.ceil(cy + reach)) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
    return (slice(y0, y1), slice(x0, x1)), dx, dy


def _edge(signed_distance: np.ndarray, softness: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] from a signed distance to a boundary (positive inside)."""
    return np.clip(signed_distance * np.float32(1 / softness) + np.float32(0.5), 0.0, 1.0)


def _draw_red_cells(od: np.ndarray, rng: np.random.Generator, centres: np.ndarray, radii: np.ndarray,
                    stain: np.ndarray, softness: float, chunk: int = 256) -> None:
    """Add the absorbance of red cells at ``centres`` (K, 2) xy with ``radii`` (K,), all at once.

    Each cell is an elliptic disc, darker at the rim and paler in the centre (the central pallor). The
    cells are computed together on equal windows, (K, w, w), and then added into the canvas one slice
    each, so a slide with a thousand red cells costs a few large array operations.
    """
    if len(centres) == 0:
        return
    height, width = od.shape[:2]
    reach = int(np.ceil(radii.max() + 2 * softness))
    side = 2 * reach + 1
    density = np.zeros((height + 2 * side, width + 2 * side), dtype=np.float32)  # padded: cells may stick out
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    f32 = np.float32
    for first in range(0, len(centres), chunk):
        xy, r = centres[first:first + chunk].astype(f32), radii[first:first + chunk].astype(f32)
        k = len(r)
        corner = np.floor(xy)
        ix, iy = corner[:, 0].astype(np.int64), corner[:, 1].astype(np.int64)
        frac = xy - corner
        dx = offsets[None, None, :] - frac[:, 0, None, None]  # (k, 1, side)
        dy = offsets[None, :, None] - frac[:, 1, None, None]  # (k, side, 1)
        angle = rng.uniform(0, np.pi, k).astype(f32)[:, None, None]
        squash = rng.uniform(0.85, 1.0, k).astype(f32)[:, None, None]
        pallor = rng.uniform(0.45, 0.75, k).astype(f32)[:, None, None]
        strength = rng.uniform(0.8, 1.15, k).astype(f32)[:, None, None]
        c, s = np.cos(angle), np.sin(angle)
        u = dx * c + dy * s  # pixels, in each cell's own frame
        v = (dy * c - dx * s) / squash
        dist = np.sqrt(u * u + v * v)
        rho = dist / r[:, None, None]
        profile = 1.0 - pallor * np.exp(rho * rho * f32(-1 / 0.45 ** 2))  # pale centre
        rim = rho - f32(0.8)
        profile += f32(0.15) * np.exp(rim * rim * f32(-1 / 0.15 ** 2))  # slightly darker rim
        alpha = _edge(r[:, None, None] - dist, softness) * profile * strength
        for a, x, y in zip(alpha, ix, iy):
            if -reach <= x < width + reach and -reach <= y < height + reach:  # else wholly outside
                y0, x0 = y + side - reach, x + side - reach
                density[y0:y0 + side, x0:x0 + side] += a
    od += density[side:side + height, side:side + width, None] * stain


def _draw_platelet(od: np.ndarray, rng: np.random.Generator, cx: float, cy: float, radius: float,
                   softness: float) -> None:
    """Add a small granular purple blob."""
    win = _window(cx, cy, radius + 2 * softness, od.shape[:2])
    if win is None:
        return
    (ys, xs), dx, dy = win
    dist = np.sqrt(dx * dx + dy * dy)
    grain = 1.0 + 0.3 * rng.standard_normal(dist.shape, dtype=np.float32)
    alpha = _edge(np.float32(radius) - dist, softness) * grain
    od[ys, xs] += alpha[..., None] * (_PLATELET * np.float32(rng.uniform(0.6, 1.0)))


def _radial_shape(rng: np.random.Generator, irregularity: float, harmonics: int = 4):
    """A closed outline r(theta) = 1 + sum_k a_k cos(k theta + phi_k), returned as a function of theta."""
    ks = np.arange(2, 2 + harmonics, dtype=np.float32)
    amps = (irregularity * rng.uniform(0.3, 1.0, harmonics) / ks * 2).astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, harmonics).astype(np.float32)

    def outline(theta: np.ndarray) -> np.ndarray:
        out = np.ones_like(theta)
        for k, a, p in zip(ks, amps, phases):
            out += a * np.cos(k * theta + p)
        return out

    return outline, 1.0 + float(amps.sum())  # the outline, and its largest possible value


class _WhiteCell(NamedTuple):
    cx: float
    cy: float
    radius: float  # largest extent of the cell from (cx, cy), pixels


def _draw_white_cell(od: np.ndarray, rng: np.random.Generator, cx: float, cy: float, blast: bool,
                     cell_radius_px: float, stains: dict[str, np.ndarray], softness: float) -> _WhiteCell:
    """Paint a white cell over whatever is under it (blast or normal lymphocyte); see the module story."""
    if blast:
        radius = cell_radius_px * rng.uniform(0.88, 1.28)
        nucleus_ratio = rng.uniform(0.80, 0.92)  # the nucleus fills most of the cell
        irregularity = rng.uniform(0.02, 0.16)  # round to irregular
        nuc_stain = stains["blast"] * np.float32(rng.uniform(0.75, 1.3))
        texture_sigma, texture_amp = 0.035 * radius, 0.12  # fine chromatin
    else:
        radius = cell_radius_px * rng.uniform(0.7, 1.0)
        nucleus_ratio = rng.uniform(0.72, 0.86)
        irregularity = rng.uniform(0.0, 0.04)  # round
        nuc_stain = stains["normal"] * np.float32(rng.uniform(0.7, 1.1))
        texture_sigma, texture_amp = 0.08 * radius, 0.16  # coarse, clumped chromatin
    cell_outline, cell_max = _radial_shape(rng, 0.03)
    nuc_outline, nuc_max = _radial_shape(rng, irregularity)
    nuc_radius = radius * nucleus_ratio
    # The nucleus sits off-centre, but never pokes out of the cell.
    room = max(radius * 0.97 - nuc_radius * nuc_max, 0.0) * rng.uniform(0.2, 1.0)
    direction = rng.uniform(0, 2 * np.pi)
    nx, ny = room * np.cos(direction), room * np.sin(direction)

    reach = radius * cell_max + 2 * softness
    win = _window(cx, cy, reach, od.shape[:2])
    if win is None:
        return _WhiteCell(cx, cy, radius * cell_max)
    (ys, xs), dx, dy = win
    cell_alpha = _edge(radius * cell_outline(np.arctan2(dy, dx)) - np.sqrt(dx * dx + dy * dy), softness)
    ndx, ndy = dx - np.float32(nx), dy - np.float32(ny)
    ndist = np.sqrt(ndx * ndx + ndy * ndy)
    nuc_alpha = _edge(nuc_radius * nuc_outline(np.arctan2(ndy, ndx)) - ndist,
                      softness * (1.6 if blast else 1.0)) * cell_alpha

    texture = 1.0 + texture_amp * smooth_noise(rng, ndist.shape, texture_sigma)
    nucleus = nuc_stain * np.maximum(texture, 0.5)[..., None]
    if blast:  # 1 to 3 nucleoli: paler round spots well inside the nucleus
        for _ in range(rng.integers(1, 4)):
            r_in, phi = nuc_radius * rng.uniform(0.0, 0.5), rng.uniform(0, 2 * np.pi)
            size = nuc_radius * rng.uniform(0.1, 0.18)
            d = np.sqrt((ndx - r_in * np.cos(phi)) ** 2 + (ndy - r_in * np.sin(phi)) ** 2)
            spot = _edge(np.float32(size) - d, softness * 1.5)[..., None]
            nucleus = nucleus * (1 - spot) + stains["nucleolus"] * spot
    cyto_shade = 1.0 + 0.25 * np.exp(-((ndist - nuc_radius) / (0.15 * radius)) ** 2)  # bluer near the nucleus
    cytoplasm = stains["background"] + stains["cytoplasm"] * cyto_shade[..., None]
    cell = cytoplasm * (1 - nuc_alpha[..., None]) + nucleus * nuc_alpha[..., None]
    a = cell_alpha[..., None]
    od[ys, xs] = od[ys, xs] * (1 - a) + cell * a
    return _WhiteCell(cx, cy, radius * cell_max)


# ----------------------------------------------------------------------------------------------------------
# Scenes
# ----------------------------------------------------------------------------------------------------------

def _stains(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """This image's stain colours: each channel and the overall strength jittered a little."""
    tint = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    strength = np.float32(rng.uniform(0.85, 1.15))
    return {
        "background": _BACKGROUND * rng.uniform(0.85, 1.2, 3).astype(np.float32),
        "rbc": _RBC * tint * strength,
        "cytoplasm": _CYTOPLASM * tint,
        "normal": _NUCLEUS_NORMAL * tint * strength,
        "blast": _NUCLEUS_BLAST * tint * strength,
        "nucleolus": _NUCLEOLUS * tint,
    }


def _red_cell_centres(rng: np.random.Generator, shape: tuple[int, int], radius: float) -> np.ndarray:
    """Red-cell centres (N, 2) as (x, y) on a jittered hexagonal lattice with gaps, covering the borders too."""
    height, width = shape
    spacing = 2 * radius * rng.uniform(1.0, 1.25)
    row_step = spacing * np.sqrt(3) / 2
    # A lattice around the image centre, wide enough to cover the image at any rotation.
    half = np.hypot(height, width) / 2 + spacing
    xs = np.arange(-half, half + spacing, spacing, dtype=np.float32)
    ys = np.arange(-half, half + row_step, row_step, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    gx = gx + (np.arange(len(ys))[:, None] % 2) * spacing / 2  # hexagonal: every other row shifted
    angle = rng.uniform(0, np.pi / 3)  # so rows are not always horizontal
    c, s = np.cos(angle), np.sin(angle)
    centres = np.stack([gx.ravel() * c - gy.ravel() * s + width / 2,
                        gx.ravel() * s + gy.ravel() * c + height / 2], axis=1).astype(np.float32)
    inside = ((centres[:, 0] > -spacing) & (centres[:, 0] < width + spacing)
              & (centres[:, 1] > -spacing) & (centres[:, 1] < height + spacing))
    centres = centres[inside]
    centres += rng.uniform(-0.3, 0.3, centres.shape).astype(np.float32) * spacing
    keep = rng.random(len(centres)) < rng.uniform(0.65, 0.9)
    return centres[keep]


def _smear(rng: np.random.Generator, shape: tuple[int, int], cell_radius_px: float,
           whites: list[tuple[float, float, bool]]) -> tuple[np.ndarray, list[_WhiteCell]]:
    """Draw a smear with the given white cells (cx, cy, is_blast); return uint8 RGB (H, W, 3) and the cells."""
    height, width = shape
    stains = _stains(rng)
    softness = max(0.7, 0.04 * cell_radius_px)  # edge width in pixels, proportional to the cell scale
    od = np.empty((height, width, 3), dtype=np.float32)
    od[...] = stains["background"]

    rbc_radius = 0.75 * cell_radius_px
    centres = _red_cell_centres(rng, shape, rbc_radius)
    if whites:  # white cells push red cells aside: drop those whose centre would lie under one
        w = np.array([(x, y) for x, y, _ in whites], dtype=np.float32)
        dist = np.linalg.norm(centres[:, None, :] - w[None, :, :], axis=2)
        centres = centres[(dist > 1.25 * cell_radius_px).all(axis=1)]
    radii = rbc_radius * rng.uniform(0.85, 1.15, len(centres))
    _draw_red_cells(od, rng, centres, radii, stains["rbc"], softness)
    n_platelets = rng.poisson(height * width / (30 * cell_radius_px) ** 2 * 2)
    for x, y in rng.uniform(0, 1, (n_platelets, 2)) * (width, height):
        _draw_platelet(od, rng, x, y, cell_radius_px * rng.uniform(0.06, 0.12), softness)

    cells = [_draw_white_cell(od, rng, x, y, blast, cell_radius_px, stains, softness) for x, y, blast in whites]

    # Uneven light: a gentle linear gradient and vignette, multiplying the transmitted intensity.
    yy = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    gx, gy = rng.uniform(-0.08, 0.08, 2)
    light = 1.0 + np.float32(gx) * xx + np.float32(gy) * yy - np.float32(rng.uniform(0, 0.12)) * (xx * xx + yy * yy)
    image = np.exp(-od) * (255.0 * light)[..., None]
    sigma = rng.uniform(0.3, 0.9) * cell_radius_px / 12.8  # focus, scaled with the cells
    image = cv2.GaussianBlur(image, (0, 0), sigma)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 5.0))
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), cells


def make_patch(rng: np.random.Generator, size: int = 64, *, label: int | None = None,
               cell_radius_px: float | None = None) -> tuple[np.ndarray, int]:
    """One ALL-IDB2-like patch: a white cell near the centre among red cells.

    Args:
        rng: the random generator (``np.random.default_rng(seed)``); the patch is a function of its state.
        size: side of the square patch in pixels (ALL-IDB2 crops are 257).
        label: 1 draws a blast, 0 a normal lymphocyte, None picks one at random.
        cell_radius_px: nominal white-cell radius; default ``CELL_FRACTION * size``.

    Returns:
        ``(image, label)``: ``image`` is uint8 RGB of shape (size, size, 3).

    Introduced in lecture 2 (GAP and CAM).
    """
    if size < 16:
        raise ValueError(f"size={size} is too small to draw a cell; use 16 pixels or more (64 is the default)")
    if label is None:
        label = int(rng.integers(0, 2))
    if label not in (0, 1):
        raise ValueError(f"label must be 0 (normal) or 1 (blast), got {label!r}")
    radius = default_cell_radius(size) if cell_radius_px is None else float(cell_radius_px)
    cx, cy = size / 2 + rng.normal(0, 0.04 * size, 2).clip(-0.08 * size, 0.08 * size)
    image, _ = _smear(rng, (size, size), radius, [(float(cx), float(cy), bool(label))])
    return image, int(label)


class Slide(NamedTuple):
    """A synthetic whole slide (unpacks as a tuple: ``image, label, boxes, centroids, cell_labels = ...``)."""

    image: np.ndarray  # uint8 RGB (H, W, 3)
    label: int  # 1 if any white cell is a blast (ALL-IDB1's "_1"), else 0
    boxes: np.ndarray  # float32 (M, 4): every white cell's box, (x1, y1, x2, y2) in pixels
    centroids: np.ndarray  # float32 (M, 2): every white cell's centre, (x, y) in pixels
    cell_labels: np.ndarray  # int64 (M,): 1 for a blast, 0 for a normal lymphocyte


def make_slide(rng: np.random.Generator, size: tuple[int, int] = (484, 645), *, n_white: int | None = None,
               label: int | None = None, cell_radius_px: float = CELL_FRACTION * FAST_PATCH_SIZE,
               blast_fraction: float = 0.6) -> Slide:
    """A whole-slide-like smear, ALL-IDB1 style, with several white cells at known places.

    Args:
        rng: the random generator; the slide is a function of its state.
        size: (H, W) in pixels. The default is the real 1944 x 2592 shrunk by 64 / 257, the scale of
            64-pixel patches.
        n_white: number of white cells; None draws 1 to 4.
        label: 1 makes a patient's slide (at least one blast; each other white cell is a blast with
            probability ``blast_fraction``), 0 a healthy one (no blast), None picks one at random.
        cell_radius_px: nominal white-cell radius. Use the value the patches were drawn with
            (``default_cell_radius(patch_size)``, 12.8 for 64-pixel patches) so a patch classifier sees
            cells at the scale it learnt.

    Returns:
        :class:`Slide` ``(image, label, boxes, centroids, cell_labels)``; boxes (M, 4) xyxy and centroids
        (M, 2) xy cover every white cell, ``cell_labels`` says which are blasts. Boxes lie inside the image.

    Raises:
        ValueError: the slide is too small for ``n_white`` cells of that radius.

    Introduced in lecture 2 (GAP and CAM).
    """
    height, width = int(size[0]), int(size[1])
    if label is None:
        label = int(rng.integers(0, 2))
    if label not in (0, 1):
        raise ValueError(f"label must be 0 (healthy) or 1 (at least one blast), got {label!r}")
    if n_white is None:
        n_white = int(rng.integers(1, 5))
    if n_white < 1 and label == 1:
        raise ValueError("a slide with label 1 needs at least one white cell (a blast); set n_white >= 1")
    margin = 1.45 * cell_radius_px + 2  # the largest blast, irregular outline included, stays inside
    if min(height, width) < 2 * margin + 1:
        raise ValueError(f"a slide of {height} x {width} pixels cannot hold a white cell of radius "
                         f"{cell_radius_px:g}; make the slide larger than {int(2 * margin) + 1} pixels a side "
                         "or cell_radius_px smaller")

    centres: list[tuple[float, float]] = []
    for _ in range(200 * max(n_white, 1)):  # rejection sampling: white cells do not overlap one another
        if len(centres) == n_white:
            break
        x, y = rng.uniform(margin, width - margin), rng.uniform(margin, height - margin)
        if all((x - a) ** 2 + (y - b) ** 2 > (3.2 * cell_radius_px) ** 2 for a, b in centres):
            centres.append((float(x), float(y)))
    if len(centres) < n_white:
        raise ValueError(f"could not place {n_white} white cells of radius {cell_radius_px:g} on a "
                         f"{height} x {width} slide without overlaps; ask for fewer cells or a larger slide")

    cell_labels = np.zeros(n_white, dtype=np.int64)
    if label == 1:
        cell_labels[:] = rng.random(n_white) < blast_fraction
        cell_labels[rng.integers(0, n_white)] = 1
    image, cells = _smear(rng, (height, width), cell_radius_px,
                          [(x, y, bool(b)) for (x, y), b in zip(centres, cell_labels)])
    centroids = np.array([(c.cx, c.cy) for c in cells], dtype=np.float32).reshape(-1, 2)
    reach = np.array([c.radius for c in cells], dtype=np.float32)[:, None]
    boxes = np.concatenate([centroids - reach, centroids + reach], axis=1).reshape(-1, 4)
    boxes = np.clip(boxes, 0, [width - 1, height - 1, width - 1, height - 1]).astype(np.float32)
    return Slide(image, int(label), boxes, centroids, cell_labels)


# ----------------------------------------------------------------------------------------------------------
# The twin on disk, in ALL-IDB's own layout
# ----------------------------------------------------------------------------------------------------------

def _balanced_labels(n: int) -> list[int]:
    """Label 1 first, then 0, as the ALL-IDB2 release orders its files (Im001_1 ... Im260_0)."""
    return [1] * ((n + 1) // 2) + [0] * (n // 2)


def write_all_idb_twin(root: str | os.PathLike, n_patches: int = 260, n_slides: int = 108, *, seed: int = 0,
                       patch_size: int = REAL_PATCH_SIZE, slide_size: tuple[int, int] | None = None,
                       overwrite: bool = False) -> Path:
    """Write a synthetic ALL-IDB to ``root`` in the layout and naming of the real one, and return ``root``.

    Layout::

        root/ALL_IDB2/img/Im001_1.tif ...  n_patches single-cell patches, label = digit after "_" (1 = blast)
        root/ALL_IDB1/im/Im001_1.jpg ...   n_slides whole slides, label 1 = at least one blast
        root/ALL_IDB1/xyc/Im001_1.xyc ...  blast centroids, one "x y" line each (empty for healthy slides)

    As in the release, label-1 files come first. The defaults are the real counts and
    the real sizes (257-pixel patches, 2592 x 1944 slides: a faithful twin of about 150 MB, one to two
    minutes to write). ``patch_size=64`` (the registry's fast twin) shrinks everything by 64 / 257
    (645 x 484 slides), which takes seconds. Slides always keep the ALL-IDB ratio to the patches, so cells have the same
    size in both. The twin is written to a temporary folder beside ``root`` and renamed into place, so
    an interrupted run leaves no half-written dataset; an existing ``root`` is replaced only with
    ``overwrite=True``.

    Introduced in lecture 2 (GAP and CAM); ``labkit.data.ALLIDB2`` / ``ALLIDB1`` read what it writes.
    """
    root = Path(root).expanduser()
    for name, n in (("n_patches", n_patches), ("n_slides", n_slides)):
        # ALL-IDB names carry three digits (Im001_1 ... Im999_0), and the loaders accept only those.
        if not 0 <= n <= 999:
            raise ValueError(f"{name}={n}: ALL-IDB file names have three digits (ImNNN_L), so a part holds "
                             f"0 to 999 images; ask for at most 999")
    if slide_size is None:
        scale = patch_size / REAL_PATCH_SIZE
        slide_size = (round(REAL_SLIDE_SIZE[0] * scale), round(REAL_SLIDE_SIZE[1] * scale))
    cell_radius = default_cell_radius(patch_size)
    rng = np.random.default_rng(seed)

    with staged_directory(root, overwrite=overwrite) as staging:
        patches_dir, slides_dir, xyc_dir = (staging / "ALL_IDB2" / "img", staging / "ALL_IDB1" / "im",
                                            staging / "ALL_IDB1" / "xyc")
        for folder in (patches_dir, slides_dir, xyc_dir):
            folder.mkdir(parents=True)
        for i, label in enumerate(_balanced_labels(n_patches), start=1):
            image, _ = make_patch(rng, patch_size, label=label, cell_radius_px=cell_radius)
            Image.fromarray(image, "RGB").save(patches_dir / f"Im{i:03d}_{label}.tif")
        for i, label in enumerate(_balanced_labels(n_slides), start=1):
            slide = make_slide(rng, slide_size, label=label, cell_radius_px=cell_radius)
            Image.fromarray(slide.image, "RGB").save(slides_dir / f"Im{i:03d}_{label}.jpg", quality=92)
            blasts = slide.centroids[slide.cell_labels == 1]
            (xyc_dir / f"Im{i:03d}_{label}.xyc").write_text(
                "".join(f"{round(float(x))} {round(float(y))}\n" for x, y in blasts))
    return root
