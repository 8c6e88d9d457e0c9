"""Datasets of the course: download, verify and extract real data; loaders for the real layouts; synthetic twins."""
from labkit.data.download import (ChecksumError, DownloadError, UnsafeArchiveError, UnverifiedDownloadWarning,
                                  download, extract, file_digest)
from labkit.data.registry import REGISTRY, DatasetInfo, DatasetNotFoundError, RemoteFile, fetch, get_dataset
from labkit.data.all_idb import ALLIDB1, ALLIDB2, ImageReadError, VerifyReport, label_from_name, parse_xyc, verify_all_idb
from labkit.data.synthetic_blood import Slide, make_patch, make_patches, make_slide, write_all_idb_twin
from labkit.data.chest_xray import chest_xray_data, verify_chest_xray, write_chest_xray_twin

__all__ = [
    "download", "extract", "file_digest", "fetch", "get_dataset", "REGISTRY", "DatasetInfo", "RemoteFile",
    "DownloadError", "ChecksumError", "UnsafeArchiveError", "UnverifiedDownloadWarning", "DatasetNotFoundError",
    "ALLIDB1", "ALLIDB2", "ImageReadError", "VerifyReport", "label_from_name", "parse_xyc", "verify_all_idb",
    "Slide", "make_patch", "make_patches", "make_slide", "write_all_idb_twin",
    "chest_xray_data", "verify_chest_xray", "write_chest_xray_twin",
]
