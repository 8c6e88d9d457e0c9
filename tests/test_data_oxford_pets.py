"""Tests of labkit.data.oxford_pets (lecture 5): the trimap segmentation dataset on a tiny tree in the real
layout (with the real set's odd files), the checker and the command line."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from labkit.data import REGISTRY, DatasetNotFoundError, ImageReadError
from labkit.data.__main__ import main
from labkit.data.oxford_pets import (CLASS_NAMES, OxfordPetsSegmentation, PetRecord,
                                     read_split_list, verify_oxford_pets)



def trimap(h: int = 16, w: int = 16) -> np.ndarray:
    """Background 2, a pet block 1 with a boundary ring 3 around it."""
    t = np.full((h, w), 2, np.uint8)
    t[3:13, 4:12] = 3
    t[4:12, 5:11] = 1
    return t


@pytest.fixture
def fake_tree(tmp_path) -> Path:
    """oxford-pets/ with 3 trainval and 2 test images: an RGB JPEG, a greyscale JPEG, a CMYK JPEG, a PNG
    stored as .jpg, a palette image; trimaps; macOS ._ files and a comment line as in the real archive."""
    root = tmp_path / "oxford-pets"
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "images" / "Abyssinian_1.jpg", quality=95)
    Image.fromarray(pixels).convert("L").save(root / "images" / "Abyssinian_2.jpg")
    Image.fromarray(pixels).convert("CMYK").save(root / "images" / "beagle_1.jpg")
    Image.fromarray(pixels).save(root / "images" / "beagle_2.jpg", format="PNG")  # a PNG with a .jpg name
    Image.fromarray(pixels).convert("P").save(root / "images" / "beagle_3.jpg", format="PNG")
    for name in ("Abyssinian_1", "Abyssinian_2", "beagle_1", "beagle_2", "beagle_3"):
        Image.fromarray(trimap(), "L").save(root / "annotations" / "trimaps" / f"{name}.png")
        (root / "annotations" / "trimaps" / f"._{name}.png").write_bytes(b"\0\5\26\7 macOS resource fork")
    (root / "annotations" / "trainval.txt").write_text(
        "#Image CLASS-ID SPECIES BREED ID\nAbyssinian_1 1 1 1\nbeagle_2 2 2 1\nbeagle_3 2 2 1\n")
    (root / "annotations" / "test.txt").write_text("Abyssinian_2 1 1 1\nbeagle_1 2 2 1\n\n")
    return root


# ----------------------------------------------------------------------------------------------------------
# Items
# ----------------------------------------------------------------------------------------------------------

def test_split_list_is_parsed_and_comments_skipped(fake_tree):
    records = read_split_list(fake_tree / "annotations" / "trainval.txt")
    assert records == [PetRecord("Abyssinian_1", 1, 1, 1), PetRecord("beagle_2", 2, 2, 1),
                       PetRecord("beagle_3", 2, 2, 1)]
    (fake_tree / "annotations" / "test.txt").write_text("Abyssinian_2 1 1 1\nbeagle_1 2 dog 1\n")
    with pytest.raises(ValueError, match=r"test.txt, line 2: 'beagle_1 2 dog 1'"):
        read_split_list(fake_tree / "annotations" / "test.txt")


def test_item_is_an_rgb_float_image_and_trimap_minus_one(fake_tree):
    dataset = OxfordPetsSegmentation(fake_tree, "trainval", image_size=None)
    assert len(dataset) == 3 and dataset.class_names == CLASS_NAMES == ("pet", "background", "boundary")
    image, mask = dataset[1]  # the PNG named .jpg: lossless, so pixels compare exactly
    expected = np.array(Image.open(fake_tree / "images" / "beagle_2.jpg").convert("RGB"))
    assert image.dtype == torch.float32 and image.shape == (3, 16, 16)
    assert torch.allclose(image, torch.from_numpy(expected).permute(2, 0, 1).float() / 255)
    assert mask.dtype == torch.int64 and mask.shape == (16, 16)
    assert torch.equal(mask, torch.from_numpy(trimap().astype(np.int64) - 1))
    assert mask[8, 8] == CLASS_NAMES.index("pet") and mask[0, 0] == CLASS_NAMES.index("background")


def test_every_stored_mode_becomes_three_channels(fake_tree):
    items = list(OxfordPetsSegmentation(fake_tree, "trainval", image_size=24)) + \
        list(OxfordPetsSegmentation(fake_tree, "test", image_size=24))
    assert [tuple(image.shape) for image, _ in items] == [(3, 24, 24)] * 5
    grey, _ = OxfordPetsSegmentation(fake_tree, "test", image_size=None)[0]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_resize_is_nearest_for_masks_so_only_the_three_labels_remain(fake_tree):
    for size in (7, 24, 33):
        _, mask = OxfordPetsSegmentation(fake_tree, image_size=size)[0]
        assert mask.shape == (size, size) and set(mask.unique().tolist()) <= {0, 1, 2}
    _, mask = OxfordPetsSegmentation(fake_tree, image_size=32)[0]
    nearest = Image.fromarray(trimap()).resize((32, 32), Image.Resampling.NEAREST)
    assert torch.equal(mask, torch.from_numpy(np.array(nearest).astype(np.int64) - 1))


def test_a_joint_transform_moves_image_and_mask_together(fake_tree):
    plain = OxfordPetsSegmentation(fake_tree, image_size=16)[1]
    flipped = OxfordPetsSegmentation(fake_tree, image_size=16, transform=v2.RandomHorizontalFlip(p=1.0))[1]
    assert torch.equal(flipped[0], plain[0].flip(-1)) and torch.equal(flipped[1], plain[1].flip(-1))
    # A pet filling the whole photo, rotated by 45 degrees: the corners the rotation fills with 0 must come
    # out as background, not as pet (0 after the shift by one).
    Image.fromarray(np.ones((16, 16), np.uint8)).save(fake_tree / "annotations" / "trimaps" / "beagle_2.png")
    _, rotated = OxfordPetsSegmentation(fake_tree, image_size=16, transform=v2.RandomRotation((45, 45)))[1]
    assert rotated[0, 0] == rotated[15, 15] == 1 and rotated[8, 8] == 0
    assert set(rotated.unique().tolist()) == {0, 1}


# ----------------------------------------------------------------------------------------------------------
# Errors that name the fix
# ----------------------------------------------------------------------------------------------------------

def test_missing_folder_says_where_to_put_it_and_which_script(tmp_path, fake_tree):
    with pytest.raises(DatasetNotFoundError, match="labkit.data verify oxford-pets") as info:
        OxfordPetsSegmentation(tmp_path / "nowhere")
    assert "images.tar.gz" in str(info.value) and "synthetic twin" in str(info.value)
    with pytest.raises(DatasetNotFoundError, match="one level down"):
        OxfordPetsSegmentation(fake_tree.parent)
    torchvision_copy = tmp_path / "tv" / "oxford-iiit-pet"
    (torchvision_copy / "images").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match=f"one level down: use {torchvision_copy}"):
        OxfordPetsSegmentation(torchvision_copy.parent)
    with pytest.raises(DatasetNotFoundError, match="CONTAIN images, annotations"):
        OxfordPetsSegmentation(fake_tree / "annotations" / "trimaps")
    (fake_tree / "annotations" / "test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="annotations/test.txt"):
        OxfordPetsSegmentation(fake_tree, "test")
    with pytest.raises(ValueError, match="'trainval' or 'test'"):
        OxfordPetsSegmentation(fake_tree, "train")


def test_missing_trimap_or_image_is_named(fake_tree):
    (fake_tree / "annotations" / "trimaps" / "beagle_2.png").unlink()
    with pytest.raises(FileNotFoundError, match="trimap.*beagle_2.png.*annotations.tar.gz"):
        OxfordPetsSegmentation(fake_tree)
    (fake_tree / "images" / "beagle_1.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="image.*beagle_1.jpg.*images.tar.gz"):
        OxfordPetsSegmentation(fake_tree, "test")


def test_unexpected_trimap_values_or_size_are_refused(fake_tree):
    Image.fromarray((trimap() * 80).astype(np.uint8)).save(fake_tree / "annotations" / "trimaps" / "Abyssinian_1.png")
    Image.fromarray(trimap(16, 12)).save(fake_tree / "annotations" / "trimaps" / "beagle_3.png")
    dataset = OxfordPetsSegmentation(fake_tree)
    with pytest.raises(ValueError, match=r"Abyssinian_1.png has values \[80, 160, 240\].*re-saved"):
        dataset[0]
    with pytest.raises(ValueError, match="12x16 pixels but its image beagle_3.jpg is 16x16"):
        dataset[2]


def test_corrupt_image_is_named(fake_tree):
    (fake_tree / "images" / "Abyssinian_1.jpg").write_bytes(b"\xff\xd8\xff truncated")
    with pytest.raises(ImageReadError, match="Abyssinian_1.jpg.*images.tar.gz"):
        OxfordPetsSegmentation(fake_tree)[0]


# ----------------------------------------------------------------------------------------------------------
# Checker, chooser, script
# ----------------------------------------------------------------------------------------------------------

def test_verify_reports_counts_species_and_modes(fake_tree):
    report = verify_oxford_pets(fake_tree, strict=False, decode=True)
    assert report.ok and report.counts == {"trainval": 3, "test": 2}
    assert report.details["species"] == {"trainval": (1, 2), "test": (1, 1)} and report.details["breeds"] == 2
    assert report.details["modes"] == {"RGB": 2, "L": 1, "CMYK": 1, "P": 1}
    assert "3680" in report.warnings[0] and "OK" in str(report) and "CMYK 1" in str(report)
    assert not verify_oxford_pets(fake_tree).ok  # strict: not the release's counts


def test_verify_names_missing_unreadable_and_bad_trimaps(fake_tree, tmp_path):
    (fake_tree / "annotations" / "trimaps" / "beagle_2.png").unlink()
    (fake_tree / "images" / "beagle_1.jpg").write_bytes(b"junk")
    Image.fromarray(trimap() * 0).save(fake_tree / "annotations" / "trimaps" / "Abyssinian_2.png")
    text = str(verify_oxford_pets(fake_tree, strict=False))
    assert "beagle_2.png" in text and "beagle_1.jpg" in text and "Abyssinian_2" not in text
    report = verify_oxford_pets(fake_tree, strict=False, decode=True)
    assert any("Abyssinian_2.png" in e and "other than 1, 2, 3" in e for e in report.errors)
    nowhere = verify_oxford_pets(tmp_path / "nowhere")
    assert not nowhere.ok and len(nowhere.errors) == 1 and "labkit.data verify oxford-pets" in nowhere.errors[0]


def test_verify_command_checks_a_folder_in_place_without_the_network(fake_tree, capsys):
    assert main(["verify", "oxford-pets", "--root", str(fake_tree.parent), "--lenient", "--decode"]) == 0
    assert "trainval:     3 images (1 cats, 2 dogs" in capsys.readouterr().out
    assert main(["verify", "oxford-pets", "--root", str(fake_tree.parent)]) == 1  # not the release's counts


def test_fetch_offline_says_what_failed(tmp_path, capsys):
    assert main(["fetch", "oxford-pets", "--root", str(tmp_path)]) == 1  # LABKIT_OFFLINE=1 in the tests
    err = capsys.readouterr().err
    assert "offline" in err and "images.tar.gz" in err


def test_twin_command_writes_the_registry_twin_and_checks_it(tmp_path, monkeypatch, capsys):
    small = dataclasses.replace(REGISTRY["oxford-pets"], fast_twin={"counts": {"trainval": 2, "test": 2}, "size": 48})
    monkeypatch.setitem(REGISTRY, "oxford-pets", small)
    assert main(["twin", "oxford-pets", "--out", str(tmp_path / "twin"), "--fast"]) == 0
    assert "trainval:     2 images" in capsys.readouterr().out
    assert main(["twin", "oxford-pets", "--out", str(tmp_path / "twin"), "--fast"]) == 1  # exists: refused
    assert "overwrite" in capsys.readouterr().err
