"""Datasets of the course: downloading, verifying and extracting real data (and, later, loaders and twins)."""
from labkit.data.download import (ChecksumError, DownloadError, UnsafeArchiveError, UnverifiedDownloadWarning,
                                  download, extract, file_digest)
from labkit.data.registry import REGISTRY, DatasetInfo, DatasetNotFoundError, RemoteFile, fetch, get_dataset

__all__ = [
    "download", "extract", "file_digest", "fetch", "get_dataset", "REGISTRY", "DatasetInfo", "RemoteFile",
    "DownloadError", "ChecksumError", "UnsafeArchiveError", "UnverifiedDownloadWarning", "DatasetNotFoundError",
]
