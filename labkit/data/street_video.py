"""Your own fixed-camera videos (or their synthetic twin) for lecture 10: loader and checker.

Introduced in lecture 10 (video analytics). The real data is any video file OpenCV reads (``.mp4``,
``.avi``, ``.mov``, ``.mkv``, ...) from a camera that does not move: put it in
``labkit.data_dir() / "street-video" / "videos"``. A file ``<name>.json`` beside ``<name>.mp4`` is read
as its ground truth, in the format the twin writes (:func:`labkit.data.street_video_twin.street_truth`:
``fps``, ``n_frames``, ``events`` as ``[start_s, end_s]`` pairs, per-frame ``people``); without it the
lecture can still detect motion, but cannot score it. ``labkit.data.get("street-video")`` returns that
folder, or the synthetic twin in the same layout.

The book downloads its videos from YouTube; the platform's terms forbid that for most videos, and CCTV
footage of identifiable people is personal data. Use footage you recorded yourself with consent and
signage, or a public research dataset whose licence allows it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from labkit.data.common import Report, data_root, not_found, some_names
from labkit.data.registry import CLI
from labkit.data.street_video_twin import TRUTH_SUFFIX

__all__ = ["VIDEO_SUFFIXES", "StreetVideos", "read_truth", "verify_street_video"]

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv")
SCRIPT = f"{CLI} verify street-video"


def read_truth(path: Path) -> dict[str, Any]:
    """The ground truth JSON at ``path``; ``ValueError`` naming the file when it is not in the format."""
    try:
        truth = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable JSON file ({err}); delete it or write it again") from err
    missing = [key for key in ("fps", "n_frames", "events") if key not in truth]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: a truth file holds fps, n_frames and events "
                         "([start_s, end_s] pairs); see labkit.data.street_video_twin.street_truth")
    for k, event in enumerate(truth["events"]):
        if len(event) != 2 or not 0 <= event[0] < event[1]:
            raise ValueError(f"{path}: event {k} is {event}, not [start_s, end_s] with 0 <= start_s < end_s")
    return truth


class StreetVideos(Dataset):
    """The videos of a folder: ``videos[i]`` is ``{"path": Path, "name": str, "truth": dict | None}``.

    ``root`` is the data folder holding ``videos/`` (default: ``labkit.data_dir()/street-video``);
    videos are sorted by name, and ``truth`` is the JSON beside a video, if there is one. Frames are
    read on demand with :func:`labkit.video.iter_frames`, never all at once. Lecture 10.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = data_root("street-video", root)
        folder = self.root / "videos"
        if not folder.is_dir():
            raise not_found("street-video", self.root, "the folder videos/", contains=("videos",))
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES
                            and not p.name.startswith("."))
        if not self.paths:
            others = sorted(p.name for p in folder.iterdir())
            raise not_found("street-video", self.root, f"a video file ({', '.join(VIDEO_SUFFIXES)}) in "
                            f"videos/ (it holds: {some_names(others) or 'nothing'})", contains=("videos",))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        truth_path = path.with_suffix(TRUTH_SUFFIX)
        return {"path": path, "name": path.stem,
                "truth": read_truth(truth_path) if truth_path.is_file() else None}


def verify_street_video(root: str | os.PathLike | None = None, *, strict: bool = True) -> Report:
    """Check a folder of videos: each opens, its frames are counted, its header is compared with what
    was read, and a truth file (if any) agrees with the video. Never raises for a bad folder."""
    from labkit.video import VideoReadError, probe_video  # labkit.video imports labkit.data

    root = data_root("street-video", root)
    report = Report("Videos for lecture 10", root)
    try:
        videos = StreetVideos(root)
    except FileNotFoundError as err:
        report.errors.append(str(err).splitlines()[0])
        return report
    with_truth = 0
    for k, path in enumerate(videos.paths):
        try:
            info = probe_video(path)
        except (VideoReadError, ValueError) as err:
            report.errors.append(str(err))
            continue
        report.summary.append(f"{path.name}: {info.n_frames} frames at {info.fps:g} fps ({info.duration_s:.1f} s), "
                              f"{info.width}x{info.height}")
        report.warnings += [f"{path.name}: {note}" for note in info.notes]
        try:
            truth = videos[k]["truth"]
        except ValueError as err:
            report.errors.append(str(err))
            continue
        if truth is None:
            continue
        with_truth += 1
        if truth["n_frames"] != info.n_frames or abs(truth["fps"] - info.fps) > 0.01 * info.fps:
            message = (f"{path.name}: the truth file says {truth['n_frames']} frames at {truth['fps']} fps, the "
                       f"video has {info.n_frames} at {info.fps:g}")
            (report.errors if strict else report.warnings).append(message)
    report.counts = {"videos": len(videos), "with_truth": with_truth}
    report.details = {"names": [p.name for p in videos.paths]}
    report.summary.insert(0, f"{len(videos)} video(s), {with_truth} with a ground-truth file")
    return report
