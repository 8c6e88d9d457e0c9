"""Synthetic pet photos with trimaps: an offline twin of the Oxford-IIIT Pet dataset for lecture 5.

Introduced in lecture 5 (segmentation), where an encoder-decoder network learns to label every pixel
of a pet photo as pet, background or boundary from the dataset's *trimaps*. :func:`write_oxford_pets_twin`
writes images and trimaps in the real layout (``images/<Breed>_<n>.jpg``,
``annotations/trimaps/<Breed>_<n>.png`` with 1 = pet, 2 = background, 3 = boundary, and the split lists
``annotations/trainval.txt`` / ``test.txt``), so :class:`labkit.data.oxford_pets.OxfordPetsSegmentation`
reads the twin and the real data alike.

The generative story, in the order things are drawn:

1. **Room or garden.** A background of two colours blended along a random direction, with smooth
   blotches at two scales and, often, a regular pattern (floor boards or a striped rug), then 0 to 3
   class-blind objects (cushions, balls, boxes) in random colours: things a pet segmenter must learn to
   leave out.
2. **The pet** (the labels live here): a body ellipse, a round head at one end, and, depending on the
   pose, four legs (standing), two front legs (sitting, the body tilted upright) or none (lying); a tail
   at the other end. The **species** shows in the head: cats have pointed upright ears, dogs drooping
   ears and a snout. Six made-up **breeds** (three cats with capitalised names, three dogs in lower case,
   the real naming convention) differ by coat: solid ginger, grey tabby stripes, black with a white chest
   and paws (tuxedo), solid golden, white with dark spots, dark brown. Size (the pet covers about 10% to
   45% of the picture), position, facing direction, tilt and the coat's exact colour vary; the coat has
   a fine grain and is lit from above; eyes and a nose are painted on.
   The pet's edge is blended over the background (a soft alpha), as a photo's edge is.
3. **Camera.** A brightness and colour cast, slight blur, sensor noise, JPEG compression.

The trimap comes from the silhouette: pixels more than a band's half-width inside it are 1 (pet), more
than that outside are 2 (background), and the thin band along the edge (about 2 pixels in the fast
twin's 96-128-pixel images, 4 in the full twin's larger ones) is 3, the "not sure" label of the real
trimaps, which annotators drew along every outline. A network trained on the twin learns the same
three-way labelling as on the real data, but on far simpler shapes: a mean IoU on the twin says that the
pipeline works, not how well it would do on real photos.
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

__all__ = ["BREEDS", "PetPhoto", "make_pet_photo", "trimap_from_mask",
           "write_oxford_pets_twin"]

# (name, species, coat). Names follow the real convention: cats capitalised, dogs lower case.
BREEDS = (
    ("Ginger", "cat", "solid"),
    ("Grey_Tabby", "cat", "stripes"),
    ("Tuxedo", "cat", "tuxedo"),
    ("golden_dog", "dog", "solid"),
    ("spotted_dog", "dog", "spots"),
    ("brown_dog", "dog", "solid"),
)
_BASE_COLOURS = {  # RGB coat colour of each breed, jittered per animal
    "Ginger": (215, 120, 50), "Grey_Tabby": (140, 140, 135), "Tuxedo": (30, 28, 30),
    "golden_dog": (205, 160, 90), "spotted_dog": (235, 230, 220), "brown_dog": (95, 60, 35),
}
HALF_RELEASE = {"trainval": 1840, "test": 1835}  # half the real release's 3,680 and 3,669


class PetPhoto(NamedTuple):
    """One synthetic photo: ``image`` uint8 (H, W, 3) RGB; ``trimap`` uint8 (H, W) in {1, 2, 3}; ``breed``."""

    image: np.ndarray
    trimap: np.ndarray
    breed: str


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(20, 200), rng.integers(60, 240)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A room or garden: float32 (H, W, 3) in 0..255."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (x - w / 2) + np.sin(angle) * (y - h / 2)) / max(h, w) + 0.5
    ramp = np.clip(ramp, 0, 1)[..., None]
    image = (1 - ramp) * _random_colour(rng) + ramp * _random_colour(rng)
    image *= (1 + 0.12 * blob_noise(rng, (h, w), max(h, w) / 4)
              + 0.06 * blob_noise(rng, (h, w), max(h, w) / 20))[..., None]
    if rng.random() < 0.6:  # floor boards or a striped rug
        period = rng.uniform(0.06, 0.2) * max(h, w)
        phase = (np.cos(angle + np.pi / 2) * x + np.sin(angle + np.pi / 2) * y) / period
        image *= (1 - rng.uniform(0.05, 0.2) * (np.sin(2 * np.pi * phase) > 0.6))[..., None]
    for _ in range(int(rng.integers(0, 4))):  # class-blind objects
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(0.05, 0.2) * w), int(rng.uniform(0.05, 0.2) * h))
        if rng.random() < 0.5:
            cv2.ellipse(image, centre, axes, rng.uniform(0, 180), 0, 360, _random_colour(rng).tolist(), -1)
        else:
            cv2.rectangle(image, (centre[0] - axes[0], centre[1] - axes[1]),
                          (centre[0] + axes[0], centre[1] + axes[1]), _random_colour(rng).tolist(), -1)
    return image


def trimap_from_mask(mask: np.ndarray, band: int = 1) -> np.ndarray:
    """Trimap uint8 (H, W) of a silhouette ``mask`` (bool (H, W)): 1 pet, 2 background, 3 boundary.

    The boundary is the ring of pixels within ``band`` pixels of the silhouette's edge, on either side
    (a morphological gradient with a ``(2 band + 1)``-square: ``2 band`` pixels wide). Introduced in
    lecture 5 (segmentation).
    """
    mask = np.asarray(mask, bool).astype(np.uint8)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    ring = cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
    return np.where(ring, 3, np.where(mask > 0, 1, 2)).astype(np.uint8)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _silhouette(rng: np.random.Generator, h: int, w: int, species: str) -> tuple[np.ndarray, dict]:
    """The pet's mask (uint8 (H, W)) and the places where details are painted (head, eyes, belly line)."""
    mask = np.zeros((h, w), np.uint8)
    side = min(h, w)
    a = side * rng.uniform(0.25, 0.38)  # half the body length
    b = a * rng.uniform(0.45, 0.6)  # half the body height
    facing = rng.choice((-1, 1))
    pose = rng.choice(("standing", "sitting", "lying"), p=(0.45, 0.3, 0.25))
    tilt = {"standing": rng.uniform(-12, 12), "lying": rng.uniform(-8, 8),
            "sitting": -facing * rng.uniform(50, 70)}[pose]
    cx = w / 2 + rng.uniform(-0.12, 0.12) * w
    cy = h / 2 + rng.uniform(-0.05, 0.15) * h
    theta = np.deg2rad(tilt)
    along = np.array([np.cos(theta), np.sin(theta)]) * facing  # towards the head
    normal = np.array([-along[1], along[0]])
    if normal[1] < 0:
        normal = -normal  # across the body, towards the belly (down the image)
    cv2.ellipse(mask, _pt(cx, cy), (int(a), int(b)), tilt, 0, 360, 1, -1)

    leg_t = max(2, int(0.4 * b))
    if pose == "standing":
        for offset in (-0.65, -0.35, 0.4, 0.7):
            top = np.array([cx, cy]) + offset * a * along + 0.3 * b * normal
            cv2.line(mask, _pt(*top), _pt(top[0], top[1] + 1.5 * b), 1, leg_t)
    elif pose == "sitting":
        top = np.array([cx, cy]) + 0.45 * a * along  # the chest: front legs hang from it to the floor
        for offset in (0.1, 0.35):
            foot = (top[0] + facing * offset * b, cy + a * 0.95)
            cv2.line(mask, _pt(*top), _pt(*foot), 1, leg_t)
    head_r = b * rng.uniform(0.75, 0.95)
    head = np.array([cx, cy]) + 0.9 * a * along - 0.55 * b * np.array([0, 1]) * (pose != "sitting")
    if pose == "sitting":
        head = head - np.array([0, 0.5 * head_r])
    cv2.circle(mask, _pt(*head), int(head_r), 1, -1)
    if species == "cat":
        for dx in (-0.55, 0.55):
            base = head + np.array([dx * head_r, -0.6 * head_r])
            ear = np.array([_pt(base[0] - 0.35 * head_r, base[1] + 0.2 * head_r),
                            _pt(base[0] + 0.35 * head_r, base[1] + 0.2 * head_r),
                            _pt(base[0] + dx * 0.3 * head_r, base[1] - 0.75 * head_r)], np.int32)
            cv2.fillPoly(mask, [ear], 1)
    else:
        snout = head + np.array([facing * 0.8 * head_r, 0.25 * head_r])
        cv2.ellipse(mask, _pt(*snout), (int(0.6 * head_r), int(0.4 * head_r)), 0, 0, 360, 1, -1)
        for dx in (-0.8, 0.8):
            ear = head + np.array([dx * head_r, 0.1 * head_r])
            cv2.ellipse(mask, _pt(*ear), (max(1, int(0.3 * head_r)), int(0.7 * head_r)), -dx * 15, 0, 360, 1, -1)
    # Tail: a bent line from the rear end.
    rear = np.array([cx, cy]) - 0.9 * a * along
    lift = rng.uniform(-0.8, 1.2) * a
    tail_len = a * (rng.uniform(0.7, 1.0) if species == "cat" else rng.uniform(0.3, 0.6))
    mid = rear - 0.5 * tail_len * along - np.array([0, 0.5 * lift * tail_len / a])
    tip = rear - tail_len * along - np.array([0, lift * tail_len / a])
    tail_t = max(2, int((0.22 if species == "cat" else 0.3) * b))
    cv2.polylines(mask, [np.array([_pt(*rear), _pt(*mid), _pt(*tip)], np.int32)], False, 1, tail_t)
    return mask, {"head": head, "head_r": head_r, "facing": facing, "centre": (cx, cy), "b": b}


def make_pet_photo(rng: np.random.Generator, size: tuple[int, int] = (112, 128), *,
                   breed: str | None = None, band: int | None = None) -> PetPhoto:
    """Draw one pet photo and its trimap (see the module docstring).

    ``size`` is ``(H, W)`` (at least 32 a side); ``breed`` one of :data:`BREEDS`' names (random if None);
    ``band`` the half-width of the boundary band in pixels (default 1 below 160 pixels, else
    ``round(min(H, W) / 128)``). Introduced in lecture 5 (segmentation).
    """
    h, w = int(size[0]), int(size[1])
    if min(h, w) < 32:
        raise ValueError(f"size={size} is too small to draw a pet; use at least 32 pixels a side")
    names = [name for name, _, _ in BREEDS]
    if breed is None:
        breed = names[int(rng.integers(len(names)))]
    if breed not in names:
        raise ValueError(f"unknown breed {breed!r}; the twin's breeds are {', '.join(names)}")
    _, species, coat = BREEDS[names.index(breed)]
    band = max(1, round(min(h, w) / 128)) if band is None else int(band)

    image = _background(rng, h, w)
    mask, parts = _silhouette(rng, h, w, species)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.float32(_BASE_COLOURS[breed]) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    fur = np.broadcast_to(base, (h, w, 3)).copy()
    cx, cy = parts["centre"]
    if coat == "stripes":
        stripes = np.sin((x - cx) / (0.18 * parts["b"]) + 1.5 * blob_noise(rng, (h, w), parts["b"]))
        fur *= (1 - 0.45 * (stripes > 0.3))[..., None]
    elif coat == "spots":
        spots = blob_noise(rng, (h, w), max(3.0, 0.5 * parts["b"])) > 1.0
        fur[spots] = np.float32([40, 30, 25])
    elif coat == "tuxedo":
        muzzle = np.hypot(x - parts["head"][0], y - parts["head"][1] - 0.6 * parts["head_r"]) < 0.45 * parts["head_r"]
        white = (y > cy + 0.2 * parts["b"]) | muzzle  # white chest, belly, paws and chin
        fur[white] = np.float32([235, 235, 230])
    light = 1.15 - 0.35 * np.clip((y - (cy - 1.5 * parts["b"])) / (3 * parts["b"]), 0, 1)
    grain = 1 + 0.1 * rng.standard_normal((h, w)).astype(np.float32) + 0.08 * blob_noise(rng, (h, w), 3)
    fur *= (light * grain)[..., None]
    # Eyes and nose.
    hx, hy, hr, facing = *parts["head"], parts["head_r"], parts["facing"]
    eye = (90, 160, 60) if species == "cat" else (60, 40, 20)
    for dx in (-0.35, 0.35):
        cv2.circle(fur, _pt(hx + (dx + 0.25 * facing) * hr, hy - 0.1 * hr), max(1, int(0.15 * hr)), eye, -1)
    nose_x = hx + facing * (1.25 if species == "dog" else 0.3) * hr
    cv2.circle(fur, _pt(nose_x, hy + 0.25 * hr), max(1, int(0.12 * hr)), (20, 15, 15), -1)

    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)[..., None]  # a soft photographic edge
    image = alpha * fur + (1 - alpha) * image
    image *= rng.uniform(0.8, 1.15) * rng.uniform(0.93, 1.07, 3).astype(np.float32)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.7))
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 5))
    return PetPhoto(np.clip(image + 0.5, 0, 255).astype(np.uint8), trimap_from_mask(mask > 0, band), breed)


def _breed_ids() -> dict[str, tuple[int, int, int]]:
    """name -> (class id, species id, breed id) as in the real lists: class ids 1.. in case-blind
    alphabetical order; species 1 = cat, 2 = dog; breed ids 1.. within each species in the same order."""
    ids, per_species = {}, {"cat": 0, "dog": 0}
    for class_id, (name, species, _) in enumerate(sorted(BREEDS, key=lambda b: b[0].lower()), start=1):
        per_species[species] += 1
        ids[name] = (class_id, 1 if species == "cat" else 2, per_species[species])
    return ids


def write_oxford_pets_twin(root: str | os.PathLike, counts: dict[str, int] | None = None, *,
                           size: int = 256, seed: int = 0, overwrite: bool = False) -> Path:
    """Write synthetic pet photos (:func:`make_pet_photo`) in the Oxford-IIIT Pet layout; return ``root``.

    Layout: ``root/images/<Breed>_<n>.jpg`` (JPEG, RGB), ``root/annotations/trimaps/<Breed>_<n>.png``
    (one channel, 1 pet / 2 background / 3 boundary) and ``root/annotations/<split>.txt`` with lines
    ``<Breed>_<n> <class id> <species> <breed id>`` as in the real lists. ``counts`` maps each split to
    its number of images; the default is :data:`HALF_RELEASE` (1,840 + 1,835; the registry's fast twin
    asks for 240 + 120). Image sides vary between 75% and 100% of ``size`` (128 in the fast twin). Breeds are assigned in turn, so each
    split holds them in equal shares. The twin is written beside ``root`` and renamed into place; an
    existing non-empty ``root`` is replaced only with ``overwrite=True``. Introduced in lecture 5.
    """
    counts = HALF_RELEASE if counts is None else counts
    unknown = set(counts) - {"trainval", "test"}
    if unknown:
        raise ValueError(f"counts may only name the splits 'trainval' and 'test', got {sorted(unknown)}")
    size = int(size)
    if size < 43:
        raise ValueError(f"size={size} is too small: images are 75% to 100% of it and need 32 pixels a side")
    rng = np.random.default_rng(seed)
    ids = _breed_ids()
    numbers = {name: 0 for name, _, _ in BREEDS}
    with staged_directory(root, overwrite=overwrite) as staging:
        (staging / "images").mkdir()
        (staging / "annotations" / "trimaps").mkdir(parents=True)
        for split, n in counts.items():
            lines = []
            for k in range(int(n)):
                breed = BREEDS[k % len(BREEDS)][0]
                numbers[breed] += 1
                name = f"{breed}_{numbers[breed]}"
                hw = tuple(int(round(size * f)) for f in rng.uniform(0.75, 1.0, 2))
                photo = make_pet_photo(rng, hw, breed=breed)
                Image.fromarray(photo.image, "RGB").save(staging / "images" / f"{name}.jpg", quality=90)
                Image.fromarray(photo.trimap, "L").save(staging / "annotations" / "trimaps" / f"{name}.png")
                lines.append(f"{name} {' '.join(map(str, ids[breed]))}\n")
            (staging / "annotations" / f"{split}.txt").write_text("".join(lines))
    return Path(root).expanduser()
