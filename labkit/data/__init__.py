"""Datasets of the course: download, verify and extract real data; loaders for the real layouts; synthetic twins."""
from labkit.data.download import (ChecksumError, DownloadError, UnsafeArchiveError, UnverifiedDownloadWarning,
                                  download, extract, file_digest)
from labkit.data.registry import REGISTRY, DatasetInfo, DatasetNotFoundError, RemoteFile, fetch, get_dataset
from labkit.data.all_idb import ALLIDB1, ALLIDB2, ImageReadError, VerifyReport, label_from_name, parse_xyc, verify_all_idb
from labkit.data.synthetic_blood import Slide, make_patch, make_patches, make_slide, write_all_idb_twin
from labkit.data.chest_xray import chest_xray_data, verify_chest_xray, write_chest_xray_twin
from labkit.data.synthetic_shapes import SHAPE_CLASSES, ShapesScene, make_shapes_scene, shapes_data, write_shapes_twin
from labkit.data.yolo import YOLODataset, collate_detection, pad_targets
from labkit.data.oxford_pets import OxfordPetsSegmentation, oxford_pets_data, verify_oxford_pets
from labkit.data.pennfudan import PennFudan, pennfudan_data, split_indices, verify_pennfudan
from labkit.data.synthetic_pets import make_pet_photo, write_oxford_pets_twin
from labkit.data.synthetic_pedestrians import make_street_scene, write_pennfudan_twin

__all__ = [
    "download", "extract", "file_digest", "fetch", "get_dataset", "REGISTRY", "DatasetInfo", "RemoteFile",
    "DownloadError", "ChecksumError", "UnsafeArchiveError", "UnverifiedDownloadWarning", "DatasetNotFoundError",
    "ALLIDB1", "ALLIDB2", "ImageReadError", "VerifyReport", "label_from_name", "parse_xyc", "verify_all_idb",
    "Slide", "make_patch", "make_patches", "make_slide", "write_all_idb_twin",
    "chest_xray_data", "verify_chest_xray", "write_chest_xray_twin",
    "SHAPE_CLASSES", "ShapesScene", "make_shapes_scene", "shapes_data", "write_shapes_twin",
    "YOLODataset", "collate_detection", "pad_targets",
    "OxfordPetsSegmentation", "oxford_pets_data", "verify_oxford_pets", "make_pet_photo", "write_oxford_pets_twin",
    "PennFudan", "pennfudan_data", "split_indices", "verify_pennfudan", "make_street_scene", "write_pennfudan_twin",
]
