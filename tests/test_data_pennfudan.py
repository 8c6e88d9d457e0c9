"""Tests of labkit.data.pennfudan (lecture 5): the Mask R-CNN dataset on tiny trees in the real layout,
joint transforms, the checker and the command line."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.transforms import v2

from labkit.data import REGISTRY, DatasetNotFoundError, ImageReadError
from labkit.data.__main__ import main
from labkit.data.pennfudan import (PennFudan, instance_masks, split_indices,
                                   verify_pennfudan)
from labkit.detection import masks_to_boxes


def _pixel_boxes(masks):
    return masks_to_boxes(masks, pixel_edges=True)



def write_pair(root: Path, stem: str, ids: np.ndarray, mode: str = "L", seed: int = 0) -> np.ndarray:
    """A random RGB image and its id map ``ids`` (saved as ``mode``); returns the image array."""
    (root / "PNGImages").mkdir(parents=True, exist_ok=True)
    (root / "PedMasks").mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, (*ids.shape, 3), dtype=np.uint8)
    Image.fromarray(image).save(root / "PNGImages" / f"{stem}.png")
    mask = Image.fromarray(ids.astype(np.uint8), "L")
    if mode == "P":
        mask = mask.convert("P")  # a palette image whose indices are the ids, as the real masks are stored
    mask.save(root / "PedMasks" / f"{stem}_mask.png")
    return image


def two_people(h: int = 16, w: int = 16) -> np.ndarray:
    ids = np.zeros((h, w), np.uint8)
    ids[2:12, 1:4] = 1  # columns 1..3, rows 2..11
    ids[5:16, 9:14] = 2
    return ids


@pytest.fixture
def fake_tree(tmp_path) -> Path:
    """PennFudanPed/ with three 16x16 images: two people, one person stored with id 5, a palette mask."""
    root = tmp_path / "pennfudan" / "PennFudanPed"
    write_pair(root, "FudanPed00001", two_people(), seed=1)
    ids = np.zeros((16, 16), np.uint8)
    ids[4:8, 6:9] = 5
    write_pair(root, "FudanPed00002", ids, seed=2)
    write_pair(root, "PennPed00001", two_people(), mode="P", seed=3)
    (root / "PNGImages" / ".DS_Store").write_bytes(b"\0")
    return root


# ----------------------------------------------------------------------------------------------------------
# Masks, boxes, items
# ----------------------------------------------------------------------------------------------------------

def test_pixel_boxes_are_torchvision_boxes_plus_one_on_the_far_edges():
    masks = torch.zeros(3, 20, 30, dtype=torch.uint8)
    masks[0, 2:9, 4:5] = 1  # one pixel wide
    masks[1, 0:20, 10:30] = 1
    masks[2, 7, 3] = 1
    expected = torchvision.ops.masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert torch.equal(_pixel_boxes(masks), expected)
    assert torch.equal(_pixel_boxes(torch.zeros(1, 4, 4)), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="N, H, W"):
        _pixel_boxes(torch.zeros(4, 4))


def test_instance_masks_drop_background_and_keep_id_order():
    ids = np.array([[0, 7, 7], [3, 0, 7], [3, 3, 0]], np.uint8)
    masks, values = instance_masks(ids)
    assert values.tolist() == [3, 7] and masks.dtype == torch.uint8 and masks.shape == (2, 3, 3)
    assert masks[0].tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert torch.equal(masks.sum(0), torch.as_tensor(ids != 0, dtype=torch.uint8))


def test_item_has_the_mask_rcnn_target(fake_tree):
    dataset = PennFudan(fake_tree)
    assert len(dataset) == 3 and [p.name for p in dataset.image_paths][0] == "FudanPed00001.png"
    image, target = dataset[0]
    pixels = np.array(Image.open(fake_tree / "PNGImages" / "FudanPed00001.png"))
    assert image.dtype == torch.float32 and image.shape == (3, 16, 16)
    assert torch.allclose(image, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    assert target["boxes"].dtype == torch.float32 and type(target["boxes"]) is torch.Tensor
    assert target["boxes"].tolist() == [[1, 2, 4, 12], [9, 5, 14, 16]]
    assert target["labels"].tolist() == [1, 1] and target["labels"].dtype == torch.int64
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (2, 16, 16)
    assert torch.equal(target["masks"].sum(0).bool(), torch.from_numpy(two_people() > 0))
    assert target["area"].tolist() == [30.0, 55.0] and target["iscrowd"].tolist() == [0, 0]
    assert target["image_id"] == 0


def test_ids_need_not_be_consecutive_and_palette_masks_read_as_ids(fake_tree):
    dataset = PennFudan(fake_tree)
    _, single = dataset[1]
    assert single["boxes"].tolist() == [[6, 4, 9, 8]] and single["image_id"] == 1
    _, palette = dataset[2]
    assert palette["boxes"].tolist() == [[1, 2, 4, 12], [9, 5, 14, 16]]


def test_a_flip_moves_boxes_and_masks_with_the_image(fake_tree):
    plain = PennFudan(fake_tree)
    flipped = PennFudan(fake_tree, transforms=v2.RandomHorizontalFlip(p=1.0))
    (image, target), (image_f, target_f) = plain[0], flipped[0]
    assert torch.equal(image_f, image.flip(-1))
    assert torch.equal(target_f["masks"], target["masks"].flip(-1))
    assert torch.equal(target_f["boxes"], _pixel_boxes(target_f["masks"]))  # exact: pixel edges
    assert target_f["boxes"].tolist() == [[12, 2, 15, 12], [2, 5, 7, 16]]


def test_resize_scales_boxes_and_keeps_masks_binary(fake_tree):
    image, target = PennFudan(fake_tree, image_size=(32, 48))[0]
    assert image.shape == (3, 32, 48) and target["masks"].shape == (2, 32, 48)
    assert set(target["masks"].unique().tolist()) <= {0, 1}
    assert torch.allclose(target["boxes"], torch.tensor([[3.0, 4, 12, 24], [27, 10, 42, 32]]))
    assert torch.equal(target["boxes"], _pixel_boxes(target["masks"]))
    assert PennFudan(fake_tree, image_size=8)[0][0].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="image_size"):
        PennFudan(fake_tree, image_size=(0, 8))


def test_instances_cropped_away_are_dropped_with_their_boxes(fake_tree):
    # A centre crop to 8 columns keeps columns 4..11: the first person (columns 1..3) leaves the picture.
    image, target = PennFudan(fake_tree, transforms=v2.CenterCrop((16, 8)))[0]
    assert image.shape == (3, 16, 8)
    assert target["boxes"].tolist() == [[5, 5, 8, 16]]
    assert target["labels"].tolist() == [1] and target["masks"].shape == (1, 16, 8)
    assert target["area"].tolist() == [33.0] and target["iscrowd"].tolist() == [0]


def test_items_of_equal_size_batch_through_a_dataloader(fake_tree):
    loader = torch.utils.data.DataLoader(PennFudan(fake_tree, image_size=24), batch_size=3,
                                         collate_fn=lambda batch: tuple(zip(*batch)))
    images, targets = next(iter(loader))
    assert torch.stack(images).shape == (3, 3, 24, 24)
    assert [len(t["boxes"]) for t in targets] == [2, 1, 2]


def test_split_indices_is_the_books_seeded_split():
    train, test = split_indices(170)
    assert len(train) == 120 and len(test) == 50 and sorted(train + test) == list(range(170))
    torch.manual_seed(1)
    book = torch.randperm(170).tolist()  # what the book does (global seed 1)
    assert train == book[:-50] and test == book[-50:]
    assert split_indices(170) == (train, test)
    with pytest.raises(ValueError, match="n_test"):
        split_indices(10, n_test=10)


# ----------------------------------------------------------------------------------------------------------
# Errors that name the fix
# ----------------------------------------------------------------------------------------------------------

def test_missing_folder_says_where_to_put_it_and_which_script(tmp_path, fake_tree):
    with pytest.raises(DatasetNotFoundError, match="labkit.data verify pennfudan") as info:
        PennFudan(tmp_path / "nowhere")
    assert "PennFudanPed.zip" in str(info.value) and "synthetic twin" in str(info.value)
    with pytest.raises(DatasetNotFoundError, match="one level down"):
        PennFudan(fake_tree.parent)
    with pytest.raises(DatasetNotFoundError, match="CONTAIN PNGImages, PedMasks"):
        PennFudan(fake_tree / "PNGImages")


def test_image_without_mask_is_named(fake_tree):
    (fake_tree / "PedMasks" / "FudanPed00002_mask.png").unlink()
    with pytest.raises(FileNotFoundError, match="FudanPed00002_mask.png"):
        PennFudan(fake_tree)


def test_mask_of_another_size_or_in_colour_is_refused(fake_tree):
    Image.new("L", (10, 16)).save(fake_tree / "PedMasks" / "FudanPed00002_mask.png")
    Image.new("RGB", (16, 16)).save(fake_tree / "PedMasks" / "PennPed00001_mask.png")
    dataset = PennFudan(fake_tree)
    with pytest.raises(ValueError, match="10x16 pixels but its image FudanPed00002.png is 16x16"):
        dataset[1]
    with pytest.raises(ValueError, match="RGB image; a PedMasks file must have one channel"):
        dataset[2]


def test_corrupt_image_is_named(fake_tree):
    (fake_tree / "PNGImages" / "FudanPed00001.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="FudanPed00001.png"):
        PennFudan(fake_tree)[0]


# ----------------------------------------------------------------------------------------------------------
# Checker, chooser, script
# ----------------------------------------------------------------------------------------------------------

def test_verify_counts_people_and_is_strict_about_the_release(fake_tree):
    report = verify_pennfudan(fake_tree, strict=False)
    assert report.ok and report.counts == {"images": 3, "pedestrians": 5}
    assert report.warnings and "170" in report.warnings[0]
    assert "3 images, 5 pedestrians" in str(report) and "OK" in str(report)
    strict = verify_pennfudan(fake_tree)
    assert not strict.ok and "345" in strict.errors[0]


def test_verify_names_broken_files_and_never_raises(fake_tree, tmp_path):
    Image.new("L", (16, 16)).save(fake_tree / "PedMasks" / "FudanPed00002_mask.png")  # nobody in it
    (fake_tree / "PNGImages" / "PennPed00001.png").write_bytes(b"junk")
    write_pair(tmp_path / "elsewhere", "Extra", two_people())
    (tmp_path / "elsewhere" / "PedMasks" / "Extra_mask.png").rename(fake_tree / "PedMasks" / "Extra_mask.png")
    report = verify_pennfudan(fake_tree, strict=False)
    text = str(report)
    assert not report.ok and "PennPed00001.png" in text and "no person" in text and "FudanPed00002" in text
    assert any("Extra_mask.png" in w for w in report.warnings)
    assert not verify_pennfudan(tmp_path / "nowhere").ok


def test_verify_command_checks_a_folder_in_place_without_the_network(fake_tree, capsys):
    parent = fake_tree.parent.parent  # DIR, holding pennfudan/PennFudanPed
    assert main(["verify", "pennfudan", "--root", str(parent), "--lenient"]) == 0
    assert "3 images, 5 pedestrians" in capsys.readouterr().out
    assert main(["verify", "pennfudan", "--root", str(parent)]) == 1  # not the release's counts


def test_fetch_offline_says_what_failed(tmp_path, capsys):
    assert main(["fetch", "pennfudan", "--root", str(tmp_path)]) == 1  # LABKIT_OFFLINE=1 in the tests
    err = capsys.readouterr().err
    assert "offline" in err and "PennFudanPed.zip" in err


def test_twin_command_writes_into_the_subfolder_the_loader_reads(tmp_path, monkeypatch, capsys):
    small = dataclasses.replace(REGISTRY["pennfudan"], fast_twin={"n": 2, "size": 40})
    monkeypatch.setitem(REGISTRY, "pennfudan", small)
    assert main(["twin", "pennfudan", "--out", str(tmp_path / "twin"), "--fast"]) == 0
    assert "2 images" in capsys.readouterr().out
    assert len(PennFudan(tmp_path / "twin" / "PennFudanPed")) == 2
    assert main(["twin", "pennfudan", "--out", str(tmp_path / "twin"), "--fast"]) == 1  # exists: refused
