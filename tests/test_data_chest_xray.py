"""Tests of labkit.data.chest_xray (lecture 3): ImageFolder on tiny trees in the real layout, the checker,
patient splits, fetching the release and the verify command."""
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from labkit.data import DatasetNotFoundError, access, get_dataset
from labkit.data import chest_xray as cx
from labkit.data.__main__ import main
from labkit.data.chest_xray import (CLASSES, XrayTensors, chest_xray_folder, load_split, patient_id,
                                    split_by_patient, verify_chest_xray)

ROOT = Path(__file__).resolve().parents[1]


def save_grey(path: Path, value: int, size=(40, 30), mode="L") -> Path:
    """A uniform JPEG of grey level ``value`` and PIL size (W, H), stored as ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).convert(mode).save(path, quality=95)
    return path


@pytest.fixture
def fake_tree(tmp_path) -> Path:
    """train: 2 normal + 3 pneumonia, test: 1 + 2, grey JPEGs of different sizes, one stored as RGB."""
    root = tmp_path / "chest_xray"
    save_grey(root / "train/NORMAL/NORMAL-1001-0001.jpeg", 40, (40, 30))
    save_grey(root / "train/NORMAL/NORMAL-1002-0001.jpeg", 60, (33, 47))
    save_grey(root / "train/PNEUMONIA/BACTERIA-2001-0001.jpeg", 180, (64, 50))
    save_grey(root / "train/PNEUMONIA/BACTERIA-2001-0002.jpeg", 200, (50, 64))
    save_grey(root / "train/PNEUMONIA/VIRUS-2002-0001.jpeg", 220, (41, 41), mode="RGB")
    save_grey(root / "test/NORMAL/NORMAL-3001-0001.jpeg", 80)
    save_grey(root / "test/PNEUMONIA/VIRUS-3002-0001.jpeg", 160)
    save_grey(root / "test/PNEUMONIA/BACTERIA-3003-0001.jpeg", 170)
    (root / "train/NORMAL/.DS_Store").write_bytes(b"\0" * 8)
    return root


@pytest.fixture
def tiny_release(monkeypatch):
    """Make the fake tree's counts a known release, so strict checks can pass."""
    monkeypatch.setitem(cx.RELEASES, "tiny test release", {"train": (2, 3), "test": (1, 2)})


# ----------------------------------------------------------------------------------------------------------
# ImageFolder and the one-channel pipeline
# ----------------------------------------------------------------------------------------------------------

def test_imagefolder_reads_classes_from_folders_as_grey_images(fake_tree):
    data = chest_xray_folder(fake_tree, "train")
    assert data.classes == list(CLASSES) and data.class_to_idx == {"NORMAL": 0, "PNEUMONIA": 1}
    assert data.targets == [0, 0, 1, 1, 1]  # .DS_Store is skipped
    images = [data[i][0] for i in range(len(data))]
    assert all(image.mode == "L" for image in images)  # the RGB file too
    assert [image.size for image in images] == [(40, 30), (33, 47), (64, 50), (50, 64), (41, 41)]


def test_load_split_gives_uint8_one_channel_tensors_with_the_pixel_values(fake_tree):
    images, labels, paths = load_split(fake_tree, "train", 24)
    assert images.shape == (5, 1, 24, 24) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 1, 1, 1] and labels.dtype == torch.int64
    assert [Path(p).name for p in paths][0] == "NORMAL-1001-0001.jpeg"
    means = images.float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(means, torch.tensor([40.0, 60, 180, 200, 220]), atol=2.0, rtol=0)


def test_three_channels_repeat_the_grey_channel(fake_tree):
    images, _, _ = load_split(fake_tree, "test", 16, channels=3)
    assert images.shape == (3, 3, 16, 16)
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    with pytest.raises(ValueError, match="channels"):
        cx.preprocess(16, channels=2)


def test_rgb_file_becomes_its_luma(tmp_path):
    root = tmp_path / "chest_xray"
    colour = (200, 40, 90)
    for split in ("train", "test"):
        for name in CLASSES:
            path = root / split / name / f"{name}-1-0001.png"  # lossless, so the luma is exact
            path.parent.mkdir(parents=True)
            Image.new("RGB", (8, 8), colour).save(path)
    image = chest_xray_folder(root, "train")[0][0]
    r, g, b = colour
    assert np.asarray(image)[0, 0] == round((299 * r + 587 * g + 114 * b) / 1000)  # ITU-R 601, as PIL


def test_load_split_with_worker_processes(fake_tree):
    images, labels, _ = load_split(fake_tree, "test", 16, num_workers=2)
    assert images.shape == (3, 1, 16, 16) and labels.tolist() == [0, 1, 1]


def test_resize_keeps_the_aspect_ratio_then_crops_the_centre():
    # A wide film: left third black, middle white, right third black. Resize(8) + CenterCrop(8) keeps the middle.
    film = np.zeros((30, 90), np.uint8)
    film[:, 30:60] = 255
    out = cx.preprocess(8)(Image.fromarray(film, "L"))
    assert out.shape == (1, 8, 8) and out.min() > 200  # no black column left: the sides were cut


def test_missing_split_and_wrong_root_say_what_to_do(fake_tree):
    with pytest.raises(DatasetNotFoundError, match="did you mean"):
        chest_xray_folder(fake_tree / "train", "train")
    with pytest.raises(DatasetNotFoundError, match="one level down"):
        chest_xray_folder(fake_tree.parent, "train")
    with pytest.raises(DatasetNotFoundError, match=r"labkit\.data\.get\(.chest-xray.\)"):
        chest_xray_folder(fake_tree, "val")


def test_an_extra_class_folder_is_refused(fake_tree):
    save_grey(fake_tree / "train/COVID/x.jpeg", 10)
    with pytest.raises(ValueError, match="COVID"):
        chest_xray_folder(fake_tree, "train")


def test_xray_tensors_augments_then_normalises():
    images = torch.full((2, 1, 4, 4), 128, dtype=torch.uint8)
    data = XrayTensors(images, torch.tensor([0, 1]), transform=lambda x: x // 2, mean=0.25, std=0.5)
    x, y = data[1]
    torch.testing.assert_close(x, torch.full((1, 4, 4), (64 / 255 - 0.25) / 0.5))
    assert y.item() == 1 and len(data) == 2
    three = XrayTensors(images.expand(2, 3, 4, 4).contiguous(), torch.tensor([0, 1]), mean=(0.1, 0.2, 0.3), std=1.0)
    torch.testing.assert_close(three[0][0][:, 0, 0], torch.tensor([128 / 255 - 0.1, 128 / 255 - 0.2, 128 / 255 - 0.3]))
    # v2 augmentations accept the uint8 (1, H, W) films
    rotated = XrayTensors(images, torch.tensor([0, 1]), transform=v2.RandomRotation(10))[0][0]
    assert rotated.shape == (1, 4, 4)
    with pytest.raises(ValueError, match="uint8"):
        XrayTensors(images.float(), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="one per channel"):
        XrayTensors(images, torch.tensor([0, 1]), mean=(0.1, 0.2))


# ----------------------------------------------------------------------------------------------------------
# Patients
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, patient", [
    ("NORMAL-1003233-0001.jpeg", "1003233"), ("BACTERIA-1003233-0002.jpeg", "1003233"),
    ("/data/test/PNEUMONIA/VIRUS-614452-0001.jpeg", "614452"), ("person1_virus_6.jpeg", "person1"),
    ("person1_bacteria_1.jpeg", "person1"), ("IM-0115-0001.jpeg", "IM-0115"),
    ("NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-1427"), ("odd name.jpeg", "odd name"),
])
def test_patient_id_reads_both_releases(name, patient):
    assert patient_id(name) == patient


def test_split_by_patient_keeps_patients_together_and_classes_in_both_parts():
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for patient in range(60):
        label = int(patient % 4 != 0)  # 1:3, as the real data
        for film in range(1 + int(rng.integers(0, 3))):
            paths.append(f"{'BACTERIA' if label else 'NORMAL'}-{patient}-{film:04d}.jpeg")
            labels.append(label)
    train, val = split_by_patient(paths, labels, val_fraction=0.2, seed=0)
    assert len(set(train) | set(val)) == len(paths) and not set(train) & set(val)
    assert {patient_id(paths[i]) for i in train}.isdisjoint({patient_id(paths[i]) for i in val})
    assert 0.1 < len(val) / len(paths) < 0.3
    assert set(np.asarray(labels)[val]) == {0, 1}
    again, _ = split_by_patient(paths, labels, val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(train, again)
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_patient(paths, labels, val_fraction=0.7)


# ----------------------------------------------------------------------------------------------------------
# verify_chest_xray
# ----------------------------------------------------------------------------------------------------------

def test_verify_accepts_a_complete_tree(fake_tree, tiny_release):
    report = verify_chest_xray(fake_tree)
    assert report.ok, str(report)
    assert report.counts == {"train": (2, 3), "test": (1, 2)} and report.details["release"] == "tiny test release"
    assert report.details["modes"] == {"L": 7, "RGB": 1}
    assert report.details["sizes"] == ((40, 30), (64, 50))  # by area: 1,200 and 3,200 pixels
    text = str(report)
    assert "NORMAL     2" in text and "OK" in text


def test_verify_flags_wrong_counts_strictly_or_leniently(fake_tree, tiny_release):
    (fake_tree / "test/PNEUMONIA/VIRUS-3002-0001.jpeg").unlink()
    strict, lenient = verify_chest_xray(fake_tree), verify_chest_xray(fake_tree, strict=False)
    assert not strict.ok and any("match no known release" in e for e in strict.errors)
    assert lenient.ok and any("synthetic twin" in w for w in lenient.warnings)


def test_verify_names_layout_problems(fake_tree, tiny_release, tmp_path):
    save_grey(fake_tree / "train/COVID/a.jpeg", 10)
    (fake_tree / "test/NORMAL/notes.txt").write_text("hi")
    (fake_tree / "train/PNEUMONIA/BACTERIA-2001-0001.jpeg").write_bytes(b"not a jpeg at all")
    report = verify_chest_xray(fake_tree)
    errors, warnings = " | ".join(report.errors), " | ".join(report.warnings)
    assert "COVID" in errors and "BACTERIA-2001-0001.jpeg" in errors
    assert "notes.txt" in warnings
    missing = tmp_path / "only_train"
    save_grey(missing / "train/NORMAL/a.jpeg", 1)
    report = verify_chest_xray(missing)
    assert any("no test/" in e for e in report.errors) and any("no train/PNEUMONIA" in e for e in report.errors)


def test_verify_points_one_level_down_and_never_raises(fake_tree, tmp_path):
    report = verify_chest_xray(fake_tree.parent)
    assert any("one level down" in e for e in report.errors)
    assert not verify_chest_xray(tmp_path / "nowhere").ok


def test_verify_accepts_the_mooney_layout_with_val(fake_tree, monkeypatch):
    monkeypatch.setitem(cx.RELEASES, "tiny mooney", {"train": (2, 3), "val": (1, 1), "test": (1, 2)})
    save_grey(fake_tree / "val/NORMAL/IM-0001-0001.jpeg", 5)
    save_grey(fake_tree / "val/PNEUMONIA/person1_virus_1.jpeg", 5)
    report = verify_chest_xray(fake_tree)
    assert report.ok and report.details["release"] == "tiny mooney" and report.counts["val"] == (1, 1)
    assert any("val/" in w for w in report.warnings)


# ----------------------------------------------------------------------------------------------------------
# Fetching the release (the generic labkit.data.fetch on the chest-xray registry entry)
# ----------------------------------------------------------------------------------------------------------

def _fake_download(archive: Path):
    def download(url, dest, *args, **kwargs):
        assert url == get_dataset("chest-xray").files[0].url
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(archive, dest)
        return Path(dest)
    return download


def test_fetch_unpacks_the_mendeley_zip_into_the_layout_the_loader_reads(tmp_path, monkeypatch, tiny_release,
                                                                         capsys):
    source = tmp_path / "made" / "chest_xray"
    for split, n in (("train", (2, 3)), ("test", (1, 2))):
        for name, count in zip(CLASSES, n):
            for i in range(count):
                save_grey(source / split / name / f"{name}-{i}-0001.jpeg", 90)
    archive = tmp_path / "ChestXRay2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*.jpeg")):
            zf.write(path, path.relative_to(source.parent).as_posix())
        zf.writestr("__MACOSX/chest_xray/._junk", b"\0")  # as archives made on a Mac carry
    monkeypatch.setattr(access, "is_online", lambda: True)
    monkeypatch.setattr(access, "download", _fake_download(archive))
    assert main(["fetch", "chest-xray", "--root", str(tmp_path / "data")]) == 0
    root = tmp_path / "data" / "chest-xray" / "chest_xray"
    assert len(list(root.rglob("*.jpeg"))) == 8 and "counts match: tiny test release" in capsys.readouterr().out
    assert not (root.parent / "ChestXRay2017.zip").exists()
    assert len(chest_xray_folder(root, "test")) == 3


def test_fetch_reports_a_web_page_instead_of_the_archive_and_deletes_it(tmp_path, monkeypatch, capsys):
    page = tmp_path / "page.zip"
    page.write_text("<html>please log in</html>")
    monkeypatch.setattr(access, "is_online", lambda: True)
    monkeypatch.setattr(access, "download", _fake_download(page))
    assert main(["fetch", "chest-xray", "--root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "not a valid archive" in err and "kaggle" in err.lower()
    assert not (tmp_path / "data" / "chest-xray" / "ChestXRay2017.zip").exists()


def test_verify_command_checks_a_folder_and_exits_with_its_status(fake_tree, tiny_release, tmp_path, capsys):
    assert main(["verify", "chest-xray", "--folder", str(fake_tree)]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["verify", "chest-xray", "--folder", str(tmp_path / "nowhere")]) == 1
