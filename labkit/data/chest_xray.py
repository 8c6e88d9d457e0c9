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
``labkit.data_dir() / "chest-xray" / "chest_xray"``. ``labkit.data.get("chest-xray")`` returns it, or the
synthetic twin (:mod:`labkit.data.chest_xray_twin`) in the same layout, read by the same ``ImageFolder``
code.
"""
from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.transforms import v2

from labkit.data.common import (ImageScan, Report, data_root, not_found, open_image, scan_images, some_names,
                                verify_command)

__all__ = [
    "CLASSES", "RELEASES", "load_grey", "preprocess", "chest_xray_folder", "load_split", "XrayTensors",
    "patient_id", "split_by_patient", "verify_chest_xray",
]

CLASSES = ("NORMAL", "PNEUMONIA")  # ImageFolder sorts folder names: NORMAL = 0, PNEUMONIA = 1
# (NORMAL, PNEUMONIA) per split, for each known release of the same films.
RELEASES: dict[str, dict[str, tuple[int, int]]] = {
    "Labeled Chest X-Ray Images (Mendeley ChestXRay2017 / Kaggle tolgadincer; the book's)":
        {"train": (1349, 3883), "test": (234, 390)},
    "Chest X-Ray Images (Pneumonia) (Kaggle, Mooney)":
        {"train": (1341, 3875), "val": (8, 8), "test": (234, 390)},
}
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


# ----------------------------------------------------------------------------------------------------------
# Reading the folders: ImageFolder, one grey channel, decoded once
# ----------------------------------------------------------------------------------------------------------

def load_grey(path: str | os.PathLike, min_size: int | None = None) -> Image.Image:
    """Open an X-ray as a one-channel (mode ``"L"``) PIL image, whatever mode the file is stored in.

    ``min_size`` lets the JPEG decoder skip detail that a later resize throws away (``Image.draft``
    decodes at 1/2, 1/4 or 1/8 scale while both sides stay >= ``min_size``): a 2,000-pixel film is
    decoded several times faster. Introduced in lecture 3 (chest X-rays).
    """
    return open_image(path, "L", draft=None if min_size is None else (min_size, min_size),
                      fix=f"Copy it again from the archive, then check the folder with "
                          f"`{verify_command('chest-xray', Path(path).parent.parent.parent)}`.")


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


def _not_found(root: Path, what: str):
    return not_found("chest-xray", root, what, contains=("train", "test"))


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
    root = data_root("chest-xray", root)
    folder = root / split
    if not folder.is_dir():
        raise _not_found(root, f"the {split!r} split (a folder {folder} with NORMAL/ and PNEUMONIA/)")
    found = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if tuple(found) != CLASSES:
        raise ValueError(f"{folder} should hold exactly the class folders NORMAL/ and PNEUMONIA/, found "
                         f"{found}: ImageFolder makes one class per folder. Move any other folder out, or "
                         f"unpack the archive again; `{verify_command('chest-xray', root)}` lists what is wrong.")
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
        raise _not_found(data_root("chest-xray", root), f"images (.jpeg) in {Path(folder.root)}")
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

def verify_chest_xray(root: str | os.PathLike | None = None, *, strict: bool = True,
                      decode: bool = False) -> Report:
    """Check the layout, counts and images of a chest X-ray folder; never raises for a bad folder.

    Errors: no ``train/`` or ``test/``; a split without ``NORMAL/`` and ``PNEUMONIA/`` or with any other
    folder (ImageFolder would make it a class); unreadable images; counts that match no known release
    (:data:`RELEASES`; only a warning with ``strict=False``, e.g. for a twin). Warnings: files that are
    not images (ImageFolder skips them), a ``val/`` folder (16 films: the lecture makes its own split).
    Images are opened (header only) to read mode and size; ``decode=True`` decodes every pixel, which
    finds truncated files but takes minutes on the real data. Introduced in lecture 3 (chest X-rays).
    """
    root = data_root("chest-xray", root)
    report = Report("chest X-rays", root)
    if not root.is_dir():
        report.errors.append(str(_not_found(root, "the chest X-ray folder")))
        return report
    splits = [name for name in ("train", "val", "test") if (root / name).is_dir()]
    for needed in ("train", "test"):
        if needed not in splits:
            hint = ""
            if (root / "chest_xray" / needed).is_dir():
                hint = f" (it is one level down: use --folder {root / 'chest_xray'})"
            report.errors.append(f"no {needed}/ folder in {root}{hint}")
    if "val" in splits:
        report.warnings.append("a val/ folder is present (Mooney's copy: 8 + 8 films, too few to validate on); "
                               "the lecture ignores it and splits its own validation set from train/")

    scan = ImageScan()  # every film's size and mode, and those that cannot be read
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
            before = len(scan.unreadable)
            unreadable = scan_images(images, decode=decode, into=scan).unreadable[before:]
            if unreadable:
                report.errors.append(f"{split}/{name}: {len(unreadable)} image(s) cannot be read: "
                                     f"{some_names(unreadable, 3)}. Copy them again from the archive.")
            counts.append(len(images))
        report.counts[split] = (counts[0], counts[1])
    report.details.update(sizes=scan.size_range(), modes=scan.mode_counts())  # sizes: by area, (W, H)
    report.details["release"] = next((release for release, expected in RELEASES.items()
                                      if all(report.counts.get(split) == n for split, n in expected.items())),
                                     None)
    _summarise(report, scan)
    if report.details["release"] is None and report.counts:
        known = "; ".join(", ".join(f"{split} {n[0]}+{n[1]}" for split, n in expected.items())
                          for expected in RELEASES.values())
        message = (f"the counts (NORMAL+PNEUMONIA) match no known release ({known})"
                   + (": files are missing or extra; unpack the archive again" if strict else
                      " (expected for a synthetic twin or a subset)"))
        (report.errors if strict else report.warnings).append(message)
    return report


def _summarise(report: Report, scan: ImageScan) -> None:
    for split, (normal, pneumonia) in report.counts.items():
        total = normal + pneumonia
        share = f" ({pneumonia / total:.0%} pneumonia)" if total else ""
        report.summary.append(f"{split:5s}: NORMAL {normal:5d}  PNEUMONIA {pneumonia:5d}{share}")
    if report.details["release"]:
        report.summary.append(f"counts match: {report.details['release']}")
    report.summary += scan.summary()
