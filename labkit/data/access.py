"""The one way notebooks and the command line reach a dataset: real data when it is there, else its twin.

:func:`get` is what every lecture calls (``folder, real = labkit.data.get("chest-xray")``); :func:`fetch`
downloads and extracts a public dataset or checks a manual download; :func:`write_twin` writes a
synthetic twin in the real layout. All three read the dataset's registry entry and nothing else.
"""
from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path
from typing import NamedTuple

from labkit.data.download import DownloadError, download, extract
from labkit.data.registry import CLI, DatasetInfo, DatasetNotFoundError, get_dataset
from labkit.env import data_dir, fast_mode, is_online

__all__ = ["DataFolder", "get", "fetch", "write_twin", "twin_folder", "FETCH_ERRORS"]

FETCH_ERRORS = (DatasetNotFoundError, DownloadError, ValueError, FileExistsError, OSError, zipfile.BadZipFile,
                tarfile.TarError)
"""What :func:`fetch` raises when a dataset cannot be made ready (missing, offline, bad download or archive)."""


class DataFolder(NamedTuple):
    """What :func:`get` returns: the folder the dataset's loader reads, and whether it holds real data."""

    folder: Path
    real: bool


def _command(verb: str, name: str, root: str | os.PathLike | None) -> str:
    return f"{CLI} {verb} {name}" + (f" --root {root}" if root is not None else "")


def fetch(name: str, root: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Make dataset ``name`` ready under ``root or labkit.data_dir()``; return its folder, ``root/name``.

    A dataset whose layout is already there is returned at once, online or not. Otherwise each archive
    that is not yet extracted is downloaded (resuming a ``.part`` file; an archive already placed in the
    folder by hand is used as it is), verified, extracted safely, and deleted to save space.

    Raises:
        DatasetNotFoundError: a manual dataset is missing (the message says where to put it), or the
            machine is offline and archives are missing (the message lists the URLs to fetch elsewhere).
        DownloadError, ChecksumError: see :func:`labkit.data.download`.
    """
    info = get_dataset(name)
    folder = info.folder(root)
    missing = info.missing(folder)
    if not missing:
        return folder
    if info.manual:
        raise DatasetNotFoundError(
            f"{info.title} is not in {folder} (missing: {', '.join(missing)}).\n{info.how_to_get(folder)}\n"
            f"Then run `{_command('verify', info.name, root)}` to check the folder.")

    todo = [remote for remote in info.files if not (folder / remote.provides).exists()]
    to_download = [remote for remote in todo if not (folder / remote.filename).is_file()]
    if to_download and not is_online():
        lines = "\n".join(f"  {remote.url}  ->  {folder / remote.filename}" for remote in to_download)
        raise DatasetNotFoundError(
            f"{info.title} is not in {folder} and this machine is offline. On a connected machine run "
            f"`{_command('fetch', info.name, root)}`, or download\n{lines}\nand run the command again here "
            "to verify and extract the archives.")

    for remote in todo:
        archive = download(remote.url, folder / remote.filename, remote.sha256, md5=remote.md5,
                           progress=progress)
        try:
            extract(archive, folder)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            archive.unlink()  # so that the next run downloads it again
            raise ValueError(f"{remote.filename} from {remote.url} is not a valid archive ({err}): the server "
                             "may have answered with a web page. It was deleted. Try again later, or get the "
                             f"data by hand:\n{info.how_to_get(folder)}") from err
        archive.unlink()  # the extracted folder is what counts; the archive would double the space used

    missing = info.missing(folder)
    if missing:
        raise DatasetNotFoundError(
            f"the archives of {info.name} were extracted into {folder}, but {', '.join(missing)} is still "
            "missing: the files on the server may have changed. Please tell the course maintainers.")
    return folder


def twin_folder(name: str, seed: int = 0, *, fast: bool | None = None) -> Path:
    """Where :func:`get` caches a twin: ``data_dir()/twins/<name>-v<version>-<fast|full>-seed<seed>``.

    The folder plays the part of the dataset folder (``root/name``), so the loader reads
    ``twin_folder(...) / subdir`` exactly as it reads the real ``root/name/subdir``.
    """
    info = get_dataset(name)
    mode = "fast" if (fast_mode() if fast is None else fast) else "full"
    return data_dir() / "twins" / f"{info.name}-v{info.twin_version}-{mode}-seed{seed}"


def write_twin(name: str, folder: str | os.PathLike, *, seed: int = 0, fast: bool | None = None,
               overwrite: bool = False) -> Path:
    """Write the twin of ``name`` with its registry sizes (fast or full) into the dataset folder ``folder``.

    Returns the data folder (``folder/subdir``). Written atomically by the twin writer: an existing
    twin is replaced only with ``overwrite=True``.
    """
    info = get_dataset(name)
    sizes = info.fast_twin if (fast_mode() if fast is None else fast) else info.full_twin
    data_folder = Path(folder).expanduser() / info.subdir if info.subdir else Path(folder).expanduser()
    info.twin_writer()(data_folder, seed=seed, overwrite=overwrite, **sizes)
    return data_folder


def _reuse_or_write_twin(info: DatasetInfo, seed: int) -> tuple[Path, str]:
    folder = twin_folder(info.name, seed)
    if not info.missing(folder):
        return folder, "reused from"
    try:
        write_twin(info.name, folder, seed=seed)
    except OSError as err:  # FileExistsError included
        if not info.missing(folder):  # another process (a notebook run in parallel) wrote it first
            return folder, "written to"
        if isinstance(err, FileExistsError):  # never left by a writer, which renames a finished twin into place
            raise FileExistsError(f"{folder} holds an incomplete twin (missing {', '.join(info.missing(folder))})"
                                  f": delete it and run again") from err
        raise
    return folder, "written to"


def get(name: str, root: str | os.PathLike | None = None, *, seed: int = 0,
        download: bool | None = None, quiet: bool = False) -> DataFolder:
    """The folder a lecture reads dataset ``name`` from, and whether it is real: ``(folder, real)``.

    In this order: the real data under ``root/name`` (``root`` defaults to ``labkit.data_dir()``, i.e.
    ``$LABKIT_DATA`` or ``~/labkit-data``) when its layout is complete (a manual download included);
    else a download, when the dataset is public, the machine is online and ``download`` is not False
    (``download=True`` makes a failed download an error instead of a fallback); else the synthetic twin,
    written once with the registry's fast or full sizes and ``seed`` to :func:`twin_folder` and reused.
    ``folder`` is the folder the dataset's loader reads (``.../name/subdir``). One line says REAL or
    SYNTHETIC and why, unless ``quiet``. Used by every lecture from 2 on.
    """
    info = get_dataset(name)
    real_folder = info.folder(root)
    missing = info.missing(real_folder)
    say = (lambda line: None) if quiet else print
    data = lambda folder: folder / info.subdir if info.subdir else folder  # noqa: E731
    if not missing:
        say(f"{info.name}: REAL data in {data(real_folder)}")
        return DataFolder(data(real_folder), True)

    why = f"no real data in {real_folder}" if not real_folder.exists() else \
        f"{real_folder} is incomplete (missing {', '.join(missing)})"
    if not info.manual and download is not False:
        if is_online():
            say(f"{info.name}: {why}; downloading it ({', '.join(f.size or f.filename for f in info.files)}) "
                f"from {info.homepage}. Pass download=False to use the synthetic twin instead.")
            try:
                fetch(info.name, root)
                say(f"{info.name}: REAL data in {data(real_folder)}")
                return DataFolder(data(real_folder), True)
            except FETCH_ERRORS as err:
                if download:
                    raise
                why = f"the download failed ({err})"
        elif download:
            raise DatasetNotFoundError(f"{info.title} is not in {real_folder} and this machine is offline; "
                                       f"run `{_command('fetch', info.name, root)}` on a connected machine")
        else:
            why += " and this machine is offline"
    elif info.manual:
        why += f" (not downloadable: `{_command('fetch', info.name, root)}` says how to get it)"
    folder, made = _reuse_or_write_twin(info, seed)
    say(f"{info.name}: {why}; SYNTHETIC twin {made} {data(folder)}")
    return DataFolder(data(folder), False)
