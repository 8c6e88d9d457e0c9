"""Tests of labkit/data/download.py against a real HTTP server on 127.0.0.1 (see _http_fixture.py)."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

import pytest
from _http_fixture import HTTPFixture, make_tar_gz, make_zip

from labkit.data import (ChecksumError, DownloadError, UnsafeArchiveError, UnverifiedDownloadWarning, download,
                         extract, file_digest)

# Not all zeros or a repeated pattern, so a resumed file spliced at the wrong offset cannot pass.
PAYLOAD = hashlib.sha256(b"seed").digest() * 4096  # 128 KiB


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    with HTTPFixture() as fixture:
        yield fixture


def tree(folder):
    """Every path below ``folder``, relative, as sorted strings (empty if the folder does not exist)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_good_archive_downloads_verifies_and_extracts(server, tmp_path):
    files = {"pets/images/cat_1.jpg": b"meow" * 100, "pets/annotations/list.txt": b"cat_1 1 1 1\n"}
    archive = make_tar_gz(tmp_path / "src.tar.gz", files)
    url = server.add("/data/pets.tar.gz", archive.read_bytes())
    dest = tmp_path / "dl" / "pets.tar.gz"

    got = download(url, dest, sha256(archive.read_bytes()), timeout=5, progress=True)
    out = extract(got, tmp_path / "out")

    assert got == dest and dest.read_bytes() == archive.read_bytes()
    assert not (tmp_path / "dl" / "pets.tar.gz.part").exists()
    for name, content in files.items():
        assert (out / name).read_bytes() == content
    assert sorted(os.listdir(tmp_path)) == ["dl", "out", "src.tar.gz"]  # no temporary folder left


def test_download_resumes_after_truncation(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD, truncate_at=50_000)
    dest = tmp_path / "big.bin"
    part = tmp_path / "big.bin.part"

    with pytest.raises(DownloadError, match="run the same command again to resume") as info:
        download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)
    assert "50,000 of 131,072 bytes" in str(info.value)
    assert not dest.exists()
    assert part.read_bytes() == PAYLOAD[:50_000]

    download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert server.requests == [("/big.bin", None), ("/big.bin", "bytes=50000-")]


def test_truncated_resume_is_truncated_again_then_completes(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD, truncate_at=40_000, truncate_times=2)
    dest = tmp_path / "big.bin"
    for _ in range(2):
        with pytest.raises(DownloadError):
            download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)
    download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [None, "bytes=40000-", "bytes=80000-"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD, ignore_range=True)
    dest = tmp_path / "big.bin"
    # A stale .part that does not even match the file: appending to it would corrupt the result.
    (tmp_path / "big.bin.part").write_bytes(b"x" * 1000)

    download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)

    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/big.bin", "bytes=1000-")]


def test_complete_part_file_is_kept_when_server_says_range_not_satisfiable(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(PAYLOAD)  # the process died between transfer and rename

    download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)

    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/big.bin", f"bytes={len(PAYLOAD)}-")]


def test_wrong_checksum_raises_and_leaves_nothing(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    dest = tmp_path / "big.bin"
    wrong = sha256(b"something else")

    with pytest.raises(ChecksumError) as info:
        download(url, dest, wrong, timeout=5, progress=False)

    message = str(info.value)
    assert wrong in message and sha256(PAYLOAD) in message and url in message
    assert (info.value.expected, info.value.actual) == (wrong, sha256(PAYLOAD))
    assert os.listdir(tmp_path) == []


def test_wrong_checksum_leaves_existing_dest_untouched(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"an older copy")

    with pytest.raises(ChecksumError):
        download(url, dest, sha256(b"what the authors published"), timeout=5, progress=False)

    assert dest.read_bytes() == b"an older copy"
    assert os.listdir(tmp_path) == ["big.bin"]


def test_stale_dest_is_replaced_by_a_verified_download(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    dest = tmp_path / "big.bin"
    dest.write_bytes(b"damaged")
    download(url, dest, sha256(PAYLOAD), timeout=5, progress=False)
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 1


def test_existing_verified_dest_is_returned_without_network(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    dest = tmp_path / "big.bin"
    dest.write_bytes(PAYLOAD)
    assert download(url, dest, sha256(PAYLOAD), progress=False) == dest
    assert server.requests == []


def test_md5_is_verified_when_it_is_the_only_published_digest(server, tmp_path):
    url = server.add("/pets.tar.gz", PAYLOAD)
    good = hashlib.md5(PAYLOAD).hexdigest()
    assert download(url, tmp_path / "a", md5=good.upper(), timeout=5, progress=False).read_bytes() == PAYLOAD
    with pytest.raises(ChecksumError, match="md5 mismatch"):
        download(url, tmp_path / "b", md5=hashlib.md5(b"other").hexdigest(), timeout=5, progress=False)
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.part").exists()


def test_download_without_checksum_warns_with_its_sha256(server, tmp_path):
    url = server.add("/PennFudanPed.zip", PAYLOAD)
    with pytest.warns(UnverifiedDownloadWarning, match=f"NOT verified. Its SHA-256 is {sha256(PAYLOAD)}"):
        dest = download(url, tmp_path / "PennFudanPed.zip", timeout=5, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert file_digest(dest) == sha256(PAYLOAD)


def test_malformed_checksum_is_refused_before_any_transfer(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    with pytest.raises(ValueError, match="sha256 must be 64 hex digits"):
        download(url, tmp_path / "big.bin", "abc123", progress=False)
    assert server.requests == []


def test_http_error_is_a_download_error_naming_the_status(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("/missing.zip"), tmp_path / "missing.zip", progress=False, timeout=5)
    assert os.listdir(tmp_path) == []


def test_unreachable_host_is_a_download_error(tmp_path):
    with HTTPFixture() as closed:
        url = closed.url("/x.zip")
    with pytest.raises(DownloadError, match="could not reach"):
        download(url, tmp_path / "x.zip", progress=False, timeout=2)


# ------------------------------------------------------------------------------------------ extract

def _tar_with(path, *members: tarfile.TarInfo):
    with tarfile.open(path, "w") as bundle:
        bundle.addfile(_file_member("ok/first.txt", b"harmless"), io.BytesIO(b"harmless"))
        for member in members:
            bundle.addfile(member, io.BytesIO(b"evil" * (member.size // 4)) if member.isfile() else None)
    return path


def _file_member(name: str, content: bytes = b"evil") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = len(content)
    return member


def _link_member(name: str, kind: bytes, target: str = "/etc/passwd") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


UNSAFE_TAR_MEMBERS = {
    "dotdot": (_file_member("../evil.txt"), "'..'"),
    "nested-dotdot": (_file_member("ok/../../evil.txt"), "'..'"),
    "absolute": (_file_member("/tmp/labkit-evil.txt"), "an absolute path"),
    "symlink": (_link_member("ok/link", tarfile.SYMTYPE), "a symbolic link"),
    "hardlink": (_link_member("ok/hard", tarfile.LNKTYPE), "a hard link"),
    "device": (_link_member("ok/dev", tarfile.CHRTYPE, ""), "a device file"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_TAR_MEMBERS))
def test_unsafe_tar_is_refused_before_writing_anything(tmp_path, case):
    member, reason = UNSAFE_TAR_MEMBERS[case]
    archive = _tar_with(tmp_path / "bad.tar", member)
    dest = tmp_path / "out"

    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        extract(archive, dest)

    assert info.value.member == member.name and repr(member.name) in str(info.value)
    assert os.listdir(tmp_path) == ["bad.tar"]  # neither dest, nor ok/first.txt, nor ../evil.txt
    assert not os.path.lexists("/tmp/labkit-evil.txt")


UNSAFE_ZIP_MEMBERS = {
    "dotdot": ("../evil.txt", 0, "'..'"),
    "backslash-dotdot": ("..\\evil.txt", 0, "'..'"),
    "absolute": ("/tmp/labkit-evil.txt", 0, "an absolute path"),
    "windows-drive": ("C:/evil.txt", 0, "an absolute path"),
    "symlink": ("ok/link", 0o120777, "a symbolic link"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_ZIP_MEMBERS))
def test_unsafe_zip_is_refused_before_writing_anything(tmp_path, case):
    name, mode, reason = UNSAFE_ZIP_MEMBERS[case]
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("ok/first.txt", b"harmless")
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        bundle.writestr(info, b"/etc/passwd")
    dest = tmp_path / "out"

    with pytest.raises(UnsafeArchiveError, match=reason) as raised:
        extract(archive, dest)

    assert raised.value.member == name
    assert os.listdir(tmp_path) == ["bad.zip"]
    assert not os.path.lexists("/tmp/labkit-evil.txt")


def test_zip_extracts_like_zipfile_does(tmp_path):
    files = {"PennFudanPed/PNGImages/FudanPed00001.png": b"png", "PennFudanPed/readme.txt": b"hi"}
    archive = make_zip(tmp_path / "PennFudanPed.zip", files)
    extract(archive, tmp_path / "ours")
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tmp_path / "zipfile")
    assert tree(tmp_path / "ours") == tree(tmp_path / "zipfile") != []
    for name, content in files.items():
        assert (tmp_path / "ours" / name).read_bytes() == content


def test_extract_into_existing_folder_adds_new_entries_and_never_overwrites(tmp_path):
    dest = tmp_path / "pets"
    (dest / "images").mkdir(parents=True)
    (dest / "images" / "mine.jpg").write_bytes(b"keep me")
    extract(make_tar_gz(tmp_path / "ann.tar.gz", {"annotations/list.txt": b"x"}), dest)
    assert tree(dest) == ["annotations", "annotations/list.txt", "images", "images/mine.jpg"]

    with pytest.raises(FileExistsError, match="already holds images"):
        extract(make_tar_gz(tmp_path / "img.tar.gz", {"images/mine.jpg": b"overwritten"}), dest)
    assert (dest / "images" / "mine.jpg").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.tar.gz", "img.tar.gz", "pets"]


def test_extract_names_the_supported_formats(tmp_path):
    (tmp_path / "data.rar").write_bytes(b"?")
    with pytest.raises(ValueError, match=r"\.zip, \.tar, \.tar\.gz or \.tgz"):
        extract(tmp_path / "data.rar", tmp_path / "out")


def test_staged_directory_appears_whole_or_not_at_all(tmp_path):
    from labkit.data.download import staged_directory

    root = tmp_path / "twin"
    with pytest.raises(RuntimeError):
        with staged_directory(root) as staging:
            (staging / "a.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert not root.exists() and list(tmp_path.iterdir()) == []  # no half-written folder, no leftovers
    with staged_directory(root) as staging:
        (staging / "a.txt").write_text("whole")
    assert (root / "a.txt").read_text() == "whole"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with staged_directory(root):
            pass
    with staged_directory(root, overwrite=True) as staging:
        (staging / "b.txt").write_text("new")
    assert sorted(p.name for p in root.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twin"]
