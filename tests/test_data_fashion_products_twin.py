"""Tests of labkit.data.fashion_products_twin (lecture 6): synthetic catalogue photos with known attributes,
written in the layout of Kaggle's Fashion Product Images (Small) and read back by FashionProducts."""
from __future__ import annotations

import numpy as np
import pytest

from labkit.data.fashion_products import FashionProducts, load_images, pattern_from_name, read_styles
from labkit.data.fashion_products_twin import (ARTICLE_TYPES, COLOURS, COLUMNS, PATTERNS, make_outside_photo,
                                               make_product, write_fashion_products_twin)


def test_product_is_deterministic_and_has_the_real_size():
    a, b = (make_product(np.random.default_rng(3)) for _ in range(2))
    assert np.array_equal(a.image, b.image) and a[1:] == b[1:]
    assert a.image.shape == (80, 60, 3) and a.image.dtype == np.uint8
    assert not np.array_equal(a.image, make_product(np.random.default_rng(4)).image)


def test_the_colour_drawn_is_the_colour_of_the_product():
    rng = np.random.default_rng(0)
    palette = np.array(list(COLOURS.values()), float)
    for _ in range(5):
        for colour in COLOURS:
            image = make_product(rng, "Handbags", colour, "plain").image.astype(float)
            ys, xs = np.nonzero(np.abs(image - np.median(image[0], 0)).sum(2) > 150)  # far from the backdrop
            centre = image[ys, xs].mean(0)
            nearest = list(COLOURS)[int(np.argmin(np.linalg.norm(palette - centre, axis=1)))]
            assert nearest == colour


def test_article_types_are_different_silhouettes():
    rng = np.random.default_rng(1)
    # Mean foreground masks of each type (plain black products, so the silhouette is what is dark).
    masks = {t: np.mean([(make_product(rng, t, "Black", "plain").image.mean(2) < 100) for _ in range(20)], 0)
             for t in ARTICLE_TYPES}
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(masks[a] - masks[b]).mean() > 0.05, (a, b)


def test_a_pattern_only_lightens_pixels_of_the_product():
    for seed in range(5):
        plain, *patterned = (make_product(np.random.default_rng(seed), "Shirts", "Blue", p).image.astype(int)
                             for p in ("plain", "stripes", "dots", "checks"))
        for image in patterned:  # same pose, backdrop and light: the same random draws
            changed = np.abs(image - plain).sum(2) > 30
            assert 0.03 < changed.mean() < 0.5
            assert (image[changed].sum(1) > plain[changed].sum(1)).mean() > 0.9  # a lighter shade


def test_outside_photo_is_another_size_on_a_textured_background():
    photo = make_outside_photo(np.random.default_rng(5), "Caps", "Red", "dots")
    assert photo.image.shape == (120, 96, 3) and photo[1:] == ("Caps", "Red", "dots")
    corner = photo.image[:20, :20].astype(float)
    assert corner.std() > 2 and corner.mean() < 215  # not the catalogue's pale, flat backdrop


def test_twin_writes_the_real_layout_with_its_quirks(tmp_path):
    root = write_fashion_products_twin(tmp_path / "fp", 60, n_queries=6, bad_rows=4, missing_images=3, seed=1)
    lines = (root / "styles.csv").read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 61
    assert sum(len(line.split(",")) == 11 for line in lines[1:]) == 4  # names with a comma
    rows, bad = read_styles(root / "styles.csv")
    assert len(rows) == 60 and len(bad) == 4 and all(b.action == "repaired" for b in bad)
    assert len(list((root / "images").glob("*.jpg"))) == 57
    dataset = FashionProducts(root, quiet=True)
    assert len(dataset) == 57 and len(dataset.missing_images) == 3
    # the attributes in the csv are the ones drawn: the name states the colour, the pattern and the type
    for row in dataset.rows:
        name = row["productDisplayName"]
        assert row["baseColour"] in name and ARTICLE_TYPES[row["articleType"]][2] in name
        assert pattern_from_name(name) in PATTERNS
    images = load_images(dataset)
    assert images.shape == (57, 3, 80, 60)
    queries = (root / "queries" / "queries.csv").read_text().splitlines()
    assert queries[0] == "file,articleType,baseColour,pattern" and len(queries) == 7
    assert {line.split(",")[1] for line in queries[1:]} == set(ARTICLE_TYPES)  # every type once in six


def test_twin_is_deterministic_and_refuses_to_overwrite(tmp_path):
    a = write_fashion_products_twin(tmp_path / "a", 12, n_queries=1, bad_rows=1, missing_images=1, seed=4)
    b = write_fashion_products_twin(tmp_path / "b", 12, n_queries=1, bad_rows=1, missing_images=1, seed=4)
    assert (a / "styles.csv").read_text() == (b / "styles.csv").read_text()
    first = sorted((a / "images").iterdir())[0].name
    assert (a / "images" / first).read_bytes() == (b / "images" / first).read_bytes()
    with pytest.raises(FileExistsError):
        write_fashion_products_twin(a, 12, seed=4, n_queries=1, bad_rows=1, missing_images=1)
    with pytest.raises(ValueError, match="exceed n"):
        write_fashion_products_twin(tmp_path / "c", 3, bad_rows=2, missing_images=2)
