"""Tests of labkit/data/street_video.py: a folder of your own videos (lecture 10), its truth files and its check."""
from __future__ import annotations

import json

import numpy as np
import pytest

from labkit.data import DatasetNotFoundError
from labkit.data.street_video import StreetVideos, read_truth, verify_street_video
from labkit.data.street_video_twin import write_street_video_twin
from labkit.video import write_clip


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    return write_street_video_twin(tmp_path_factory.mktemp("street") / "street-video", 2, size=(48, 64), fps=5,
                                   duration_s=12)


def _frames(n: int = 6) -> list[np.ndarray]:
    return [np.full((32, 48, 3), 20 * k, np.uint8) for k in range(n)]


def test_the_twin_is_read_with_its_truth(twin):
    videos = StreetVideos(twin)
    assert len(videos) == 2 and [v["name"] for v in videos] == ["street_000", "street_001"]
    truth = videos[0]["truth"]
    assert truth["n_frames"] == 60 and truth["fps"] == 5 and len(truth["frames"]) == 60
    assert verify_street_video(twin).ok


def test_your_own_videos_in_any_container_without_truth(tmp_path):
    (tmp_path / "videos").mkdir()
    write_clip(_frames(), tmp_path / "videos" / "shop.mp4", fps=5, codec="mp4v")
    write_clip(_frames(), tmp_path / "videos" / "car_park.avi", fps=5)
    (tmp_path / "videos" / "notes.txt").write_text("not a video")
    videos = StreetVideos(tmp_path)
    assert [v["name"] for v in videos] == ["car_park", "shop"]
    assert videos[1]["truth"] is None
    report = verify_street_video(tmp_path)
    assert report.ok and report.counts == {"videos": 2, "with_truth": 0}
    assert "shop.mp4: 6 frames at 5 fps" in str(report)


def test_a_missing_or_empty_folder_says_where_videos_go(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"videos/ not found.*\{folder\}|videos/"):
        StreetVideos(tmp_path)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "readme.md").write_text("x")
    with pytest.raises(DatasetNotFoundError, match=r"(?s)a video file.*readme.md.*verify street-video"):
        StreetVideos(tmp_path)
    assert not verify_street_video(tmp_path).ok


def test_a_broken_truth_file_is_named(tmp_path):
    (tmp_path / "videos").mkdir()
    write_clip(_frames(), tmp_path / "videos" / "a.avi", fps=5)
    (tmp_path / "videos" / "a.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"a.json is not a readable JSON file"):
        StreetVideos(tmp_path)[0]
    (tmp_path / "videos" / "a.json").write_text(json.dumps({"fps": 5, "n_frames": 6}))
    with pytest.raises(ValueError, match="lacks events"):
        read_truth(tmp_path / "videos" / "a.json")
    (tmp_path / "videos" / "a.json").write_text(json.dumps({"fps": 5, "n_frames": 6, "events": [[2, 1]]}))
    with pytest.raises(ValueError, match=r"event 0 is \[2, 1\]"):
        read_truth(tmp_path / "videos" / "a.json")
    assert "event 0" in str(verify_street_video(tmp_path))


def test_verify_reports_unreadable_videos_and_truth_that_disagrees(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"\x00" * 1000)
    write_clip(_frames(), tmp_path / "videos" / "b.avi", fps=5)
    (tmp_path / "videos" / "b.json").write_text(json.dumps({"fps": 5, "n_frames": 9, "events": []}))
    report = verify_street_video(tmp_path)
    assert not report.ok
    assert any("broken.mp4" in e and "ffmpeg" in e for e in report.errors)
    assert any("says 9 frames at 5 fps, the video has 6" in e for e in report.errors)
    lenient = verify_street_video(tmp_path, strict=False)
    assert any("says 9 frames" in w for w in lenient.warnings)
