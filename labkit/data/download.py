"""Download a file that survives interruptions and is checked, and unpack archives safely.

Used by :func:`labkit.data.fetch` and ``python -m labkit.data fetch`` for every real dataset of the course
(lecture 3: chest X-rays, lecture 5: Oxford-IIIT Pet and PennFudan).

Two promises hold whatever goes wrong:

- ``download`` never leaves a half-written ``dest``: bytes go to ``dest + ".part"``, which is checked
  and then renamed into place with :func:`os.replace` (atomic on one file system). A later call resumes
  the ``.part`` file with an HTTP ``Range`` request.
- ``extract`` checks every member of an archive before writing anything, and unpacks into a temporary
  folder beside ``dest`` that is moved into place only once everything is out.

Only the standard library talks to the network (``urllib``), so nothing beyond labkit's own
dependencies is needed on Colab or a student's laptop.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

__all__ = [
    "download",
    "extract",
    "file_digest",
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "UnverifiedDownloadWarning",
]

CHUNK_SIZE = 1 << 20  # 1 MiB: few system calls, and a dropped connection loses little
# Some hosts refuse urllib's default "Python-urllib/x.y" agent; say who we are instead.
USER_AGENT = "labkit (open computer-vision course; dataset downloader)"
_DIGEST_LENGTHS = {"sha256": 64, "md5": 32}


class DownloadError(OSError):
    """A transfer failed (no connection, HTTP error, or a truncated transfer that can be resumed)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the published digest; the bad file has been deleted."""

    def __init__(self, url: str, algorithm: str, expected: str, actual: str) -> None:
        self.url, self.algorithm, self.expected, self.actual = url, algorithm, expected, actual
        super().__init__(
            f"{algorithm} mismatch for {url}: expected {expected}, got {actual}. The corrupted "
            "download was deleted; run the same command again to download it afresh. If the "
            "digests differ again, the file on the server has changed: tell the course maintainers.")


class UnsafeArchiveError(ValueError):
    """An archive member could write outside the destination (or is a link or device); nothing was written."""

    def __init__(self, archive: Path, member: str, reason: str) -> None:
        self.archive, self.member, self.reason = archive, member, reason
        super().__init__(
            f"refusing to extract {archive}: member {member!r} is {reason}. Nothing was written. "
            "Datasets never need such members: re-download the archive from the dataset's homepage.")


class UnverifiedDownloadWarning(UserWarning):
    """A file was kept without checksum verification because its authors publish no checksum."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of the file at ``path`` (``"sha256"`` or ``"md5"``), read in 1 MiB chunks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _expected_digests(sha256: str | None, md5: str | None) -> dict[str, str]:
    expected = {}
    for algorithm, value in (("sha256", sha256), ("md5", md5)):
        if value is None:
            continue
        value = value.strip().lower()
        if len(value) != _DIGEST_LENGTHS[algorithm] or not re.fullmatch(r"[0-9a-f]+", value):
            raise ValueError(f"{algorithm} must be {_DIGEST_LENGTHS[algorithm]} hex digits, got {value!r}; "
                             "copy the digest exactly as the dataset's authors publish it")
        expected[algorithm] = value
    return expected


def _warn_unverified(url: str, path: Path) -> None:
    digest = file_digest(path, "sha256")
    warnings.warn(
        f"{url} has no published checksum, so {path.name} was NOT verified. Its SHA-256 is {digest}; "
        "compare it with a classmate's copy, or record it to check later downloads.",
        UnverifiedDownloadWarning, stacklevel=3)


def _progress_bar(enabled: bool, total: int | None, initial: int, desc: str):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional here: no bar is better than no download
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024)


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``Content-Range: bytes 100-199/200`` or ``bytes */200``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _transfer(url: str, part: Path, timeout: float, progress: bool, _restarted: bool = False) -> None:
    """Fill ``part`` with the bytes of ``url``, resuming from its current size when the server allows."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        with err:
            if err.code == 416 and offset and not _restarted:
                # "Range not satisfiable": either the .part file is already complete, or it is
                # longer than the file now on the server. Only the first case can be kept.
                if _content_range(err.headers.get("Content-Range"))[1] == offset:
                    return
                part.unlink()
                return _transfer(url, part, timeout, progress, _restarted=True)
            raise DownloadError(f"{url} answered HTTP {err.code} ({err.reason}). Check the address on the "
                                "dataset's homepage, or download the file by hand.") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"could not reach {url} ({reason}). Check your connection, or download the "
                            "file on a connected machine and copy it here.") from err

    with response:
        if offset and response.status == 206:
            start, _ = _content_range(response.headers.get("Content-Range"))
            if start != offset:  # a range we did not ask for: safer to start over than to splice
                response.close()
                part.unlink()
                return _transfer(url, part, timeout, progress, _restarted=True)
            mode = "ab"
        else:
            if offset:  # the server ignored Range and sends the whole file: start the .part afresh
                print(f"note: the server of {url} cannot resume; downloading it again from the start")
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        expected_total = offset + int(length) if length and length.isdigit() else None

        received, failure = 0, None
        bar = _progress_bar(progress, expected_total, offset, part.name[: -len(".part")])
        with open(part, mode) as handle:
            try:
                while chunk := response.read(CHUNK_SIZE):
                    handle.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as err:  # dropped connection, read timeout
                failure = err
            finally:
                if bar is not None:
                    bar.close()

    have = offset + received
    # urllib returns b"" instead of raising when a server closes before Content-Length bytes,
    # so the byte count, not an exception, is what catches a truncated transfer.
    if failure is not None or (expected_total is not None and have < expected_total):
        of_total = f" of {expected_total:,}" if expected_total is not None else ""
        why = failure or "the connection closed early"
        raise DownloadError(f"the transfer of {url} stopped after {have:,}{of_total} bytes ({why}). "
                            f"The partial file is kept at {part}: run the same command again to resume.")
    if expected_total is not None and have > expected_total:
        part.unlink()
        raise DownloadError(f"{url} sent {have:,} bytes but announced {expected_total:,}; the partial "
                            "file was deleted. Run the same command again to download it afresh.")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, *, md5: str | None = None,
             timeout: float = 30, progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, resuming an interrupted transfer and verifying its checksum.

    Bytes are streamed to ``dest + ".part"``; if a ``.part`` file is already there the transfer resumes
    with an HTTP ``Range`` request (a server that answers 200 instead of 206 is handled by starting over).
    Once complete, the file is checked against ``sha256`` and/or ``md5`` and renamed to ``dest``
    atomically, so ``dest`` is never half-written. If ``dest`` already exists and matches the checksum,
    it is returned at once without touching the network. Without any checksum (some authors publish
    none) nothing can be verified: an :class:`UnverifiedDownloadWarning` gives the SHA-256 computed.

    Args:
        url: the file's address (http or https).
        dest: where the file should end up; parent folders are created.
        sha256, md5: the published hex digest(s); md5 only where that is all the authors publish.
        timeout: seconds to wait for the connection and for each read.
        progress: show a tqdm progress bar.

    Raises:
        DownloadError: no connection, an HTTP error, or a truncated transfer (rerun to resume).
        ChecksumError: the digest differs; the ``.part`` file is deleted and an existing ``dest`` is left as it was.

    Used by lectures 3 and 5 (through :func:`labkit.data.fetch`).
    """
    dest = Path(dest).expanduser()
    expected = _expected_digests(sha256, md5)
    if dest.is_dir():
        raise IsADirectoryError(f"{dest} is a folder; pass the path of the file to create, e.g. {dest / Path(url).name}")
    if dest.exists():
        if not expected:
            _warn_unverified(url, dest)
            return dest
        if all(file_digest(dest, algorithm) == digest for algorithm, digest in expected.items()):
            return dest
        # A stale or damaged copy: download afresh, but replace it only once the new copy verifies.

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _transfer(url, part, timeout, progress)

    for algorithm, digest in expected.items():
        actual = file_digest(part, algorithm)
        if actual != digest:
            part.unlink()
            raise ChecksumError(url, algorithm, digest, actual)
    if not expected:
        _warn_unverified(url, part)
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------------------- extraction

def _unsafe_name(name: str) -> str | None:
    """Why ``name`` may not be written below the destination, or None if it may."""
    if "\x00" in name:
        return "a name with a NUL byte"
    posix = name.replace("\\", "/")  # archives made on Windows may use backslashes as separators
    if posix.startswith("/") or PureWindowsPath(name).drive:
        return "an absolute path"
    if ".." in posix.split("/"):
        return "a path with '..' (it could escape the destination)"
    return None


def _tar_member_problem(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return f"a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or folder"
    return _unsafe_name(member.name)


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16  # Unix mode bits, when the archive was made on Unix
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "a device file"
    return _unsafe_name(info.filename)


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        return "tar"
    raise ValueError(f"cannot extract {archive}: supported archives end in .zip, .tar, .tar.gz or .tgz")


def _move_into_place(staging: Path, dest: Path) -> None:
    if not dest.exists():
        os.replace(staging, dest)
        return
    if not dest.is_dir():
        raise NotADirectoryError(f"cannot extract into {dest}: it is a file; remove it or choose another folder")
    entries = sorted(staging.iterdir())
    clashes = [entry.name for entry in entries if os.path.lexists(dest / entry.name)]
    if clashes:
        raise FileExistsError(f"cannot extract into {dest}: it already holds {', '.join(clashes)}. "
                              "Remove those (or extract elsewhere) and run again; nothing was changed.")
    for entry in entries:  # each top-level entry is complete before it appears in dest
        os.replace(entry, dest / entry.name)


@contextlib.contextmanager
def staged_directory(root: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty folder beside ``root``; when the block ends without error it becomes ``root``.

    What the block writes appears at ``root`` all at once (one rename on the same file system), so an
    error or an interruption never leaves a half-written folder. An existing non-empty ``root`` raises
    FileExistsError unless ``overwrite=True``, in which case it is replaced. Used by every synthetic
    twin's writer (lectures 2-5).
    """
    root = Path(root).expanduser()
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} exists and is not empty; pass overwrite=True to replace it, "
                              "or choose another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}.writing-", dir=root.parent))
    try:
        staging = work / "staged"
        staging.mkdir()  # a plain mkdir, so root gets the usual permissions (mkdtemp's are 0o700)
        yield staging
        if root.exists():
            os.replace(root, work / "old")  # deleted with the work folder
        os.replace(staging, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Unpack a .zip, .tar, .tar.gz or .tgz ``archive`` into the folder ``dest`` and return ``dest``.

    Every member is checked before anything is written: absolute paths, ``..`` components, symbolic and
    hard links and device files raise :class:`UnsafeArchiveError` naming the member. The archive is
    unpacked into a temporary folder beside ``dest`` (same file system) and its top-level entries are
    then moved into ``dest`` (created if missing), so a failure leaves neither half-written files nor
    leftovers. An entry that already exists in ``dest`` is never overwritten (FileExistsError instead).
    Tar archives are also unpacked with ``filter="data"`` where Python has it, as defence in depth.

    Used by lecture 3 (chest X-rays) and 5 (Oxford-IIIT Pet, PennFudan), through :func:`labkit.data.fetch`.
    """
    archive, dest = Path(archive).expanduser(), Path(dest).expanduser()
    kind = _archive_kind(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"no archive at {archive}; download it first (python -m labkit.data fetch NAME)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extracting-", dir=dest.parent))
    try:
        # A plain mkdir (not mkdtemp's private 0o700 folder) so dest gets the usual permissions.
        staging = work / "content"
        staging.mkdir()
        if kind == "zip":
            with zipfile.ZipFile(archive) as bundle:
                for info in bundle.infolist():
                    if (problem := _zip_member_problem(info)) is not None:
                        raise UnsafeArchiveError(archive, info.filename, problem)
                bundle.extractall(staging)
        else:
            with tarfile.open(archive, "r:*") as bundle:
                members = bundle.getmembers()
                for member in members:
                    if (problem := _tar_member_problem(member)) is not None:
                        raise UnsafeArchiveError(archive, member.name, problem)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.12, and 3.8-3.11 security releases
                    bundle.extractall(staging, members=members, filter="data")
                else:
                    bundle.extractall(staging, members=members)
        _move_into_place(staging, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
