"""The real datasets of the course: where each comes from, under which licence, and how to get it.

:func:`fetch` turns an entry into a folder on disk: it downloads, verifies and extracts what can be
downloaded, and for datasets that must be requested by hand (ALL-IDB) or need a personal account
(Kaggle) it checks the folder a student filled and, if it is missing, says exactly what to do.
``python data_scripts/fetch.py NAME`` is the same thing from a terminal.

Checksums are the ones the authors publish; where they publish none the field is None and the
download is reported as unverified (never silently), with the SHA-256 computed so it can be recorded.
"""
from __future__ import annotations

import os
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from labkit.data.download import DownloadError, download, extract
from labkit.env import data_dir, is_online

__all__ = ["RemoteFile", "DatasetInfo", "REGISTRY", "get_dataset", "fetch", "fetch_or_explain", "FETCH_ERRORS",
           "DatasetNotFoundError"]

FETCH_SCRIPT = "python data_scripts/fetch.py"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk and cannot be fetched from here; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One archive of a dataset, and the top-level folder it unpacks to."""

    url: str
    filename: str
    provides: str  # what the archive creates, relative to the dataset folder; its presence means "done"
    sha256: str | None = None
    md5: str | None = None  # only where the authors publish nothing stronger
    size: str = ""  # approximate, so students know what they are starting


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset of the course. ``instructions`` may contain ``{folder}``, the dataset's folder."""

    name: str
    title: str
    homepage: str
    licence: str
    citation: str
    instructions: str
    layout: tuple[str, ...]  # paths (relative to the dataset folder) that exist once it is ready
    files: tuple[RemoteFile, ...] = ()  # empty: manual download only
    lectures: tuple[int, ...] = ()

    @property
    def manual(self) -> bool:
        """True when no file can be downloaded without the student's own request or account."""
        return not self.files

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(remote.url for remote in self.files)

    def folder(self, root: str | os.PathLike | None = None) -> Path:
        """``root/name``, with ``root`` defaulting to :func:`labkit.data_dir`."""
        return (Path(root).expanduser() if root is not None else data_dir()) / self.name

    def missing(self, folder: Path) -> list[str]:
        """The layout paths not (yet) present under ``folder``."""
        return [path for path in self.layout if not (folder / path).exists()]

    def how_to_get(self, folder: Path) -> str:
        return self.instructions.format(folder=folder, homepage=self.homepage)


REGISTRY: dict[str, DatasetInfo] = {}


def _register(info: DatasetInfo) -> None:
    if info.name in REGISTRY:
        raise ValueError(f"dataset {info.name!r} is registered twice")
    REGISTRY[info.name] = info


_register(DatasetInfo(
    name="all-idb",
    title="ALL-IDB (Acute Lymphoblastic Leukemia Image Database)",
    homepage="https://scotti.di.unimi.it/all/",
    licence="Authors' terms (see homepage): given on request for research and teaching, no redistribution",
    citation="R. Donida Labati, V. Piuri, F. Scotti, 'ALL-IDB: the acute lymphoblastic leukemia image "
             "database for image processing', IEEE ICIP 2011",
    instructions=("ALL-IDB has no public download: its authors give it on request. Ask for it on "
                  "{homepage}, then put the two folders you receive under {folder}:\n"
                  "  {folder}/ALL_IDB1/  whole blood-smear slides (108 images), used for CAM localisation\n"
                  "  {folder}/ALL_IDB2/  cropped cells (260 images; the last digit of a name such as "
                  "Im001_1.tif is the label, 1 = blast)"),
    layout=("ALL_IDB1", "ALL_IDB2"),
    lectures=(2,),
))

_register(DatasetInfo(
    name="chest-xray",
    title="Chest X-Ray Images (Pneumonia), Kaggle, by Paul Mooney",
    homepage="https://www.kaggle.com/datasets/paultimothymooney/chest-xray-pneumonia",
    licence="CC BY 4.0 (as listed on Kaggle; images from Kermany et al. 2018)",
    citation="D. S. Kermany et al., 'Identifying Medical Diagnoses and Treatable Diseases by Image-Based "
             "Deep Learning', Cell 172(5), 2018",
    instructions=("Kaggle needs your own account. Either use the Kaggle API with your own token "
                  "(~/.kaggle/kaggle.json, from your Kaggle account settings):\n"
                  "  kaggle datasets download -d paultimothymooney/chest-xray-pneumonia -p {folder} --unzip\n"
                  "or download the zip from {homepage} in a browser and unzip it into {folder}. "
                  "Either way you need {folder}/chest_xray/train/ and {folder}/chest_xray/test/, "
                  "each holding NORMAL/ and PNEUMONIA/."),
    layout=("chest_xray/train/NORMAL", "chest_xray/train/PNEUMONIA",
            "chest_xray/test/NORMAL", "chest_xray/test/PNEUMONIA"),
    lectures=(3,),
))

_register(DatasetInfo(
    name="oxford-pets",
    title="The Oxford-IIIT Pet Dataset",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/pets/",
    licence="CC BY-SA 4.0",
    citation="O. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar, 'Cats and Dogs', CVPR 2012",
    instructions=("Downloaded automatically. To do it by hand, put images.tar.gz and annotations.tar.gz "
                  "from {homepage} into {folder} and run the fetch script: it verifies their md5 "
                  "(the only checksum published, by torchvision) and extracts them to {folder}/images/ "
                  "and {folder}/annotations/ (trimaps/, xmls/, trainval.txt, test.txt)."),
    layout=("images", "annotations/trimaps", "annotations/trainval.txt", "annotations/test.txt"),
    files=(
        RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz", "images.tar.gz",
                   provides="images", md5="5c4f3ee8e5d25df40f4fd59a7f44e54c", size="about 800 MB"),
        RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz", "annotations.tar.gz",
                   provides="annotations", md5="95a8c909bbe2e81eed6a22bccdf3f68f", size="about 20 MB"),
    ),
    lectures=(5,),
))

_register(DatasetInfo(
    name="pennfudan",
    title="Penn-Fudan Database for Pedestrian Detection and Segmentation",
    homepage="https://www.cis.upenn.edu/~jshi/ped_html/",
    licence="No licence stated by the authors; research and teaching use, citing Wang et al. (ACCV 2007)",
    citation="L. Wang, J. Shi, G. Song, I. Shen, 'Object Detection Combining Recognition and "
             "Segmentation', ACCV 2007",
    instructions=("Downloaded automatically. To do it by hand, put PennFudanPed.zip from {homepage} into "
                  "{folder} and run the fetch script; it extracts {folder}/PennFudanPed/ (PNGImages/, "
                  "PedMasks/, Annotation/). No checksum is published: the script prints the SHA-256 it "
                  "computed and warns that it was not verified."),
    layout=("PennFudanPed/PNGImages", "PennFudanPed/PedMasks"),
    files=(
        RemoteFile("https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip", "PennFudanPed.zip",
                   provides="PennFudanPed", size="about 50 MB"),
    ),
    lectures=(5,),
))

_register(DatasetInfo(
    name="div2k",
    title="DIV2K (DIVerse 2K resolution images), NTIRE 2017",
    homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/",
    licence="Academic research use only (per the homepage); image copyrights stay with their owners",
    citation="E. Agustsson, R. Timofte, 'NTIRE 2017 Challenge on Single Image Super-Resolution: "
             "Dataset and Study', CVPR Workshops 2017",
    instructions=("Downloaded automatically (about 4 GB in all). To do it by hand, put DIV2K_train_HR.zip "
                  "and DIV2K_valid_HR.zip from {homepage} into {folder} and run the fetch script; it "
                  "extracts {folder}/DIV2K_train_HR/ (800 PNGs) and {folder}/DIV2K_valid_HR/ (100 PNGs). "
                  "No checksum is published: the script prints the SHA-256 it computed and warns that "
                  "it was not verified."),
    layout=("DIV2K_train_HR", "DIV2K_valid_HR"),
    files=(
        RemoteFile("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip", "DIV2K_train_HR.zip",
                   provides="DIV2K_train_HR", size="about 3.5 GB"),
        RemoteFile("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip", "DIV2K_valid_HR.zip",
                   provides="DIV2K_valid_HR", size="about 450 MB"),
    ),
    lectures=(9,),
))


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (case and ``_``/``-`` do not matter: ``"Oxford_Pets"`` works)."""
    key = name.strip().lower().replace("_", "-")
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))} "
                         f"(list them with {FETCH_SCRIPT} --list)")
    return REGISTRY[key]


def _script_command(name: str, root: str | os.PathLike | None) -> str:
    return f"{FETCH_SCRIPT} {name}" + (f" --root {root}" if root is not None else "")


def fetch(name: str, root: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Make dataset ``name`` ready under ``root or labkit.data_dir()`` and return its folder, ``root/name``.

    A dataset whose layout is already there is returned at once, online or not. Otherwise each archive
    that is not yet extracted is downloaded (resuming a ``.part`` file; an archive already placed in the
    folder by hand is used as it is), verified, extracted safely, and deleted to save space.

    Raises:
        DatasetNotFoundError: a manual dataset is missing (the message says where to put it), or the
            machine is offline and archives are missing (the message lists the URLs to fetch elsewhere).
        DownloadError, ChecksumError: see :func:`labkit.data.download`.

    Used by lecture 2 (ALL-IDB), 3 (chest X-rays), 5 (Oxford-IIIT Pet, PennFudan) and 9 (DIV2K).
    """
    info = get_dataset(name)
    folder = info.folder(root)
    missing = info.missing(folder)
    if not missing:
        return folder
    if info.manual:
        raise DatasetNotFoundError(
            f"{info.title} is not in {folder} (missing: {', '.join(missing)}).\n{info.how_to_get(folder)}\n"
            f"Then run `{_script_command(info.name, root)}` to check the folder.")

    todo = [remote for remote in info.files if not (folder / remote.provides).exists()]
    to_download = [remote for remote in todo if not (folder / remote.filename).is_file()]
    if to_download and not is_online():
        lines = "\n".join(f"  {remote.url}  ->  {folder / remote.filename}" for remote in to_download)
        raise DatasetNotFoundError(
            f"{info.title} is not in {folder} and this machine is offline. On a connected machine run "
            f"`{_script_command(info.name, root)}`, or download\n{lines}\nand run the script again here "
            "to verify and extract the archives.")

    for remote in todo:
        archive = download(remote.url, folder / remote.filename, remote.sha256, md5=remote.md5,
                           progress=progress)
        extract(archive, folder)
        archive.unlink()  # the extracted folder is what counts; the archive would double the space used

    missing = info.missing(folder)
    if missing:
        raise DatasetNotFoundError(
            f"the archives of {info.name} were extracted into {folder}, but {', '.join(missing)} is still "
            "missing: the files on the server may have changed. Please tell the course maintainers.")
    return folder


FETCH_ERRORS = (DatasetNotFoundError, DownloadError, ValueError, FileExistsError, OSError, zipfile.BadZipFile,
                tarfile.TarError)
"""What :func:`fetch` raises when a dataset cannot be made ready (missing, offline, bad download or archive)."""


def fetch_or_explain(name: str, root: str | os.PathLike | None = None, *, progress: bool = True) -> Path | None:
    """:func:`fetch` for the command-line data scripts: the dataset's folder, or ``None`` after printing why
    not to stderr (the error, then where the data was looked for). Used by ``data_scripts/oxford_pets.py``
    and ``data_scripts/pennfudan.py`` (lecture 5)."""
    try:
        return fetch(name, root, progress=progress)
    except FETCH_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        if name in REGISTRY:  # (an unknown name is the error itself)
            print(f"Nothing to check: {REGISTRY[name].title} is not in {REGISTRY[name].folder(root)}.",
                  file=sys.stderr)
        return None
