"""What every dataset of the course shares: reading an image, the verification report, twin helpers.

A loader (``<dataset>.py``) opens its files with :func:`open_image`, so a damaged file is always an
:class:`ImageReadError` that names the file and the fix; a verifier fills a :class:`Report`, so every
check prints the same ERROR / warning / OK lines; a twin writer (``<dataset>_twin.py``) draws its
textures with :func:`smooth_noise` or :func:`blob_noise` and writes through
:func:`labkit.data.download.staged_directory`, so an interrupted run leaves nothing half-written.
See ``labkit/data/README.md`` for the recipe that ties them to a registry entry.
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from labkit.data.registry import CLI, DatasetNotFoundError, get_dataset

__all__ = ["ImageReadError", "open_image", "Report", "some_names", "blob_noise", "smooth_noise", "ImageScan",
           "scan_images", "SYSTEM_FILES", "is_system_file", "data_root", "not_found", "verify_command"]

# Files that operating systems drop into folders; never images, never labels.
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})


class ImageReadError(OSError):
    """An image of a dataset cannot be decoded (damaged, truncated or not an image); names the file."""


def is_system_file(path: Path) -> bool:
    """True for hidden files and the system files Thumbs.db / desktop.ini / .DS_Store."""
    return path.name.startswith(".") or path.name.lower() in SYSTEM_FILES


def open_image(path: str | os.PathLike, mode: str | None = "RGB", *, fix: str,
               draft: tuple[int, int] | None = None) -> Image.Image:
    """The image at ``path``, fully decoded and converted to ``mode`` (None keeps the stored mode).

    ``draft`` lets the JPEG decoder skip detail a later resize throws away (``Image.draft`` decodes at
    1/2, 1/4 or 1/8 scale while both sides stay at least that size); ``image.info["stored_size"]`` keeps
    the size in the file. Any decoding failure becomes an
    :class:`ImageReadError` that names the file and ends with ``fix``, the dataset's own advice (e.g.
    "extract images.tar.gz again"). Used by every loader, from lecture 2 on.
    """
    try:
        with Image.open(path) as image:
            stored_size = image.size
            # JPEG can decode RGB as grey, or at a smaller scale, but no other conversion.
            if draft is not None and image.format == "JPEG" and (image.mode == mode or
                                                                 (image.mode, mode) == ("RGB", "L")):
                image.draft(mode, draft)
            # Decode every pixel here, inside the with block, so a truncated file fails now.
            image.load()
            image = image.copy() if mode is None else image.convert(mode)
            image.info["stored_size"] = stored_size  # (W, H) in the file, before any draft
            return image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"cannot read {path} ({err}): the file is damaged or is not an image. "
                             f"{fix}") from err


def data_root(name: str, root: str | os.PathLike | None) -> Path:
    """``root`` as a path, or the real data folder of dataset ``name`` (``labkit.data_dir()/name/subdir``)."""
    return get_dataset(name).data_folder() if root is None else Path(root).expanduser()


def verify_command(name: str, folder: Path) -> str:
    """The command that checks ``folder`` as dataset ``name`` and says what is wrong with it."""
    return f"{CLI} verify {name} --folder {folder}"


def not_found(name: str, folder: Path, what: str, *, contains: tuple[str, ...],
              nested_in: tuple[str, ...] = ()) -> DatasetNotFoundError:
    """The error a loader raises when ``what`` is missing from the data folder ``folder``.

    ``contains`` names what the data folder holds (e.g. ``("train", "test")``): a ``folder`` that *is*
    one of them, or that holds the data one level down (in a folder named like the dataset, its
    ``subdir``, or one of ``nested_in``), gets a hint with the path to use instead.
    The message ends with how to get the data, how to check it, and the twin as the offline way.
    """
    info = get_dataset(name)
    hint = ""
    inside = [part for part in (folder, folder.parent)  # e.g. .../train, or .../annotations/trimaps
              if part.name.upper() in (name.upper() for name in contains)]
    if inside:
        hint = f"\n(the folder should CONTAIN {', '.join(contains)}: did you mean {inside[0].parent}?)"
    else:
        for inner in filter(None, (info.subdir, info.name, *nested_in)):
            if all((folder / inner / c).exists() for c in contains[:1]):
                hint = f"\n(the data is one level down: use {folder / inner})"
    dataset_folder = folder.parent if info.subdir and folder.name == info.subdir else folder
    return DatasetNotFoundError(
        f"{what} not found under {folder}.{hint}\n{info.how_to_get(dataset_folder)}\n"
        f"Then run `{verify_command(name, folder)}` to check the folder. Without the real data, "
        f"`labkit.data.get({name!r})` writes and uses a synthetic twin in the same layout.")


def some_names(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names, comma-separated, then "and N more" if there are others."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class Report:
    """What a dataset's verifier found; ``ok`` is True when there is no error; ``str()`` reads well.

    ``summary`` holds the lines that describe the folder (counts, sizes, modes), ``details`` the
    same facts as values for code and tests (e.g. ``details["release"]`` for the chest X-rays).
    Every ``verify_<dataset>`` returns one; ``python -m labkit.data verify NAME`` prints it.
    """

    title: str
    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        lines = [f"{self.title} in {self.root}", *(f"  {line}" for line in self.summary)]
        lines += [f"  ERROR: {message}" for message in self.errors]
        lines += [f"  warning: {message}" for message in self.warnings]
        lines.append("  OK: the lecture's loaders will read this folder." if self.ok else
                     f"  {len(self.errors)} error(s): fix them and run the check again.")
        return "\n".join(lines)


@dataclass
class ImageScan:
    """What :func:`scan_images` found: each readable file's ``(W, H)`` and mode, and the unreadable ones."""

    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)
    modes: dict[Path, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # "name (the error)"

    def mode_counts(self) -> Counter:
        return Counter(self.modes.values())

    def size_range(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The smallest and largest ``(W, H)`` by area, or None when nothing was readable."""
        if not self.sizes:
            return None
        def area(size: tuple[int, int]) -> int:
            return size[0] * size[1]
        return min(self.sizes.values(), key=area), max(self.sizes.values(), key=area)

    def summary(self) -> list[str]:
        """The report lines: image modes and the range of sizes."""
        lines = []
        if self.modes:
            lines.append("image modes: " + ", ".join(f"{m} {n}" for m, n in self.mode_counts().most_common()))
        if self.size_range():
            (w0, h0), (w1, h1) = self.size_range()
            lines.append(f"sizes from {w0}x{h0} to {w1}x{h1} (W x H)")
        return lines


def scan_images(paths: Iterable[Path], *, decode: bool, into: ImageScan | None = None) -> ImageScan:
    """Open every image of ``paths`` (the header; every pixel with ``decode``, which finds truncated
    files) and record its size and mode, or why it cannot be read. For the verifiers (lectures 2-5)."""
    scan = ImageScan() if into is None else into
    for path in paths:
        try:
            with Image.open(path) as image:
                if decode:
                    image.load()
                scan.sizes[path], scan.modes[path] = image.size, image.mode
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            scan.unreadable.append(f"{path.name} ({err})")
    return scan


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, *,
                 border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """float32 Gaussian noise blurred at ``sigma`` pixels, rescaled to unit standard deviation.

    A texture with grains about ``sigma`` wide (cell chromatin, film mottle, background clutter);
    below 0.3 pixels the blur would do nothing and is skipped. A twin helper (lectures 2-4).
    """
    noise = rng.standard_normal(shape, dtype=np.float32)
    if sigma > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=border)
    return noise / max(float(noise.std()), 1e-6)


def blob_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """float32 zero-mean noise with blobs about ``cell`` pixels wide: random values upsampled bicubically.

    Cheaper than :func:`smooth_noise` for large blobs (lighting, fur patches). A twin helper (lecture 5).
    """
    h, w = shape
    small = rng.standard_normal((max(2, int(h / cell) + 2), max(2, int(w / cell) + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
