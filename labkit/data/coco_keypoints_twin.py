"""Synthetic people with COCO's 17 joints, written as COCO keypoint annotations: the twin of lecture 7.

Introduced in lecture 7 (pose estimation). :func:`write_coco_keypoints_twin` writes the layout of COCO
2017 (``annotations/person_keypoints_train2017.json`` + ``train2017/*.jpg``, the same for ``val2017``)
and a ``photos/`` folder, so :class:`labkit.data.coco_keypoints.CocoKeypoints` reads the twin and the
real data alike.

The generative story of one image (:func:`make_pose_scene`), in the order things are drawn:

1. **Room.** A wall and a floor in random colours with a soft gradient, blotchy texture and a few
   pieces of furniture (rectangles).
2. **People** (the labels live here), one to ``max_people``, drawn from back to front (the smaller,
   farther ones first), each in its own strip of the floor, so they overlap only partly. A figure is
   built from a standing height ``H`` (its pixels) at human proportions: shoulders 0.24 H wide, hips
   0.11 H, torso 0.30 H, upper arm 0.17 H, forearm 0.15 H, thigh and shin 0.245 H each, a head of
   radius 0.065 H. Joint angles are drawn within human limits (arm raised -20 to 160 degrees from the
   body, elbow bent 0 to 120, leg spread -5 to 30, knee bent within 25, torso leaning within 10). The
   figure **faces the camera** (probability 0.75: a face with eyes, nose and mouth, so its left side is
   on the image's right) or **turns its back** (hair all over the head, no face; its left is on the
   image's left). Clothing (shirt, trousers), skin and hair colours vary. Some figures stand partly
   outside the frame.
3. **Occluders.** With probability 0.3 a box stands in front of one figure.
4. **Camera.** Global brightness and sensor noise.

The labels follow COCO's rules, honestly: a joint outside the image is not labelled (``v = 0``,
``x = y = 0``); a joint covered by a figure or box drawn later, or the eyes and nose of a figure seen
from behind, is labelled but hidden (``v = 1``); the others are visible (``v = 2``). ``bbox`` is the
box of the figure's pixels inside the image, ``area`` the number of its pixels left uncovered (COCO's
segment area), ``num_keypoints`` the joints with ``v > 0``. What the twin does not have: real bodies,
clothes that hide limbs, perspective, self-occlusion by the arms or side views.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from labkit.data.common import blob_noise
from labkit.data.download import staged_directory
from labkit.keypoints import KEYPOINT_NAMES, SKELETON

__all__ = ["PoseScene", "make_person", "make_pose_scene", "coco_categories", "write_coco_keypoints_twin",
           "SPLITS"]

SPLITS = ("train2017", "val2017")
_J = {name: i for i, name in enumerate(KEYPOINT_NAMES)}


class PoseScene(NamedTuple):
    """One synthetic image: ``image`` uint8 ``(H, W, 3)`` RGB; per person ``keypoints`` ``(N, 17, 3)``
    (COCO's x, y, v), ``boxes`` ``(N, 4)`` COCO ``(x, y, w, h)``, ``areas`` ``(N,)``, ``facing`` ``(N,)``
    bool (True: towards the camera)."""

    image: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    facing: np.ndarray


def coco_categories() -> list[dict]:
    """The ``categories`` entry of a COCO keypoint file: the person, its 17 joints and its skeleton (1-based)."""
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINT_NAMES),
             "skeleton": [[a + 1, b + 1] for a, b in SKELETON]}]


def _colour(rng: np.random.Generator, value=(0.3, 1.0), saturation=(0.2, 0.9)) -> tuple[int, ...]:
    hsv = np.uint8([[[rng.integers(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _skin(rng: np.random.Generator) -> tuple[int, ...]:
    tone = rng.uniform(0, 0.7)  # light to brown, always lighter than the hair
    return tuple(int(c) for c in np.array([250, 215, 185]) * (1 - tone) + np.array([120, 80, 55]) * tone)


def _rotate(v: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([np.cos(a) * v[0] - np.sin(a) * v[1], np.sin(a) * v[0] + np.cos(a) * v[1]])


def make_person(rng: np.random.Generator, feet: tuple[float, float], height: float, facing: bool
                ) -> np.ndarray:
    """The 17 joints ``(17, 2)`` of one figure standing with its ankles' midpoint near ``feet``."""
    h = height
    lean = rng.uniform(-10, 10)
    joints = np.zeros((17, 2))
    left = 1.0 if facing else -1.0  # image direction of the figure's left side
    pelvis = np.array(feet, float) - np.array([0, 0.49 * h])

    def body(dx: float, dy: float) -> np.ndarray:  # a point of the leaning upper body
        return pelvis + _rotate(np.array([dx, dy]) * h, lean)

    head = body(0, -0.41)
    for side, sign in (("left", left), ("right", -left)):
        shoulder = body(sign * 0.12, -0.29)
        raise_arm = rng.uniform(-20, 160) if rng.random() < 0.6 else rng.uniform(-15, 30)
        bend = rng.uniform(0, 120) * rng.choice([-1, 1])
        elbow = shoulder + 0.17 * h * np.array([sign * np.sin(np.deg2rad(raise_arm)), np.cos(np.deg2rad(raise_arm))])
        fore = np.deg2rad(raise_arm + bend)
        wrist = elbow + 0.15 * h * np.array([sign * np.sin(fore), np.cos(fore)])
        hip = pelvis + np.array([sign * 0.055 * h, 0])
        spread = rng.uniform(-5, 30)
        knee_bend = rng.uniform(-25, 25)
        knee = hip + 0.245 * h * np.array([sign * np.sin(np.deg2rad(spread)), np.cos(np.deg2rad(spread))])
        shin = np.deg2rad(spread + knee_bend)
        ankle = knee + 0.245 * h * np.array([sign * np.sin(shin), np.cos(shin)])
        for part, point in (("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist), ("hip", hip),
                            ("knee", knee), ("ankle", ankle)):
            joints[_J[f"{side}_{part}"]] = point
        joints[_J[f"{side}_eye"]] = head + _rotate(np.array([sign * 0.025, -0.01]) * h, lean)
        joints[_J[f"{side}_ear"]] = head + _rotate(np.array([sign * 0.064, 0.0]) * h, lean)
    joints[_J["nose"]] = head + _rotate(np.array([0, 0.015]) * h, lean)
    return joints


def _draw_person(canvas: np.ndarray, joints: np.ndarray, height: float, facing: bool,
                 colours: dict[str, tuple[int, ...]]) -> None:
    """Draw one figure (limbs, torso, head) on ``canvas`` (RGB uint8 or a one-channel mask, in place)."""
    def pt(p: np.ndarray) -> tuple[int, int]:
        return int(round(p[0] * 4)), int(round(p[1] * 4))  # 2 bits of sub-pixel precision (shift=2)

    def line(a: str, b: str, colour, width: float) -> None:
        cv2.line(canvas, pt(joints[_J[a]]), pt(joints[_J[b]]), colour, max(1, int(round(width))),
                 cv2.LINE_AA, shift=2)

    def disc(centre: np.ndarray, radius: float, colour) -> None:
        cv2.circle(canvas, pt(centre), max(1, int(round(radius * 4))), colour, -1, cv2.LINE_AA, shift=2)

    h = height
    for side in ("left", "right"):
        line(f"{side}_hip", f"{side}_knee", colours["trousers"], 0.075 * h)
        line(f"{side}_knee", f"{side}_ankle", colours["trousers"], 0.06 * h)
        disc(joints[_J[f"{side}_ankle"]], 0.035 * h, colours["shoes"])
    shoulders = joints[[_J["left_shoulder"], _J["right_shoulder"]]]
    hips = joints[[_J["left_hip"], _J["right_hip"]]]
    widen = (hips - hips.mean(0)) * 1.5 + hips.mean(0)
    torso = np.concatenate([shoulders, widen[::-1]]) * 4
    cv2.fillPoly(canvas, [np.round(torso).astype(np.int32)], colours["shirt"], cv2.LINE_AA, shift=2)
    head = (joints[_J["left_ear"]] + joints[_J["right_ear"]]) / 2
    cv2.line(canvas, pt(shoulders.mean(0)), pt(head), colours["skin"], max(1, int(round(0.05 * h))),
             cv2.LINE_AA, shift=2)
    for side in ("left", "right"):
        line(f"{side}_shoulder", f"{side}_elbow", colours["shirt"], 0.06 * h)
        line(f"{side}_elbow", f"{side}_wrist", colours["skin"], 0.045 * h)
        disc(joints[_J[f"{side}_wrist"]], 0.03 * h, colours["skin"])
    radius = 0.065 * h
    if canvas.ndim == 2:  # a mask: the head's disc is all there is
        disc(head, radius, colours["hair"])
        return
    if facing:
        disc(head, radius, colours["skin"])
        cv2.ellipse(canvas, pt(head - np.array([0, 0.2 * radius])), (int(radius * 4), int(radius * 3.2)), 0,
                    180, 360, colours["hair"], -1, cv2.LINE_AA, shift=2)
        for eye in ("left_eye", "right_eye"):
            disc(joints[_J[eye]], max(0.8, 0.015 * h), (30, 25, 25))
        disc(joints[_J["nose"]], max(0.5, 0.009 * h), tuple(int(0.7 * c) for c in colours["skin"]))
        mouth = joints[_J["nose"]] + np.array([0, 0.022 * h])
        cv2.line(canvas, pt(mouth - [0.015 * h, 0]), pt(mouth + [0.015 * h, 0]), (150, 40, 40),
                 max(1, int(round(0.006 * h))), cv2.LINE_AA, shift=2)
    else:
        for ear in ("left_ear", "right_ear"):
            disc(joints[_J[ear]], 0.018 * h, colours["skin"])
        disc(head, radius, colours["hair"])


def _room(rng: np.random.Generator, size: int) -> np.ndarray:
    wall, floor = np.array(_colour(rng, (0.5, 0.95), (0.0, 0.4)), float), np.array(_colour(rng, (0.2, 0.7)), float)
    horizon = int(size * rng.uniform(0.45, 0.7))
    image = np.empty((size, size, 3), np.float32)
    image[:horizon], image[horizon:] = wall, floor
    image *= (1 + 0.15 * rng.choice([-1, 1]) * np.linspace(-1, 1, size, dtype=np.float32))[None, :, None]
    image += 18 * blob_noise(rng, (size, size), size / 6)[..., None]
    for _ in range(rng.integers(0, 4)):
        x, y = rng.integers(0, size, 2)
        w, h = rng.integers(size // 10, size // 3, 2)
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), _colour(rng, (0.2, 0.9)), -1)
    return image


def make_pose_scene(rng: np.random.Generator, size: int = 128, max_people: int = 3) -> PoseScene:
    """One room with 1 to ``max_people`` figures and their COCO labels (see the module docstring)."""
    image = _room(rng, size)
    n = int(rng.integers(1, max_people + 1))
    heights = np.sort(rng.uniform(0.42, 0.85, n) * size)  # smaller (farther) figures first
    people, masks, facing = [], [], []
    slots = rng.permutation(n)  # each figure gets its own strip of the floor: they overlap, but not all over
    for slot, height in zip(slots, heights):
        outside = rng.random() < 0.15
        centre = (slot + 0.5 + rng.uniform(-0.3, 0.3)) / n
        fx = rng.uniform(-0.1, 1.1) * size if outside else (0.12 + 0.76 * centre) * size
        fy = rng.uniform(size - 0.05 * height, size + (0.4 * height if outside else 0.03 * height))
        fy = min(fy, size + 0.4 * height)
        fy = max(fy, 0.97 * height)
        faces = bool(rng.random() < 0.75)
        joints = make_person(rng, (fx, fy), height, faces)
        colours = {"shirt": _colour(rng), "trousers": _colour(rng, (0.15, 0.8)), "shoes": _colour(rng, (0.05, 0.4)),
                   "skin": _skin(rng), "hair": _colour(rng, (0.04, 0.25), (0.1, 0.6))}
        _draw_person(image, joints, height, faces, colours)
        mask = np.zeros((size, size), np.uint8)
        _draw_person(mask, joints, height, faces, {k: 255 for k in colours})
        people.append(joints)
        masks.append(mask > 127)
        facing.append(faces)
    if rng.random() < 0.3:  # a box in front of one figure
        target = people[int(rng.integers(n))]
        cx, cy = target[rng.integers(5, 17)]
        w, h = rng.uniform(0.15, 0.35, 2) * size
        x0, y0 = int(cx - w / 2), int(cy - h * rng.uniform(0.2, 0.8))
        cv2.rectangle(image, (x0, y0), (int(x0 + w), int(y0 + h)), _colour(rng, (0.2, 0.9)), -1)
        box_mask = np.zeros((size, size), bool)
        box_mask[max(y0, 0):max(int(y0 + h) + 1, 0), max(x0, 0):max(int(x0 + w) + 1, 0)] = True
        masks.append(box_mask)
    image = image * rng.uniform(0.8, 1.15) + rng.normal(0, 4, image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)

    keypoints, boxes, areas, kept = [], [], [], []
    for p, joints in enumerate(people):
        covered = np.zeros((size, size), bool)
        for later in masks[p + 1:]:
            covered |= later
        own = masks[p]
        if not own.any():
            continue  # wholly outside the frame: not in this image
        k = np.zeros((17, 3))
        for j, (x, y) in enumerate(joints):
            col, row = int(round(x)), int(round(y))
            if not (0 <= x <= size - 1 and 0 <= y <= size - 1):
                continue  # outside the image: not labelled
            hidden = covered[row, col] or (not facing[p] and KEYPOINT_NAMES[j] in ("nose", "left_eye", "right_eye"))
            k[j] = (x, y, 1 if hidden else 2)
        rows, cols = np.nonzero(own)
        boxes.append([cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1])
        areas.append(float((own & ~covered).sum()))
        keypoints.append(k)
        kept.append(facing[p])
    return PoseScene(image, np.array(keypoints).reshape(-1, 17, 3), np.array(boxes, float).reshape(-1, 4),
                     np.array(areas, float), np.array(kept, bool))


def _photo_of_a_person() -> np.ndarray:
    from skimage import data as skdata  # the astronaut Eileen Collins (NASA, public domain), 512 x 512 RGB
    return skdata.astronaut()


def write_coco_keypoints_twin(root: str | os.PathLike, *, counts: dict[str, int] | None = None, size: int = 256,
                              max_people: int = 4, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the twin in COCO 2017's layout under ``root`` and return ``root``.

    ``counts`` images per split (default 3,000 for ``train2017``, 500 for ``val2017``) of ``size`` x
    ``size`` pixels, each with 1 to ``max_people`` figures; ``photos/`` gets a photograph of a person
    (scikit-image's astronaut) and one twin scene, for the Keypoint R-CNN demo. Deterministic in
    ``seed``; written through :func:`labkit.data.download.staged_directory` (nothing half-written).
    """
    counts = dict(counts or {"train2017": 3000, "val2017": 500})
    rng = np.random.default_rng(seed)
    with staged_directory(root, overwrite=overwrite) as staging:
        (staging / "annotations").mkdir()
        ann_id = 1
        for s, (split, n) in enumerate(counts.items()):
            (staging / split).mkdir()
            images, annotations = [], []
            for i in range(n):
                scene = make_pose_scene(rng, size, max_people)
                image_id = (s + 1) * 1_000_000 + i + 1
                name = f"{image_id:012d}.jpg"
                Image.fromarray(scene.image, "RGB").save(staging / split / name, quality=92)
                images.append({"id": image_id, "file_name": name, "width": size, "height": size})
                for k, box, area in zip(scene.keypoints, scene.boxes, scene.areas):
                    annotations.append({"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                                        "bbox": [float(b) for b in box], "area": float(area),
                                        "num_keypoints": int((k[:, 2] > 0).sum()),
                                        "keypoints": [round(float(v), 2) for v in k.reshape(-1)]})
                    ann_id += 1
            document = {"info": {"description": "labkit synthetic twin of COCO person keypoints", "version": "1"},
                        "licenses": [], "images": images, "annotations": annotations,
                        "categories": coco_categories()}
            (staging / "annotations" / f"person_keypoints_{split}.json").write_text(json.dumps(document))
        (staging / "photos").mkdir()
        Image.fromarray(_photo_of_a_person(), "RGB").save(staging / "photos" / "astronaut.png")
        Image.fromarray(make_pose_scene(rng, 2 * size, max_people).image, "RGB").save(
            staging / "photos" / "twin_scene.jpg", quality=92)
    return Path(root).expanduser()
