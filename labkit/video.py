"""Video analytics: frames and time, motion masks and events, hotspots, density maps and counts.

Introduced in lecture 10 (video analytics). A video is a sequence of frames plus a clock: frame ``k``
is shown from ``k / fps`` to ``(k + 1) / fps`` seconds. The container reports a frame rate and a frame
count, and both can be wrong (variable frame rates, estimated counts, a broken header), so
:func:`probe_video` counts the frames and reads their timestamps instead of trusting the header, and
:func:`iter_frames` samples by time while holding one frame at a time.

Motion: :func:`difference_mask` (two frames), :func:`difference_masks` and :func:`mog2_masks` (a
stream), :func:`events_from_activity` (a per-frame yes/no signal to ``(start_s, end_s)`` events) and
:func:`match_events` (precision, recall and F1 against true events with a temporal tolerance).
Counting: :func:`density_map` (a Gaussian kernel per head that sums to one), :func:`sum_pool`,
:func:`count_errors` and :func:`game`. Images are RGB ``uint8`` ``(H, W, 3)`` throughout; OpenCV's BGR
stays inside this module.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from labkit.data.download import staged_directory

__all__ = ["VideoReadError", "VideoInfo", "Frame", "probe_video", "frame_index", "sample_indices",
           "iter_frames", "write_frames", "write_clip", "to_grey", "difference_mask", "difference_masks",
           "mog2_masks", "level_brightness", "clean_mask", "foreground_fraction", "events_from_activity", "EventScore",
           "match_events", "heatmap", "density_map", "sum_pool", "count_errors", "game"]

MAX_FPS = 1000.0  # a reported frame rate above this (or not above 0) is a broken header
CONVERT_HINT = ("Convert it to a format OpenCV's wheel reads, e.g. `ffmpeg -i input.mov -c:v mjpeg -q:v 3 "
                "output.avi`, or check that the file is complete.")


class VideoReadError(OSError):
    """A video cannot be opened or read; the message names the file and the fix."""


# ----------------------------------------------------------------------------------------------------------
# Frames and time
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found. ``fps`` and ``n_frames`` are the values to use; the ``*_reported``
    fields are what the container's header says, and ``notes`` says where the two disagree."""

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int
    fps_reported: float
    n_frames_reported: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        """Seconds of video: ``n_frames / fps`` (the last frame is shown for ``1 / fps``)."""
        return self.n_frames / self.fps


class Frame(NamedTuple):
    """One decoded frame: its index in the video, its time in seconds and the RGB image ``(H, W, 3)``."""

    index: int
    time_s: float
    image: np.ndarray


def _open(path: str | os.PathLike) -> cv2.VideoCapture:
    path = Path(path).expanduser()
    if not path.is_file():
        raise VideoReadError(f"no video file at {path}: check the path (a folder of frames is not a video).")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoReadError(f"OpenCV cannot open {path}. {CONVERT_HINT}")
    return capture


def probe_video(path: str | os.PathLike, *, fps: float | None = None) -> VideoInfo:
    """The frame rate, frame count and size of the video at ``path``, checked rather than trusted.

    Every frame is grabbed (not decoded, so this is fast) to count them, since containers often store
    an estimate of the count or none. The frame rate is ``fps`` when given; else the header's, when it
    is a plausible number and agrees within 1% with the one measured from the frames' timestamps;
    else the measured one. Raises :class:`VideoReadError` for a file OpenCV cannot open or that holds
    no frame, and ``ValueError`` when no frame rate can be found (pass ``fps=``). Lecture 10.
    """
    capture = _open(path)
    try:
        fps_reported = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        n_reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        stamps = []
        while capture.grab():
            stamps.append(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
    finally:
        capture.release()
    n_frames = len(stamps)
    if n_frames == 0:
        raise VideoReadError(f"{path} holds no frame that OpenCV can read. {CONVERT_HINT}")
    notes = []
    if n_frames != n_reported:
        notes.append(f"the header says {n_reported} frames, {n_frames} were read")
    steps = np.diff(np.asarray(stamps))
    steps = steps[steps > 0]
    measured = 1.0 / float(np.median(steps)) if len(steps) else 0.0
    plausible = 0 < fps_reported <= MAX_FPS
    if fps is not None:
        if not 0 < fps <= MAX_FPS:
            raise ValueError(f"fps={fps} is not a frame rate; pass a number of frames per second in (0, {MAX_FPS:g}]")
        chosen = float(fps)
    elif plausible and (not measured or abs(measured - fps_reported) <= 0.01 * fps_reported):
        chosen = fps_reported
    elif measured:
        chosen = measured
        notes.append(f"the header says {fps_reported:g} fps, the timestamps {measured:.3f} fps: using the latter")
    else:
        raise ValueError(f"{path}: the header's frame rate ({fps_reported:g}) is not usable and the frames carry "
                         "no timestamps; pass the frame rate yourself, probe_video(path, fps=...)")
    if len(steps) > 2 and float(steps.max()) > 1.5 * float(np.median(steps)):
        notes.append("the gaps between timestamps vary (variable frame rate?): times are index / fps")
    return VideoInfo(Path(path), chosen, n_frames, width, height, fps_reported, n_reported, tuple(notes))


def frame_index(time_s: float, fps: float) -> int:
    """The index of the frame on screen at ``time_s`` seconds: ``floor(time_s * fps)``.

    The product is rounded to 6 decimals first, so that 0.29 s at 100 fps (28.999999999999996 in
    floating point) is frame 29, not 28. Lecture 10.
    """
    if time_s < 0 or fps <= 0:
        raise ValueError(f"need time_s >= 0 and fps > 0, got time_s={time_s}, fps={fps}")
    return int(math.floor(round(time_s * fps, 6)))


def sample_indices(n_frames: int, fps: float, every_s: float, *, start_s: float = 0.0,
                   end_s: float | None = None) -> list[int]:
    """Frame indices at ``start_s, start_s + every_s, ...`` up to ``end_s`` (excluded; default: the end).

    Times are computed as ``start_s + k * every_s`` (no accumulated rounding); an index repeats only
    when ``every_s`` is shorter than a frame, and repeats are dropped. Lecture 10.
    """
    if every_s <= 0:
        raise ValueError(f"every_s must be > 0 seconds, got {every_s}")
    end_s = n_frames / fps if end_s is None else min(end_s, n_frames / fps)
    indices: list[int] = []
    k = 0
    while (t := start_s + k * every_s) < end_s - 1e-9:
        i = frame_index(t, fps)
        if i < n_frames and (not indices or i != indices[-1]):
            indices.append(i)
        k += 1
    return indices


def iter_frames(path: str | os.PathLike, *, every_s: float | None = None, start_s: float = 0.0,
                end_s: float | None = None, info: VideoInfo | None = None) -> Iterator[Frame]:
    """Yield the frames of a video as :class:`Frame` (RGB), all of them or one every ``every_s`` seconds.

    The video is read in order with ``grab()``, and only the frames wanted are decoded
    (``retrieve()``), so one frame at a time is in memory and no seek is needed (seeking by
    ``CAP_PROP_POS_MSEC``, as the book does, lands on the nearest key frame for many codecs). Times
    are ``index / info.fps`` with ``info`` from :func:`probe_video` (probed here when not given).
    Lecture 10.
    """
    info = probe_video(path) if info is None else info
    if every_s is None:
        last = info.n_frames if end_s is None else min(info.n_frames, math.ceil(round(end_s * info.fps, 6)))
        wanted = iter(range(frame_index(start_s, info.fps), last))
    else:
        wanted = iter(sample_indices(info.n_frames, info.fps, every_s, start_s=start_s, end_s=end_s))
    target = next(wanted, None)
    capture = _open(path)
    try:
        index = 0
        while target is not None and capture.grab():
            if index == target:
                ok, bgr = capture.retrieve()
                if not ok:
                    raise VideoReadError(f"frame {index} of {path} cannot be decoded. {CONVERT_HINT}")
                yield Frame(index, index / info.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                target = next(wanted, None)
            index += 1
    finally:
        capture.release()


def write_frames(frames: Iterable[Frame], folder: str | os.PathLike, *, ext: str = ".jpg",
                 overwrite: bool = False) -> list[Path]:
    """Write each frame as ``folder/frame_<index>_<milliseconds>ms<ext>``; return the paths.

    The folder is written beside its place and renamed into it when complete, so an interrupted run
    leaves nothing half-written; an existing non-empty folder is replaced only with ``overwrite=True``.
    Lecture 10.
    """
    names = []
    with staged_directory(folder, overwrite=overwrite) as staging:
        for frame in frames:
            name = f"frame_{frame.index:06d}_{round(frame.time_s * 1000):08d}ms{ext}"
            if not cv2.imwrite(str(staging / name), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)):
                raise ValueError(f"OpenCV cannot write {ext!r} images; use .jpg or .png")
            names.append(name)
    return [Path(folder).expanduser() / name for name in names]


def write_clip(images: Iterable[np.ndarray], path: str | os.PathLike, fps: float, *, codec: str = "MJPG",
               overwrite: bool = False) -> Path:
    """Write RGB ``uint8`` images ``(H, W, 3)`` as a video at ``fps``; return ``path``.

    The default, Motion-JPEG in an ``.avi``, is a codec that the pip wheel of OpenCV both writes and
    reads (H.264, ``"avc1"``, needs an encoder the wheel does not ship). The clip is written to a
    temporary file beside ``path``, read back to check its frame count, and only then renamed.
    Lecture 10 (the synthetic street video is written with it).
    """
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.writing-", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    writer, written = None, 0
    try:
        for image in images:
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(temporary, cv2.VideoWriter_fourcc(*codec), float(fps), size)
                if not writer.isOpened():
                    raise VideoReadError(f"OpenCV cannot write codec {codec!r} to {path.suffix!r} files; "
                                         "use codec='MJPG' and a .avi path")
            if (image.shape[1], image.shape[0]) != size or image.dtype != np.uint8 or image.ndim != 3:
                raise ValueError(f"every frame must be uint8 (H, W, 3) of size {size[::-1]}, frame {written} "
                                 f"is {image.dtype} {image.shape}")
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            written += 1
        if writer is None:
            raise ValueError("no frame to write")
        writer.release()
        read = probe_video(temporary, fps=fps).n_frames
        if read != written:
            raise VideoReadError(f"{written} frames written to {path} but {read} read back; use codec='MJPG'")
        os.replace(temporary, path)
    finally:
        if writer is not None:
            writer.release()
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


# ----------------------------------------------------------------------------------------------------------
# Motion masks and events
# ----------------------------------------------------------------------------------------------------------

def to_grey(image: np.ndarray) -> np.ndarray:
    """An RGB ``uint8`` image ``(H, W, 3)`` as grey ``uint8`` ``(H, W)``; a grey image is returned as is."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def difference_mask(previous: np.ndarray, frame: np.ndarray, threshold: float) -> np.ndarray:
    """Frame differencing: ``|grey(frame) - grey(previous)| > threshold``, a bool mask ``(H, W)``.

    The difference is taken in ``int16``: in ``uint8``, 10 - 20 wraps round to 246. Lecture 10.
    """
    a, b = to_grey(previous).astype(np.int16), to_grey(frame).astype(np.int16)
    return np.abs(b - a) > threshold


def level_brightness(images: Iterable[np.ndarray], level: float | None = None) -> Iterator[np.ndarray]:
    """Yield each image scaled so that its median grey level is ``level`` (default: the first image's).

    A global change of light (a cloud, the sun setting, a camera's auto exposure) multiplies every
    pixel by about the same factor; dividing it out leaves the changes that people make, which cover
    too little of a frame to move its median much. Lecture 10.
    """
    for image in images:
        median = float(np.median(to_grey(image)))
        level = median if level is None else level
        gain = level / max(median, 1.0)
        yield np.clip(image.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


def clean_mask(mask: np.ndarray, open_px: int = 3) -> np.ndarray:
    """``mask`` after a morphological opening with an ``open_px`` square: isolated noise pixels go."""
    if open_px <= 1:
        return mask.astype(bool)
    kernel = np.ones((open_px, open_px), np.uint8)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)


def difference_masks(images: Iterable[np.ndarray], threshold: float = 15, *, blur: float = 1.0,
                     open_px: int = 3) -> Iterator[np.ndarray]:
    """One cleaned frame-difference mask per image (the first image's is all False); lecture 10.

    Grey images are blurred (``blur`` pixels, Gaussian) before differencing, which removes most
    sensor noise; masks are cleaned by :func:`clean_mask`, which also removes the edges of objects
    that move less than ``open_px`` pixels a frame.
    """
    previous = None
    for image in images:
        grey = to_grey(image)
        if blur > 0:
            grey = cv2.GaussianBlur(grey, (0, 0), blur)
        yield (np.zeros(grey.shape, bool) if previous is None
               else clean_mask(difference_mask(previous, grey, threshold), open_px))
        previous = grey


def mog2_masks(images: Iterable[np.ndarray], *, history: int = 200, var_threshold: float = 16,
               learning_rate: float = -1, open_px: int = 3) -> Iterator[np.ndarray]:
    """One cleaned foreground mask per image from OpenCV's Gaussian-mixture background model (MOG2).

    Each pixel keeps a mixture of Gaussians learnt over about ``history`` frames; a pixel more than
    ``sqrt(var_threshold)`` standard deviations from every background component is foreground.
    ``learning_rate=-1`` lets OpenCV choose (``1 / min(frames seen, history)``). Shadow detection is
    off. The first image only starts the model (everything in it would be "new"): its mask is all
    False. Lecture 10.
    """
    model = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold, detectShadows=False)
    for k, image in enumerate(images):
        mask = model.apply(image, learningRate=1.0 if k == 0 else learning_rate)
        yield np.zeros(mask.shape, bool) if k == 0 else clean_mask(mask > 0, open_px)


def foreground_fraction(masks: Iterable[np.ndarray]) -> np.ndarray:
    """The fraction of pixels in each mask: a float array, one value per frame."""
    return np.array([float(mask.mean()) for mask in masks])


def events_from_activity(active: Sequence[bool] | np.ndarray, fps: float, *, min_frames: int = 1,
                         max_gap_frames: int = 0) -> list[tuple[float, float]]:
    """Turn a per-frame yes/no signal into events ``(start_s, end_s)``, sorted and disjoint.

    Runs of active frames separated by at most ``max_gap_frames`` inactive frames are merged (a person
    who stands still for a moment is still one event); runs shorter than ``min_frames`` are dropped
    (a flicker is not an event). An event from frame ``a`` to frame ``b`` (inclusive) lasts from
    ``a / fps`` to ``(b + 1) / fps``. Lecture 10.
    """
    active = np.asarray(active, bool)
    runs: list[list[int]] = []
    for i in np.flatnonzero(active):
        if runs and i - runs[-1][1] - 1 <= max_gap_frames:
            runs[-1][1] = int(i)
        else:
            runs.append([int(i), int(i)])
    return [(a / fps, (b + 1) / fps) for a, b in runs if b - a + 1 >= min_frames]


@dataclass(frozen=True)
class EventScore:
    """Detected events against true ones: counts, rates and the matched ``(pred, true)`` index pairs."""

    tp: int
    fp: int
    fn: int
    pairs: tuple[tuple[int, int], ...]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        return (f"{self.tp} found, {self.fp} false, {self.fn} missed: precision {self.precision:.2f}, "
                f"recall {self.recall:.2f}, F1 {self.f1:.2f}")


def match_events(predicted: Sequence[tuple[float, float]], truth: Sequence[tuple[float, float]],
                 tolerance_s: float) -> EventScore:
    """Match detected events to true ones, each at most once, and count hits, false alarms and misses.

    A detected event ``(s, e)`` may match a true event ``(S, E)`` when both boundaries agree within the
    tolerance: ``|s - S| <= tolerance_s`` and ``|e - E| <= tolerance_s``. Among the one-to-one
    matchings the largest is taken (an assignment problem, solved with SciPy's
    ``linear_sum_assignment``); for sorted, disjoint events a greedy pass in time order finds as many.
    Lecture 10.
    """
    predicted, truth = np.asarray(predicted, float).reshape(-1, 2), np.asarray(truth, float).reshape(-1, 2)
    if len(predicted) and len(truth):
        allowed = ((np.abs(predicted[:, None, 0] - truth[None, :, 0]) <= tolerance_s + 1e-9)
                   & (np.abs(predicted[:, None, 1] - truth[None, :, 1]) <= tolerance_s + 1e-9))
        rows, cols = linear_sum_assignment(~allowed)  # cost 0 where allowed: as many zero-cost pairs as can be
        pairs = tuple((int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c])
    else:
        pairs = ()
    return EventScore(len(pairs), len(predicted) - len(pairs), len(truth) - len(pairs), pairs)


def heatmap(masks: Iterable[np.ndarray]) -> np.ndarray:
    """Hotspots: the fraction of frames in which each pixel was foreground, float32 ``(H, W)`` in [0, 1].

    Accumulated one mask at a time (a running sum), so a long video costs one frame of memory.
    Lecture 10.
    """
    total, n = None, 0
    for mask in masks:
        total = mask.astype(np.float32) if total is None else total + mask
        n += 1
    if total is None:
        raise ValueError("no masks to accumulate")
    return total / n


# ----------------------------------------------------------------------------------------------------------
# Density maps and counts
# ----------------------------------------------------------------------------------------------------------

def density_map(points: np.ndarray | Sequence[Sequence[float]], shape: tuple[int, int],
                sigma: float) -> np.ndarray:
    """The density map of head ``points`` ``(N, 2)`` as ``(x, y)`` pixels, float32 ``(H, W)``.

    Each head is a Gaussian of standard deviation ``sigma`` pixels centred on it (pixel ``(r, c)`` has
    its centre at ``x = c, y = r``), normalised over the image so that it sums to one even next to a
    border: the map sums to the number of heads, and the sum over any region is the count there.
    The Gaussian is separable, so the map is ``Gy.T @ Gx`` with one normalised row per head in
    ``Gy (N, H)`` and ``Gx (N, W)``. Points outside the image raise ``ValueError``. Lecture 10.
    """
    h, w = shape
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    outside = (points[:, 0] < -0.5) | (points[:, 0] > w - 0.5) | (points[:, 1] < -0.5) | (points[:, 1] > h - 0.5)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} point(s) lie outside the {w}x{h} image, e.g. "
                         f"{points[outside][0].tolist()}: points are (x, y) pixels, x along the width")
    gx = np.exp(-((np.arange(w)[None, :] - points[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((np.arange(h)[None, :] - points[:, 1:]) ** 2) / (2 * sigma**2))
    gx /= gx.sum(axis=1, keepdims=True)
    gy /= gy.sum(axis=1, keepdims=True)
    return (gy.T @ gx).astype(np.float32)


def sum_pool(density: np.ndarray, factor: int) -> np.ndarray:
    """Shrink a density map ``(..., H, W)`` by ``factor`` by summing blocks: counts are kept.

    ``H`` and ``W`` must be multiples of ``factor``. A network whose output is ``factor`` times
    smaller than its input is trained on these targets. Lecture 10.
    """
    *lead, h, w = density.shape
    if h % factor or w % factor:
        raise ValueError(f"the map's size {h}x{w} is not a multiple of factor={factor}")
    return density.reshape(*lead, h // factor, factor, w // factor, factor).sum(axis=(-3, -1))


def count_errors(predicted: Sequence[float] | np.ndarray, true: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean absolute error and root mean squared error of counts, and the MAE relative to the mean count.

    ``{"mae": ..., "rmse": ..., "relative_mae": mae / mean(true)}``, the numbers crowd-counting papers
    report (they often call the RMSE "MSE"). Lecture 10.
    """
    predicted, true = np.asarray(predicted, np.float64), np.asarray(true, np.float64)
    if predicted.shape != true.shape or predicted.ndim != 1 or not len(true):
        raise ValueError(f"need two 1-D arrays of equal length, got shapes {predicted.shape} and {true.shape}")
    error = predicted - true
    mae = float(np.abs(error).mean())
    return {"mae": mae, "rmse": float(np.sqrt((error**2).mean())),
            "relative_mae": mae / float(true.mean()) if true.mean() else math.inf}


def game(predicted: np.ndarray, true: np.ndarray, level: int) -> float:
    """The Grid Average Mean absolute Error of one image (Guerrero-Gomez-Olmedo et al., 2015).

    Both density maps ``(H, W)`` are cut into a ``2**level x 2**level`` grid, with row boundaries at
    ``floor(k * H / 2**level)`` (and the same for columns), and the absolute count errors of the cells
    are added up. ``level=0`` is the absolute count error; higher levels also punish a right count in
    the wrong place. Lecture 10.
    """
    if predicted.shape != true.shape or predicted.ndim != 2:
        raise ValueError(f"need two (H, W) maps of the same shape, got {predicted.shape} and {true.shape}")
    n = 2**level
    if min(predicted.shape) < n:
        raise ValueError(f"a {predicted.shape} map has fewer rows or columns than the {n}x{n} grid of level {level}")
    rows = np.floor(np.arange(n + 1) * predicted.shape[0] / n).astype(int)
    cols = np.floor(np.arange(n + 1) * predicted.shape[1] / n).astype(int)
    diff = np.asarray(predicted, np.float64) - np.asarray(true, np.float64)
    cells = np.add.reduceat(np.add.reduceat(diff, rows[:-1], axis=0), cols[:-1], axis=1)
    return float(np.abs(cells).sum())
