"""Synthetic street-camera videos with known people, lighting drift and noise: the twin of lecture 10.

Introduced in lecture 10 (video analytics), whose real data is a video file of your own (a fixed
camera: a shop, a car park, a street). This module draws a fixed camera's view and
:func:`write_street_video_twin` writes it as ``videos/street_000.avi`` (Motion-JPEG, a codec that the
pip wheel of OpenCV both writes and reads) with its ground truth beside it, ``videos/street_000.json``,
so :class:`labkit.data.street_video.StreetVideos` reads the twin and your own videos alike.

The generative story of one video, in the order things are drawn:

1. **Scene.** A static view: a wall with windows and a door above a horizon at 30-40% of the height,
   a pavement below it with joints, a bench and a lamp post. Textured, drawn once.
2. **People** (the labels live here). Walkers enter at the left or right edge, cross at a steady speed
   (a quarter to two fifths of the width per second) along a line whose height sets their size
   (perspective: lower is nearer, so taller) and leave at the other edge. Each is a head, a torso and
   two legs that swing with the stride, in random clothes. They come in **passages** of one or two
   people (the second enters while the first is still in view), separated by 2 to 4 seconds of empty
   street; the first 2.5 seconds are always empty. About one walker in two **stops** for 1.5 to 2.5
   seconds in mid-street, then walks on.
3. **Camera.** A slow **lighting drift**: the global brightness is ``1 + drift * sin(phase + 2 pi t /
   (4 T))`` for a clip of ``T`` seconds, a quarter of a period whose phase is drawn near a steep part
   of the sine, so the light changes by 1.3 to 1.4 times ``drift`` (about a third) over the clip;
   sensor noise (Gaussian, ``noise`` grey levels) on every frame; and the compression of Motion-JPEG.

Ground truth, per frame: each walker whose box is at least 30% inside the frame, with its box and
whether it is walking or standing. A **true event** is a maximal run of frames with at least one
walker in view, ``(start_s, end_s)`` with ``end_s = (last frame + 1) / fps``: what a motion detector on
a fixed camera should report, a stop included. Scores on the twin say that a method finds people who
move against a static background; they are not scores on real footage.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from labkit.data.common import blob_noise
from labkit.data.download import staged_directory

__all__ = ["Walker", "StreetPlan", "plan_street_video", "render_street_video", "street_truth",
           "write_street_video_twin", "TRUTH_SUFFIX", "VISIBLE_FRACTION"]

TRUTH_SUFFIX = ".json"  # street_000.avi -> street_000.json
VISIBLE_FRACTION = 0.3  # a walker counts as in view when this share of its box is inside the frame


@dataclass(frozen=True)
class Walker:
    """One person's path: enters at ``t_enter`` seconds, ``direction`` +1 (left to right) or -1, at
    ``speed`` px/s, feet on row ``foot_y``, ``height`` px tall; stops for ``pause_s`` at ``pause_x``."""

    id: int
    t_enter: float
    direction: int
    speed: float
    foot_y: float
    height: float
    pause_x: float | None
    pause_s: float
    colours: tuple[tuple[float, float, float], ...]  # skin, hair, shirt, trousers

    @property
    def half_width(self) -> float:
        return 0.14 * self.height

    def x_at(self, t: float, width: int) -> float | None:
        """The walker's centre at time ``t``, or None before it enters or after it leaves."""
        start = -self.half_width if self.direction > 0 else width + self.half_width
        distance = (t - self.t_enter) * self.speed
        if distance < 0:
            return None
        if self.pause_x is not None:
            to_pause = abs(self.pause_x - start)
            if distance > to_pause:
                distance = max(to_pause, distance - self.pause_s * self.speed)
        if distance > width + 2 * self.half_width:
            return None
        return start + self.direction * distance

    def walking_at(self, t: float, width: int) -> bool:
        x, before = self.x_at(t, width), self.x_at(t - 0.05, width)
        return x is not None and before is not None and abs(x - before) > 1e-6

    def t_exit(self, width: int) -> float:
        return self.t_enter + (width + 2 * self.half_width) / self.speed + (self.pause_s if self.pause_x else 0)


@dataclass(frozen=True)
class StreetPlan:
    """Everything one video is drawn from: size, clock, the walkers, the camera, and its scene seed."""

    height: int
    width: int
    fps: float
    n_frames: int
    walkers: tuple[Walker, ...]
    drift: float
    drift_phase: float
    noise: float
    scene_seed: int


def _colour(rng: np.random.Generator, value: tuple[float, float], saturation: tuple[float, float]) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def plan_street_video(rng: np.random.Generator, *, size: tuple[int, int] = (240, 320), fps: float = 15,
                      duration_s: float = 90, drift: float = 0.25, noise: float = 3.0,
                      pause_probability: float = 0.5) -> StreetPlan:
    """Draw the plan of one video (see the module docstring): its passages of walkers and its camera."""
    h, w = size
    if min(h, w) < 48 or duration_s < 8:
        raise ValueError(f"size {size} and duration {duration_s} s are too small: use at least 48 px and 8 s")
    horizon = 0.35 * h
    walkers: list[Walker] = []
    t = 2.5 + rng.uniform(0, 1)
    while True:
        passage = []
        for k in range(1 + int(rng.random() < 0.35)):
            foot = rng.uniform(horizon + 0.45 * (h - horizon), 0.97 * h)
            height = (foot - horizon) * rng.uniform(0.9, 1.1) * 0.75
            speed = w * rng.uniform(0.25, 0.4)
            direction = int(rng.choice((-1, 1)))
            enter = t if k == 0 else t + rng.uniform(0.3, 0.6) * (passage[0].t_exit(w) - t)
            pauses = rng.random() < pause_probability
            colours = (tuple(_colour(rng, (0.45, 0.9), (0.25, 0.5)) * np.float32([1, 0.8, 0.65])),
                       tuple(_colour(rng, (0.05, 0.4), (0.1, 0.6))),
                       tuple(_colour(rng, (0.15, 0.95), (0.2, 0.9))), tuple(_colour(rng, (0.1, 0.6), (0.0, 0.6))))
            passage.append(Walker(len(walkers) + k, float(enter), direction, float(speed), float(foot),
                                  float(height), float(rng.uniform(0.3, 0.7) * w) if pauses else None,
                                  float(rng.uniform(1.5, 2.5)) if pauses else 0.0,
                                  tuple(tuple(float(v) for v in c) for c in colours)))
        end = max(p.t_exit(w) for p in passage)
        if end > duration_s - 1.0:
            break
        walkers += passage
        t = end + rng.uniform(2.0, 4.0)
    return StreetPlan(h, w, float(fps), int(round(duration_s * fps)), tuple(walkers), float(drift),
                      float(rng.choice((-0.25, 0.75)) * np.pi + rng.uniform(-np.pi / 8, np.pi / 8)),
                      float(noise), int(rng.integers(2**31)))


def _scene(plan: StreetPlan) -> np.ndarray:
    """The static view, float32 (H, W, 3) RGB in 0..255."""
    rng = np.random.default_rng(plan.scene_seed)
    h, w = plan.height, plan.width
    horizon = int(0.35 * h)
    wall, pavement = _colour(rng, (0.5, 0.8), (0.1, 0.35)), _colour(rng, (0.45, 0.65), (0.0, 0.12))
    image = np.empty((h, w, 3), np.float32)
    image[:horizon], image[horizon:] = wall, pavement
    image *= (1 + 0.06 * blob_noise(rng, (h, w), max(4.0, w / 16)))[..., None]
    win_w, win_h = max(3, w // 12), max(3, h // 10)
    for x0 in range(win_w // 2, w - win_w, 2 * win_w):
        for y0 in range(max(1, h // 30), horizon - win_h, int(1.6 * win_h)):
            image[y0:y0 + win_h, x0:x0 + win_w] = wall * 0.45
    door = int(rng.uniform(0.2, 0.8) * w)
    image[horizon - int(0.2 * h):horizon, door:door + max(3, w // 14)] = wall * 0.3
    for x_bottom in np.linspace(-w, 2 * w, 9):
        cv2.line(image, (w // 2, horizon), (int(x_bottom), h), (pavement * 0.75).tolist(), 1)
    bench_y, bench_x = int(horizon + 0.15 * h), int(rng.uniform(0.1, 0.6) * w)
    cv2.rectangle(image, (bench_x, bench_y), (bench_x + w // 6, bench_y + max(2, h // 40)), (90, 60, 40), -1)
    pole = int(rng.uniform(0.05, 0.95) * w)
    cv2.rectangle(image, (pole, int(0.1 * h)), (pole + max(1, w // 100), int(horizon + 0.2 * h)), (40, 40, 45), -1)
    return image


def _draw_walker(image: np.ndarray, walker: Walker, x: float, t: float, walking: bool) -> None:
    """Draw one walker, feet centred at (x, foot_y), onto the float image."""
    u = walker.height / 7.0  # one head height
    skin, hair, shirt, trousers = (tuple(c) for c in walker.colours)
    foot, top = walker.foot_y, walker.foot_y - walker.height
    hip_y, shoulder_y = top + 3.9 * u, top + 1.4 * u
    phase = np.sin(2 * np.pi * 1.8 * t) if walking else 0.0  # strides per second
    leg_t = max(1, int(round(0.5 * u)))
    for side in (-1, 1):
        ankle_x = x + side * phase * 0.9 * u
        cv2.line(image, (int(x), int(hip_y)), (int(ankle_x), int(foot - 0.2 * u)), trousers, leg_t)
    torso = np.array([[x - 0.9 * u, shoulder_y], [x + 0.9 * u, shoulder_y], [x + 0.75 * u, hip_y + 0.3 * u],
                      [x - 0.75 * u, hip_y + 0.3 * u]], np.int32)
    cv2.fillPoly(image, [torso], shirt)
    for side in (-1, 1):
        hand_x = x + side * 0.8 * u - side * phase * 0.6 * u
        cv2.line(image, (int(x + side * 0.8 * u), int(shoulder_y + 0.2 * u)), (int(hand_x), int(hip_y)),
                 shirt, max(1, int(0.35 * u)))
    head = (int(x), int(top + 0.6 * u))
    axes = (max(1, int(0.42 * u)), max(1, int(0.55 * u)))
    cv2.ellipse(image, head, axes, 0, 0, 360, skin, -1)
    cv2.ellipse(image, (head[0], head[1] - 1), axes, 0, 180, 360, hair, -1)


def _box(walker: Walker, x: float) -> list[float]:
    return [x - walker.half_width * 1.4, walker.foot_y - walker.height, x + walker.half_width * 1.4, walker.foot_y]


def street_truth(plan: StreetPlan) -> dict[str, Any]:
    """The ground truth of a plan: per-frame people (id, box, walking) and the true events, as saved."""
    frames, active = [], []
    w, h = plan.width, plan.height
    for index in range(plan.n_frames):
        t = index / plan.fps
        people = []
        for walker in plan.walkers:
            x = walker.x_at(t, w)
            if x is None:
                continue
            x1, y1, x2, y2 = _box(walker, x)
            inside = max(0.0, min(x2, w) - max(x1, 0)) / (x2 - x1)
            if inside >= VISIBLE_FRACTION:
                people.append({"id": walker.id, "box": [round(max(x1, 0), 2), round(max(y1, 0), 2),
                                                        round(min(x2, w), 2), round(min(y2, h), 2)],
                               "walking": walker.walking_at(t, w)})
        frames.append({"index": index, "time_s": round(t, 6), "people": people})
        active.append(bool(people))
    events, start = [], None
    for index, on in enumerate(active + [False]):
        if on and start is None:
            start = index
        elif not on and start is not None:
            events.append([round(start / plan.fps, 6), round(index / plan.fps, 6)])
            start = None
    return {"fps": plan.fps, "n_frames": plan.n_frames, "width": w, "height": h, "drift": plan.drift,
            "noise": plan.noise, "events": events, "frames": frames,
            "walkers": [{"id": k.id, "t_enter": k.t_enter, "t_exit": k.t_exit(w), "direction": k.direction,
                         "stops_for_s": k.pause_s} for k in plan.walkers]}


def render_street_video(plan: StreetPlan, *, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield the frames of a plan one at a time: RGB ``uint8`` ``(H, W, 3)``; noise drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    scene = _scene(plan)
    duration = plan.n_frames / plan.fps
    for index in range(plan.n_frames):
        t = index / plan.fps
        image = scene.copy()
        for walker in sorted(plan.walkers, key=lambda k: k.foot_y):  # far (higher up) first
            x = walker.x_at(t, plan.width)
            if x is not None:
                _draw_walker(image, walker, x, t, walker.walking_at(t, plan.width))
        image *= 1 + plan.drift * np.sin(2 * np.pi * t / (4 * duration) + plan.drift_phase)
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(plan.noise)
        yield np.clip(image + 0.5, 0, 255).astype(np.uint8)


def write_street_video_twin(root: str | os.PathLike, n_videos: int = 3, *, size: tuple[int, int] = (240, 320),
                            fps: float = 15, duration_s: float = 90, drift: float = 0.25, noise: float = 3.0,
                            seed: int = 0, overwrite: bool = False) -> Path:
    """Write ``n_videos`` street videos as ``root/videos/street_NNN.avi`` (MJPG) with their truth beside
    them (``street_NNN.json``, see :func:`street_truth`); return ``root``.

    Written in a staging folder and renamed into place; an existing non-empty ``root`` is replaced only
    with ``overwrite=True``. The registry's fast twin is smaller, slower and shorter. Lecture 10.
    """
    from labkit.video import write_clip  # labkit.video imports labkit.data: import it when used

    if n_videos < 1:
        raise ValueError(f"n_videos must be at least 1, got {n_videos}")
    rng = np.random.default_rng(seed)
    with staged_directory(root, overwrite=overwrite) as staging:
        (staging / "videos").mkdir()
        for k in range(n_videos):
            plan = plan_street_video(rng, size=tuple(size), fps=fps, duration_s=duration_s, drift=drift,
                                     noise=noise)
            write_clip(render_street_video(plan, seed=int(rng.integers(2**31))),
                       staging / "videos" / f"street_{k:03d}.avi", fps)
            truth = street_truth(plan)
            (staging / "videos" / f"street_{k:03d}{TRUTH_SUFFIX}").write_text(json.dumps(truth))
    return Path(root).expanduser()
