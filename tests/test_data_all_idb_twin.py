"""Tests of labkit.data.all_idb_twin: the offline twin of ALL-IDB (lecture 2)."""
import os
import time

import numpy as np
import pytest

from labkit.data import ALLIDB2
from labkit.data import all_idb_twin as sb
from labkit.data.all_idb_twin import make_patch, make_slide, write_all_idb_twin


def nucleus_mask(image: np.ndarray) -> np.ndarray:
    """Purple-stained pixels (nuclei): blue well above green, green dark, red not far above green.
    Pale-blue cytoplasm has a bright green; pink red cells have red far above green."""
    r, g, b = np.moveaxis(image.astype(np.int32), -1, 0)
    return (b - g > 25) & (g < 150) & (r - g < 60)


def make_patches(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches with balanced, shuffled labels, as the tests below need them."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    return np.stack([make_patch(rng, size, label=int(label))[0] for label in labels]), labels


def test_make_patches_is_deterministic_by_seed():
    a_images, a_labels = make_patches(6, 32, seed=3)
    b_images, b_labels = make_patches(6, 32, seed=3)
    c_images, _ = make_patches(6, 32, seed=4)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)
    assert not np.array_equal(a_images, c_images)


def test_make_patches_shapes_dtypes_and_balanced_labels():
    images, labels = make_patches(11, 40, seed=0)
    assert images.shape == (11, 40, 40, 3) and images.dtype == np.uint8
    assert labels.shape == (11,) and labels.dtype == np.int64
    assert sorted(np.bincount(labels, minlength=2).tolist()) == [5, 6]
    assert 0 < labels[:8].sum() < 8  # shuffled, not all blasts first


def test_make_patch_honours_the_requested_label():
    rng = np.random.default_rng(0)
    for label in (0, 1):
        image, got = make_patch(rng, 48, label=label)
        assert got == label and image.shape == (48, 48, 3) and image.dtype == np.uint8
    with pytest.raises(ValueError, match="label"):
        make_patch(rng, 48, label=2)
    with pytest.raises(ValueError, match="too small"):
        make_patch(rng, 8)


def test_picture_carries_the_label_blast_nucleus_larger_and_centred():
    images, labels = make_patches(80, 64, seed=1)
    masks = np.stack([nucleus_mask(image) for image in images])
    areas = masks.sum(axis=(1, 2))
    assert areas.min() > 30  # every patch shows a nucleus
    assert areas[labels == 1].mean() > 1.5 * areas[labels == 0].mean()
    # The nucleus is where the patch is centred: its mean position is near the middle.
    ys, xs = np.mgrid[:64, :64]
    cx = (masks * xs).sum(axis=(1, 2)) / areas
    cy = (masks * ys).sum(axis=(1, 2)) / areas
    assert np.all(np.abs(cx - 32) < 13) and np.all(np.abs(cy - 32) < 13)


def test_background_is_pale_and_red_cells_are_pink():
    image, _ = make_patch(np.random.default_rng(2), 128, label=0)
    pixels = image.reshape(-1, 3).astype(int)
    brightest = pixels[pixels.sum(1) > np.percentile(pixels.sum(1), 90)]
    assert brightest.mean() > 200  # pale glass
    pinkish = pixels[(pixels[:, 0] > 180) & (pixels[:, 1] < 175)]
    assert len(pinkish) > 0.1 * len(pixels)  # plenty of red cells
    assert (pinkish[:, 0] - pinkish[:, 1]).mean() > 40  # red above green: pink, not purple


def test_make_slide_boxes_centroids_and_labels_are_consistent():
    rng = np.random.default_rng(0)
    radius = 10.0
    for label in (0, 1, 1, 0, 1):
        slide = make_slide(rng, (200, 260), n_white=3, label=label, cell_radius_px=radius)
        image, got, boxes, centroids, cell_labels = slide  # unpacks like a tuple
        height, width = image.shape[:2]
        assert (height, width) == (200, 260) and image.dtype == np.uint8
        assert got == label == int(cell_labels.any())
        assert boxes.shape == (3, 4) and centroids.shape == (3, 2) and cell_labels.shape == (3,)
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= width - 1) and np.all(boxes[:, 3] <= height - 1)
        assert np.all((boxes[:, 0] < centroids[:, 0]) & (centroids[:, 0] < boxes[:, 2]))
        assert np.all((boxes[:, 1] < centroids[:, 1]) & (centroids[:, 1] < boxes[:, 3]))
        sides = boxes[:, 2:] - boxes[:, :2]
        assert np.all((sides > 1.2 * radius) & (sides < 3.0 * radius))  # the scale asked for


def test_slide_cells_are_drawn_in_their_boxes_and_nowhere_else():
    slide = make_slide(np.random.default_rng(5), (240, 320), n_white=4, label=1, cell_radius_px=12.8)
    mask = nucleus_mask(slide.image)
    inside = np.zeros_like(mask)
    for x1, y1, x2, y2 in slide.boxes.round().astype(int):
        assert mask[y1:y2 + 1, x1:x2 + 1].sum() > 40  # a nucleus in every box
        inside[y1:y2 + 1, x1:x2 + 1] = True
    assert mask[~inside].sum() < 0.05 * mask[inside].sum()  # only platelets outside


def test_slide_and_patch_share_the_cell_scale():
    """With cell_radius_px = default_cell_radius(size), nuclei on a slide are as large as in patches."""
    size = 64
    radius = sb.default_cell_radius(size)
    images, labels = make_patches(40, size, seed=0)
    patch_area = np.mean([nucleus_mask(im).sum() for im, lab in zip(images, labels) if lab == 1])
    rng = np.random.default_rng(1)
    slide_areas = []
    for _ in range(6):
        slide = make_slide(rng, (200, 260), n_white=2, label=1, blast_fraction=1.0, cell_radius_px=radius)
        mask = nucleus_mask(slide.image)
        slide_areas += [mask[y1:y2 + 1, x1:x2 + 1].sum() for x1, y1, x2, y2 in slide.boxes.round().astype(int)]
    assert 0.7 < np.mean(slide_areas) / patch_area < 1.4


def test_make_slide_rejects_impossible_requests():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="larger"):
        make_slide(rng, (30, 30), cell_radius_px=12.8)
    with pytest.raises(ValueError, match="fewer cells"):
        make_slide(rng, (80, 80), n_white=20, cell_radius_px=12.8)
    with pytest.raises(ValueError, match="label"):
        make_slide(rng, (200, 200), label=3)


def test_healthy_slide_has_no_blast_and_patient_slide_has_one():
    rng = np.random.default_rng(7)
    assert make_slide(rng, (200, 260), label=0, cell_radius_px=10).cell_labels.sum() == 0
    assert make_slide(rng, (200, 260), label=1, n_white=1, blast_fraction=0.0, cell_radius_px=10).cell_labels.sum() == 1


def test_thousand_small_patches_take_seconds():
    start = time.process_time()  # CPU time of this process: other jobs on the machine do not count
    make_patches(1000, 64, seed=0)
    assert time.process_time() - start < 5.0


def test_write_all_idb_twin_refuses_to_overwrite_and_replaces_when_asked(tmp_path):
    root = tmp_path / "twin"
    write_all_idb_twin(root, n_patches=2, n_slides=2, patch_size=32, slide_size=(80, 100))
    first = (root / "ALL_IDB2" / "img" / "Im001_1.tif").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_all_idb_twin(root, n_patches=2, n_slides=2, patch_size=32, slide_size=(80, 100))
    write_all_idb_twin(root, n_patches=4, n_slides=2, seed=1, patch_size=32, slide_size=(80, 100), overwrite=True)
    assert len(os.listdir(root / "ALL_IDB2" / "img")) == 4
    assert (root / "ALL_IDB2" / "img" / "Im001_1.tif").read_bytes() != first
    assert os.listdir(tmp_path) == ["twin"]  # no temporary folder left behind


def test_write_all_idb_twin_refuses_counts_its_names_cannot_hold(tmp_path):
    # Im1000_0.tif would be written but rejected by the loaders (ImNNN_L): refuse before writing.
    with pytest.raises(ValueError, match="three digits"):
        write_all_idb_twin(tmp_path / "twin", n_patches=1000, n_slides=2, patch_size=32, slide_size=(80, 100))
    assert os.listdir(tmp_path) == []
    root = write_all_idb_twin(tmp_path / "twin", n_patches=2, n_slides=2, patch_size=32, slide_size=(80, 100))
    assert len(ALLIDB2(root)) == 2


def test_write_all_idb_twin_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sb, "make_slide", broken)
    with pytest.raises(KeyboardInterrupt):
        write_all_idb_twin(tmp_path / "twin", n_patches=2, n_slides=2, patch_size=32, slide_size=(80, 100))
    assert os.listdir(tmp_path) == []


def test_small_twin_keeps_the_all_idb_ratio(tmp_path):
    from PIL import Image

    root = write_all_idb_twin(tmp_path / "twin", n_patches=2, n_slides=1, patch_size=64)
    with Image.open(root / "ALL_IDB2" / "img" / "Im001_1.tif") as patch, \
            Image.open(root / "ALL_IDB1" / "im" / "Im001_1.jpg") as slide:
        assert patch.size == (64, 64)
        assert abs(slide.size[0] / 64 - 2592 / 257) < 0.05 and abs(slide.size[1] / 64 - 1944 / 257) < 0.05
