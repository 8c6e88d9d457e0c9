"""Synthetic street scenes with pedestrians: an offline twin of PennFudanPed for lecture 5 (segmentation).

Introduced in lecture 5 (segmentation), where Mask R-CNN is fine-tuned on PennFudanPed: 170 street
photos with a pixel mask for each of their 345 pedestrians. This module draws scenes in the same spirit
and :func:`write_pennfudan_twin` writes them in the real layout (``PNGImages/FudanPed00001.png`` and
``PedMasks/FudanPed00001_mask.png``, where each pixel holds 0 for background or the person's number
1..N), so :class:`labkit.data.pennfudan.PennFudan` reads the twin and the real data alike.

The generative story, in the order things are drawn:

1. **Street.** A horizon line at 25-40% of the height; above it a building facade (one colour, a
   grid of darker or lighter windows, a little texture), below it a pavement (grey-brown, textured,
   with joints that run towards the horizon). A few class-blind distractors stand on the pavement:
   poles (tall, thin, dark: a person-like outline that is not a person) and sometimes a parked box
   of a car with two wheels.
2. **Pedestrians** (the labels live here): 1 to 4 upright figures (about 2 on average, as in
   PennFudan), each a head (skin, with hair on top), a neck, a torso (shirt or coat colour; sometimes
   a long coat that covers the thighs), two arms (sleeves, then a hand) swinging a little, two legs
   (trousers colour) in a walking stride and two dark shoes. Height follows perspective: a figure whose feet are lower in the picture is
   nearer, so taller (35% to 90% of the image height); width, stride and arm swing vary from
   figure to figure, and each figure's clothes get a soft texture and shading.
   Figures are drawn from far to near, and a new figure is often placed next to an earlier one, so
   nearer people **occlude** farther ones: a mask holds only the *visible* pixels of its person, as in
   PennFudan. A figure left with less than a quarter of its pixels visible is dropped (painted over
   and unlabelled is what annotators do too); the others are numbered 1..N from far to near.
3. **Camera.** A global brightness and colour cast, a slight blur and sensor noise.

What varies: horizon, facade and pavement colours, windows, distractors, the number, position, size,
width, pose and clothing colours of the pedestrians, occlusions, lighting and noise. Where the labels
come from: the id map painted while the figures are drawn, so masks are exact and boxes follow from
them. Figures are meant to be learnable by a small Mask R-CNN in a few minutes on a CPU, not to be
photographs: scores on the twin say that the pipeline works, not how well it would do on PennFudan.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from labkit.data.common import blob_noise
from labkit.data.download import staged_directory

__all__ = ["REAL_COUNTS", "StreetScene", "make_street_scene", "write_pennfudan_twin"]

# PennFudanPed: 170 images (74 from Fudan University, 96 from the University of Pennsylvania), 345 people.
REAL_COUNTS = {"FudanPed": 74, "PennPed": 96}
SMALL_SIZE = 128  # make_street_scene's default: the input size of the lecture's small Mask R-CNN
MIN_VISIBLE = 0.25  # a figure with a smaller visible fraction is dropped from the labels (and painted over)


class StreetScene(NamedTuple):
    """One synthetic scene: ``image`` uint8 (H, W, 3) RGB; ``ids`` uint8 (H, W), 0 = background, 1..N people."""

    image: np.ndarray
    ids: np.ndarray


def _colour(rng: np.random.Generator, value: tuple[float, float], saturation: tuple[float, float]) -> np.ndarray:
    """A random RGB colour (floats in 0..255) with HSV value and saturation drawn from the given ranges."""
    hsv = np.uint8([[[rng.integers(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _street(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, int]:
    """The background (float32 (H, W, 3), 0..255) and the horizon row."""
    horizon = int(h * rng.uniform(0.25, 0.4))
    image = np.empty((h, w, 3), np.float32)
    wall, pavement = _colour(rng, (0.45, 0.85), (0.05, 0.35)), _colour(rng, (0.35, 0.7), (0.0, 0.15))
    image[:horizon] = wall
    image[horizon:] = pavement
    image *= (1 + 0.08 * blob_noise(rng, (h, w), max(4.0, w / 12)))[..., None]
    # Windows: a jittered grid in the facade, darker (glass) or lighter (frames) than the wall.
    win_w, win_h = max(3, int(w * rng.uniform(0.05, 0.1))), max(3, int(h * rng.uniform(0.05, 0.1)))
    step_x, step_y = int(win_w * rng.uniform(1.6, 2.6)), int(win_h * rng.uniform(1.5, 2.4))
    glass = wall * rng.uniform(0.35, 0.7) if rng.random() < 0.8 else np.minimum(wall * 1.4, 255)
    for y0 in range(int(rng.integers(1, step_y)), horizon - win_h, step_y):
        for x0 in range(int(rng.integers(-win_w, step_x)), w, step_x):
            image[y0:y0 + win_h, max(x0, 0):max(x0 + win_w, 0)] = glass * rng.uniform(0.85, 1.15)
    # Pavement joints converge towards a vanishing point on the horizon.
    vanish_x = w * rng.uniform(0.2, 0.8)
    joint = pavement * rng.uniform(0.6, 0.8)
    for x_bottom in np.linspace(-w, 2 * w, int(rng.integers(5, 10))):
        cv2.line(image, (int(vanish_x), horizon), (int(x_bottom), h), joint.tolist(), 1)
    # Distractors: poles and a parked car, never labelled.
    for _ in range(int(rng.integers(0, 3))):
        x, foot = int(rng.uniform(0, w)), int(rng.uniform(horizon + 0.1 * h, h))
        top = int(foot - rng.uniform(0.5, 1.2) * (foot - horizon) * 2.5)
        cv2.rectangle(image, (x, top), (x + max(1, int(w * rng.uniform(0.01, 0.03))), foot),
                      _colour(rng, (0.1, 0.4), (0, 0.3)).tolist(), -1)
    if rng.random() < 0.4:
        car_w, car_h = int(w * rng.uniform(0.3, 0.5)), int(h * rng.uniform(0.12, 0.2))
        x0, y1 = int(rng.uniform(-0.2 * w, 0.9 * w)), int(horizon + rng.uniform(0.05, 0.2) * h)
        body = _colour(rng, (0.2, 0.9), (0.2, 0.8)).tolist()
        cv2.rectangle(image, (x0, y1 - car_h), (x0 + car_w, y1), body, -1)
        cv2.rectangle(image, (x0 + car_w // 5, y1 - int(1.5 * car_h)), (x0 + 4 * car_w // 5, y1 - car_h), body, -1)
        for wheel_x in (x0 + car_w // 5, x0 + 4 * car_w // 5):
            cv2.circle(image, (wheel_x, y1), max(2, car_h // 3), (25, 25, 25), -1)
    return image, horizon


def _figure(rng: np.random.Generator, h: int, w: int, cx: float, foot: float, height: float,
            ) -> tuple[np.ndarray, np.ndarray]:
    """One pedestrian: its mask (bool (H, W)) and colours (float32 (H, W, 3)), feet at (cx, foot)."""
    mask = np.zeros((h, w), np.uint8)
    colours = np.zeros((h, w, 3), np.float32)
    u = height / 7.5  # one head height: people are about 7.5 heads tall
    girth = rng.uniform(0.8, 1.25)
    top = foot - height
    skin = _colour(rng, (0.35, 0.95), (0.25, 0.55)) * np.float32([1.0, 0.8, 0.65])
    hair = _colour(rng, (0.05, 0.5), (0.1, 0.6))
    shirt = _colour(rng, (0.1, 0.95), (0.0, 0.8))
    trousers = _colour(rng, (0.1, 0.7), (0.0, 0.6))
    shoes = np.float32([30, 28, 26]) * rng.uniform(0.6, 1.6)
    coat = rng.random() < 0.3

    def draw(fn, colour, *args) -> None:
        part = np.zeros((h, w), np.uint8)
        fn(part, *args)
        on = part > 0
        mask[on] = 1
        colours[on] = colour

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x)), int(round(y))

    shoulder_y, hip_y = top + 1.3 * u, top + 3.9 * u
    half_shoulder, half_hip = 0.95 * u * girth, 0.75 * u * girth
    stride = rng.uniform(0.0, 0.9) * u
    leg_t = max(1, int(round(0.55 * u * girth)))
    arm_t = max(1, int(round(0.4 * u * girth)))
    # Legs first (the torso and a coat cover their tops), then shoes.
    for side, offset in ((-1, -stride), (1, stride)):
        hip = pt(cx + side * 0.4 * u * girth, hip_y)
        ankle = pt(cx + side * 0.25 * u + offset, foot - 0.25 * u)
        draw(lambda m, a=hip, b=ankle: cv2.line(m, a, b, 1, leg_t), trousers)
        draw(lambda m, a=ankle: cv2.ellipse(m, pt(a[0] + 0.15 * u, a[1] + 0.1 * u),
                                            (max(1, int(0.4 * u)), max(1, int(0.18 * u))), 0, 0, 360, 1, -1), shoes)
    torso_bottom = hip_y + (1.8 * u if coat else 0.2 * u)
    torso = np.array([pt(cx - half_shoulder, shoulder_y), pt(cx + half_shoulder, shoulder_y),
                      pt(cx + half_hip * (1.25 if coat else 1), torso_bottom),
                      pt(cx - half_hip * (1.25 if coat else 1), torso_bottom)], np.int32)
    draw(lambda m: cv2.fillPoly(m, [torso], 1), shirt)
    # Arms swing opposite to the legs; a hand at the end of each.
    for side in (-1, 1):
        shoulder = pt(cx + side * (half_shoulder - 0.2 * u), shoulder_y + 0.25 * u)
        swing = -side * rng.uniform(-0.6, 0.6) * u
        hand = pt(cx + side * (half_shoulder + 0.1 * u) + swing, shoulder_y + 2.6 * u)
        draw(lambda m, a=shoulder, b=hand: cv2.line(m, a, b, 1, arm_t), shirt * 0.9)
        draw(lambda m, b=hand: cv2.circle(m, b, max(1, int(0.22 * u)), 1, -1), skin)
    draw(lambda m: cv2.line(m, pt(cx, top + 0.8 * u), pt(cx, shoulder_y + 0.1 * u), 1,
                            max(1, int(0.35 * u))), skin)
    head = pt(cx + rng.uniform(-0.1, 0.1) * u, top + 0.5 * u)
    axes = (max(1, int(0.38 * u)), max(1, int(0.5 * u)))
    draw(lambda m: cv2.ellipse(m, head, axes, 0, 0, 360, 1, -1), skin)
    draw(lambda m: cv2.ellipse(m, pt(head[0], head[1] - 0.05 * u), (axes[0] + 1, axes[1]), 0, 180, 360, 1, -1), hair)

    # Clothes are not flat colour: a soft texture and light from above.
    shade = 1 + 0.12 * blob_noise(rng, (h, w), max(2.0, u / 2))
    shade *= 1.1 - 0.25 * np.clip((np.arange(h, dtype=np.float32)[:, None] - top) / max(height, 1), 0, 1)
    return mask.astype(bool), colours * shade[..., None]


def make_street_scene(rng: np.random.Generator, size: int | tuple[int, int] = SMALL_SIZE, *,
                      max_people: int = 4) -> StreetScene:
    """Draw one street scene with 1 to ``max_people`` pedestrians (see the module docstring).

    ``size`` is the side of a square image or ``(H, W)``. Returns a :class:`StreetScene`: ``image``
    uint8 ``(H, W, 3)`` RGB and ``ids`` uint8 ``(H, W)`` with 0 for background and 1..N for the visible
    pixels of each person (numbered from far to near), the format of PennFudan's ``PedMasks``.
    Introduced in lecture 5 (segmentation).
    """
    h, w = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if min(h, w) < 32:
        raise ValueError(f"size={size} is too small to draw people; use at least 32 pixels a side")
    if not 1 <= max_people <= 254:
        raise ValueError(f"max_people must be in 1..254 (ids are stored in one byte), got {max_people}")
    image, horizon = _street(rng, h, w)
    weights = 0.75 ** np.arange(max_people)  # fewer crowded scenes: about 2 people on average, as in PennFudan
    n = 1 + int(rng.choice(max_people, p=weights / weights.sum()))
    feet = np.sort(rng.uniform(horizon + 0.3 * (h - horizon), h * 1.02, n))  # far (high up) to near
    ids = np.zeros((h, w), np.uint8)
    placed: list[float] = []
    own_area: list[int] = []
    for foot in feet:
        height = min(0.92 * h, 1.2 * (foot - horizon) * rng.uniform(0.9, 1.1))
        if placed and rng.random() < 0.5:  # beside someone already there: partial occlusion
            cx = placed[int(rng.integers(len(placed)))] + rng.choice((-1, 1)) * rng.uniform(0.15, 0.35) * height
        else:
            cx = rng.uniform(0.12, 0.88) * w
        mask, colours = _figure(rng, h, w, float(cx), float(foot), float(height))
        if not mask.any():
            continue
        placed.append(float(cx))
        own_area.append(int(mask.sum()))
        image[mask] = colours[mask]
        ids[mask] = len(placed)
    # Keep the figures that are still mostly visible, renumbered 1..N in drawing order.
    visible = np.bincount(ids.ravel(), minlength=len(placed) + 1)[1:]
    keep = [k + 1 for k in range(len(placed)) if visible[k] >= MIN_VISIBLE * own_area[k] and visible[k] >= 8]
    lookup = np.zeros(256, np.uint8)
    lookup[keep] = np.arange(1, len(keep) + 1)
    ids = lookup[ids]

    image *= rng.uniform(0.75, 1.2) * rng.uniform(0.92, 1.08, 3).astype(np.float32)  # exposure and colour cast
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.8))
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(2, 6))
    return StreetScene(np.clip(image + 0.5, 0, 255).astype(np.uint8), ids)


def _names(n: int) -> list[str]:
    """``n`` file stems in PennFudan's naming, split between Fudan and Penn in the real proportion (74:96)."""
    n_fudan = round(n * REAL_COUNTS["FudanPed"] / sum(REAL_COUNTS.values()))
    return ([f"FudanPed{i:05d}" for i in range(1, n_fudan + 1)]
            + [f"PennPed{i:05d}" for i in range(1, n - n_fudan + 1)])


def write_pennfudan_twin(root: str | os.PathLike, n: int | None = None, *, size: int = 256,
                         max_people: int = 4, seed: int = 0, overwrite: bool = False) -> Path:
    """Write ``n`` scenes of :func:`make_street_scene` in PennFudanPed's layout; return ``root``.

    Layout: ``root/PNGImages/FudanPed00001.png`` (RGB) and ``root/PedMasks/FudanPed00001_mask.png``
    (one channel: 0 background, 1..N people), then ``PennPed00001...``; ``root`` plays the part of the
    real ``PennFudanPed/`` folder. ``n`` defaults to 170, the real count, so the lecture can fine-tune on
    120 and test on 50 as the book does. Every image is ``size x size`` pixels (128 in the
    registry's fast twin), so a batch can be stacked. The twin is written beside ``root`` and renamed
    into place; an existing non-empty ``root`` is replaced only with ``overwrite=True``.
    Introduced in lecture 5 (segmentation).
    """
    n = sum(REAL_COUNTS.values()) if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    size = int(size)
    rng = np.random.default_rng(seed)
    with staged_directory(root, overwrite=overwrite) as staging:
        (staging / "PNGImages").mkdir()
        (staging / "PedMasks").mkdir()
        for stem in _names(n):
            scene = make_street_scene(rng, size, max_people=max_people)
            Image.fromarray(scene.image, "RGB").save(staging / "PNGImages" / f"{stem}.png")
            Image.fromarray(scene.ids, "L").save(staging / "PedMasks" / f"{stem}_mask.png")
    return Path(root).expanduser()
