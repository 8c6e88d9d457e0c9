"""Synthetic chest films in the layout and naming of the real release: the offline twin of lecture 3.

Introduced in lecture 3 (chest X-ray classification in four variants). :func:`make_radiograph` tells
the generative story of one film; :func:`write_chest_xray_twin` writes a folder that
:func:`labkit.data.chest_xray.chest_xray_folder` reads exactly as it reads the real one.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from labkit.data.common import smooth_noise
from labkit.data.download import staged_directory

__all__ = ["RELEASE_COUNTS", "make_radiograph", "write_chest_xray_twin"]

RELEASE_COUNTS = {"train": (1349, 3883), "test": (234, 390)}  # (NORMAL, PNEUMONIA), the book's release



def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (d < 1), 0 outside, with a logistic edge about ``edge`` wide (in units of d)."""
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) / edge, -30.0, 30.0)))


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, a: float, b: float, p: int = 2) -> np.ndarray:
    """Normalised distance to the centre of an ellipse (p=2) or a rounded box (p=4): 1 on its outline."""
    x = (u - cu) * (1.0 / a)
    y = (v - cv) * (1.0 / b)
    x *= x
    y *= y
    if p == 4:
        x *= x
        y *= y
        return np.sqrt(np.sqrt(x + y))
    return np.sqrt(x + y)


def make_radiograph(rng: np.random.Generator, label: int, size: tuple[int, int] = (104, 120), *,
                    kind: str | None = None) -> tuple[np.ndarray, str]:
    """One synthetic posteroanterior chest film: uint8 ``(H, W)``, bright = dense, as on a real film.

    The generative story, in coordinates measured in image heights:

    - a patient of random size, slightly shifted and rotated (up to 5 degrees);
    - soft tissue (torso, neck, shoulders) on a dark background; a bright spine;
    - two dark lung fields, the left one (on the image's right: a PA film is viewed as if facing the
      patient) narrower, both cut at the bottom by the domes of the diaphragm;
    - the heart shadow on the patient's left (image right), hiding the lower inner part of that lung;
    - posterior ribs as faint arcs sloping down to the sides, and the clavicles;
    - vessel markings (smooth noise, densest near the hila) and, in 40% of films of either class,
      soft-tissue shadows over the lung bases: brightness in the lungs that is not disease;
    - for pneumonia (label 1), patchy consolidations inside the lung fields: ``"bacteria"`` (65%) one or
      two dense focal patches, ``"virus"`` two to four faint small ones. Size, contrast and position
      vary; some are too faint to see at 96 pixels, so no classifier is perfect on the twin;
    - exposure, gamma, blur and noise vary from film to film.

    Returns ``(image, kind)`` with ``kind`` in ``"normal"``, ``"bacteria"``, ``"virus"``.
    Introduced in lecture 3 (chest X-rays).
    """
    if label not in (0, 1):
        raise ValueError(f"label must be 0 (NORMAL) or 1 (PNEUMONIA), got {label!r}")
    if kind is None:
        kind = "normal" if label == 0 else ("bacteria" if rng.random() < 0.65 else "virus")
    if (kind == "normal") != (label == 0) or kind not in ("normal", "bacteria", "virus"):
        raise ValueError(f"kind {kind!r} does not fit label {label}: use 'normal' for 0, 'bacteria' or "
                         "'virus' for 1")
    height, width = int(size[0]), int(size[1])
    if min(height, width) < 32:
        raise ValueError(f"size={size} is too small to draw a thorax; use at least 32 pixels a side")

    scale = rng.uniform(0.9, 1.08)
    angle = np.deg2rad(rng.uniform(-5, 5))
    shift_u, shift_v = rng.uniform(-0.04, 0.04, 2)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u0, v0 = (x - width / 2) / height, (y - height / 2) / height
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u = (cos * u0 + sin * v0 - shift_u) / scale
    v = (-sin * u0 + cos * v0 - shift_v) / scale
    pixel = 1.0 / (height * scale)  # one pixel in (u, v) units
    au = np.abs(u)

    torso = _soft(_ellipse(u, v, 0, 0.12, 0.44, 0.62, 4), 0.03)
    neck = _soft(_ellipse(u, v, 0, -0.5, 0.09, 0.2, 4), 0.05)
    shoulders = _soft(_ellipse(u, v, 0, -0.36, 0.5, 0.1), 0.08) * (v > -0.42)
    body = np.maximum(np.maximum(torso, neck), shoulders)
    dense = 0.5 * body  # "attenuation": what the film shows as brightness

    heart = _soft(_ellipse(u, v, 0.06 + rng.uniform(-0.01, 0.02), 0.13,
                           rng.uniform(0.12, 0.16), rng.uniform(0.10, 0.13)), 0.08)
    lung_w, lung_h = rng.uniform(0.12, 0.15), rng.uniform(0.25, 0.31)
    lungs = np.maximum(_soft(_ellipse(u, v, -0.17, 0.0, lung_w, lung_h), 0.04),
                       _soft(_ellipse(u, v, 0.17, 0.0, 0.92 * lung_w, lung_h), 0.04))
    dome = 0.2 + 0.5 * (au - 0.17) ** 2 + rng.uniform(-0.03, 0.03)
    lungs *= _soft(1 + (v - dome) / 0.015, 1.0) * (1 - heart)
    dense -= rng.uniform(0.3, 0.4) * lungs
    dense += 0.06 * heart

    hilum_dist = np.sqrt((au - 0.09) ** 2 + v * v)
    markings = np.maximum(smooth_noise(rng, (height, width), max(0.7, 0.012 / pixel), border=cv2.BORDER_REFLECT_101), 0)
    dense += rng.uniform(0.02, 0.05) * markings * lungs * np.exp(-hilum_dist / 0.12)
    dense += 0.1 * _soft(au / 0.03, 0.2) * (v > -0.45)  # spine
    bent = v - 0.9 * np.clip(au - 0.03, 0, None) ** 2
    phase = (bent + 0.34) / rng.uniform(0.055, 0.065)
    ribs = 0.5 + 0.5 * np.cos(2 * np.pi * phase)
    ribs *= ribs
    ribs *= ribs
    ribs *= ribs  # cos^16 of half the phase: thin bright arcs
    ribs *= (phase > -0.5) & (phase < 9.5) & (au > 0.03) & (au < 0.34)
    dense += rng.uniform(0.03, 0.06) * ribs * body
    clavicle = (v + 0.36 + 0.15 * (au - 0.05)) / 0.014
    dense += 0.08 * np.exp(-0.5 * clavicle * clavicle) * (au > 0.04) * (au < 0.3)
    if rng.random() < 0.4:  # soft-tissue shadows over the bases, in either class
        dense += rng.uniform(0.03, 0.08) * np.clip((v - 0.05) / 0.2, 0, 1) * lungs

    if label == 1:
        texture = smooth_noise(rng, (height, width), max(0.7, 0.02 / pixel), border=cv2.BORDER_REFLECT_101)
        if kind == "bacteria":
            n_patches, contrast, radius = 1 + int(rng.random() < 0.3), (0.08, 0.3), (0.05, 0.12)
        else:
            n_patches, contrast, radius = int(rng.integers(2, 5)), (0.05, 0.14), (0.04, 0.09)
        consolidation = np.zeros_like(dense)
        for _ in range(n_patches):
            cu = rng.choice((-0.17, 0.17)) + rng.uniform(-0.07, 0.07)
            cv = rng.uniform(-0.15, 0.17)
            r = rng.uniform(*radius)
            envelope = np.exp(-0.5 * ((u - cu) ** 2 + (v - cv) ** 2) / r ** 2)
            shifted = np.roll(texture, tuple(rng.integers(0, (height, width))), axis=(0, 1))  # a fresh patch pattern
            consolidation += rng.uniform(*contrast) * envelope * np.clip(1.0 + 0.8 * shifted, 0, None)
        dense += consolidation * lungs  # air spaces fill: only inside the lungs

    image = dense - dense.min()
    image /= np.percentile(image, 99.5) + 1e-6
    image = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
    image = image * rng.uniform(0.85, 1.0) + rng.uniform(0.0, 0.08)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.9) * height / 104)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(0.01, 0.035))
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), kind


def _twin_size(rng: np.random.Generator, height: int) -> tuple[int, int]:
    """(H, W) of one twin film: like the real ones, most are wider than tall and no two are alike."""
    h = int(round(height * rng.uniform(1.0, 1.2)))
    return h, int(round(h * rng.uniform(1.0, 1.35)))


def write_chest_xray_twin(root: str | os.PathLike, counts: dict[str, tuple[int, int]] | None = None, *,
                          height: int = 240, seed: int = 0, overwrite: bool = False) -> Path:
    """Write synthetic films (:func:`make_radiograph`) in the real layout and naming; return ``root``.

    Layout: ``root/<split>/NORMAL/NORMAL-<patient>-0001.jpeg`` and ``root/<split>/PNEUMONIA/BACTERIA-...``
    or ``VIRUS-...``, one film per synthetic patient. ``counts`` maps each split to (NORMAL, PNEUMONIA);
    the default is the real release's, :data:`RELEASE_COUNTS` (1,349 + 3,883 and 234 + 390; the
    registry's fast twin asks for 150 + 450 and 90 + 150). ``height`` is the smallest film height (films
    are up to 20% taller and 1 to 1.35 times as wide); 240 by default and 96 in the fast twin, so that the
    lecture's resize to 224 (96) only ever shrinks. The twin is written beside ``root`` and renamed into place;
    an existing non-empty ``root`` is replaced only with ``overwrite=True``.
    Introduced in lecture 3 (chest X-rays).
    """
    root = Path(root).expanduser()
    counts = RELEASE_COUNTS if counts is None else counts
    rng = np.random.default_rng(seed)
    patients = rng.permutation(np.arange(10_000, 10_000 + 10 * sum(sum(n) for n in counts.values())))
    patients = iter(patients[: sum(sum(n) for n in counts.values())])  # unique ids, as in the real names

    with staged_directory(root, overwrite=overwrite) as staging:
        for split, (n_normal, n_pneumonia) in counts.items():
            for label, name, n in ((0, "NORMAL", n_normal), (1, "PNEUMONIA", n_pneumonia)):
                folder = staging / split / name
                folder.mkdir(parents=True)
                for _ in range(n):
                    image, kind = make_radiograph(rng, label, _twin_size(rng, height))
                    Image.fromarray(image, "L").save(folder / f"{kind.upper()}-{next(patients)}-0001.jpeg",
                                                     quality=90)
    return root
