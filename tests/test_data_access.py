"""Tests of labkit/data/access.py: fetch (download, verify, extract), get (real, download or twin), twins."""
from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
from _http_fixture import HTTPFixture, make_tar_gz, make_zip

from labkit.data import (REGISTRY, ChecksumError, DatasetInfo, DatasetNotFoundError, DownloadError, PennFudan,
                         RemoteFile, UnverifiedDownloadWarning, access, fetch, get, get_dataset, twin_folder,
                         write_twin)
from labkit.data import pennfudan_twin


@pytest.fixture
def server():
    with HTTPFixture() as fixture:
        yield fixture


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(access, "is_online", lambda: True)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LABKIT_FAST", "1")
    return tmp_path / "data"


@pytest.fixture
def small_pennfudan(monkeypatch) -> list[Path]:
    """PennFudan with a 2-scene fast twin; returns the list of folders its writer was called with."""
    monkeypatch.setitem(REGISTRY, "pennfudan", dataclasses.replace(REGISTRY["pennfudan"],
                                                                   fast_twin={"n": 2, "size": 40}))
    calls, writer = [], pennfudan_twin.write_pennfudan_twin

    def counting(folder, **options):
        calls.append(Path(folder))
        return writer(folder, **options)

    monkeypatch.setattr(pennfudan_twin, "write_pennfudan_twin", counting)
    return calls


# ----------------------------------------------------------------------------------------------------------
# fetch
# ----------------------------------------------------------------------------------------------------------

def test_fetch_manual_dataset_explains_where_to_put_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fetch("all-idb", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "all-idb" / "ALL_IDB2") in message
    assert "https://scotti.di.unimi.it/all/" in message
    assert f"python -m labkit.data verify all-idb --root {tmp_path}" in message
    assert not (tmp_path / "all-idb").exists()


def test_fetch_manual_dataset_reports_what_is_still_missing(tmp_path):
    (tmp_path / "all-idb" / "ALL_IDB1").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="missing: ALL_IDB2"):
        fetch("all-idb", root=tmp_path)


def test_fetch_manual_dataset_in_place_is_returned(tmp_path):
    for part in ("ALL_IDB1", "ALL_IDB2"):
        (tmp_path / "all-idb" / part).mkdir(parents=True)
    assert fetch("all-idb", root=tmp_path) == tmp_path / "all-idb"


def test_fetch_defaults_to_labkit_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "all-idb"))):
        fetch("all-idb")


def test_fetch_offline_names_the_urls_to_get_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="offline") as info:
        fetch("oxford-pets", root=tmp_path)
    for remote in get_dataset("oxford-pets").files:
        assert f"{remote.url}  ->  {tmp_path / 'oxford-pets' / remote.filename}" in str(info.value)


def _register_fixture_dataset(monkeypatch, server, tmp_path, *, with_checksums=True) -> DatasetInfo:
    images = make_tar_gz(tmp_path / "src-images.tar.gz", {"images/cat_1.jpg": b"cat", "images/dog_2.jpg": b"dog"})
    notes = make_zip(tmp_path / "src-annotations.zip", {"annotations/trimaps/cat_1.png": b"trimap"})

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest() if with_checksums else None

    info = DatasetInfo(
        name="tiny-pets", title="Tiny pets", homepage="https://example.org/", licence="CC0", citation="-",
        instructions="put the archives in {folder}", layout=("images", "annotations/trimaps"),
        loader="oxford_pets:OxfordPetsSegmentation", verifier="oxford_pets:verify_oxford_pets",
        twin="oxford_pets_twin:write_oxford_pets_twin", twin_version=1,
        files=(RemoteFile(server.add("/images.tar.gz", images.read_bytes()), "images.tar.gz", "images",
                          sha256=digest(images)),
               RemoteFile(server.add("/annotations.zip", notes.read_bytes()), "annotations.zip", "annotations",
                          sha256=digest(notes))))
    monkeypatch.setitem(REGISTRY, info.name, info)
    return info


def test_fetch_downloads_verifies_and_extracts_then_works_offline(server, tmp_path, monkeypatch, online):
    _register_fixture_dataset(monkeypatch, server, tmp_path)
    root = tmp_path / "data"

    folder = fetch("tiny-pets", root=root, progress=False)

    assert folder == root / "tiny-pets"
    assert (folder / "images" / "dog_2.jpg").read_bytes() == b"dog"
    assert (folder / "annotations" / "trimaps" / "cat_1.png").read_bytes() == b"trimap"
    assert sorted(p.name for p in folder.iterdir()) == ["annotations", "images"]  # archives removed
    assert len(server.requests) == 2
    monkeypatch.setattr(access, "is_online", lambda: False)
    assert fetch("tiny-pets", root=root) == folder
    assert len(server.requests) == 2


def test_fetch_uses_archives_placed_by_hand_without_network(server, tmp_path, monkeypatch):
    info = _register_fixture_dataset(monkeypatch, server, tmp_path)
    monkeypatch.setattr(access, "is_online", lambda: False)
    folder = tmp_path / "data" / "tiny-pets"
    folder.mkdir(parents=True)
    (folder / "images.tar.gz").write_bytes((tmp_path / "src-images.tar.gz").read_bytes())
    (folder / "annotations.zip").write_bytes((tmp_path / "src-annotations.zip").read_bytes())

    assert fetch(info.name, root=tmp_path / "data") == folder  # offline, but nothing to download
    assert (folder / "images" / "cat_1.jpg").read_bytes() == b"cat"
    assert server.requests == []


def test_fetch_refuses_a_corrupted_archive(server, tmp_path, monkeypatch, online):
    info = _register_fixture_dataset(monkeypatch, server, tmp_path)
    server.routes["/images.tar.gz"].body = b"not the published archive"
    with pytest.raises(ChecksumError, match=info.files[0].url):
        fetch(info.name, root=tmp_path / "data", progress=False)
    assert list((tmp_path / "data" / "tiny-pets").iterdir()) == []


def test_fetch_without_published_checksum_warns_with_sha256(server, tmp_path, monkeypatch, online):
    info = _register_fixture_dataset(monkeypatch, server, tmp_path, with_checksums=False)
    expected = hashlib.sha256((tmp_path / "src-images.tar.gz").read_bytes()).hexdigest()
    with pytest.warns(UnverifiedDownloadWarning) as record:
        fetch(info.name, root=tmp_path / "data", progress=False)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and any(expected in m and "NOT verified" in m for m in messages)


# ----------------------------------------------------------------------------------------------------------
# get: real data, else a download, else the twin
# ----------------------------------------------------------------------------------------------------------

def test_get_uses_complete_real_data_and_says_real(data_dir, capsys):
    for part in ("ALL_IDB1", "ALL_IDB2"):
        (data_dir / "all-idb" / part).mkdir(parents=True)
    assert get("all-idb") == (data_dir / "all-idb", True)
    assert "all-idb: REAL data in" in capsys.readouterr().out


def test_get_writes_the_twin_once_then_reuses_it(data_dir, small_pennfudan, capsys):
    folder, real = get("pennfudan")
    expected = data_dir / "twins" / f"pennfudan-v{REGISTRY['pennfudan'].twin_version}-fast-seed0" / "PennFudanPed"
    assert (folder, real) == (expected, False) and len(PennFudan(folder)) == 2
    out = capsys.readouterr().out
    assert "SYNTHETIC twin written to" in out and "offline" in out
    assert get("pennfudan") == (expected, False)
    assert "SYNTHETIC twin reused from" in capsys.readouterr().out
    assert len(small_pennfudan) == 1
    assert get("pennfudan", seed=1).folder.parent.name.endswith("-seed1") and len(small_pennfudan) == 2


def test_get_says_why_incomplete_real_data_is_not_used(data_dir, small_pennfudan, capsys):
    (data_dir / "pennfudan" / "PennFudanPed" / "PNGImages").mkdir(parents=True)
    assert not get("pennfudan").real
    assert "incomplete (missing PennFudanPed/PedMasks)" in capsys.readouterr().out


def test_get_explains_a_missing_manual_dataset(data_dir, monkeypatch, capsys):
    monkeypatch.setitem(REGISTRY, "all-idb", dataclasses.replace(
        REGISTRY["all-idb"], fast_twin={"n_patches": 2, "n_slides": 1, "patch_size": 32}))
    assert not get("all-idb").real
    out = capsys.readouterr().out
    assert "not downloadable" in out and "python -m labkit.data fetch all-idb" in out and "SYNTHETIC" in out


def test_get_downloads_a_public_dataset_when_online(data_dir, small_pennfudan, monkeypatch, online, capsys):
    def fake_fetch(name, root=None, **kwargs):
        for path in REGISTRY[name].layout:
            (data_dir / name / path).mkdir(parents=True)
        return data_dir / name

    monkeypatch.setattr(access, "fetch", fake_fetch)
    assert get("pennfudan") == (data_dir / "pennfudan" / "PennFudanPed", True)
    out = capsys.readouterr().out
    assert "downloading it (about 50 MB)" in out and "download=False" in out and "REAL" in out
    assert small_pennfudan == []


def test_get_download_false_never_downloads(data_dir, small_pennfudan, monkeypatch, online):
    monkeypatch.setattr(access, "fetch", lambda *a, **k: pytest.fail("fetch must not be called"))
    assert not get("pennfudan", download=False).real


def test_get_falls_back_to_the_twin_when_a_download_fails_unless_asked(data_dir, small_pennfudan, monkeypatch,
                                                                       online, capsys):
    def failing(*args, **kwargs):
        raise DownloadError("connection reset")

    monkeypatch.setattr(access, "fetch", failing)
    assert not get("pennfudan").real
    assert "the download failed (connection reset); SYNTHETIC" in capsys.readouterr().out
    with pytest.raises(DownloadError):
        get("pennfudan", download=True)


def test_get_download_true_offline_is_an_error(data_dir):
    with pytest.raises(DatasetNotFoundError, match="offline.*python -m labkit.data fetch pennfudan"):
        get("pennfudan", download=True)


def test_get_quiet_prints_nothing(data_dir, small_pennfudan, capsys):
    get("pennfudan", quiet=True)
    assert capsys.readouterr().out == ""


def test_get_accepts_a_twin_another_process_wrote_first(data_dir, monkeypatch):
    monkeypatch.setitem(REGISTRY, "pennfudan", dataclasses.replace(REGISTRY["pennfudan"],
                                                                   fast_twin={"n": 1, "size": 40}))
    writer = pennfudan_twin.write_pennfudan_twin

    def lost_race(folder, **options):
        writer(folder, **options)
        raise FileExistsError(f"{folder} exists")  # what staged_directory says when another run won

    monkeypatch.setattr(pennfudan_twin, "write_pennfudan_twin", lost_race)
    assert not get("pennfudan").real  # the twin is complete: no error

    def failed(folder, **options):
        raise OSError("disk full")

    monkeypatch.setattr(pennfudan_twin, "write_pennfudan_twin", failed)
    with pytest.raises(OSError, match="disk full"):
        get("pennfudan", seed=2)


def test_get_names_a_damaged_twin_cache_instead_of_overwriting_it(data_dir, small_pennfudan):
    damaged = twin_folder("pennfudan", 0) / "PennFudanPed" / "PNGImages"
    damaged.mkdir(parents=True)
    (damaged / "FudanPed00001.png").write_bytes(b"half")
    with pytest.raises(FileExistsError, match="incomplete twin.*PedMasks.*delete it"):
        get("pennfudan")
    assert (damaged / "FudanPed00001.png").exists()


def test_twin_folder_names_version_mode_and_seed(data_dir):
    version = REGISTRY["yolo"].twin_version
    assert twin_folder("yolo", 3, fast=False) == data_dir / "twins" / f"yolo-v{version}-full-seed3"
    assert twin_folder("yolo").name == f"yolo-v{version}-fast-seed0"  # LABKIT_FAST=1 here


def test_write_twin_uses_the_registry_sizes_for_the_mode(tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "pennfudan", dataclasses.replace(
        REGISTRY["pennfudan"], fast_twin={"n": 1, "size": 40}, full_twin={"n": 3, "size": 48}))
    fast = write_twin("pennfudan", tmp_path / "fast", fast=True)
    full = write_twin("pennfudan", tmp_path / "full", fast=False)
    assert fast == tmp_path / "fast" / "PennFudanPed" and len(PennFudan(fast)) == 1
    assert len(PennFudan(full)) == 3 and PennFudan(full)[0][0].shape[-1] == 48
