"""Tests of labkit/data/mvtec_ad_twin.py: deterministic, the layout and masks are right by construction."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labkit.data.mvtec_ad import MVTecAD, verify_mvtec_ad
from labkit.data.mvtec_ad_twin import TWIN_DEFECTS, draw_defect, make_defective_texture, make_texture, write_mvtec_ad_twin


def test_same_seed_same_pictures_and_good_images_have_empty_masks():
    a = make_defective_texture(np.random.default_rng(5), "wood", None, 48)
    b = make_defective_texture(np.random.default_rng(5), "wood", None, 48)
    assert np.array_equal(a.image, b.image) and a.image.dtype == np.uint8 and a.image.shape == (48, 48, 3)
    assert not a.mask.any()


@pytest.mark.parametrize("category", sorted(TWIN_DEFECTS))
def test_every_defect_changes_exactly_the_pixels_its_mask_marks(category):
    for defect in TWIN_DEFECTS[category]:
        rng = np.random.default_rng(1)
        texture = make_texture(rng, category, 64)
        drawn = draw_defect(rng, texture, defect, category)
        changed = np.abs(drawn.image.astype(float) - np.round(texture * 255)).max(axis=2) > 25
        mask = drawn.mask
        assert 0.005 < mask.mean() < 0.3, (category, defect, mask.mean())
        # most of the masked pixels changed visibly, and visible changes lie (nearly) all inside the mask
        assert changed[mask].mean() > 0.5, (category, defect)
        grown = np.zeros_like(mask)
        ys, xs = np.nonzero(mask)
        grown[max(ys.min() - 3, 0):ys.max() + 4, max(xs.min() - 3, 0):xs.max() + 4] = True
        assert changed[~grown].mean() < 0.01, (category, defect)


def test_unknown_category_or_defect_is_refused():
    with pytest.raises(ValueError, match="unknown twin category 'bottle'"):
        make_texture(np.random.default_rng(0), "bottle")
    with pytest.raises(ValueError, match="unknown defect 'dent'"):
        draw_defect(np.random.default_rng(0), make_texture(np.random.default_rng(0), "grid", 32), "dent", "grid")
    with pytest.raises(ValueError, match="choose from carpet"):
        write_mvtec_ad_twin("/tmp/never-written", categories=["bottle"])


def test_writer_fills_mvtecs_layout_good_only_in_train_and_is_deterministic(tmp_path):
    root = write_mvtec_ad_twin(tmp_path / "a", categories=["grid", "leather"], n_train=3, n_test_good=2,
                               n_per_defect=2, size=32, seed=4)
    assert sorted(p.name for p in root.iterdir()) == ["grid", "leather"]
    assert [p.name for p in (root / "grid" / "train").iterdir()] == ["good"]
    assert sorted(p.name for p in (root / "grid" / "test").iterdir()) == ["good", "hole", "misprint", "scratch"]
    mask = np.asarray(Image.open(root / "leather" / "ground_truth" / "crack" / "001_mask.png"))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255} and mask.any()
    test = MVTecAD(root, "leather", "test")
    assert len(test) == 2 + 3 * 2 and sum(test.labels) == 6
    assert verify_mvtec_ad(root, strict=False).ok
    again = write_mvtec_ad_twin(tmp_path / "b", categories=["leather"], n_train=3, n_test_good=2, n_per_defect=2,
                                size=32, seed=4)
    for relative in ("leather/train/good/002.png", "leather/test/stain/001.png"):
        assert (root / relative).read_bytes() == (again / relative).read_bytes()  # per-category streams
    with pytest.raises(FileExistsError):
        write_mvtec_ad_twin(root, categories=["grid"], n_train=1, n_test_good=1, n_per_defect=1, size=32)
