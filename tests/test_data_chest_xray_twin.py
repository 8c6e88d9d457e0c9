"""Tests of labkit.data.chest_xray_twin (lecture 3): synthetic films in the real layout and naming."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labkit.data import chest_xray as cx
from labkit.data.chest_xray import load_split, patient_id, verify_chest_xray
from labkit.data.chest_xray_twin import make_radiograph, write_chest_xray_twin


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
    assert report.ok and report.counts == counts and report.details["modes"] == {"L": 12}
    (w0, h0), (w1, h1) = report.details["sizes"]
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
