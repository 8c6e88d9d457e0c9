"""Figures the lectures reuse: image grids, training curves, feature maps, filters, heatmap overlays,
confusion matrices, detection boxes, instance masks, and keypoints and skeletons of 0..N people.

Every function returns a matplotlib ``Figure``, except ``draw_boxes`` (the ``Axes`` it drew on, so
several can share a figure) and ``overlay_heatmap``/``overlay_masks``/``draw_keypoints``/``draw_skeleton``
(image arrays); none calls
``plt.show()``: a notebook displays the returned figure, a script saves it.
Introduced in lecture 1 (CNN internals).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import confusion_matrix

from labkit.train import History

# Float images may overshoot [0, 1] by rounding (e.g. after resizing); this much is clipped silently.
_RANGE_TOL = 1e-4


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _grid(n: int, ncols: int, size: float, title_room: float = 0.0) -> tuple[Figure, list]:
    """A constrained-layout grid with exactly ``n`` axes (unused cells removed), all axes off."""
    if n < 1:
        raise ValueError("nothing to show: got 0 images")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + title_room),
                             squeeze=False, layout="constrained")
    axes = axes.ravel().tolist()
    for ax in axes[n:]:
        ax.remove()
    for ax in axes[:n]:
        ax.axis("off")
    return fig, axes[:n]


def _check_unit_range(a: np.ndarray, what: str) -> np.ndarray:
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
        raise ValueError(f"{what} values must be in [0, 1], got [{lo:.3g}, {hi:.3g}]; divide uint8 "
                         f"images by 255, undo normalisation (x * std + mean), or rescale heatmaps "
                         f"with (h - h.min()) / (h.max() - h.min())")
    return np.clip(a, 0.0, 1.0)


def _image_list(images) -> list[np.ndarray]:
    """Tensor (N, C, H, W) / (N, H, W), ndarray (N, H, W[, C]) or a list of images -> HxW / HxWxC arrays."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu()
        if images.ndim == 4:
            images = images.permute(0, 2, 3, 1)  # channels last, as matplotlib wants
        elif images.ndim != 3:
            raise ValueError(f"images tensor must be (N, C, H, W) or (N, H, W), got {tuple(images.shape)}; "
                             f"for one image use images.unsqueeze(0)")
        images = list(images.numpy())
    elif isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"images array must be (N, H, W) or (N, H, W, C), got {images.shape}")
        images = list(images)
    out = []
    for i, img in enumerate(images):
        img = _to_numpy(img)
        if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
            img = img.transpose(1, 2, 0)  # a single CHW tensor in a list
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
            raise ValueError(f"image {i} has shape {img.shape}; expected HxW, HxWx3 or 3xHxW")
        if img.dtype != np.uint8:
            img = _check_unit_range(img.astype(np.float32), f"image {i}")
        out.append(img)
    return out


def show_images(images, titles: Sequence[str] | None = None, *, ncols: int = 8, cmap: str | None = None,
                size: float = 2.0, suptitle: str | None = None) -> Figure:
    """A grid of images: tensor ``(N, C, H, W)`` / ``(N, H, W)`` or a list of HxW / HxWx3 arrays.

    Floats must lie in [0, 1] (uint8 in [0, 255]); they are shown as they are, not stretched, so a
    dark image looks dark. Grey images default to ``cmap="gray"``.
    Introduced in lecture 1 (CNN internals).
    """
    imgs = _image_list(images)
    if titles is not None and len(titles) != len(imgs):
        raise ValueError(f"got {len(titles)} titles for {len(imgs)} images; pass one title per image")
    fig, axes = _grid(len(imgs), ncols, size, title_room=0.4 if suptitle else 0.0)
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        vmax = 255 if img.dtype == np.uint8 else 1.0
        ax.imshow(img, cmap=(cmap or "gray") if img.ndim == 2 else None, vmin=0, vmax=vmax,
                  interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_history(histories: History | Sequence[History], keys: Sequence[str] = ("loss",),
                 labels: Sequence[str] | None = None) -> Figure:
    """Training curves per epoch, one panel per key, one colour per run.

    ``"loss"`` draws train (solid) and val (dashed) loss; a metric name such as ``"accuracy"`` draws
    ``metrics["train_accuracy"]`` and ``metrics["val_accuracy"]``; a full key such as
    ``"val_accuracy"`` draws just that curve. Introduced in lecture 1; compares variants in lecture 3.
    """
    if isinstance(histories, History):
        histories = [histories]
    if isinstance(keys, str):
        keys = (keys,)
    if labels is None:
        labels = [h.name or f"run {i + 1}" for i, h in enumerate(histories)]
    if len(labels) != len(histories):
        raise ValueError(f"got {len(labels)} labels for {len(histories)} histories")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False,
                             layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes[0], keys):
        drawn = 0
        for i, (h, label) in enumerate(zip(histories, labels)):
            if key == "loss":
                series = {"train": h.train_loss, "val": h.val_loss}
            elif key in h.metrics:
                series = {"": h.metrics[key]}
            else:
                series = {"train": h.metrics.get(f"train_{key}", []), "val": h.metrics.get(f"val_{key}", [])}
            for split, values in series.items():
                if values:
                    ax.plot(range(1, len(values) + 1), values, color=colors[i % len(colors)],
                            linestyle="--" if split == "val" else "-", marker="o", markersize=3,
                            label=f"{label} {split}".strip())
                    drawn += 1
        if drawn == 0:
            available = sorted({k for h in histories for k in h.metrics})
            plt.close(fig)
            raise KeyError(f"no history has {key!r}; use 'loss' or one of {available} "
                           f"(with or without the train_/val_ prefix)")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def show_feature_maps(fmaps, n: int = 16, *, ncols: int = 8, title: str | None = None) -> Figure:
    """The first ``n`` channels of feature maps ``(C, H, W)`` or ``(1, C, H, W)``, each with its own scale.

    Introduced in lecture 1 (CNN internals).
    """
    a = _to_numpy(fmaps)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"fmaps must be (C, H, W) or (1, C, H, W), got {a.shape}; "
                         f"for a batch pick one image, e.g. fmaps[0]")
    n = min(n, a.shape[0])
    fig, axes = _grid(n, ncols, 1.6, title_room=0.4 if title else 0.0)
    for c, ax in enumerate(axes):
        ax.imshow(a[c], cmap="viridis")  # autoscaled per channel: shapes matter here, not magnitudes
        ax.set_title(f"ch {c}", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def show_filters(weight, n: int | None = None, *, ncols: int = 8, title: str | None = None) -> Figure:
    """Convolution filters ``weight: (out, in, kh, kw)`` (or a ``Conv2d``), each normalised to [0, 1].

    With ``in == 3`` a filter is drawn in colour (input channels as RGB); otherwise its mean over the
    input channels is drawn in grey. Each filter is min-max normalised on its own (a constant filter
    is mid-grey), so the pattern is visible whatever its scale. Introduced in lecture 1 (CNN internals).
    """
    if isinstance(weight, torch.nn.Module):
        weight = weight.weight
    w = _to_numpy(weight).astype(np.float32)
    if w.ndim != 4:
        raise ValueError(f"weight must be (out, in, kh, kw), got {w.shape}; pass conv.weight")
    w = w[: n or len(w)]
    w = w.transpose(0, 2, 3, 1) if w.shape[1] == 3 else w.mean(axis=1)  # (n, kh, kw, 3) or (n, kh, kw)
    lo = w.min(axis=tuple(range(1, w.ndim)), keepdims=True)
    span = w.max(axis=tuple(range(1, w.ndim)), keepdims=True) - lo
    w = np.where(span > 0, (w - lo) / np.where(span > 0, span, 1), 0.5)
    fig, axes = _grid(len(w), ncols, 1.0, title_room=0.4 if title else 0.0)
    for ax, f in zip(axes, w):
        ax.imshow(f, cmap="gray" if f.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    if title:
        fig.suptitle(title)
    return fig


def overlay_heatmap(image, heatmap, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """``(1 - alpha) * image + alpha * cmap(heatmap)``: an HxWx3 float image in [0, 1].

    ``image``: HxWx3 or HxW array (or a 3xHxW tensor), floats in [0, 1]; ``heatmap``: HxW in [0, 1]
    (or ``(1, H, W)``, e.g. a CAM upsampled to the image size). Values outside [0, 1] raise ValueError instead of
    drawing nonsense, as pytorch-grad-cam's ``show_cam_on_image`` does.
    Introduced in lecture 2 (GAP and CAM).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = _to_numpy(image).astype(np.float32)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be HxWx3 or HxW, got {img.shape}")
    heat = _to_numpy(heatmap).astype(np.float32)
    while heat.ndim > 2 and heat.shape[0] == 1:  # (1, H, W) or (1, 1, H, W) as CAM code returns them
        heat = heat[0]
    if heat.shape != img.shape[:2]:
        raise ValueError(f"heatmap shape {heat.shape} does not match image size {img.shape[:2]}; "
                         f"resize it first, e.g. F.interpolate(cam[None, None], size={img.shape[:2]}, "
                         f"mode='bilinear')[0, 0]")
    img = _check_unit_range(img, "image")
    heat = _check_unit_range(heat, "heatmap")
    colored = matplotlib.colormaps[cmap](heat)[..., :3].astype(np.float32)
    return (1 - alpha) * img + alpha * colored


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str] | None = None, *,
                          normalize: bool = False, ax=None) -> Figure:
    """Confusion matrix (rows: true class, columns: predicted) computed by scikit-learn, annotated.

    With ``class_names``, labels are taken to be ``0 .. len(class_names) - 1``. ``normalize=True``
    divides each row by its total, so the diagonal shows each class's recall.
    Draws on ``ax`` if given. Introduced in lecture 3 (chest X-rays).
    """
    y_true, y_pred = _to_numpy(y_true).ravel(), _to_numpy(y_pred).ravel()
    labels = list(range(len(class_names))) if class_names is not None else None
    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize="true" if normalize else None)
    names = [str(c) for c in (class_names if class_names is not None
                              else np.unique(np.concatenate([y_true, y_pred])))]
    if ax is None:
        k = len(names)
        _, ax = plt.subplots(figsize=(max(4.0, 1.6 + 0.7 * k), max(3.6, 1.4 + 0.7 * k)),
                             layout="constrained")
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    threshold = (1 if normalize else cm.max()) / 2
    for i, j in np.ndindex(cm.shape):
        text = f"{cm[i, j]:.2f}" if normalize else f"{cm[i, j]:d}"
        ax.text(j, i, text, ha="center", va="center",
                color="white" if cm[i, j] > threshold else "black")  # readable on dark cells
    ax.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + ("\n(each row sums to 1)" if normalize else ""))
    return ax.figure


# ----------------------------------------------------------------------------------------------------------
# Detection and instance segmentation (lectures 4 and 5)
# ----------------------------------------------------------------------------------------------------------

def _one_image(image) -> np.ndarray:
    """A tensor ``(3, H, W)`` / ``(H, W)`` or an array ``(H, W, 3)`` / ``(H, W)`` -> HxW[x3], range-checked."""
    a = _to_numpy(image)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]  # a batch of one, as a model takes it
    if a.ndim not in (2, 3):
        raise ValueError(f"image must be (3, H, W), (H, W, 3) or (H, W), got {a.shape}; for a batch pick "
                         "one image, e.g. images[0]")
    return _image_list([a])[0]


def _class_colour(k: int):
    return plt.get_cmap("tab10")(k % 10)


def draw_boxes(image, boxes, labels=None, scores=None, *, class_names: Sequence[str] | None = None,
               ax: Axes | None = None, color=None, title: str | None = None) -> Axes:
    """An image with boxes ``(N, 4)`` xyxy in pixels drawn on it; returns the Axes (a new figure if ``ax`` is None).

    ``image``: tensor ``(3, H, W)`` or array ``(H, W, 3)`` (floats in [0, 1] or uint8). With ``labels``
    ``(N,)`` each class gets its own colour (tab10) and a small tag with its name (``class_names[label]``,
    or the index) and, with ``scores`` ``(N,)``, the score: ``"circle 0.93"``. ``color`` draws every box
    in that one colour instead (e.g. ground truth in white, predictions by class).
    Introduced in lecture 4 (object detection); used in lecture 5 (Mask R-CNN).
    """
    img = _one_image(image)
    b = _to_numpy(boxes).astype(np.float64)
    if b.size == 0:
        b = b.reshape(0, 4)  # no detections is a valid answer: draw just the image
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) as x1, y1, x2, y2 in pixels, got {b.shape}")
    lab = None if labels is None else _to_numpy(labels).astype(np.int64).reshape(-1)
    sc = None if scores is None else _to_numpy(scores).astype(np.float64).reshape(-1)
    for name, values in (("labels", lab), ("scores", sc)):
        if values is not None and len(values) != len(b):
            raise ValueError(f"got {len(b)} boxes but {len(values)} {name}; pass one per box")
    if lab is not None and class_names is not None and len(lab) and not 0 <= lab.min() <= lab.max() < len(class_names):
        raise ValueError(f"labels {sorted(set(lab.tolist()))} do not index class_names {list(class_names)} "
                         "(0-based); pass the names in label order")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4), layout="constrained")
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255 if img.dtype == np.uint8 else 1,
              interpolation="nearest")
    height = img.shape[0]
    for i, (x1, y1, x2, y2) in enumerate(b):
        edge = color if color is not None else _class_colour(int(lab[i]) if lab is not None else 0)
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=edge, linewidth=1.5))
        parts = []
        if lab is not None:
            parts.append(class_names[lab[i]] if class_names is not None else str(lab[i]))
        if sc is not None:
            parts.append(f"{sc[i]:.2f}")
        if parts:
            inside = y1 < 0.08 * height  # a box at the top edge gets its tag inside, not off the image
            ax.text(x1, y1, " ".join(parts), fontsize=7, color="white", va="top" if inside else "bottom",
                    bbox={"facecolor": edge, "edgecolor": "none", "alpha": 0.8, "pad": 1.0}, clip_on=True)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def outline_boxes(ax: Axes, boxes, *, color="black", linewidth: float = 1.0, fill: bool = False,
                  alpha: float | None = None, linestyle: str = "-") -> Axes:
    """Draw boxes ``(N, 4)`` xyxy (pixels or any data units) as rectangles on an existing ``ax``, no image.

    For diagrams (IoU of two boxes, NMS, responsible cells); :func:`draw_boxes` draws on an image, with
    labels. ``color`` is one colour, or a list with one per box; ``fill=True`` paints the boxes (with ``alpha``).
    Returns ``ax``. Introduced in lecture 4 (object detection).
    """
    b = _to_numpy(boxes).astype(np.float64)
    b = b.reshape(0, 4) if b.size == 0 else b
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) as x1, y1, x2, y2, got {b.shape}")
    colours = color if isinstance(color, list) else [color] * len(b)   # a tuple may be one RGB colour
    if len(colours) != len(b):
        raise ValueError(f"got {len(b)} boxes but {len(colours)} colours; pass one colour, or one per box")
    for (x1, y1, x2, y2), colour in zip(b, colours):
        style = {"facecolor": colour, "edgecolor": colour} if fill else {"fill": False, "edgecolor": colour}
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=linewidth, alpha=alpha,
                               linestyle=linestyle, **style))
    return ax


def overlay_masks(image, masks, *, alpha: float = 0.5) -> np.ndarray:
    """Instance masks painted over an image, one colour per instance: an HxWx3 float image in [0, 1].

    ``image``: tensor ``(3, H, W)`` or array ``(H, W, 3)`` (floats in [0, 1] or uint8); ``masks``: ``(N, H, W)``
    bool, or floats (probabilities, as Mask R-CNN returns, also ``(N, 1, H, W)``) taken as ``> 0.5``.
    Inside mask ``i`` the pixel is ``(1 - alpha) * image + alpha * colour_i`` (tab10 colours; where masks
    overlap the later one is shown); elsewhere the image is unchanged.
    Introduced in lecture 5 (segmentation).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = _one_image(image)
    img = img.astype(np.float32) / 255 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    m = _to_numpy(masks)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[1:] != img.shape[:2]:
        raise ValueError(f"masks must be (N, H, W) with (H, W) = {img.shape[:2]} (the image's size), got "
                         f"{m.shape}; resize masks with nearest-neighbour interpolation to the image first")
    m = m > 0.5 if m.dtype != bool else m
    out = img.copy()
    for i, mask in enumerate(m):
        colour = np.asarray(_class_colour(i)[:3], np.float32)
        out[mask] = (1 - alpha) * img[mask] + alpha * colour
    return out


def _people_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct uint8 RGB colours (any n >= 0: the book's ``255 // N`` fails for N = 0, 1, 2, 3, 5 ...)."""
    cmap = plt.get_cmap("hsv")
    return [tuple(int(255 * c) for c in cmap(i / max(n, 1))[:3]) for i in range(n)]


def _keypoint_canvas(image, keypoints, scores, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 RGB copy of the image, points (N, K, 2), shown (N, K) bool) for the keypoint drawers."""
    img = _one_image(image)
    img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8) if img.dtype != np.uint8 else img.copy()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    k = _to_numpy(keypoints).astype(np.float64)
    if k.size == 0:
        k = k.reshape(0, 0, 3)
    if k.ndim == 2:
        k = k[None]  # one person
    if k.ndim != 3 or k.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must be (N, K, 2) or (N, K, 3) (x, y[, v]) for N people, got {k.shape}")
    shown = k[..., 2] > 0 if k.shape[-1] == 3 else np.ones(k.shape[:2], bool)
    if scores is not None:
        s = _to_numpy(scores).astype(np.float64).reshape(k.shape[:2])
        shown &= s > threshold
    return np.ascontiguousarray(img), k[..., :2], shown


def draw_keypoints(image, keypoints, scores=None, *, threshold: float = 0.0, radius: int | None = None
                   ) -> np.ndarray:
    """An RGB uint8 copy of ``image`` with the joints of 0..N people drawn as dots, one colour per person.

    ``image``: RGB tensor ``(3, H, W)`` or array ``(H, W, 3)``, floats in [0, 1] or uint8 (convert an
    OpenCV BGR image with ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)`` first). ``keypoints``: ``(N, K, 3)``
    (x, y, v: joints with v = 0 are skipped) or ``(N, K, 2)``; one person may be ``(K, 3)``. With
    ``scores`` ``(N, K)`` (Keypoint R-CNN's ``keypoints_scores``, logits) only joints scoring above
    ``threshold`` are drawn. The radius scales with the image (1% of its longer side) unless given.
    Introduced in lecture 7 (pose estimation).
    """
    img, points, shown = _keypoint_canvas(image, keypoints, scores, threshold)
    r = radius if radius is not None else max(1, round(0.01 * max(img.shape[:2])))
    for colour, person, keep in zip(_people_colours(len(points)), points, shown):
        for (x, y), ok in zip(person, keep):
            if ok:
                cv2.circle(img, (round(x), round(y)), r, colour, -1, cv2.LINE_AA)
    return img


def draw_skeleton(image, keypoints, scores=None, *, threshold: float = 0.0, skeleton=None,
                  thickness: int | None = None) -> np.ndarray:
    """An RGB uint8 copy of ``image`` with the limbs of 0..N people drawn, then their joints on top.

    A limb ``(a, b)`` of ``skeleton`` (default: COCO's, :data:`labkit.keypoints.SKELETON`) is drawn when
    both its joints are (see :func:`draw_keypoints` for the inputs). The line width scales with the
    image (0.6% of its longer side) unless ``thickness`` is given. Introduced in lecture 7.
    """
    if skeleton is None:
        from labkit.keypoints import SKELETON as skeleton
    img, points, shown = _keypoint_canvas(image, keypoints, scores, threshold)
    width = thickness if thickness is not None else max(1, round(0.006 * max(img.shape[:2])))
    n_joints = points.shape[1]
    for colour, person, keep in zip(_people_colours(len(points)), points, shown):
        for a, b in skeleton:
            if a < n_joints and b < n_joints and keep[a] and keep[b]:
                pa, pb = person[a], person[b]
                cv2.line(img, (round(pa[0]), round(pa[1])), (round(pb[0]), round(pb[1])), colour, width,
                         cv2.LINE_AA)
    return draw_keypoints(img, np.concatenate([points, shown[..., None]], -1), radius=max(1, width))
