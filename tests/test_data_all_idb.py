"""Tests of labkit.data.all_idb (lecture 2): loaders and checks on tiny trees in ALL-IDB's real layout."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labkit.data import (ALLIDB1, ALLIDB2, DatasetNotFoundError, ImageReadError, label_from_name, parse_xyc,
                         verify_all_idb, write_all_idb_twin)

COLOURS = {"Im001_1": (200, 30, 90), "Im002_0": (10, 120, 250), "Im003_0": (77, 77, 77)}


def save(path: Path, colour=(120, 60, 160), size=(20, 16), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)
    return path


@pytest.fixture
def hand_tree(tmp_path) -> Path:
    """Three crops (one upper-case name, written out of order) and two slides, one without annotation."""
    root = tmp_path / "all-idb"
    save(root / "ALL_IDB2/img/Im003_0.TIF", COLOURS["Im003_0"])
    save(root / "ALL_IDB2/img/Im001_1.tif", COLOURS["Im001_1"])
    save(root / "ALL_IDB2/img/Im002_0.tif", COLOURS["Im002_0"])
    save(root / "ALL_IDB1/im/Im001_1.jpg", size=(64, 48))
    save(root / "ALL_IDB1/im/Im002_0.jpg", size=(64, 48))
    (root / "ALL_IDB1/xyc").mkdir(parents=True)
    (root / "ALL_IDB1/xyc/Im001_1.xyc").write_text("12 30\n40\t7\n\n")
    return root


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    return write_all_idb_twin(tmp_path_factory.mktemp("data") / "all-idb", n_patches=6, n_slides=4,
                              patch_size=32, slide_size=(90, 120), seed=0)


def test_label_from_name_agrees_with_the_lecture_slicing():
    for name in ("Im001_1.tif", "Im260_0.tif", "Im042_1.jpg", "im007_0.JPG"):
        assert label_from_name(name) == int(name[6:7])
    assert label_from_name("/some/folder/Im131_0.tif") == 0


@pytest.mark.parametrize("name", ["Im01_1.tif", "Im001_2.tif", "Im001_1.png", "Copy of Im001_1.tif", "Im001_1.tif.bak"])
def test_label_from_name_rejects_other_names(name):
    with pytest.raises(ValueError, match="not an ALL-IDB file name"):
        label_from_name(name)


def test_allidb2_reads_sorted_files_labels_and_pixels(hand_tree):
    data = ALLIDB2(hand_tree)
    assert [p.name for p in data.files] == ["Im001_1.tif", "Im002_0.tif", "Im003_0.TIF"]
    assert data.labels == [1, 0, 0] and len(data) == 3
    for index, stem in enumerate(["Im001_1", "Im002_0", "Im003_0"]):
        image, label = data[index]
        assert label == data.labels[index]
        assert image.shape == (3, 16, 20) and image.dtype == torch.float32
        expected = torch.tensor(COLOURS[stem], dtype=torch.float32) / 255
        torch.testing.assert_close(image[:, 5, 5], expected)


def test_allidb2_transform_gets_an_rgb_pil_image(tmp_path):
    save(tmp_path / "ALL_IDB2/img/Im001_1.tif", mode="L")  # grey and palette files exist in the wild
    save(tmp_path / "ALL_IDB2/img/Im002_0.tif", mode="RGBA")
    modes = []
    data = ALLIDB2(tmp_path, transform=lambda image: modes.append(image.mode) or image.size)
    assert [data[i][0] for i in range(2)] == [(20, 16), (20, 16)]
    assert modes == ["RGB", "RGB"]
    assert ALLIDB2(tmp_path)[0][0].shape == (3, 16, 20)


def test_allidb1_returns_uint8_image_label_and_centroids(hand_tree):
    data = ALLIDB1(hand_tree)
    image, label, centroids = data[0]
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8 and label == 1
    np.testing.assert_array_equal(centroids, np.array([[12, 30], [40, 7]], dtype=np.float32))
    assert centroids.dtype == np.float32
    _, label, centroids = data[1]  # no .xyc file: empty, and has_annotation tells why
    assert label == 0 and centroids.shape == (0, 2)
    assert data.has_annotation == [True, False]


def test_allidb1_accepts_img_folder_and_missing_xyc_folder(tmp_path):
    save(tmp_path / "ALL_IDB1/img/Im005_1.jpg")
    data = ALLIDB1(tmp_path)
    assert data.folder.name == "img" and data.labels == [1]
    assert data[0][2].shape == (0, 2) and data.has_annotation == [False]


def test_system_files_are_skipped_but_stray_files_raise(hand_tree):
    folder = hand_tree / "ALL_IDB2/img"
    (folder / "Thumbs.db").write_bytes(b"\0" * 10)
    (folder / ".DS_Store").write_bytes(b"\0" * 10)
    (folder / "._Im001_1.tif").write_bytes(b"\0" * 10)  # macOS resource fork
    assert len(ALLIDB2(hand_tree)) == 3
    save(folder / "Im004.tif")
    with pytest.raises(ValueError, match=r"Im004\.tif"):
        ALLIDB2(hand_tree)


def test_duplicate_numbers_raise(hand_tree):
    save(hand_tree / "ALL_IDB2/img/Im002_1.tif")
    with pytest.raises(ValueError, match="Im002_0.tif.*Im002_1.tif|same number"):
        ALLIDB2(hand_tree)


def test_corrupt_or_truncated_image_raises_naming_the_file(hand_tree):
    (hand_tree / "ALL_IDB2/img/Im002_0.tif").write_bytes(b"this is not a TIFF at all" * 10)
    data = ALLIDB2(hand_tree)
    assert data[0][1] == 1  # the other files still read
    with pytest.raises(ImageReadError, match=r"Im002_0\.tif.*Copy it again"):
        data[1]
    slide = hand_tree / "ALL_IDB1/im/Im001_1.jpg"
    save(slide, size=(300, 200))
    slide.write_bytes(slide.read_bytes()[:400])  # a download cut short
    with pytest.raises(ImageReadError, match=r"Im001_1\.jpg"):
        ALLIDB1(hand_tree)[0]


def test_missing_folder_raises_dataset_not_found_with_instructions(tmp_path):
    for loader in (ALLIDB2, ALLIDB1):
        with pytest.raises(DatasetNotFoundError) as caught:
            loader(tmp_path / "nowhere")
        message = str(caught.value)
        assert "scotti.di.unimi.it" in message and "ALL_IDB2" in message
        assert f"python -m labkit.data verify all-idb --folder {tmp_path / 'nowhere'}" in message
        assert isinstance(caught.value, FileNotFoundError)
    (tmp_path / "ALL_IDB2/img").mkdir(parents=True)  # an empty folder is not a dataset either
    with pytest.raises(DatasetNotFoundError):
        ALLIDB2(tmp_path)


def test_root_pointing_into_the_dataset_gets_a_hint(hand_tree):
    with pytest.raises(DatasetNotFoundError, match=f"did you mean {hand_tree}"):
        ALLIDB2(hand_tree / "ALL_IDB2")


def test_parse_xyc_rejects_malformed_files(tmp_path):
    path = tmp_path / "Im001_1.xyc"
    path.write_text("10 20\n30\n")
    with pytest.raises(ValueError, match=r"Im001_1\.xyc.*odd number"):
        parse_xyc(path)
    path.write_text("10 twenty\n")
    with pytest.raises(ValueError, match=r"Im001_1\.xyc"):
        parse_xyc(path)
    path.write_text("")
    assert parse_xyc(path).shape == (0, 2)


def test_loaders_read_the_synthetic_twin(twin):
    patches, slides = ALLIDB2(twin), ALLIDB1(twin)
    assert len(patches) == 6 and patches.labels == [1, 1, 1, 0, 0, 0]
    assert [label_from_name(p.name) for p in patches.files] == patches.labels
    assert patches[0][0].shape == (3, 32, 32)
    assert len(slides) == 4 and all(slides.has_annotation)
    for index in range(len(slides)):
        image, label, centroids = slides[index]
        assert image.shape == (90, 120, 3)
        assert (len(centroids) > 0) == (label == 1)  # blast centroids exactly on patients' slides
        assert np.all((centroids >= 0) & (centroids < (120, 90)))


def test_verify_reports_wrong_counts_strictly_or_leniently(twin):
    strict = verify_all_idb(twin)
    assert not strict.ok
    assert any("ALL-IDB2: 6 images" in e and "expected 260" in e for e in strict.errors)
    assert any("ALL-IDB1: 4 images" in e and "expected 108" in e for e in strict.errors)
    lenient = verify_all_idb(twin, strict=False)
    assert lenient.ok and lenient.counts == {"ALL-IDB2": 6, "ALL-IDB1": 4}
    assert lenient.details["labels"]["ALL-IDB2"] == {1: 3, 0: 3}
    assert any("not 257x257" in w for w in lenient.warnings)  # 32-pixel patches
    assert "OK" in str(lenient)


def test_verify_reports_bad_names_unreadable_files_and_annotations(hand_tree):
    (hand_tree / "ALL_IDB2/img/Im002_0.tif").write_bytes(b"garbage")
    save(hand_tree / "ALL_IDB2/img/Im4_1.tif")
    (hand_tree / "ALL_IDB1/xyc/Im002_0.xyc").write_text("1 2 3\n")
    report = verify_all_idb(hand_tree, strict=False)
    assert not report.ok
    text = "\n".join(report.errors)
    assert "Im4_1.tif" in text and "Im002_0.tif" in text and "Im002_0.xyc" in text
    assert "ERROR" in str(report)


def test_verify_warns_about_missing_annotations_and_disagreeing_labels(hand_tree):
    (hand_tree / "ALL_IDB1/xyc/Im001_1.xyc").write_text("")  # a patient's slide without any blast
    report = verify_all_idb(hand_tree, strict=False)
    assert report.ok
    warnings = "\n".join(report.warnings)
    assert "Im002_0.xyc" in warnings  # no annotation file
    assert "labelled 1 but with no blast" in warnings and "Im001_1" in warnings


def test_verify_missing_root_is_an_error_not_an_exception(tmp_path):
    report = verify_all_idb(tmp_path / "nowhere")
    assert not report.ok and "python -m labkit.data verify all-idb" in report.errors[0]


def test_command_line_exit_status_follows_the_report(twin, tmp_path, capsys):
    from labkit.data.__main__ import main

    assert main(["verify", "all-idb", "--folder", str(twin)]) == 1  # 6 and 4 images, not 260 and 108
    assert "expected 260" in capsys.readouterr().out
    assert main(["verify", "all-idb", "--folder", str(twin), "--lenient"]) == 0
    assert main(["verify", "all-idb", "--root", str(tmp_path / "nowhere")]) == 1
    out = capsys.readouterr().out
    assert "scotti.di.unimi.it" in out and str(tmp_path / "nowhere" / "all-idb") in out
