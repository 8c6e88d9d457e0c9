"""Kaggle's "Fashion Product Images (Small)": the catalogue of lecture 6, read, checked and decoded.

Introduced in lecture 6 (image search and recommendation; the book's chapter 5). The real data
(``kaggle datasets download -d paramaggarwal/fashion-product-images-small``, about 280 MB) is a zip of
about 44,000 product photos of the Indian shop Myntra::

    images/<id>.jpg      mostly 60 wide x 80 high, RGB, white background
    styles.csv           id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,
                         productDisplayName   (one row per product, unquoted)

The archive holds the same files a second time under ``myntradataset/``; either copy is read. Two
quirks of the real files are handled here rather than in every notebook:

- ``styles.csv`` is not quoted, and a few product names contain commas, so their rows have more than
  ten fields. pandas' old ``error_bad_lines=False`` (removed in pandas 2; ``on_bad_lines`` replaced
  it) dropped them silently. Here ``on_bad_lines="repair"`` (the default) joins the extra fields back
  into the name, the only column that holds commas; ``"skip"`` drops them; ``"error"`` raises. Either
  way the rows are counted and named (:attr:`FashionProducts.bad_rows`).
- A few rows have no image. Rows and images are matched by **id**, never by position: a missing image
  removes its own row (listed in :attr:`FashionProducts.missing_images`) and nothing else moves, so
  an embedding's row ``i`` always belongs to ``ids[i]``. (The book's ``dropna`` after embedding shifted
  its rows, and recommended the wrong pictures.)

``root`` is the dataset folder; it defaults to ``labkit.data_dir() / "fashion-products"``.
``labkit.data.get("fashion-products")`` returns it, or the synthetic twin
(:mod:`labkit.data.fashion_products_twin`) in the same layout.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from labkit.data.common import Report, data_root, not_found, open_image, scan_images, some_names, verify_command
from labkit.data.fashion_products_twin import COLUMNS, SIZE

__all__ = ["COLUMNS", "NESTED", "BadRow", "read_styles", "find_data_folder", "pattern_from_name",
           "FashionProducts", "load_images", "verify_fashion_products"]

NESTED = "myntradataset"  # the archive's second copy of the data
NAME = "fashion-products"
_PATTERN_WORDS = {  # pattern -> words of real product names that say it
    "stripes": ("striped", "stripes", "stripe"),
    "checks": ("checked", "checks", "check", "plaid"),
    "dots": ("polka", "dots", "dotted"),
    "plain": ("solid", "plain"),
}


@dataclass(frozen=True)
class BadRow:
    """A row of ``styles.csv`` with the wrong number of fields: its line number (1 = the header),
    the id it starts with, how many fields it had, and what was done with it."""

    line: int
    id: str
    fields: int
    action: str  # "repaired" or "skipped"


def find_data_folder(root: str | os.PathLike) -> Path:
    """The folder that holds ``styles.csv``: ``root`` itself or the archive's ``root/myntradataset``.

    Raises DatasetNotFoundError (saying where the files go) when neither holds it. Lecture 6.
    """
    root = Path(root).expanduser()
    for folder in (root, root / NESTED):
        if (folder / "styles.csv").is_file():
            return folder
    raise not_found(NAME, root, "styles.csv", contains=("styles.csv", "images"), nested_in=(NESTED,))


def read_styles(path: str | os.PathLike, *,
                on_bad_lines: Literal["repair", "skip", "error"] = "repair") -> tuple[list[dict[str, Any]], list[BadRow]]:
    """Read ``styles.csv`` into a list of rows (dicts keyed by :data:`COLUMNS`) and its bad rows.

    ``id`` and ``year`` become ints (``year`` None where empty); other fields stay strings ("" where
    empty). A row with more than ten fields is a name with commas: ``"repair"`` joins the extra fields
    back into ``productDisplayName``, ``"skip"`` drops the row, ``"error"`` raises ValueError naming
    the line. A row with fewer fields, a non-integer id or a repeated id always raises ValueError
    naming the file and line, as does a header other than the real one. Introduced in lecture 6.
    """
    if on_bad_lines not in ("repair", "skip", "error"):
        raise ValueError(f"on_bad_lines must be 'repair', 'skip' or 'error', got {on_bad_lines!r}")
    path = Path(path)
    rows: list[dict[str, Any]] = []
    bad: list[BadRow] = []
    seen: set[int] = set()
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = [name.strip() for name in next(reader, [])]
        if tuple(header) != COLUMNS:
            raise ValueError(f"{path}, line 1: expected the header {','.join(COLUMNS)}, got {','.join(header)!r}; "
                             f"is this the styles.csv of Fashion Product Images? `{verify_command(NAME, path.parent)}`")
        for fields in reader:
            line = reader.line_num
            if not fields or fields == [""]:
                continue
            if len(fields) < len(COLUMNS):
                raise ValueError(f"{path}, line {line}: {len(fields)} fields, expected {len(COLUMNS)}; the file is "
                                 "cut short or damaged: unzip the archive again")
            if len(fields) > len(COLUMNS):
                if on_bad_lines == "error":
                    raise ValueError(f"{path}, line {line}: {len(fields)} fields, expected {len(COLUMNS)} (a product "
                                     "name with commas); read with on_bad_lines='repair' or 'skip'")
                bad.append(BadRow(line, fields[0], len(fields), "repaired" if on_bad_lines == "repair" else "skipped"))
                if on_bad_lines == "skip":
                    continue
                fields = fields[:len(COLUMNS) - 1] + [",".join(fields[len(COLUMNS) - 1:])]
            row: dict[str, Any] = {name: value.strip() for name, value in zip(COLUMNS, fields)}
            try:
                row["id"] = int(row["id"])
            except ValueError:
                raise ValueError(f"{path}, line {line}: the id {row['id']!r} is not an integer") from None
            if row["id"] in seen:
                raise ValueError(f"{path}, line {line}: the id {row['id']} appears twice")
            seen.add(row["id"])
            row["year"] = int(float(row["year"])) if row["year"] else None
            rows.append(row)
    return rows, bad


def pattern_from_name(name: str) -> str:
    """The pattern a product name states: "stripes", "checks", "dots", "plain", or "" when it says none.

    Real names often do ("Roadster Men Navy Checked Shirt"); the twin's always do. Lecture 6 scores
    retrieval by pattern only on products whose pattern is known.
    """
    words = set(re.findall(r"[a-z]+", name.lower()))
    for pattern, said in _PATTERN_WORDS.items():
        if words & set(said):
            return pattern
    return ""


class FashionProducts(Dataset):
    """The catalogue as ``(image, id)`` pairs, in the order of ``styles.csv``, products without an
    image left out.

    ``root`` is the dataset folder (or its ``myntradataset/`` copy); ``transform`` gets the RGB PIL
    image (the real images are mostly 60 x 80; a few have other sizes). Attributes:

    - ``ids``: int64 array, ``ids[i]`` is the product of item ``i``; ``rows``: its styles.csv rows;
    - ``attribute(name)``: one column as an array in item order (e.g. ``"articleType"``), and
      ``"pattern"`` read from the names (:func:`pattern_from_name`);
    - ``bad_rows``: the :class:`BadRow`\\ s of styles.csv; ``missing_images``: ids without an image;
    - ``fingerprint()``: a short string that changes when the items or the transform change (the
      cache key of :func:`labkit.retrieval.embed`).

    ``ids=`` keeps only those products, in that order (a sample; an id without an image raises
    KeyError). One line reports bad rows and missing images unless ``quiet``. Lecture 6.
    """

    def __init__(self, root: str | os.PathLike | None = None, transform: Callable[[Image.Image], Any] | None = None,
                 *, ids: Sequence[int] | None = None,
                 on_bad_lines: Literal["repair", "skip", "error"] = "repair", quiet: bool = False):
        self.root = find_data_folder(data_root(NAME, root))
        self.image_dir = self.root / "images"
        if not self.image_dir.is_dir():
            raise not_found(NAME, self.root, "the images/ folder", contains=("styles.csv", "images"))
        rows, self.bad_rows = read_styles(self.root / "styles.csv", on_bad_lines=on_bad_lines)
        present = {p.stem for p in self.image_dir.iterdir() if p.suffix.lower() == ".jpg"}
        self.missing_images = [row["id"] for row in rows if str(row["id"]) not in present]
        by_id = {row["id"]: row for row in rows if str(row["id"]) in present}
        if ids is None:
            self.rows = list(by_id.values())
        else:
            unknown = [i for i in ids if int(i) not in by_id]
            if unknown:
                raise KeyError(f"ids without a row and an image in {self.root}: {some_names([str(i) for i in unknown])}")
            self.rows = [by_id[int(i)] for i in ids]
        self.ids = np.array([row["id"] for row in self.rows], dtype=np.int64)
        self.transform = transform
        if not quiet and (self.bad_rows or self.missing_images):
            print(self.describe_problems())

    def describe_problems(self) -> str:
        """One line: how many rows of styles.csv were malformed (and what was done), how many have no image."""
        parts = []
        if self.bad_rows:
            action = self.bad_rows[0].action
            parts.append(f"{len(self.bad_rows)} row(s) of styles.csv had commas in the name ({action}: "
                         f"lines {some_names([str(b.line) for b in self.bad_rows], 4)})")
        if self.missing_images:
            parts.append(f"{len(self.missing_images)} row(s) have no image and are left out "
                         f"(ids {some_names([str(i) for i in self.missing_images], 4)})")
        return "fashion-products: " + ("; ".join(parts) if parts else "no malformed rows, every row has its image")

    def __len__(self) -> int:
        return len(self.rows)

    def path(self, index: int) -> Path:
        return self.image_dir / f"{self.ids[index]}.jpg"

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = open_image(self.path(index), "RGB",
                           fix=f"Unzip the archive again, then check the folder with `{verify_command(NAME, self.root)}`.")
        return (self.transform(image) if self.transform is not None else image), int(self.ids[index])

    def attribute(self, name: str) -> np.ndarray:
        """Column ``name`` of styles.csv in item order (strings; "year" as ints, 0 where empty), or
        ``"pattern"`` from the product names."""
        if name == "pattern":
            return np.array([pattern_from_name(row["productDisplayName"]) for row in self.rows])
        if name not in COLUMNS:
            raise KeyError(f"no column {name!r} in styles.csv; the columns are {', '.join(COLUMNS)} (and 'pattern')")
        if name in ("id", "year"):
            return np.array([row[name] or 0 for row in self.rows], dtype=np.int64)
        return np.array([row[name] for row in self.rows])

    def fingerprint(self) -> str:
        """A short hash of the folder, the ids in order and the transform: equal data, equal key."""
        text = f"{self.root.resolve()}|{','.join(map(str, self.ids))}|{self.transform!r}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_images(dataset: FashionProducts, size: tuple[int, int] = SIZE) -> Tensor:
    """Every image of ``dataset`` decoded once: uint8 ``Tensor[N, 3, H, W]`` with ``size = (H, W)``.

    Images of another size are resized (bilinear, antialiased); the order is ``dataset.ids``.
    Lecture 6 computes all its representations from this tensor.
    """
    h, w = size
    out = torch.empty((len(dataset), 3, h, w), dtype=torch.uint8)
    fix = f"Unzip the archive again, then check the folder with `{verify_command(NAME, dataset.root)}`."
    for i in range(len(dataset)):
        image = open_image(dataset.path(i), "RGB", fix=fix)
        if image.size != (w, h):
            image = image.resize((w, h), Image.BILINEAR, reducing_gap=2.0)
        out[i] = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    return out


def verify_fashion_products(root: str | os.PathLike | None = None, *, strict: bool = True,
                            decode: bool = False) -> Report:
    """Check a Fashion Product Images folder; never raises for a bad folder.

    Errors: no ``styles.csv`` (here or in ``myntradataset/``), no ``images/``, a damaged styles.csv
    (wrong header, short rows, repeated ids), unreadable images. Warnings: rows with commas in the name
    (repaired), rows without an image, images without a row. ``strict`` is accepted for the common
    interface (the counts vary between copies of the archive, so none is enforced). Images are opened
    (header only; ``decode=True`` decodes every pixel, which finds truncated files). Lecture 6.
    """
    root = data_root(NAME, root)
    report = Report("Fashion Product Images (Small)", root)
    try:
        dataset = FashionProducts(root, quiet=True)
    except (FileNotFoundError, ValueError) as err:
        report.errors.append(str(err))
        return report
    if dataset.root != root:
        report.summary.append(f"data read from {dataset.root} (the archive's nested copy)")
    report.counts.update(products=len(dataset), bad_rows=len(dataset.bad_rows),
                         missing_images=len(dataset.missing_images))
    if dataset.bad_rows:
        report.warnings.append(f"{len(dataset.bad_rows)} row(s) of styles.csv have commas in the product name "
                               f"(lines {some_names([str(b.line) for b in dataset.bad_rows], 6)}); the loader "
                               "repairs them (on_bad_lines='repair')")
    if dataset.missing_images:
        report.warnings.append(f"{len(dataset.missing_images)} row(s) have no image and are left out: ids "
                               f"{some_names([str(i) for i in dataset.missing_images], 6)}")
    known = {str(i) for i in dataset.ids} | {str(i) for i in dataset.missing_images}
    orphans = sorted(p.name for p in dataset.image_dir.iterdir()
                     if p.suffix.lower() == ".jpg" and p.stem not in known)
    if orphans:
        report.warnings.append(f"{len(orphans)} image(s) have no row in styles.csv and are ignored: {some_names(orphans)}")
    scan = scan_images((dataset.path(i) for i in range(len(dataset))), decode=decode)
    if scan.unreadable:
        report.errors.append(f"{len(scan.unreadable)} image(s) cannot be read: {some_names(scan.unreadable, 3)}; "
                             "unzip the archive again")
    types = dataset.attribute("articleType")
    report.details.update(article_types=len(set(types.tolist())), sizes=scan.size_range())
    report.summary.append(f"{len(dataset)} products with an image, {len(set(types.tolist()))} article types")
    report.summary += scan.summary()
    return report
