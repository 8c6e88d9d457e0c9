"""Tests of labkit/data/registry.py (entries, fetch) and of the data_scripts/fetch.py command line."""
from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest
from _http_fixture import HTTPFixture, make_tar_gz, make_zip

from labkit.data import (REGISTRY, ChecksumError, DatasetInfo, DatasetNotFoundError, RemoteFile,
                         UnverifiedDownloadWarning, fetch, get_dataset)
from labkit.data import registry as registry_module

SCRIPT = Path(__file__).resolve().parent.parent / "data_scripts" / "fetch.py"


@pytest.fixture
def server():
    with HTTPFixture() as fixture:
        yield fixture


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setattr(registry_module, "is_online", lambda: True)


def load_script():
    spec = importlib.util.spec_from_file_location("fetch_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_course_datasets_are_registered_under_their_names():
    assert set(REGISTRY) >= {"all-idb", "chest-xray", "oxford-pets", "pennfudan", "div2k"}
    assert all(key == info.name for key, info in REGISTRY.items())
    assert len({info.name for info in REGISTRY.values()}) == len(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_entry_is_documented(name):
    info = REGISTRY[name]
    assert info.title and info.licence and info.citation
    assert info.homepage.startswith("https://")
    assert info.layout and all(not path.startswith("/") and ".." not in path for path in info.layout)
    text = info.how_to_get(Path("/data") / name)
    assert "/data/" + name in text and "{" not in text  # the template was filled in
    for remote in info.files:
        assert remote.url.startswith("https://") and remote.url.endswith(remote.filename)
        assert remote.filename.endswith((".zip", ".tar", ".tar.gz", ".tgz"))
        assert any(path == remote.provides or path.startswith(remote.provides + "/") for path in info.layout)
        if remote.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
        if remote.md5 is not None:
            assert re.fullmatch(r"[0-9a-f]{32}", remote.md5)


def test_manual_datasets_say_where_they_come_from():
    all_idb, chest = get_dataset("all-idb"), get_dataset("chest-xray")
    assert all_idb.manual and chest.manual
    assert "https://scotti.di.unimi.it/all/" in all_idb.how_to_get(Path("/d"))
    assert "/d/ALL_IDB1/" in all_idb.how_to_get(Path("/d"))
    assert "kaggle datasets download -d paultimothymooney/chest-xray-pneumonia" in chest.how_to_get(Path("/d"))
    assert "chest_xray/train/NORMAL" in chest.layout


def test_published_checksums_only():
    pets = get_dataset("oxford-pets")
    assert {r.filename: r.md5 for r in pets.files} == {
        "images.tar.gz": "5c4f3ee8e5d25df40f4fd59a7f44e54c",
        "annotations.tar.gz": "95a8c909bbe2e81eed6a22bccdf3f68f",
    }
    assert pets.licence == "CC BY-SA 4.0"
    # Their authors publish no checksum, so none may be made up here.
    for name in ("pennfudan", "div2k"):
        assert all(r.sha256 is None and r.md5 is None for r in get_dataset(name).files)
    assert [r.filename for r in get_dataset("div2k").files] == ["DIV2K_train_HR.zip", "DIV2K_valid_HR.zip"]


def test_get_dataset_forgives_case_and_underscores_and_lists_names_otherwise():
    assert get_dataset(" Oxford_Pets ") is REGISTRY["oxford-pets"]
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*all-idb.*--list"):
        get_dataset("imagenet")


def test_fetch_manual_dataset_explains_where_to_put_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fetch("all-idb", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "all-idb" / "ALL_IDB2") in message
    assert "https://scotti.di.unimi.it/all/" in message
    assert f"python data_scripts/fetch.py all-idb --root {tmp_path}" in message
    assert not (tmp_path / "all-idb").exists()


def test_fetch_manual_dataset_reports_what_is_still_missing(tmp_path):
    (tmp_path / "chest-xray" / "chest_xray" / "train" / "NORMAL").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="missing: chest_xray/train/PNEUMONIA, chest_xray/test/NORMAL"):
        fetch("chest-xray", root=tmp_path)


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
    monkeypatch.setattr(registry_module, "is_online", lambda: False)
    assert fetch("tiny-pets", root=root) == folder
    assert len(server.requests) == 2


def test_fetch_uses_archives_placed_by_hand_without_network(server, tmp_path, monkeypatch):
    info = _register_fixture_dataset(monkeypatch, server, tmp_path)
    monkeypatch.setattr(registry_module, "is_online", lambda: False)
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


def test_script_lists_every_dataset_with_its_licence(capsys):
    assert load_script().main(["--list"]) == 0
    out = capsys.readouterr().out
    for info in REGISTRY.values():
        assert info.name in out and info.licence in out and info.homepage in out


def test_script_reports_a_missing_manual_dataset_and_fails(tmp_path, capsys):
    assert load_script().main(["all-idb", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ALL-IDB") and "ALL_IDB1" in err


def test_script_fetches_into_root(server, tmp_path, monkeypatch, online, capsys):
    _register_fixture_dataset(monkeypatch, server, tmp_path)
    assert load_script().main(["tiny-pets", "--root", str(tmp_path / "d"), "--no-progress"]) == 0
    assert f"tiny-pets is ready in {tmp_path / 'd' / 'tiny-pets'}" in capsys.readouterr().out


def test_fetch_or_explain_returns_none_and_says_why(tmp_path, capsys):
    from labkit.data.registry import fetch_or_explain

    assert fetch_or_explain("all-idb", tmp_path) is None
    err = capsys.readouterr().err
    assert err.startswith("error: ALL-IDB") and f"is not in {tmp_path / 'all-idb'}" in err
    assert fetch_or_explain("no-such-dataset", tmp_path) is None  # the unknown name is the error
    err = capsys.readouterr().err
    assert "no-such-dataset" in err and "Nothing to check" not in err
