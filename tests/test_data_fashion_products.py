"""Tests of labkit.data.fashion_products (lecture 6): the Kaggle layout (and its myntradataset/ copy), the
malformed rows of styles.csv, missing images that never shift rows, errors that name the fix, verify."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labkit.data import get_dataset
from labkit.data.fashion_products import (FashionProducts, load_images, pattern_from_name, read_styles,
                                          verify_fashion_products)
from labkit.data.registry import DatasetNotFoundError

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
# Rows as in the real file (unquoted), including one whose name has commas and one with an empty year.
ROWS = [
    "15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt",
    "39386,Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,Peter England Men Party Blue Jeans",
    "59263,Women,Accessories,Watches,Watches,Silver,Winter,2016,Casual,Titan Women Silver Watch",
    "21379,Men,Apparel,Bottomwear,Track Pants,Black,Fall,2011,Casual,Manchester United Men Solid Black Track Pants",
    "53759,Men,Apparel,Topwear,Tshirts,Grey,Summer,2012,Casual,Puma Men Grey T-shirt, Pack of 2, Striped",
    "1855,Men,Apparel,Topwear,Tshirts,Grey,Summer,,Casual,Inkfruit Mens Chain Reaction T-shirt",
]


def _tree(root: Path, rows=ROWS, without_image=("39386",), nested: bool = False, header: str = HEADER) -> Path:
    data = root / "myntradataset" if nested else root
    (data / "images").mkdir(parents=True)
    (data / "styles.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    for k, row in enumerate(rows):
        product_id = row.split(",")[0]
        if product_id not in without_image:
            Image.new("RGB", (60, 80), (10 * k, 100, 200)).save(data / "images" / f"{product_id}.jpg")
    return root


def test_reads_the_kaggle_layout_by_id_and_repairs_names_with_commas(tmp_path, capsys):
    dataset = FashionProducts(_tree(tmp_path))
    out = capsys.readouterr().out
    assert "1 row(s) of styles.csv had commas in the name (repaired: lines 6)" in out
    assert "1 row(s) have no image" in out and "39386" in out
    assert dataset.ids.tolist() == [15970, 59263, 21379, 53759, 1855]  # 39386 left out, nothing shifted
    assert dataset.attribute("productDisplayName")[3] == "Puma Men Grey T-shirt, Pack of 2, Striped"
    assert dataset.attribute("year").tolist() == [2011, 2016, 2011, 2012, 0]
    image, product_id = dataset[2]
    assert product_id == 21379 and image.size == (60, 80)
    # each image is the one of its own id: the colour encodes the row of styles.csv it was written for
    pixels = load_images(dataset)
    assert pixels.shape == (5, 3, 80, 60)
    assert [int(p[0, 40, 30]) for p in pixels] == pytest.approx([0, 20, 30, 40, 50], abs=3)


def test_skip_and_error_for_malformed_rows(tmp_path):
    root = _tree(tmp_path)
    rows, bad = read_styles(root / "styles.csv", on_bad_lines="skip")
    assert [r["id"] for r in rows] == [15970, 39386, 59263, 21379, 1855]
    assert bad[0].line == 6 and bad[0].id == "53759" and bad[0].fields == 12 and bad[0].action == "skipped"
    with pytest.raises(ValueError, match=r"styles.csv, line 6: 12 fields.*on_bad_lines='repair'"):
        read_styles(root / "styles.csv", on_bad_lines="error")
    with pytest.raises(ValueError, match="on_bad_lines must be"):
        read_styles(root / "styles.csv", on_bad_lines="warn")


def test_reads_the_archives_nested_copy_and_the_registry_accepts_it(tmp_path):
    root = _tree(tmp_path, nested=True)
    dataset = FashionProducts(root, quiet=True)
    assert dataset.root == root / "myntradataset" and len(dataset) == 5
    info = get_dataset("fashion-products")
    assert info.missing(root) == [] and info.missing(tmp_path / "nothing") != []
    assert verify_fashion_products(root).ok


@pytest.mark.parametrize("problem, message", [
    ("no folder", "styles.csv not found under"),
    ("no images", "the images/ folder not found"),
    ("short row", "line 2: 9 fields, expected 10"),
    ("bad id", "line 2: the id 'abc' is not an integer"),
    ("repeated id", "line 3: the id 15970 appears twice"),
    ("wrong header", "line 1: expected the header"),
])
def test_errors_name_the_file_the_line_and_the_fix(tmp_path, problem, message):
    if problem == "no folder":
        with pytest.raises(DatasetNotFoundError, match=message) as err:
            FashionProducts(tmp_path / "missing")
        assert "kaggle datasets download -d paramaggarwal/fashion-product-images-small" in str(err.value)
        return
    rows = {"short row": [",".join(ROWS[0].split(",")[:9])], "bad id": ["abc" + ROWS[0][5:]],
            "repeated id": [ROWS[0], ROWS[0]]}.get(problem, ROWS)
    root = _tree(tmp_path, rows=rows, header="id,name" if problem == "wrong header" else HEADER)
    if problem == "no images":
        for p in (root / "images").iterdir():
            p.unlink()
        (root / "images").rmdir()
    with pytest.raises((ValueError, DatasetNotFoundError), match=message):
        FashionProducts(root, quiet=True)


def test_data_one_level_down_gets_a_hint(tmp_path):
    _tree(tmp_path / "download" / "fashion-products")
    with pytest.raises(DatasetNotFoundError, match=r"one level down: use .*download/fashion-products\)"):
        FashionProducts(tmp_path / "download", quiet=True)


def test_a_damaged_image_is_an_error_naming_the_file(tmp_path):
    root = _tree(tmp_path)
    (root / "images" / "59263.jpg").write_bytes(b"not a jpeg")
    dataset = FashionProducts(root, quiet=True)
    with pytest.raises(OSError, match="59263.jpg.*Unzip the archive again"):
        dataset[1]
    report = verify_fashion_products(root)
    assert not report.ok and "59263.jpg" in str(report)


def test_ids_select_and_order_a_sample_and_unknown_ids_are_refused(tmp_path):
    root = _tree(tmp_path)
    sample = FashionProducts(root, ids=[1855, 15970], quiet=True)
    assert sample.ids.tolist() == [1855, 15970] and sample.attribute("articleType").tolist() == ["Tshirts", "Shirts"]
    assert sample.fingerprint() != FashionProducts(root, quiet=True).fingerprint()
    with pytest.raises(KeyError, match="39386"):
        FashionProducts(root, ids=[39386], quiet=True)  # its image is missing


def test_pattern_is_read_from_real_names():
    assert pattern_from_name("Turtle Check Men Navy Blue Shirt") == "checks"
    assert pattern_from_name("Manchester United Men Solid Black Track Pants") == "plain"
    assert pattern_from_name("Puma Men Grey T-shirt, Pack of 2, Striped") == "stripes"
    assert pattern_from_name("Women Polka Dot Top") == "dots"
    assert pattern_from_name("Titan Women Silver Watch") == ""


def test_verify_reports_counts_and_warnings_and_images_without_rows(tmp_path):
    root = _tree(tmp_path)
    Image.new("RGB", (60, 80)).save(root / "images" / "99999.jpg")
    report = verify_fashion_products(root)
    assert report.ok
    assert report.counts == {"products": 5, "bad_rows": 1, "missing_images": 1}
    text = str(report)
    assert "commas in the product name" in text and "no image" in text and "99999.jpg" in text
    assert not verify_fashion_products(tmp_path / "nothing").ok


def test_other_image_sizes_are_resized_when_decoded(tmp_path):
    root = _tree(tmp_path)
    Image.new("RGB", (1080, 1440), (255, 0, 0)).save(root / "images" / "1855.jpg")
    pixels = load_images(FashionProducts(root, quiet=True))
    assert pixels.shape == (5, 3, 80, 60) and int(pixels[4, 0].float().mean()) > 240
    assert np.asarray(FashionProducts(root, quiet=True)[4][0]).shape == (1440, 1080, 3)
