"""The datasets of the course, each declared once: where it comes from, how it is read, checked and twinned.

An entry (:class:`DatasetInfo`) holds the facts a student needs (title, homepage, licence, citation,
manual instructions), what makes the folder complete (``layout``), the archives to download with their
published checksums, and the names of its loader, verifier and twin writer with the twin's version and
its fast and full sizes. :func:`labkit.data.get` and ``python -m labkit.data`` read nothing else, so a
new dataset costs an entry here, a loader module and a twin module (``labkit/data/README.md``).

Checksums are the ones the authors publish; where they publish none the field is None and the download
is reported as unverified (never silently), with the SHA-256 computed so it can be recorded.
"""
from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.env import data_dir

__all__ = ["RemoteFile", "DatasetInfo", "REGISTRY", "get_dataset", "DatasetNotFoundError", "CLI"]

CLI = "python -m labkit.data"


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


def _resolve(reference: str) -> Callable[..., Any]:
    """``"chest_xray:verify_chest_xray"`` -> the function ``labkit.data.chest_xray.verify_chest_xray``."""
    module, name = reference.split(":")
    return getattr(importlib.import_module(f"labkit.data.{module}"), name)


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """A dataset of the course. ``instructions`` may contain ``{folder}``, the dataset's folder.

    ``loader``, ``verifier`` and ``twin`` name functions as ``"module:function"`` inside ``labkit.data``
    (imported only when used). Each takes the dataset's *data folder* (the folder itself, or its
    ``subdir`` where the archive nests one, e.g. ``chest_xray/``) first: ``loader(folder)`` returns a
    ``torch.utils.data.Dataset``, ``verifier(folder, strict=...)`` a :class:`labkit.data.common.Report`,
    ``twin(folder, seed=..., **fast_twin or full_twin)`` writes the twin there.
    """

    name: str
    title: str
    homepage: str
    licence: str
    citation: str
    instructions: str
    layout: tuple[str, ...]  # paths under the dataset folder that exist once it is ready; "a|b": either
    loader: str
    verifier: str
    twin: str
    twin_version: int  # part of the twin's cache folder name: bump it when the twin's pictures change
    fast_twin: Mapping[str, Any] = field(default_factory=dict)  # twin writer options, LABKIT_FAST=1
    full_twin: Mapping[str, Any] = field(default_factory=dict)  # ... and for the full lesson
    subdir: str = ""  # the data folder inside the dataset folder, where an archive nests one
    files: tuple[RemoteFile, ...] = ()  # empty: manual download only
    lectures: tuple[int, ...] = ()

    @property
    def manual(self) -> bool:
        """True when no file can be downloaded without the student's own request or account."""
        return not self.files

    def folder(self, root: str | os.PathLike | None = None) -> Path:
        """``root/name``, with ``root`` defaulting to :func:`labkit.data_dir`."""
        return (Path(root).expanduser() if root is not None else data_dir()) / self.name

    def data_folder(self, root: str | os.PathLike | None = None) -> Path:
        """The folder the loader reads: ``root/name/subdir``."""
        return self.folder(root) / self.subdir if self.subdir else self.folder(root)

    def missing(self, folder: Path) -> list[str]:
        """The layout paths not (yet) present under the dataset folder ``folder``."""
        return [path for path in self.layout
                if not any((folder / option).exists() for option in path.split("|"))]

    def how_to_get(self, folder: Path) -> str:
        return self.instructions.format(folder=folder, homepage=self.homepage)

    def load(self, folder: str | os.PathLike, **options: Any) -> Any:
        """The dataset's loader on its data folder (``loader(folder, **options)``)."""
        return _resolve(self.loader)(folder, **options)

    def verify(self, folder: str | os.PathLike, *, strict: bool = True, decode: bool = False) -> Any:
        """The dataset's verifier on its data folder; returns its report. ``decode`` (decode every
        image) goes to verifiers that take it; the others decode everything anyway or read no pixels."""
        verifier = _resolve(self.verifier)
        takes_decode = "decode" in inspect.signature(verifier).parameters
        return verifier(folder, strict=strict, **({"decode": decode} if takes_decode else {}))

    def twin_writer(self) -> Callable[..., Path]:
        """The function that writes the twin: ``writer(data_folder, seed=..., **sizes)``."""
        return _resolve(self.twin)


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
    loader="all_idb:ALLIDB2", verifier="all_idb:verify_all_idb", twin="all_idb_twin:write_all_idb_twin",
    twin_version=1,
    # The fast twin is shrunk by 64 / 257 (64-pixel crops, 645 x 484 slides); the full one has the real sizes.
    fast_twin={"n_patches": 400, "n_slides": 16, "patch_size": 64},
    full_twin={"n_patches": 800, "n_slides": 108, "patch_size": 257},
    lectures=(2,),
))

_register(DatasetInfo(
    name="chest-xray",
    title="Chest X-Ray Images (Pneumonia): the paediatric films of Kermany et al. (ChestXRay2017)",
    homepage="https://data.mendeley.com/datasets/rscbjbr9sj/2",
    licence="CC BY 4.0",
    citation="D. S. Kermany et al., 'Identifying Medical Diagnoses and Treatable Diseases by Image-Based "
             "Deep Learning', Cell 172(5), 2018",
    instructions=("Downloaded automatically from Mendeley Data (ChestXRay2017.zip, about 1.2 GB; no "
                  "checksum is published, so the SHA-256 is printed and the download reported as not "
                  "verified). By hand: put ChestXRay2017.zip from {homepage} into {folder} and run "
                  "`python -m labkit.data fetch chest-xray`, or unzip a Kaggle copy there yourself "
                  "(kaggle datasets download -d tolgadincer/labeled-chest-xray-images, the book's release; or "
                  "paultimothymooney/chest-xray-pneumonia, whose 16 val/ films are ignored). Either way "
                  "you need {folder}/chest_xray/train/ and {folder}/chest_xray/test/, each holding "
                  "NORMAL/ and PNEUMONIA/."),
    layout=("chest_xray/train/NORMAL", "chest_xray/train/PNEUMONIA",
            "chest_xray/test/NORMAL", "chest_xray/test/PNEUMONIA"),
    subdir="chest_xray",
    files=(
        RemoteFile("https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
                   "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded", "ChestXRay2017.zip",
                   provides="chest_xray", size="about 1.2 GB"),
    ),
    loader="chest_xray:chest_xray_folder", verifier="chest_xray:verify_chest_xray",
    twin="chest_xray_twin:write_chest_xray_twin", twin_version=1,
    # Fast: the real class ratios (about 1:3 in train, 3:5 in test) on 840 small films; full: the release.
    fast_twin={"counts": {"train": (150, 450), "test": (90, 150)}, "height": 96},
    full_twin={"counts": {"train": (1349, 3883), "test": (234, 390)}, "height": 240},
    lectures=(3,),
))

_register(DatasetInfo(
    name="oxford-pets",
    title="The Oxford-IIIT Pet Dataset",
    homepage="https://www.robots.ox.ac.uk/~vgg/data/pets/",
    licence="CC BY-SA 4.0",
    citation="O. M. Parkhi, A. Vedaldi, A. Zisserman, C. V. Jawahar, 'Cats and Dogs', CVPR 2012",
    instructions=("Downloaded automatically. To do it by hand, put images.tar.gz and annotations.tar.gz "
                  "from {homepage} into {folder} and run `python -m labkit.data fetch oxford-pets`: it verifies their md5 "
                  "(the only checksum published, by torchvision) and extracts them to {folder}/images/ "
                  "and {folder}/annotations/ (trimaps/, xmls/, trainval.txt, test.txt)."),
    layout=("images", "annotations/trimaps", "annotations/trainval.txt", "annotations/test.txt"),
    files=(
        RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz", "images.tar.gz",
                   provides="images", md5="5c4f3ee8e5d25df40f4fd59a7f44e54c", size="about 800 MB"),
        RemoteFile("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz", "annotations.tar.gz",
                   provides="annotations", md5="95a8c909bbe2e81eed6a22bccdf3f68f", size="about 20 MB"),
    ),
    loader="oxford_pets:OxfordPetsSegmentation", verifier="oxford_pets:verify_oxford_pets",
    twin="oxford_pets_twin:write_oxford_pets_twin", twin_version=1,
    # Full: half the release's 3,680 + 3,669 photos. Image sides are 75% to 100% of "size".
    fast_twin={"counts": {"trainval": 240, "test": 120}, "size": 128},
    full_twin={"counts": {"trainval": 1840, "test": 1835}, "size": 256},
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
                  "{folder} and run `python -m labkit.data fetch pennfudan`; it extracts "
                  "{folder}/PennFudanPed/ (PNGImages/, PedMasks/, Annotation/). No checksum is published: the script prints the SHA-256 it "
                  "computed and warns that it was not verified."),
    layout=("PennFudanPed/PNGImages", "PennFudanPed/PedMasks"),
    files=(
        RemoteFile("https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip", "PennFudanPed.zip",
                   provides="PennFudanPed", size="about 50 MB"),
    ),
    subdir="PennFudanPed",
    loader="pennfudan:PennFudan", verifier="pennfudan:verify_pennfudan",
    twin="pennfudan_twin:write_pennfudan_twin", twin_version=1,
    # 170 scenes, the real count (the lecture trains on 120 and tests on 50); 128 px is the small Mask
    # R-CNN's input size in fast mode.
    fast_twin={"n": 170, "size": 128},
    full_twin={"n": 170, "size": 256},
    lectures=(5,),
))

_register(DatasetInfo(
    name="yolo",
    title="Your own detection dataset in the YOLO label format (twin: synthetic shapes)",
    homepage="https://docs.ultralytics.com/datasets/detect/",
    licence="Yours (the twin's scenes are generated here and free to use)",
    citation="J. Redmon, A. Farhadi, 'YOLO9000: Better, Faster, Stronger', CVPR 2017 (the label format)",
    instructions=("Nothing to download: this is where your own YOLO-format data goes (an export of "
                  "Roboflow, CVAT, Label Studio or LabelImg). Put it in {folder} as "
                  "images/train/*.jpg + labels/train/*.txt (and val/), or train/images + train/labels, "
                  "or images/ + labels/ side by side, with classes.txt, data.yaml or a .names file "
                  "naming the classes. Each label line is 'class xc yc w h', normalised to 0..1."),
    layout=("images|train/images", "labels|train/labels"),
    loader="yolo:YOLODataset", verifier="yolo:verify_yolo", twin="yolo_twin:write_shapes_twin",
    twin_version=3,
    fast_twin={"n_train": 2000, "n_val": 300, "size": 96},
    full_twin={"n_train": 3000, "n_val": 600, "size": 128},
    lectures=(4,),
))

_register(DatasetInfo(
    name="fashion-products",
    title="Fashion Product Images (Small): about 44,000 Myntra catalogue photos with their attributes",
    homepage="https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small",
    licence="MIT (as stated on the Kaggle page); the photos come from the Myntra catalogue",
    citation="P. Aggarwal, 'Fashion Product Images (Small)', Kaggle, 2019",
    instructions=("Kaggle needs an account, so this is a manual download (about 280 MB): "
                  "`kaggle datasets download -d paramaggarwal/fashion-product-images-small` or the "
                  "Download button on {homepage}, then unzip the archive into {folder}, so that "
                  "{folder}/styles.csv and {folder}/images/<id>.jpg exist (the copy the archive nests "
                  "in {folder}/myntradataset/ is read as well). Optional: put photos of your own "
                  "products in {folder}/queries/ to search the catalogue with them."),
    layout=("styles.csv|myntradataset/styles.csv", "images|myntradataset/images"),
    loader="fashion_products:FashionProducts", verifier="fashion_products:verify_fashion_products",
    twin="fashion_products_twin:write_fashion_products_twin", twin_version=1,
    # Fast: 3,000 products (2,000 to train the small CNN, 1,000 to search); full: about half the release.
    fast_twin={"n": 3000, "n_queries": 12},
    full_twin={"n": 20_000, "n_queries": 12},
    lectures=(6,),
))

_register(DatasetInfo(
    name="coco-keypoints",
    title="COCO 2017 person keypoints (17 joints per person), and a folder of your own photos",
    homepage="https://cocodataset.org/#keypoints-2017",
    licence="Annotations CC BY 4.0; images under their Flickr licences (listed in the annotation files)",
    citation="T.-Y. Lin et al., 'Microsoft COCO: Common Objects in Context', ECCV 2014",
    instructions=("Downloaded automatically (about 1 GB: the 2017 annotations and the 5,000 val2017 images). "
                  "By hand: unzip annotations_trainval2017.zip and val2017.zip from {homepage} into "
                  "{folder}, so that {folder}/annotations/person_keypoints_val2017.json and "
                  "{folder}/val2017/*.jpg exist (train2017.zip, 18 GB, goes beside them as train2017/; "
                  "CocoKeypoints also reads images/<split>/ when given the folder). Your own COCO-format export works too: "
                  "annotations/person_keypoints_<split>.json with its images in <split>/. Put your own "
                  "photos of people (JPG/PNG) in {folder}/photos/ for the Keypoint R-CNN demo. COCO "
                  "publishes no checksums: the download is reported as unverified."),
    layout=("annotations", "val2017"),
    files=(
        RemoteFile("https://images.cocodataset.org/annotations/annotations_trainval2017.zip",
                   "annotations_trainval2017.zip", provides="annotations", size="about 250 MB"),
        RemoteFile("https://images.cocodataset.org/zips/val2017.zip", "val2017.zip", provides="val2017",
                   size="about 780 MB"),
    ),
    loader="coco_keypoints:CocoKeypoints", verifier="coco_keypoints:verify_coco_keypoints",
    twin="coco_keypoints_twin:write_coco_keypoints_twin", twin_version=1,
    # Fast: 128-pixel rooms with 1 to 3 figures, about 1,000 person crops to train on in a minute of
    # CPU; full: 256 pixels, 1 to 4 figures, for a GPU.
    fast_twin={"counts": {"train2017": 500, "val2017": 100}, "size": 128, "max_people": 3},
    full_twin={"counts": {"train2017": 4000, "val2017": 500}, "size": 256, "max_people": 4},
    lectures=(7,),
))

_MVTEC_CATEGORIES = ("carpet", "grid", "leather", "tile", "wood", "bottle", "cable", "capsule", "hazelnut",
                     "metal_nut", "pill", "screw", "toothbrush", "transistor", "zipper")

_register(DatasetInfo(
    name="mvtec-ad",
    title="MVTec AD: the MVTec Anomaly Detection dataset (15 industrial categories, pixel masks of defects)",
    homepage="https://www.mvtec.com/company/research/datasets/mvtec-ad",
    licence="CC BY-NC-SA 4.0 (non-commercial use only)",
    citation="P. Bergmann, M. Fauser, D. Sattlegger, C. Steger, 'MVTec AD: A Comprehensive Real-World "
             "Dataset for Unsupervised Anomaly Detection', CVPR 2019",
    instructions=("MVTec AD is a manual download: on {homepage} accept the non-commercial licence "
                  "(CC BY-NC-SA 4.0), then download the whole dataset (mvtec_anomaly_detection.tar.xz, "
                  "about 4.9 GB) or single categories (the texture classes carpet, grid, leather, tile "
                  "and wood are enough for lecture 8) and extract them so that each category is a folder "
                  "of {folder}: {folder}/carpet/train/good/, {folder}/carpet/test/<good|defect>/ and "
                  "{folder}/carpet/ground_truth/<defect>/000_mask.png."),
    layout=("|".join(f"{c}/train/good" for c in _MVTEC_CATEGORIES),),
    loader="mvtec_ad:MVTecAD", verifier="mvtec_ad:verify_mvtec_ad", twin="mvtec_ad_twin:write_mvtec_ad_twin",
    twin_version=1,
    # Four texture categories; fast: 96-pixel images, 40 good ones to learn from and 22 to test per
    # category; full: the lecture's 224 pixels and about MVTec's texture counts.
    fast_twin={"n_train": 40, "n_test_good": 10, "n_per_defect": 4, "size": 96},
    full_twin={"n_train": 240, "n_test_good": 30, "n_per_defect": 20, "size": 224},
    lectures=(8,),
))

_register(DatasetInfo(
    name="div2k",
    title="DIV2K: 1,000 diverse 2K photos for super-resolution (800 train, 100 validation HR images)",
    homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/",
    licence="Research and academic use only (the photos' owners keep their rights; see the homepage)",
    citation="E. Agustsson, R. Timofte, 'NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset "
             "and Study', CVPR Workshops 2017",
    instructions=("Downloaded automatically (DIV2K_train_HR.zip, about 3.5 GB, and DIV2K_valid_HR.zip, "
                  "about 450 MB; the authors publish no checksum, so the SHA-256 is printed and the "
                  "download reported as not verified). By hand: put both archives from {homepage} into "
                  "{folder} and run `python -m labkit.data fetch div2k`, or unzip them there yourself, "
                  "so that {folder}/DIV2K_train_HR/0001.png ... 0800.png and "
                  "{folder}/DIV2K_valid_HR/0801.png ... 0900.png exist. The LR archives are not needed. "
                  "Benchmark sets (Set5, Set14) have no official download: put their HR images in "
                  "{folder}/Set5/ and read them with split='Set5'."),
    layout=("DIV2K_train_HR", "DIV2K_valid_HR"),
    files=(
        RemoteFile("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip", "DIV2K_train_HR.zip",
                   provides="DIV2K_train_HR", size="about 3.5 GB"),
        RemoteFile("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip", "DIV2K_valid_HR.zip",
                   provides="DIV2K_valid_HR", size="about 450 MB"),
    ),
    loader="div2k:DIV2K", verifier="div2k:verify_div2k", twin="div2k_twin:write_div2k_twin", twin_version=1,
    # The bundled photos either way (12 to train on, 4 held out); fast: shrunk to 640 pixels, 2 textures.
    fast_twin={"n_textures": 2, "texture_size": 256, "max_side": 640},
    full_twin={"n_textures": 8, "texture_size": 512, "max_side": 1024},
    lectures=(9,),
))

_register(DatasetInfo(
    name="object-scenes",
    title="Your own labelled image folder (twin: patterned objects on cluttered scenes, with boxes)",
    homepage="https://pytorch.org/vision/stable/generated/torchvision.datasets.ImageFolder.html",
    licence="Yours (the twin's scenes are generated here and free to use)",
    citation="D. Zhang et al. (pointing game), 'Top-down Neural Attention by Excitation Backprop', ECCV 2016",
    instructions=("Nothing to download: this is where your own labelled photos go (homework 4 of lecture 11). "
                  "Put them in {folder} as train/<class>/*.jpg and test/<class>/*.jpg (or val/), the "
                  "same class folders in both, a few images per class; name the class folders after "
                  "ImageNet categories (e.g. tabby, golden_retriever) to compare with the pretrained "
                  "models' predictions. Optionally add {folder}/boxes.csv with the header "
                  "file,x1,y1,x2,y2 and one row per object box (file relative to {folder}, pixels) so "
                  "that the saliency maps can be scored."),
    layout=("train", "test|val"),
    loader="object_scenes:ObjectScenes", verifier="object_scenes:verify_object_scenes",
    twin="object_scenes_twin:write_object_scenes_twin", twin_version=1,
    # Fast: 48-pixel scenes, enough for a small CNN to learn the five patterns in about ten CPU seconds.
    fast_twin={"counts": {"train": 1000, "test": 250}, "size": 48},
    full_twin={"counts": {"train": 4000, "test": 1000}, "size": 96},
    lectures=(11,),
))



_register(DatasetInfo(
    name="street-video",
    title="Your own fixed-camera videos (twin: a street with walkers, lighting drift and known events)",
    homepage="https://docs.opencv.org/4.x/d8/dfe/classcv_1_1VideoCapture.html",
    licence="Yours: film only with consent and signage, and keep to your platform's and country's rules "
            "(the twin's videos are generated here and free to use)",
    citation="Z. Zivkovic, 'Improved Adaptive Gaussian Mixture Model for Background Subtraction', ICPR 2004 "
             "(MOG2, the lecture's background model)",
    instructions=("Nothing to download: this is where your own videos go (any file OpenCV reads: .mp4, .avi, "
                  ".mov, .mkv ...), from a camera that does not move. Put them in {folder}/videos/. A "
                  "file <name>.json beside <name>.mp4 holding fps, n_frames and events ([start_s, end_s] "
                  "pairs of the times when people were in view) lets the lecture score its motion events."),
    layout=("videos",),
    loader="street_video:StreetVideos", verifier="street_video:verify_street_video",
    twin="street_video_twin:write_street_video_twin", twin_version=1,
    # Fast: three 40-second clips of 160 x 120 at 10 fps (1,200 small frames); full: 320 x 240, 15 fps, 90 s.
    fast_twin={"n_videos": 3, "size": (120, 160), "fps": 10, "duration_s": 40},
    full_twin={"n_videos": 3, "size": (240, 320), "fps": 15, "duration_s": 90},
    lectures=(10,),
))

_register(DatasetInfo(
    name="shanghaitech",
    title="ShanghaiTech crowd counting (part A: dense crowds from the web; part B: Shanghai streets)",
    homepage="https://github.com/desenzhou/ShanghaiTechDataset",
    licence="Authors' terms (see homepage): research use, citing Zhang et al. (CVPR 2016)",
    citation="Y. Zhang, D. Zhou, S. Chen, S. Gao, Y. Ma, 'Single-Image Crowd Counting via Multi-Column "
             "Convolutional Neural Network', CVPR 2016",
    instructions=("ShanghaiTech has no stable direct download (the authors link Dropbox and Baidu copies "
                  "from {homepage}; a copy is also on Kaggle). Unpack it so that {folder} holds "
                  "part_A/ and/or part_B/ (part_A_final/ and part_B_final/, the original archive's names, "
                  "work too), each with train_data/ and test_data/, and in each images/IMG_1.jpg ... and "
                  "ground-truth/GT_IMG_1.mat ... (head points in image_info.location)."),
    layout=("part_A|part_A_final|part_B|part_B_final",),
    loader="shanghaitech:ShanghaiTech", verifier="shanghaitech:verify_shanghaitech",
    twin="shanghaitech_twin:write_shanghaitech_twin", twin_version=1,
    # Fast: 260 small crowds (64 x 80 pixels, 7 to 60 people) for a network trained in seconds on a CPU;
    # full: part B's 400 + 316 images, at 192 x 256.
    fast_twin={"counts": {"train": 200, "test": 60}, "size": (64, 80), "max_people": 60,
               "head_px": (1.8, 4.0)},
    full_twin={"counts": {"train": 400, "test": 316}, "size": (192, 256), "max_people": 160,
               "head_px": (3.5, 8.0)},
    lectures=(10,),
))


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (case and ``_``/``-`` do not matter: ``"Oxford_Pets"`` works)."""
    key = name.strip().lower().replace("_", "-")
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))} "
                         f"(list them with `{CLI} list`)")
    return REGISTRY[key]
