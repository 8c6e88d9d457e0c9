"""Tests of labkit.data.oxford_pets_twin (lecture 5): pet photos with trimaps, written in the Oxford-IIIT Pet
layout and read back by labkit.data.oxford_pets.OxfordPetsSegmentation."""
import numpy as np
import pytest
import torch
from PIL import Image
from skimage.morphology import dilation, erosion, footprint_rectangle

from labkit.data.oxford_pets import OxfordPetsSegmentation, read_split_list
from labkit.data.oxford_pets_twin import BREEDS, _breed_ids, make_pet_photo, trimap_from_mask, write_oxford_pets_twin


@pytest.fixture(scope="module")
def photos():
    rng = np.random.default_rng(0)
    return [make_pet_photo(rng, (96, 112)) for _ in range(24)]


def test_photo_is_deterministic_with_the_right_shapes():
    a, b = (make_pet_photo(np.random.default_rng(3), (80, 100), breed="Tuxedo") for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.trimap, b.trimap) and a.breed == "Tuxedo"
    assert a.image.shape == (80, 100, 3) and a.image.dtype == np.uint8
    assert a.trimap.shape == (80, 100) and a.trimap.dtype == np.uint8
    assert not np.array_equal(a.image, make_pet_photo(np.random.default_rng(4), (80, 100)).image)


def test_trimap_band_is_the_morphological_gradient():
    mask = np.zeros((20, 24), bool)
    mask[5:15, 6:18] = True
    mask[10, 2:6] = True  # a thin tail
    for band in (1, 2):
        footprint = footprint_rectangle((2 * band + 1, 2 * band + 1))
        ring = dilation(mask, footprint) != erosion(mask, footprint)  # scikit-image as the oracle
        expected = np.where(ring, 3, np.where(mask, 1, 2))
        assert np.array_equal(trimap_from_mask(mask, band), expected)
    assert (trimap_from_mask(mask, 1)[10, 2:6] == 3).all()  # a one-pixel tail is all boundary


def test_pets_are_large_single_blobs_with_a_thin_boundary(photos):
    fractions = []
    for photo in photos:
        t = photo.trimap
        assert set(np.unique(t).tolist()) == {1, 2, 3}
        # Pet and background never touch: the boundary band always separates them.
        pet, background = t == 1, t == 2
        assert not (pet[:, 1:] & background[:, :-1]).any() and not (pet[1:] & background[:-1]).any()
        assert not (pet[:, :-1] & background[:, 1:]).any() and not (pet[:-1] & background[1:]).any()
        fractions.append((t != 2).mean())
        assert (t == 3).mean() < 0.5 * (t != 2).mean()  # thin: much less than the pet
    assert 0.08 < min(fractions) and max(fractions) < 0.6 and np.std(fractions) > 0.03


def test_the_pet_looks_different_from_its_surroundings(photos):
    for photo in photos[:8]:
        t, image = photo.trimap, photo.image.astype(float)
        inside, outside = image[t == 1].mean(0), image[t == 2].mean(0)
        ring = image[t == 3].mean(0)
        assert np.abs(inside - outside).sum() > 5 or np.abs(ring - outside).sum() > 5


def test_breeds_follow_the_real_naming_and_ids():
    for name, species, _ in BREEDS:
        assert name[0].isupper() == (species == "cat")
    ids = _breed_ids()
    ordered = sorted(ids, key=str.lower)
    assert [ids[name][0] for name in ordered] == list(range(1, len(BREEDS) + 1))
    assert {ids[n][1] for n, s, _ in BREEDS if s == "cat"} == {1}
    assert {ids[n][1] for n, s, _ in BREEDS if s == "dog"} == {2}
    assert sorted(ids[n][2] for n, s, _ in BREEDS if s == "dog") == [1, 2, 3]


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="at least 32"):
        make_pet_photo(np.random.default_rng(0), (20, 64))
    with pytest.raises(ValueError, match="unknown breed 'Siamese'"):
        make_pet_photo(np.random.default_rng(0), (64, 64), breed="Siamese")
    with pytest.raises(ValueError, match="'trainval' and 'test'"):
        write_oxford_pets_twin(tmp_path / "twin", {"train": 2})
    with pytest.raises(ValueError, match="too small"):
        write_oxford_pets_twin(tmp_path / "twin", {"test": 2}, size=40)


def test_twin_layout_lists_and_determinism(tmp_path):
    root = write_oxford_pets_twin(tmp_path / "a", {"trainval": 7, "test": 5}, size=64, seed=2)
    trainval = read_split_list(root / "annotations" / "trainval.txt")
    test = read_split_list(root / "annotations" / "test.txt")
    assert len(trainval) == 7 and len(test) == 5 and not {r.name for r in trainval} & {r.name for r in test}
    ids = _breed_ids()
    for record in trainval + test:
        assert (record.class_id, record.species, record.breed_id) == ids[record.name.rsplit("_", 1)[0]]
        with Image.open(root / "images" / f"{record.name}.jpg") as image:
            assert image.format == "JPEG" and image.mode == "RGB" and 48 <= min(image.size) <= max(image.size) <= 64
            size = image.size
        with Image.open(root / "annotations" / "trimaps" / f"{record.name}.png") as trimap:
            assert trimap.mode == "L" and trimap.size == size
    assert {r.name.rsplit("_", 1)[0] for r in trainval} == {name for name, _, _ in BREEDS}  # breeds in turn
    again = write_oxford_pets_twin(tmp_path / "b", {"trainval": 7, "test": 5}, size=64, seed=2)
    name = test[3].name
    for sub in ("images", "annotations/trimaps"):
        suffix = ".jpg" if sub == "images" else ".png"
        assert (root / sub / f"{name}{suffix}").read_bytes() == (again / sub / f"{name}{suffix}").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_oxford_pets_twin(root, {"test": 1}, size=64)


def test_twin_round_trip_through_the_loader(tmp_path):
    root = write_oxford_pets_twin(tmp_path / "twin", {"trainval": 3, "test": 2}, size=64, seed=1)
    dataset = OxfordPetsSegmentation(root, "test", image_size=None)
    image, mask = dataset[1]
    stored = np.array(Image.open(root / "annotations" / "trimaps" / f"{dataset.records[1].name}.png"))
    assert torch.equal(mask, torch.from_numpy(stored.astype(np.int64) - 1))
    assert image.shape[1:] == mask.shape
    images, masks = zip(*OxfordPetsSegmentation(root, "trainval", image_size=48))
    assert torch.stack(images).shape == (3, 3, 48, 48) and torch.stack(masks).shape == (3, 48, 48)
    assert set(torch.stack(masks).unique().tolist()) == {0, 1, 2}
