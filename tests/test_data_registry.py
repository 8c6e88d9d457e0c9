"""Tests of labkit/data/registry.py: every dataset declared once, documented, and complete."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from torch.utils.data import Dataset

from labkit.data import REGISTRY, get_dataset, write_twin


def test_course_datasets_are_registered_under_their_names():
    assert set(REGISTRY) >= {"all-idb", "chest-xray", "oxford-pets", "pennfudan", "yolo"}
    assert all(key == info.name for key, info in REGISTRY.items())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_is_documented(name):
    info = REGISTRY[name]
    assert info.title and info.licence and info.citation
    assert info.homepage.startswith("https://")
    assert info.layout and all(not path.startswith("/") and ".." not in path for path in info.layout)
    text = info.how_to_get(Path("/data") / name)
    assert "/data/" + name in text and "{" not in text  # the template was filled in
    for remote in info.files:
        assert remote.url.startswith("https://") and remote.filename and "/" not in remote.filename
        assert remote.filename.endswith((".zip", ".tar", ".tar.gz", ".tgz"))
        assert any(path == remote.provides or path.startswith(remote.provides + "/") for path in info.layout)
        if remote.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
        if remote.md5 is not None:
            assert re.fullmatch(r"[0-9a-f]{32}", remote.md5)


def test_manual_datasets_say_where_they_come_from():
    all_idb, chest = get_dataset("all-idb"), get_dataset("chest-xray")
    assert all_idb.manual and not chest.manual
    assert "https://scotti.di.unimi.it/all/" in all_idb.how_to_get(Path("/d"))
    assert "/d/ALL_IDB1/" in all_idb.how_to_get(Path("/d"))
    assert "kaggle datasets download -d tolgadincer/labeled-chest-xray-images" in chest.how_to_get(Path("/d"))
    assert "chest_xray/train/NORMAL" in chest.layout and chest.data_folder("/d") == Path("/d/chest-xray/chest_xray")


def test_published_checksums_only():
    pets = get_dataset("oxford-pets")
    assert {r.filename: r.md5 for r in pets.files} == {
        "images.tar.gz": "5c4f3ee8e5d25df40f4fd59a7f44e54c",
        "annotations.tar.gz": "95a8c909bbe2e81eed6a22bccdf3f68f",
    }
    assert pets.licence == "CC BY-SA 4.0"
    # Their authors publish no checksum, so none may be made up here.
    for name in ("pennfudan", "chest-xray"):
        assert all(r.sha256 is None and r.md5 is None for r in get_dataset(name).files)


def test_get_dataset_forgives_case_and_underscores_and_lists_names_otherwise():
    assert get_dataset(" Oxford_Pets ") is REGISTRY["oxford-pets"]
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*all-idb.*python -m labkit.data list"):
        get_dataset("imagenet")


def test_layout_alternatives_are_any_of():
    yolo = get_dataset("yolo")
    assert yolo.missing(Path("/nowhere")) == ["images|train/images", "labels|train/labels"]


@pytest.fixture(scope="module")
def fast_twins(tmp_path_factory) -> dict[str, Path]:
    """Every registered dataset's fast twin, written with its own registry sizes."""
    root = tmp_path_factory.mktemp("twins")
    return {name: write_twin(name, root / name, fast=True) for name in REGISTRY}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_has_a_twin_its_loader_and_verifier_read(name, fast_twins):
    """The contract of an entry: its twin fills its layout, its loader reads it, its verifier passes it."""
    info, folder = REGISTRY[name], fast_twins[name]
    dataset_folder = folder.parent if info.subdir else folder
    assert info.missing(dataset_folder) == [], "the twin must fill the layout that get() checks"
    dataset = info.load(folder)
    assert isinstance(dataset, Dataset) and len(dataset) > 0
    assert dataset[0] is not None and dataset[len(dataset) - 1] is not None
    report = info.verify(folder, strict=False)
    assert report.ok, str(report)
    assert info.twin_version >= 1 and info.fast_twin and info.full_twin
    assert set(info.fast_twin) == set(info.full_twin), "fast and full twins differ only in their sizes"
