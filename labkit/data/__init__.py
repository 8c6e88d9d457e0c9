"""Datasets of the course, each declared once in :mod:`labkit.data.registry` and reached through :func:`get`.

``folder, real = labkit.data.get("chest-xray")`` gives the folder a lecture reads: the real data when it
is on disk (or can be downloaded), else a synthetic twin in the same layout. ``python -m labkit.data``
lists, fetches, verifies and writes them from a terminal. How to add a dataset: ``labkit/data/README.md``.
"""
from labkit.data.access import FETCH_ERRORS, DataFolder, fetch, get, twin_folder, write_twin
from labkit.data.all_idb import ALLIDB1, ALLIDB2, label_from_name, parse_xyc, verify_all_idb
from labkit.data.all_idb_twin import Slide, make_patch, make_slide, write_all_idb_twin
from labkit.data.chest_xray import verify_chest_xray
from labkit.data.chest_xray_twin import make_radiograph, write_chest_xray_twin
from labkit.data.common import ImageReadError, Report
from labkit.data.download import (ChecksumError, DownloadError, UnsafeArchiveError, UnverifiedDownloadWarning,
                                  download, extract, file_digest)
from labkit.data.oxford_pets import OxfordPetsSegmentation, verify_oxford_pets
from labkit.data.oxford_pets_twin import make_pet_photo, write_oxford_pets_twin
from labkit.data.pennfudan import PennFudan, split_indices, verify_pennfudan
from labkit.data.pennfudan_twin import make_street_scene, write_pennfudan_twin
from labkit.data.registry import REGISTRY, DatasetInfo, DatasetNotFoundError, RemoteFile, get_dataset
from labkit.data.yolo import YOLODataset, collate_detection, pad_targets
from labkit.data.yolo_twin import SHAPE_CLASSES, ShapesScene, make_shapes_scene, write_shapes_twin

