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
``labkit.data_dir() / "oxford-pets"``, where ``python data_scripts/oxford_pets.py`` puts them. Without
them, :func:`oxford_pets_data` writes and uses the synthetic twin of :mod:`labkit.data.synthetic_pets`.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from labkit.data.all_idb import ImageReadError
from labkit.data.registry import DatasetNotFoundError, get_dataset
from labkit.data.report import findings_lines, some_names
from labkit.data.synthetic_pets import write_oxford_pets_twin

__all__ = ["CLASS_NAMES", "SPLITS", "REAL_COUNTS", "PetRecord", "default_root", "read_split_list",
           "OxfordPetsSegmentation", "PetsReport", "verify_oxford_pets", "oxford_pets_data"]

CLASS_NAMES = ("pet", "background", "boundary")  # mask value = trimap value - 1
SPLITS = ("trainval", "test")
REAL_COUNTS = {"trainval": 3680, "test": 3669}
TWIN_VERSION = 1  # part of the twin's cache folder name: bump it when synthetic_pets changes
SCRIPT = "python data_scripts/oxford_pets.py"


class PetRecord(NamedTuple):
    """One line of ``trainval.txt`` / ``test.txt``: file stem, class id (1-37), species (1 cat, 2 dog),
    breed id within the species."""

    name: str
    class_id: int
    species: int
    breed_id: int


def default_root() -> Path:
    """``labkit.data_dir() / "oxford-pets"``: the folder holding ``images/`` and ``annotations/``."""
    return get_dataset("oxford-pets").folder()


def _resolve(root: str | os.PathLike | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def _not_found(root: Path, what: str) -> DatasetNotFoundError:
    info = get_dataset("oxford-pets")
    hint = ""
    if root.name in ("images", "annotations", "trimaps"):
        up = root.parent.parent if root.name == "trimaps" else root.parent
        hint = f"\n(root should be the folder that CONTAINS images/ and annotations/: did you mean {up}?)"
    else:
        for sub in ("oxford-pets", "oxford-iiit-pet"):  # ours, and torchvision.datasets.OxfordIIITPet's folder
            if (root / sub / "images").is_dir():
                hint = f"\n(the data is one level down: use root={root / sub})"
    return DatasetNotFoundError(
        f"{what} not found under {root}.{hint}\n{info.how_to_get(root)}\n"
        f"`{SCRIPT}` downloads, verifies, extracts and checks it (to {default_root()}; with `--root DIR`, "
        "to DIR/oxford-pets). Without the real data, `labkit.data.oxford_pets.oxford_pets_data()` writes "
        "and uses a synthetic twin in the same layout.")


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
        self.root = _resolve(root)
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
        try:
            with Image.open(path) as image:
                stored_size = image.size  # (W, H) before any draft decoding
                if self.image_size is not None and image.format == "JPEG" and image.mode == "RGB":
                    # Decode large JPEGs at 1/2, 1/4 or 1/8 scale while both sides stay >= image_size.
                    image.draft("RGB", (self.image_size, self.image_size))
                image = image.convert("RGB")  # greyscale, CMYK, palette or RGBA files become RGB
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ImageReadError(f"cannot read the image {path} ({err}); the file is damaged or not an image: "
                                 f"extract images.tar.gz again or run `{SCRIPT}`") from err
        try:
            with Image.open(trimap_path) as trimap_file:
                trimap = np.array(trimap_file)
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ImageReadError(f"cannot read the trimap {trimap_path} ({err}); extract annotations.tar.gz "
                                 f"again or run `{SCRIPT}`") from err
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

@dataclass
class PetsReport:
    """What :func:`verify_oxford_pets` found; ``ok`` is True when there is no error; ``str()`` reads well."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # split -> listed images
    species: dict[str, tuple[int, int]] = field(default_factory=dict)  # split -> (cats, dogs)
    modes: Counter = field(default_factory=Counter)  # image modes as stored, e.g. {"RGB": 7300, "L": 9}
    breeds: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        lines = [f"Oxford-IIIT Pet in {self.root}"]
        for split, n in self.counts.items():
            cats, dogs = self.species.get(split, (0, 0))
            lines.append(f"  {split:8s}: {n:5d} images ({cats} cats, {dogs} dogs; the release has "
                         f"{REAL_COUNTS[split]})")
        if self.breeds:
            lines.append(f"  {self.breeds} breeds")
        if self.modes:
            lines.append("  image modes: " + ", ".join(f"{mode} {n}" for mode, n in self.modes.most_common())
                         + " (all are read as RGB)")
        lines += findings_lines(self.errors, self.warnings, "OK: the lecture's loader will read this folder.")
        return "\n".join(lines)


def verify_oxford_pets(root: str | os.PathLike | None = None, *, strict: bool = True,
                       decode: bool = False) -> PetsReport:
    """Check an Oxford-IIIT Pet folder: layout, split lists, an image and a trimap per listed name.

    Errors: missing folders or lists, malformed list lines, listed images or trimaps that are missing or
    unreadable, trimaps with values other than 1, 2, 3 (only checked with ``decode``), and (with
    ``strict``) split sizes other than the release's 3,680 and 3,669; with ``strict=False`` (e.g. for a
    twin) those are warnings. Images and trimaps are opened (header only) to read their mode;
    ``decode=True`` decodes every pixel, which finds truncated files but takes a minute on the real data.
    Never raises for a bad folder. Introduced in lecture 5 (segmentation).
    """
    root = _resolve(root)
    report = PetsReport(root)
    breeds = set()
    for split in SPLITS:
        try:
            records = read_split_list(_check_layout(root, split))
        except (FileNotFoundError, ValueError) as err:
            report.errors.append(str(err))
            if isinstance(err, DatasetNotFoundError) and not (root / "images").is_dir():
                return report  # nothing there: one message is enough
            continue
        report.counts[split] = len(records)
        report.species[split] = (sum(r.species == 1 for r in records), sum(r.species == 2 for r in records))
        breeds |= {r.class_id for r in records}
        missing, unreadable, bad_values = {"image": [], "trimap": []}, [], []
        for record in records:
            image_path = root / "images" / f"{record.name}.jpg"
            trimap_path = root / "annotations" / "trimaps" / f"{record.name}.png"
            for kind, path in (("image", image_path), ("trimap", trimap_path)):
                if not path.is_file():
                    missing[kind].append(path.name)
                    continue
                try:
                    with Image.open(path) as opened:
                        if kind == "image":
                            report.modes[opened.mode] += 1
                        if decode:
                            opened.load()
                            if kind == "trimap" and not set(np.unique(np.array(opened)).tolist()) <= {1, 2, 3}:
                                bad_values.append(path.name)
                except (UnidentifiedImageError, OSError, SyntaxError):
                    unreadable.append(path.name)
        for kind, names in missing.items():
            if names:
                archive = "images.tar.gz" if kind == "image" else "annotations.tar.gz"
                report.errors.append(f"{split}: {len(names)} listed {kind}(s) missing: {some_names(names)} "
                                     f"(extract {archive} again)")
        if unreadable:
            report.errors.append(f"{split}: {len(unreadable)} file(s) cannot be read: {some_names(unreadable)}")
        if bad_values:
            report.errors.append(f"{split}: {len(bad_values)} trimap(s) hold values other than 1, 2, 3: "
                                 f"{some_names(bad_values)}")
        if len(records) != REAL_COUNTS[split]:
            message = f"{split}.txt lists {len(records)} images, the release {REAL_COUNTS[split]}"
            (report.errors if strict else report.warnings).append(message)
    report.breeds = len(breeds)
    return report


# ----------------------------------------------------------------------------------------------------------
# Real data or twin
# ----------------------------------------------------------------------------------------------------------

def _complete(root: Path) -> bool:
    return all((root / path).exists() for path in get_dataset("oxford-pets").layout)


def oxford_pets_data(root: str | os.PathLike | None = None, *, twin_root: str | os.PathLike | None = None,
                     seed: int = 0, quiet: bool = False, **twin_options: Any) -> tuple[Path, bool]:
    """The folder to train on, and whether it is the real data: ``(path, is_real)``.

    The real data is used when ``root`` (default :func:`default_root`) holds ``images/``,
    ``annotations/trimaps/`` and both split lists. Otherwise the synthetic twin is used: written once by
    :func:`labkit.data.synthetic_pets.write_oxford_pets_twin` (fast or full defaults) to ``twin_root``,
    by default ``labkit.data_dir() / "twins" / "oxford-pets-v<version>-<fast|full>-seed<seed>"``, and
    reused afterwards; ``twin_options`` (``counts``, ``size``) go to the writer. One line says which
    path was taken. Introduced in lecture 5 (segmentation).
    """
    from labkit.data.choose import real_or_twin, twin_folder

    if twin_root is None:
        twin_root = twin_folder("oxford-pets", TWIN_VERSION, seed)
    return real_or_twin("Oxford-IIIT Pet", _resolve(root), twin_root, is_complete=_complete, quiet=quiet,
                        write_twin=lambda folder: write_oxford_pets_twin(folder, seed=seed, **twin_options))
