"""Tests of labkit.data.chest_xray (lecture 3): ImageFolder on tiny trees in the real layout, the checker,
patient splits, the synthetic twin and data_scripts/chest_xray.py."""
import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from labkit.data import DatasetNotFoundError
from labkit.data import chest_xray as cx
from labkit.data.chest_xray import (CLASSES, XrayTensors, chest_xray_data, chest_xray_folder, load_split,
                                    make_radiograph, patient_id, split_by_patient, verify_chest_xray,
                                    write_chest_xray_twin)

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
    with pytest.raises(DatasetNotFoundError, match="chest_xray_data"):
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
    assert report.counts == {"train": (2, 3), "test": (1, 2)} and report.release == "tiny test release"
    assert report.modes == {"L": 7, "RGB": 1}
    assert report.sizes == ((40, 30), (64, 50))  # by area: 1,200 and 3,200 pixels
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
    assert report.ok and report.release == "tiny mooney" and report.counts["val"] == (1, 1)
    assert any("val/" in w for w in report.warnings)


# ----------------------------------------------------------------------------------------------------------
# The synthetic twin
# ----------------------------------------------------------------------------------------------------------

def test_make_radiograph_is_deterministic_and_validates():
    a, kind_a = make_radiograph(np.random.default_rng(5), 1, (64, 80))
    b, kind_b = make_radiograph(np.random.default_rng(5), 1, (64, 80))
    c, _ = make_radiograph(np.random.default_rng(6), 1, (64, 80))
    assert a.shape == (64, 80) and a.dtype == np.uint8 and kind_a == kind_b in ("bacteria", "virus")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="label"):
        make_radiograph(rng, 2)
    with pytest.raises(ValueError, match="does not fit"):
        make_radiograph(rng, 0, kind="virus")
    with pytest.raises(ValueError, match="too small"):
        make_radiograph(rng, 0, (20, 20))


def _region(image: np.ndarray, u: float, v: float, half: float = 0.05) -> float:
    """Mean of a square around (u, v), in image heights from the image centre."""
    h, w = image.shape
    x, y, r = int(w / 2 + u * h), int(h / 2 + v * h), max(1, int(half * h))
    return float(image[y - r:y + r, x - r:x + r].mean())


def test_anatomy_dark_lungs_and_the_heart_on_the_image_right():
    rng = np.random.default_rng(1)
    films = [make_radiograph(rng, 0, (96, 110))[0] for _ in range(30)]
    lungs = np.array([(_region(f, -0.17, -0.05) + _region(f, 0.17, -0.05)) / 2 for f in films])
    spine = np.array([_region(f, 0.0, -0.05, 0.02) for f in films])
    heart_side = np.array([_region(f, 0.09, 0.16) for f in films])
    other_side = np.array([_region(f, -0.09, 0.16) for f in films])
    assert (lungs < spine - 20).all()  # air is dark, bone bright
    assert (heart_side > other_side + 10).mean() > 0.9  # patient's left = image right in a PA film


def test_pneumonia_brightens_the_lung_fields():
    rng = np.random.default_rng(2)

    def lung_brightness(label):
        values = []
        for _ in range(40):
            film = make_radiograph(rng, label, (96, 110))[0].astype(float)
            values.append(np.mean([_region(film, s * 0.17, v, 0.06) for s in (-1, 1) for v in (-0.1, 0.05)]))
        return np.array(values)

    normal, pneumonia = lung_brightness(0), lung_brightness(1)
    assert pneumonia.mean() > normal.mean() + 5
    assert (pneumonia < np.percentile(normal, 75)).mean() > 0.1  # some cases stay subtle: the twin is not trivial


def test_twin_is_written_in_the_real_layout_and_is_deterministic(tmp_path):
    counts = {"train": (3, 5), "test": (2, 2)}
    root = write_chest_xray_twin(tmp_path / "a" / "chest_xray", counts, height=40, seed=3)
    report = verify_chest_xray(root, strict=False)
    assert report.ok and report.counts == counts and report.modes == {"L": 12}
    (w0, h0), (w1, h1) = report.sizes
    assert h0 >= 40 and (w0, h0) != (w1, h1)  # sizes vary, never below the requested height
    names = sorted(p.name for p in (root / "train/PNEUMONIA").iterdir())
    assert all(cx._PATIENT_PATTERNS[0].fullmatch(Path(n).stem) for n in names)
    assert all(n.startswith(("BACTERIA-", "VIRUS-")) for n in names)
    assert len({patient_id(p) for p in root.rglob("*.jpeg")}) == 12  # one film per synthetic patient
    other = write_chest_xray_twin(tmp_path / "b" / "chest_xray", counts, height=40, seed=3)
    for path in root.rglob("*.jpeg"):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(other / path.relative_to(root))))
    images, labels, _ = load_split(root, "train", 32)  # the real code path reads it
    assert images.shape == (8, 1, 32, 32) and labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]


def test_twin_refuses_to_overwrite_unless_asked(tmp_path):
    root = write_chest_xray_twin(tmp_path / "t", {"train": (1, 1), "test": (1, 1)}, height=36)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_chest_xray_twin(root, {"train": (1, 1), "test": (1, 1)}, height=36)
    write_chest_xray_twin(root, {"train": (2, 1), "test": (1, 1)}, height=36, overwrite=True)
    assert verify_chest_xray(root, strict=False).counts["train"] == (2, 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_chest_xray_data_prefers_real_data_else_writes_then_reuses_the_twin(fake_tree, tmp_path, capsys):
    assert chest_xray_data(fake_tree) == (fake_tree, True)
    assert "REAL" in capsys.readouterr().out
    twin = tmp_path / "twin" / "chest_xray"
    options = dict(counts={"train": (1, 2), "test": (1, 1)}, height=36)
    assert chest_xray_data(tmp_path / "none", twin_root=twin, **options) == (twin, False)
    assert "written to" in capsys.readouterr().out
    stamp = (twin / "train").stat().st_mtime_ns
    assert chest_xray_data(tmp_path / "none", twin_root=twin, **options) == (twin, False)
    assert "reused from" in capsys.readouterr().out and (twin / "train").stat().st_mtime_ns == stamp


# ----------------------------------------------------------------------------------------------------------
# data_scripts/chest_xray.py
# ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("chest_xray_script", ROOT / "data_scripts" / "chest_xray.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_checks_a_folder_and_exits_with_its_status(script, fake_tree, tiny_release, tmp_path, capsys):
    assert script.main(["--root", str(fake_tree)]) == 0
    assert "OK" in capsys.readouterr().out
    assert script.main(["--root", str(tmp_path / "nowhere")]) == 1


def test_script_without_any_source_prints_the_manual_steps(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(script, "kaggle_ready", lambda: False)
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    assert script.main(["--download", "--root", str(tmp_path / "chest_xray")]) == 1
    err = capsys.readouterr().err
    assert "offline" in err and script.KAGGLE_PAGE in err and script.MENDELEY_PAGE in err


def test_script_uses_the_kaggle_client_and_moves_the_folder_into_place(script, tmp_path, monkeypatch, tiny_release):
    calls = []

    def fake_kaggle(command, check):  # what `kaggle datasets download ... --unzip` leaves behind
        calls.append(command)
        target = Path(command[command.index("-p") + 1]) / "chest_xray"
        for split, n in (("train", (2, 3)), ("test", (1, 2))):
            for name, count in zip(CLASSES, n):
                for i in range(count):
                    save_grey(target / split / name / f"{name}-{i}-0001.jpeg", 100)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(script, "kaggle_ready", lambda: True)
    monkeypatch.setattr(script.subprocess, "run", fake_kaggle)
    root = tmp_path / "data" / "chest_xray"
    assert script.main(["--download", "--root", str(root)]) == 0
    assert calls and calls[0][:5] == ["kaggle", "datasets", "download", "-d", script.KAGGLE_DATASET]
    assert (root / "train/PNEUMONIA").is_dir() and not (tmp_path / "data" / ".chest-xray-download").exists()


def test_script_writes_a_fast_twin(script, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(script, "FAST_TWIN_COUNTS", {"train": (1, 2), "test": (1, 1)})
    assert script.main(["--make-twin", str(tmp_path / "twin"), "--fast", "--height", "36"]) == 0
    assert "synthetic chest X-rays written" in capsys.readouterr().out
    assert script.main(["--make-twin", str(tmp_path / "twin"), "--fast"]) == 1  # exists: refused


def test_script_downloads_from_mendeley_and_unpacks_safely(script, tmp_path, monkeypatch, tiny_release):
    import shutil
    import zipfile

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

    def fake_download(url, dest, *args, **kwargs):
        assert url == script.MENDELEY_URL
        shutil.copy(archive, dest)
        return Path(dest)

    monkeypatch.setattr(script, "kaggle_ready", lambda: False)
    monkeypatch.setattr(script.labkit, "is_online", lambda: True)
    monkeypatch.setattr(script, "download", fake_download)
    root = tmp_path / "data" / "chest_xray"
    assert script.main(["--download", "--root", str(root)]) == 0
    assert len(list(root.rglob("*.jpeg"))) == 8
    assert not (root.parent / "ChestXRay2017.zip").exists() and not (root.parent / ".chest-xray-download").exists()


def test_script_reports_a_web_page_instead_of_the_archive(script, tmp_path, monkeypatch, capsys):
    def fake_download(url, dest, *args, **kwargs):
        Path(dest).write_text("<html>please log in</html>")
        return Path(dest)

    monkeypatch.setattr(script, "kaggle_ready", lambda: False)
    monkeypatch.setattr(script.labkit, "is_online", lambda: True)
    monkeypatch.setattr(script, "download", fake_download)
    root = tmp_path / "data" / "chest_xray"
    assert script.main(["--download", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "not a zip archive" in err and "by hand" in err
    assert not (root.parent / "ChestXRay2017.zip").exists()
