"""The Oxford-IIIT Pet dataset as a segmentation task (lecture 5): loader, checker and twin chooser.

Introduced in lecture 5 (segmentation), where an encoder-decoder network learns the pets' trimaps.

The real data (Parkhi, Vedaldi, Zisserman, Jawahar, CVPR 2012) is two archives that unpack to::

    images/Abyssinian_1.jpg ... yorkshire_terrier_190.jpg      7,390 photos of 37 breeds (cats capitalised)
    annotations/trimaps/Abyssinian_1.png ...                    1 = pet, 2 = background, 3 = boundary
    annotations/trainval.txt, test.txt                          "Abyssinian_100 1 1 1": name, class id
                                                                (1-37), species (1 cat, 2 dog), breed id
    annotations/xmls/, list.txt, README                         head boxes and a full list (not needed)

The lists name 3,680 (trainval) and 3,669 (test) images. Known quirks the loader copes with: a few
"JPEGs" are greyscale, CMYK or PNG files with a .jpg name (every image goes through ``convert("RGB")``),
and the annotation tarball holds macOS ``._*`` resource files next to the trimaps (they are never read:
only the listed names are). Photos vary in size, mostly 300 to 500 pixels a side.

``root`` below is the folder that holds ``images/`` and ``annotations/``; it defaults to
``labkit.data_dir() / "oxford-pets"``, where ``python -m labkit.data fetch oxford-pets`` puts them.
``labkit.data.get("oxford-pets")`` returns it, or the synthetic twin (:mod:`labkit.data.oxford_pets_twin`).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from labkit.data.common import Report, data_root, not_found, open_image, scan_images, some_names
from labkit.data.registry import CLI, DatasetNotFoundError

__all__ = ["CLASS_NAMES", "SPLITS", "REAL_COUNTS", "PetRecord", "read_split_list", "OxfordPetsSegmentation",
           "verify_oxford_pets"]

CLASS_NAMES = ("pet", "background", "boundary")  # mask value = trimap value - 1
SPLITS = ("trainval", "test")
REAL_COUNTS = {"trainval": 3680, "test": 3669}
SCRIPT = f"{CLI} verify oxford-pets"


class PetRecord(NamedTuple):
    """One line of ``trainval.txt`` / ``test.txt``: file stem, class id (1-37), species (1 cat, 2 dog),
    breed id within the species."""

    name: str
    class_id: int
    species: int
    breed_id: int


def _not_found(root: Path, what: str) -> DatasetNotFoundError:
    # "oxford-iiit-pet" is the folder torchvision.datasets.OxfordIIITPet downloads to.
    return not_found("oxford-pets", root, what, contains=("images", "annotations"), nested_in=("oxford-iiit-pet",))


def read_split_list(path: str | os.PathLike) -> list[PetRecord]:
    """Parse a split list (``annotations/trainval.txt`` or ``test.txt``); ``#`` lines and blanks are skipped.

    Raises ValueError naming the file and line for a line that is not ``name class species breed``.
    Introduced in lecture 5 (segmentation).
    """
    path = Path(path)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            if len(fields) != 4:
                raise ValueError
            records.append(PetRecord(fields[0], *(int(value) for value in fields[1:])))
        except ValueError:
            raise ValueError(f"{path}, line {number}: {line!r} is not 'name class_id species breed_id' "
                             f"(e.g. 'Abyssinian_100 1 1 1'); extract annotations.tar.gz again or run "
                             f"`{SCRIPT}`") from None
    return records


def _check_layout(root: Path, split: str) -> Path:
    """The split list's path, after checking the folders; raises DatasetNotFoundError saying what to do."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'trainval' or 'test' (the dataset's own lists), got {split!r}")
    for needed in ("images", "annotations/trimaps"):
        if not (root / needed).is_dir():
            raise _not_found(root, f"the folder {needed}/")
    listing = root / "annotations" / f"{split}.txt"
    if not listing.is_file():
        raise _not_found(root, f"the split list annotations/{split}.txt")
    return listing


class OxfordPetsSegmentation(Dataset):
    """Oxford-IIIT Pet photos with their trimaps as 3-class masks: ``(image, mask)`` pairs.

    ``image``: float32 ``Tensor[3, S, S]`` in [0, 1] (RGB, resized bilinearly with antialiasing);
    ``mask``: int64 ``Tensor[S, S]`` with 0 = pet, 1 = background, 2 = boundary (trimap - 1, resized
    with nearest neighbours so no new values appear), where ``S = image_size`` (None keeps each photo's
    own size, which then differs from item to item). The aspect ratio is not kept, as in most
    segmentation tutorials on this set. ``.class_names`` gives the three names; ``.records`` the split's
    :class:`PetRecord` lines.

    ``transform``, if given, is called as ``transform(image, mask)`` after the resize, on a
    ``tv_tensors.Image`` (uint8) and a ``tv_tensors.Mask`` that still holds the trimap values 1, 2, 3,
    so that ``torchvision.transforms.v2`` moves both together. Pixels a transform fills in (a rotation's
    corners, padding) get the mask fill value 0 by default; they are counted as background afterwards.
    Introduced in lecture 5 (segmentation).
    """

    class_names = CLASS_NAMES

    def __init__(self, root: str | os.PathLike | None = None, split: str = "trainval", *,
                 image_size: int | None = 128, transform: Callable[..., Any] | None = None):
        self.root = data_root("oxford-pets", root)
        self.split = split
        self.records = read_split_list(_check_layout(self.root, split))
        if not self.records:
            raise ValueError(f"{self.root / 'annotations' / f'{split}.txt'} lists no images; extract "
                             f"annotations.tar.gz again or run `{SCRIPT}`")
        self.image_paths = [self.root / "images" / f"{r.name}.jpg" for r in self.records]
        self.trimap_paths = [self.root / "annotations" / "trimaps" / f"{r.name}.png" for r in self.records]
        for kind, paths, archive in (("image", self.image_paths, "images.tar.gz"),
                                     ("trimap", self.trimap_paths, "annotations.tar.gz")):
            missing = [p.name for p in paths if not p.is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} {kind}(s) listed in {split}.txt are missing from {paths[0].parent}: "
                    f"{some_names(missing)}. Extract {archive} again, or run `{SCRIPT}` to see all that is "
                    "wrong with the folder.")
        if image_size is not None and int(image_size) < 1:
            raise ValueError(f"image_size must be a positive number of pixels or None, got {image_size!r}")
        self.image_size = None if image_size is None else int(image_size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def read(self, index: int) -> tuple[Image.Image, np.ndarray]:
        """The files of item ``index``: ``(RGB PIL image, trimap uint8 (H, W) in {1, 2, 3})``, checked."""
        path, trimap_path = self.image_paths[index], self.trimap_paths[index]
        # Greyscale, CMYK, palette or RGBA files become RGB; large JPEGs decode at 1/2, 1/4 or 1/8 scale.
        draft = None if self.image_size is None else (self.image_size, self.image_size)
        image = open_image(path, "RGB", draft=draft, fix=f"Extract images.tar.gz again or run `{SCRIPT}`.")
        stored_size = image.info["stored_size"]
        trimap = np.array(open_image(trimap_path, None, fix=f"Extract annotations.tar.gz again or run `{SCRIPT}`."))
        values = np.unique(trimap)
        if trimap.ndim != 2 or not set(values.tolist()) <= {1, 2, 3}:
            found = f"shape {trimap.shape}" if trimap.ndim != 2 else f"values {values.tolist()[:8]}"
            raise ValueError(f"{trimap_path} has {found}; a trimap is one channel holding 1 (pet), 2 (background) "
                             "and 3 (boundary) only. Was it re-saved (e.g. scaled to 0..255 for viewing, or in "
                             "colour)? Extract annotations.tar.gz again.")
        if trimap.shape != stored_size[::-1]:
            raise ValueError(f"{trimap_path} is {trimap.shape[1]}x{trimap.shape[0]} pixels but its image {path.name} "
                             f"is {stored_size[0]}x{stored_size[1]} (W x H); a trimap must match its image. "
                             f"Extract both archives again or run `{SCRIPT}`.")
        return image, trimap

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, trimap = self.read(index)
        image = tv_tensors.Image(torch.from_numpy(np.array(image)).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(trimap.astype(np.int64)))
        if self.image_size is not None:
            # Resize applies bilinear interpolation to the Image and nearest neighbours to the Mask.
            image, mask = v2.Resize((self.image_size, self.image_size), antialias=True)(image, mask)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        image = image.as_subclass(Tensor)
        image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
        mask = mask.as_subclass(Tensor).long()
        return image, torch.where(mask == 0, 1, mask - 1)  # filled pixels (0) -> background


# ----------------------------------------------------------------------------------------------------------
# Checking a download
# ----------------------------------------------------------------------------------------------------------

def verify_oxford_pets(root: str | os.PathLike | None = None, *, strict: bool = True,
                       decode: bool = False) -> Report:
    """Check an Oxford-IIIT Pet folder: layout, split lists, an image and a trimap per listed name.

    Errors: missing folders or lists, malformed list lines, listed images or trimaps that are missing or
    unreadable, trimaps with values other than 1, 2, 3 (only checked with ``decode``), and (with
    ``strict``) split sizes other than the release's 3,680 and 3,669; with ``strict=False`` (e.g. for a
    twin) those are warnings. Images and trimaps are opened (header only) to read their mode;
    ``decode=True`` decodes every pixel, which finds truncated files but takes a minute on the real data.
    Never raises for a bad folder. Introduced in lecture 5 (segmentation).
    """
    root = data_root("oxford-pets", root)
    report = Report("Oxford-IIIT Pet", root)
    report.details.update(modes=Counter(), species={}, breeds=0)  # image modes as stored; (cats, dogs) per split
    breeds = set()
    for split in SPLITS:
        try:
            records = read_split_list(_check_layout(root, split))
        except (FileNotFoundError, ValueError) as err:
            report.errors.append(str(err))
            if isinstance(err, DatasetNotFoundError) and not (root / "images").is_dir():
                return _summarise(report)  # nothing there: one message is enough
            continue
        report.counts[split] = len(records)
        report.details["species"][split] = (sum(r.species == 1 for r in records), sum(r.species == 2 for r in records))
        breeds |= {r.class_id for r in records}
        for kind, folder, suffix, archive in (("image", root / "images", ".jpg", "images.tar.gz"),
                                              ("trimap", root / "annotations" / "trimaps", ".png",
                                               "annotations.tar.gz")):
            paths = [folder / f"{record.name}{suffix}" for record in records]
            missing = [path.name for path in paths if not path.is_file()]
            if missing:
                report.errors.append(f"{split}: {len(missing)} listed {kind}(s) missing: {some_names(missing)} "
                                     f"(extract {archive} again)")
            scan = scan_images([path for path in paths if path.is_file()], decode=decode)
            if scan.unreadable:
                report.errors.append(f"{split}: {len(scan.unreadable)} {kind}(s) cannot be read: "
                                     f"{some_names(scan.unreadable)} (extract {archive} again)")
            if kind == "image":
                report.details["modes"] += scan.mode_counts()
            elif decode:
                bad = [path.name for path in scan.sizes if not set(np.unique(_pixels(path))) <= {1, 2, 3}]
                if bad:
                    report.errors.append(f"{split}: {len(bad)} trimap(s) hold values other than 1, 2, 3: "
                                         f"{some_names(bad)}")
        if len(records) != REAL_COUNTS[split]:
            message = f"{split}.txt lists {len(records)} images, the release {REAL_COUNTS[split]}"
            (report.errors if strict else report.warnings).append(message)
    report.details["breeds"] = len(breeds)
    return _summarise(report)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


def _summarise(report: Report) -> Report:
    for split, n in report.counts.items():
        cats, dogs = report.details["species"].get(split, (0, 0))
        report.summary.append(f"{split:8s}: {n:5d} images ({cats} cats, {dogs} dogs; the release has "
                              f"{REAL_COUNTS[split]})")
    if report.details["breeds"]:
        report.summary.append(f"{report.details['breeds']} breeds")
    if report.details["modes"]:
        report.summary.append("image modes: " + ", ".join(
            f"{mode} {n}" for mode, n in report.details["modes"].most_common()) + " (all are read as RGB)")
    return report
