"""Tests of labkit/data/common.py: what every loader, verifier and twin of the course shares."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from labkit.data.common import (ImageReadError, Report, blob_noise, not_found, open_image, scan_images,
                                smooth_noise, some_names)


def test_open_image_converts_and_keeps_the_stored_size_under_draft(tmp_path):
    path = tmp_path / "film.jpg"
    Image.fromarray(np.full((400, 300, 3), 120, np.uint8)).save(path)
    grey = open_image(path, "L", fix="-", draft=(50, 50))
    assert grey.mode == "L" and grey.info["stored_size"] == (300, 400)
    assert min(grey.size) >= 50 and grey.size[0] < 300  # decoded at a reduced scale
    assert open_image(path, None, fix="-").mode == "RGB"


def test_open_image_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageReadError, match=r"broken\.png.*damaged.*Extract it again\.") as caught:
        open_image(path, fix="Extract it again.")
    assert isinstance(caught.value, OSError)


def test_report_prints_summary_errors_warnings_and_verdict(tmp_path):
    report = Report("things", tmp_path, summary=["3 things"], warnings=["odd"])
    assert report.ok and str(report).splitlines() == [f"things in {tmp_path}", "  3 things", "  warning: odd",
                                                     "  OK: the lecture's loaders will read this folder."]
    report.errors.append("missing")
    assert not report.ok and str(report).endswith("1 error(s): fix them and run the check again.")
    assert some_names(list("abcdefg"), 3) == "a, b, c and 4 more"


def test_not_found_hints_at_the_folder_meant(tmp_path):
    (tmp_path / "chest-xray" / "chest_xray" / "train").mkdir(parents=True)
    up = not_found("chest-xray", tmp_path / "chest-xray" / "chest_xray" / "train" / "NORMAL", "x",
                   contains=("train", "test"))
    assert "did you mean" in str(up) and str(tmp_path / "chest-xray" / "chest_xray") in str(up)
    down = not_found("chest-xray", tmp_path / "chest-xray", "x", contains=("train", "test"))
    assert f"one level down: use {tmp_path / 'chest-xray' / 'chest_xray'}" in str(down)
    assert "labkit.data.get('chest-xray')" in str(down) and isinstance(down, FileNotFoundError)


def test_scan_images_records_sizes_modes_and_unreadable_files(tmp_path):
    Image.new("L", (4, 3)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 2)).save(tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"junk")
    scan = scan_images(sorted(tmp_path.iterdir()), decode=True)
    assert scan.mode_counts() == {"L": 1, "RGB": 1} and scan.size_range() == ((4, 3), (8, 2))
    assert len(scan.unreadable) == 1 and scan.unreadable[0].startswith("c.png")
    assert "sizes from 4x3 to 8x2 (W x H)" in scan.summary()


def test_twin_noises_are_seeded_textures():
    a = smooth_noise(np.random.default_rng(0), (64, 64), 3.0)
    assert a.dtype == np.float32 and abs(float(a.std()) - 1) < 1e-4
    assert np.array_equal(a, smooth_noise(np.random.default_rng(0), (64, 64), 3.0))
    # Blurred noise is smooth: neighbours correlate strongly, unlike white noise.
    assert np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1] > 0.8
    b = blob_noise(np.random.default_rng(0), (30, 40), 10)
    assert b.shape == (30, 40) and b.dtype == np.float32
    assert np.corrcoef(b[:, :-1].ravel(), b[:, 1:].ravel())[0, 1] > 0.9
