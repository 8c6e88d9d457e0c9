"""Chest X-rays for pneumonia screening: the real folder read with ``ImageFolder``, checked, or twinned.

Introduced in lecture 3 (chest X-ray classification in four variants).

The real data are the paediatric chest films of Kermany et al. (2018), published on Mendeley Data as
``ChestXRay2017.zip`` and mirrored on Kaggle as "Labeled Chest X-Ray Images" (tolgadincer), the release
the book uses. It unpacks to::

    chest_xray/train/NORMAL/NORMAL-<patient>-<n>.jpeg          1,349 films
    chest_xray/train/PNEUMONIA/BACTERIA-<patient>-<n>.jpeg     3,883 films (bacterial and ...
    chest_xray/train/PNEUMONIA/VIRUS-<patient>-<n>.jpeg         ... viral pneumonia)
    chest_xray/test/NORMAL/...  234 films     chest_xray/test/PNEUMONIA/...  390 films

The other Kaggle copy ("Chest X-Ray Images (Pneumonia)", Mooney) holds the same films with other names
(``IM-0115-0001.jpeg``, ``person1_bacteria_1.jpeg``) and 8 + 8 of the training films moved to a ``val``
folder; it is accepted too. The files are 8-bit JPEGs, almost all greyscale (a few are stored as RGB), of
very different sizes (from several hundred to a few thousand pixels a side).

Everything here takes ``root``, the folder that holds ``train/`` and ``test/``; it defaults to
``labkit.data_dir() / "chest-xray" / "chest_xray"``. Without the real data, :func:`write_chest_xray_twin`
writes synthetic radiographs in the same layout, so the same ``ImageFolder`` code reads both, and
:func:`chest_xray_data` picks whichever is available.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.transforms import v2

from labkit.data.download import staged_directory
from labkit.data.registry import DatasetNotFoundError, get_dataset
from labkit.data.report import findings_lines, some_names

__all__ = [
    "CLASSES", "RELEASES", "FAST_TWIN_COUNTS", "default_root", "load_grey", "preprocess", "chest_xray_folder",
    "load_split", "XrayTensors", "patient_id", "split_by_patient", "ChestXrayReport", "verify_chest_xray",
    "make_radiograph", "write_chest_xray_twin", "chest_xray_data",
]

CLASSES = ("NORMAL", "PNEUMONIA")  # ImageFolder sorts folder names: NORMAL = 0, PNEUMONIA = 1
# (NORMAL, PNEUMONIA) per split, for each known release of the same films.
RELEASES: dict[str, dict[str, tuple[int, int]]] = {
    "Labeled Chest X-Ray Images (Mendeley ChestXRay2017 / Kaggle tolgadincer; the book's)":
        {"train": (1349, 3883), "test": (234, 390)},
    "Chest X-Ray Images (Pneumonia) (Kaggle, Mooney)":
        {"train": (1341, 3875), "val": (8, 8), "test": (234, 390)},
}
# The offline twin in fast mode keeps the real ratios: about 1:3 in train, 3:5 in test.
FAST_TWIN_COUNTS = {"train": (150, 450), "test": (90, 150)}
FULL_TWIN_COUNTS = RELEASES[next(iter(RELEASES))]
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
TWIN_VERSION = 1  # part of the twin's cache folder name: bump it when make_radiograph changes
VERIFY_COMMAND = "python data_scripts/chest_xray.py --root {root}"


def default_root() -> Path:
    """``labkit.data_dir() / "chest-xray" / "chest_xray"``: where the real ``train/`` and ``test/`` go."""
    return get_dataset("chest-xray").folder() / "chest_xray"


def _resolve(root: str | os.PathLike | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


# ----------------------------------------------------------------------------------------------------------
# Reading the folders: ImageFolder, one grey channel, decoded once
# ----------------------------------------------------------------------------------------------------------

def load_grey(path: str | os.PathLike, min_size: int | None = None) -> Image.Image:
    """Open an X-ray as a one-channel (mode ``"L"``) PIL image, whatever mode the file is stored in.

    ``min_size`` lets the JPEG decoder skip detail that a later resize throws away (``Image.draft``
    decodes at 1/2, 1/4 or 1/8 scale while both sides stay >= ``min_size``): a 2,000-pixel film is
    decoded several times faster. Introduced in lecture 3 (chest X-rays).
    """
    with Image.open(path) as image:
        if min_size is not None and image.format == "JPEG":
            image.draft("L", (min_size, min_size))
        return image.convert("L")  # decodes every pixel here, inside the with block


def preprocess(size: int, channels: int = 1) -> v2.Compose:
    """The deterministic part of every pipeline: PIL grey image -> uint8 tensor ``(channels, size, size)``.

    ``Resize(size)`` scales the shorter side to ``size`` (keeping the aspect ratio), ``CenterCrop(size)``
    cuts the middle square, as the book does. ``channels=1`` for a network trained from scratch on grey
    films; ``channels=3`` repeats the grey channel (``Grayscale(num_output_channels=3)``) for a network
    pretrained on RGB photos. Introduced in lecture 3 (chest X-rays).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (a network for grey images) or 3 (an RGB-pretrained one), "
                         f"got {channels}")
    return v2.Compose([
        v2.Grayscale(num_output_channels=channels),  # a no-op for "L" images when channels == 1
        v2.Resize(size, antialias=True),
        v2.CenterCrop(size),
        v2.PILToTensor(),  # uint8 (C, H, W): four times less memory than float, so a split fits in RAM
    ])


def _not_found(root: Path, what: str) -> DatasetNotFoundError:
    info = get_dataset("chest-xray")
    hint = ""
    if root.name in ("train", "test", "val", "NORMAL", "PNEUMONIA"):
        hint = f"\n(root should be the folder that CONTAINS train/ and test/; did you mean {root.parent}?)"
    elif (root / "chest_xray" / "train").is_dir():
        hint = f"\n(the data is one level down: use root={root / 'chest_xray'})"
    return DatasetNotFoundError(
        f"{what} not found under {root}.{hint}\n{info.how_to_get(root.parent)}\n"
        f"Then run `{VERIFY_COMMAND.format(root=root)}` to check the folder. Without the real data, "
        "`labkit.data.chest_xray.chest_xray_data()` writes and uses a synthetic twin in the same layout.")


def chest_xray_folder(root: str | os.PathLike | None = None, split: str = "train",
                      transform: Callable[[Image.Image], Any] | None = None, *,
                      min_size: int | None = None) -> datasets.ImageFolder:
    """``torchvision.datasets.ImageFolder`` over ``root/split``, reading every film as one grey channel.

    Labels come from the folder names, sorted: ``NORMAL`` = 0, ``PNEUMONIA`` = 1. ``transform`` gets the
    mode-"L" PIL image (e.g. ``preprocess(224)``); ``min_size`` is passed to :func:`load_grey` to speed
    up decoding (give the resize target). Raises DatasetNotFoundError (saying what to do) when the folder
    is missing, and ValueError when its class folders are not exactly NORMAL and PNEUMONIA (an extra
    folder would silently become a third class). Introduced in lecture 3 (chest X-rays).
    """
    root = _resolve(root)
    folder = root / split
    if not folder.is_dir():
        raise _not_found(root, f"the {split!r} split (a folder {folder} with NORMAL/ and PNEUMONIA/)")
    found = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if tuple(found) != CLASSES:
        raise ValueError(f"{folder} should hold exactly the class folders NORMAL/ and PNEUMONIA/, found "
                         f"{found}: ImageFolder makes one class per folder. Move any other folder out, or "
                         f"unpack the archive again; `{VERIFY_COMMAND.format(root=root)}` lists what is wrong.")
    # A partial of a module-level function, not a lambda: DataLoader workers must be able to pickle it.
    return datasets.ImageFolder(str(folder), transform=transform, loader=partial(load_grey, min_size=min_size))


def load_split(root: str | os.PathLike | None, split: str, size: int, *, channels: int = 1,
               num_workers: int = 0, batch_size: int = 64) -> tuple[Tensor, Tensor, list[str]]:
    """Decode a whole split once with :func:`chest_xray_folder` + :func:`preprocess`.

    Returns ``(images, labels, paths)``: uint8 ``Tensor[N, channels, size, size]``, int64 ``Tensor[N]``
    (0 = NORMAL, 1 = PNEUMONIA) and the file paths in the same (ImageFolder) order. Decoding a JPEG of
    a few megapixels costs far more than training a small network on its 224-pixel version, so every
    epoch then reuses these tensors (the 5,232 training films at 224 pixels take 260 MB).
    Introduced in lecture 3 (chest X-rays).
    """
    folder = chest_xray_folder(root, split, preprocess(size, channels), min_size=size)
    if len(folder) == 0:
        raise _not_found(_resolve(root), f"images (.jpeg) in {Path(folder.root)}")
    loader = DataLoader(folder, batch_size=batch_size, num_workers=num_workers)
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels), [path for path, _ in folder.samples]


class XrayTensors(Dataset):
    """Decoded films as a training set: ``(float Tensor[C, H, W], label)`` pairs.

    ``images`` is the uint8 ``(N, C, H, W)`` tensor of :func:`load_split`. ``transform`` (augmentation)
    is applied to each uint8 image first, then pixels are scaled to [0, 1] and normalised with
    ``(x - mean) / std`` (floats, or sequences of one value per channel). Introduced in lecture 3.
    """

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable[[Tensor], Tensor] | None = None,
                 mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.25):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W) as load_split returns, got "
                             f"{images.dtype} of shape {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.transform = images, torch.as_tensor(labels), transform
        channels = images.shape[1]
        self.mean, self.std = (torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1) for v in (mean, std))
        if {len(self.mean), len(self.std)} - {1, channels}:
            raise ValueError(f"mean and std need one value, or one per channel ({channels}); got {mean!r} and {std!r}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return (image.float() / 255 - self.mean) / self.std, self.labels[index]


# ----------------------------------------------------------------------------------------------------------
# Patients: a validation split must not share them with the training split
# ----------------------------------------------------------------------------------------------------------

_PATIENT_PATTERNS = (
    re.compile(r"(?:NORMAL|BACTERIA|VIRUS)-(\d+)-\d+", re.IGNORECASE),  # Mendeley / tolgadincer
    re.compile(r"(person\d+)_(?:bacteria|virus)_\d+", re.IGNORECASE),  # Mooney, pneumonia
    re.compile(r"((?:NORMAL2-)?IM-\d+)-\d+", re.IGNORECASE),  # Mooney, normal
)


def patient_id(path: str | os.PathLike) -> str:
    """The patient a film belongs to, read from its file name.

    ``NORMAL-1003233-0001.jpeg`` and ``BACTERIA-1003233-0002.jpeg`` -> ``"1003233"``;
    ``person1_virus_6.jpeg`` -> ``"person1"``; ``IM-0115-0001.jpeg`` -> ``"IM-0115"``. A name in no known
    pattern is its own patient (its stem). Introduced in lecture 3 (chest X-rays).
    """
    stem = Path(path).stem
    for pattern in _PATIENT_PATTERNS:
        match = pattern.fullmatch(stem)
        if match:
            return match.group(1)
    return stem


def split_by_patient(paths: Sequence[str | os.PathLike], labels: Sequence[int] | Tensor,
                     val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of a stratified split that keeps every patient on one side.

    Several films of one child are in the training folder; a random split would put some in each part
    and flatter the validation score. Uses scikit-learn's ``StratifiedGroupKFold`` (one fold of
    ``round(1 / val_fraction)``), so the class ratio is kept as well as the groups allow.
    Introduced in lecture 3 (chest X-rays).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if not 0 < val_fraction < 0.5:
        raise ValueError(f"val_fraction must be in (0, 0.5), got {val_fraction}")
    labels = np.asarray(labels)
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    groups = [patient_id(path) for path in paths]
    folds = StratifiedGroupKFold(n_splits=round(1 / val_fraction), shuffle=True, random_state=seed)
    train, val = next(folds.split(np.zeros(len(labels)), labels, groups))
    return train, val


# ----------------------------------------------------------------------------------------------------------
# Checking a download
# ----------------------------------------------------------------------------------------------------------

@dataclass
class ChestXrayReport:
    """What :func:`verify_chest_xray` found; ``ok`` is True when there is no error; ``str()`` reads well."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # split -> (NORMAL, PNEUMONIA)
    release: str | None = None  # the known release whose counts match, if any
    modes: Counter = field(default_factory=Counter)  # PIL modes of the images, e.g. {"L": 5800, "RGB": 56}
    sizes: tuple[tuple[int, int], tuple[int, int]] | None = None  # (smallest (W, H), largest (W, H)) by area

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        lines = [f"chest X-rays in {self.root}"]
        for split, (normal, pneumonia) in self.counts.items():
            total = normal + pneumonia
            share = f" ({pneumonia / total:.0%} pneumonia)" if total else ""
            lines.append(f"  {split:5s}: NORMAL {normal:5d}  PNEUMONIA {pneumonia:5d}{share}")
        if self.release:
            lines.append(f"  counts match: {self.release}")
        if self.modes:
            lines.append("  image modes: " + ", ".join(f"{mode} {n}" for mode, n in self.modes.most_common()))
        if self.sizes:
            (w0, h0), (w1, h1) = self.sizes
            lines.append(f"  sizes from {w0}x{h0} to {w1}x{h1} (W x H)")
        lines += findings_lines(self.errors, self.warnings, "OK: the lecture's loaders will read this folder.")
        return "\n".join(lines)


def verify_chest_xray(root: str | os.PathLike | None = None, *, strict: bool = True,
                      decode: bool = False) -> ChestXrayReport:
    """Check the layout, counts and images of a chest X-ray folder; never raises for a bad folder.

    Errors: no ``train/`` or ``test/``; a split without ``NORMAL/`` and ``PNEUMONIA/`` or with any other
    folder (ImageFolder would make it a class); unreadable images; counts that match no known release
    (:data:`RELEASES`; only a warning with ``strict=False``, e.g. for a twin). Warnings: files that are
    not images (ImageFolder skips them), a ``val/`` folder (16 films: the lecture makes its own split).
    Images are opened (header only) to read mode and size; ``decode=True`` decodes every pixel, which
    finds truncated files but takes minutes on the real data. Introduced in lecture 3 (chest X-rays).
    """
    root = _resolve(root)
    report = ChestXrayReport(root)
    if not root.is_dir():
        report.errors.append(str(_not_found(root, "the chest X-ray folder")))
        return report
    splits = [name for name in ("train", "val", "test") if (root / name).is_dir()]
    for needed in ("train", "test"):
        if needed not in splits:
            hint = ""
            if (root / "chest_xray" / needed).is_dir():
                hint = f" (it is one level down: use --root {root / 'chest_xray'})"
            report.errors.append(f"no {needed}/ folder in {root}{hint}")
    if "val" in splits:
        report.warnings.append("a val/ folder is present (Mooney's copy: 8 + 8 films, too few to validate on); "
                               "the lecture ignores it and splits its own validation set from train/")

    smallest = largest = None
    for split in splits:
        folder = root / split
        extra = sorted(entry.name for entry in folder.iterdir()
                       if entry.is_dir() and not entry.name.startswith(".") and entry.name not in CLASSES)
        if extra:
            report.errors.append(f"{split}/ holds folders other than NORMAL and PNEUMONIA: {some_names(extra, 4)}; "
                                 "ImageFolder would treat each as a class. Move them out.")
        counts = []
        for name in CLASSES:
            class_dir = folder / name
            if not class_dir.is_dir():
                report.errors.append(f"no {split}/{name}/ folder")
                counts.append(0)
                continue
            files = sorted(p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
            images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
            others = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
            if others:
                report.warnings.append(f"{split}/{name}: {len(others)} file(s) that are not images are "
                                       f"skipped by ImageFolder: {some_names(others, 4)}")
            unreadable = []
            for path in images:
                try:
                    with Image.open(path) as image:
                        if decode:
                            image.load()
                        report.modes[image.mode] += 1
                        w, h = image.size
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
                    unreadable.append(f"{path.name} ({err})")
                    continue
                if smallest is None or w * h < smallest[0] * smallest[1]:
                    smallest = (w, h)
                if largest is None or w * h > largest[0] * largest[1]:
                    largest = (w, h)
            if unreadable:
                report.errors.append(f"{split}/{name}: {len(unreadable)} image(s) cannot be read: "
                                     f"{some_names(unreadable, 3)}. Copy them again from the archive.")
            counts.append(len(images))
        report.counts[split] = (counts[0], counts[1])
    if smallest is not None:
        report.sizes = (smallest, largest)

    for release, expected in RELEASES.items():
        if all(report.counts.get(split) == n for split, n in expected.items()):
            report.release = release
    if report.release is None and report.counts:
        known = "; ".join(", ".join(f"{split} {n[0]}+{n[1]}" for split, n in expected.items())
                          for expected in RELEASES.values())
        message = (f"the counts (NORMAL+PNEUMONIA) match no known release ({known})"
                   + (": files are missing or extra; unpack the archive again" if strict else
                      " (expected for a synthetic twin or a subset)"))
        (report.errors if strict else report.warnings).append(message)
    return report


# ----------------------------------------------------------------------------------------------------------
# The synthetic twin
# ----------------------------------------------------------------------------------------------------------

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


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian noise blurred by ``sigma_px`` pixels, rescaled to unit standard deviation."""
    noise = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), sigma_px)
    return noise / (noise.std() + 1e-8)


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
    markings = np.maximum(_smooth_noise(rng, (height, width), max(0.7, 0.012 / pixel)), 0)
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
        texture = _smooth_noise(rng, (height, width), max(0.7, 0.02 / pixel))
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
                          height: int | None = None, seed: int = 0, overwrite: bool = False) -> Path:
    """Write synthetic films (:func:`make_radiograph`) in the real layout and naming; return ``root``.

    Layout: ``root/<split>/NORMAL/NORMAL-<patient>-0001.jpeg`` and ``root/<split>/PNEUMONIA/BACTERIA-...``
    or ``VIRUS-...``, one film per synthetic patient. ``counts`` maps each split to (NORMAL, PNEUMONIA);
    the default is the real release's (1,349 + 3,883 and 234 + 390), or :data:`FAST_TWIN_COUNTS`
    (150 + 450 and 90 + 150) with ``LABKIT_FAST=1``. ``height`` is the smallest film height (films are up
    to 20% taller and 1 to 1.35 times as wide); default 240, or 96 in fast mode, so that the lecture's
    resize to 224 (96) only ever shrinks. The twin is written beside ``root`` and renamed into place;
    an existing non-empty ``root`` is replaced only with ``overwrite=True``.
    Introduced in lecture 3 (chest X-rays).
    """
    from labkit.env import fast_mode

    root = Path(root).expanduser()
    if counts is None:
        counts = FAST_TWIN_COUNTS if fast_mode() else FULL_TWIN_COUNTS
    if height is None:
        height = 96 if fast_mode() else 240
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


def chest_xray_data(root: str | os.PathLike | None = None, *, twin_root: str | os.PathLike | None = None,
                    seed: int = 0, quiet: bool = False, **twin_options: Any) -> tuple[Path, bool]:
    """The folder to train on, and whether it is the real data: ``(path, is_real)``.

    The real films are used when ``root`` (default :func:`default_root`) holds ``train/`` and ``test/``.
    Otherwise the synthetic twin is used: written once by :func:`write_chest_xray_twin` (with the fast
    or full defaults) to ``twin_root``, by default
    ``labkit.data_dir() / "twins" / "chest-xray-v<version>-<fast|full>-seed<seed>" / "chest_xray"``,
    and reused afterwards; ``twin_options`` (``counts``, ``height``) go to the writer. One line says
    which path was taken.
    Introduced in lecture 3 (chest X-rays).
    """
    from labkit.data.choose import real_or_twin, twin_folder

    def complete(folder: Path) -> bool:
        return (folder / "train").is_dir() and (folder / "test").is_dir()

    if twin_root is None:
        twin_root = twin_folder("chest-xray", TWIN_VERSION, seed) / "chest_xray"
    return real_or_twin("chest X-rays", _resolve(root), twin_root, is_complete=complete, quiet=quiet,
                        write_twin=lambda folder: write_chest_xray_twin(folder, seed=seed, **twin_options))
