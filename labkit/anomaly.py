"""Anomaly scores, maps and their metrics: ROC-AUC, thresholds, patch memory banks, PaDiM Gaussians.

Introduced in lecture 8 (anomaly detection). A detector learns what *normal* looks like from normal
examples only and gives every new image (and, for localisation, every pixel) a score that grows with
how abnormal it is; these functions turn features into such scores and scores into numbers:

- metrics: :func:`image_roc_auc`, :func:`pixel_roc_auc` (both ``sklearn.metrics.roc_auc_score``) and
  :func:`threshold_at_fpr`, the operating point a production line picks;
- PatchCore-style detection (Roth et al., *Towards Total Recall in Industrial Anomaly Detection*, CVPR
  2022): :func:`patch_features` (locally averaged CNN features of two depths, concatenated),
  :func:`greedy_coreset` (a subset of the memory bank that covers it), :func:`nearest_distance`
  (distance to the closest bank entry; equal to faiss's exact search, ``tests/test_anomaly.py``) and
  :func:`memory_bank_maps`;
- PaDiM-style detection (Defard et al., ICPR 2020): :func:`fit_gaussian` per feature-map position and
  :func:`mahalanobis_maps`;
- :func:`upsample_maps`: from a feature-map grid to image pixels, smoothed, as both papers do.

Shapes are in the docstrings; tensors are float, on any device; nothing keeps hidden state.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import Tensor
from torchvision.transforms.functional import gaussian_blur

__all__ = ["image_roc_auc", "pixel_roc_auc", "threshold_at_fpr", "false_positive_rate", "patch_features",
           "nearest_distance", "greedy_coreset", "memory_bank_maps", "Gaussian", "fit_gaussian",
           "mahalanobis_maps", "upsample_maps"]


def _numpy(values: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().float().cpu().numpy()
    return np.asarray(values)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def image_roc_auc(labels: Tensor | np.ndarray | Sequence[int], scores: Tensor | np.ndarray | Sequence[float]) -> float:
    """ROC-AUC of image ``scores`` (higher = more anomalous) against ``labels`` (1 = anomalous, 0 = normal).

    The probability that a random anomalous image scores higher than a random normal one, ties
    counting one half; ``sklearn.metrics.roc_auc_score``. Raises ValueError when one class is
    missing (the number is undefined then). Introduced in lecture 8 (anomaly detection).
    """
    labels, scores = _numpy(labels).ravel().astype(int), _numpy(scores).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels but {scores.size} scores")
    if len(np.unique(labels)) != 2:
        raise ValueError("ROC-AUC needs normal (0) and anomalous (1) examples; got only "
                         f"{np.unique(labels).tolist()}")
    return float(roc_auc_score(labels, scores))


def pixel_roc_auc(masks: Tensor | np.ndarray, maps: Tensor | np.ndarray) -> float:
    """ROC-AUC over every pixel of every image: ``masks`` (N, H, W) 0/1 truth, ``maps`` (N, H, W) scores.

    All pixels of all images are pooled, as in MVTec AD's and PatchCore's pixel-level figure; good
    images contribute normal pixels only. Introduced in lecture 8 (anomaly detection).
    """
    masks, maps = _numpy(masks), _numpy(maps)
    if masks.shape != maps.shape:
        raise ValueError(f"masks {masks.shape} and maps {maps.shape} must have the same shape; upsample the "
                         "maps to the image size first (labkit.anomaly.upsample_maps)")
    return image_roc_auc(masks.ravel() > 0, maps.ravel())


def false_positive_rate(normal_scores: Tensor | np.ndarray | Sequence[float], threshold: float) -> float:
    """The share of normal examples flagged by ``score > threshold``. Introduced in lecture 8."""
    normal = _numpy(normal_scores).ravel()
    return float((normal > threshold).mean())


def threshold_at_fpr(normal_scores: Tensor | np.ndarray | Sequence[float], fpr: float) -> float:
    """The lowest threshold among the normal scores that flags at most ``fpr`` of them (``score > t``).

    With ``n`` normal validation scores sorted from high to low, at most ``k = floor(fpr * n)`` of
    them may lie above the threshold, so it is the ``(k+1)``-th highest; ``fpr >= 1`` flags everything
    (``-inf``). Ties can only lower the false-positive rate. Pick it on normal images the detector did
    not learn from: on its own training images every score is too low. Introduced in lecture 8.
    """
    normal = np.sort(_numpy(normal_scores).ravel())[::-1]
    if normal.size == 0:
        raise ValueError("threshold_at_fpr needs at least one normal score")
    if not 0 <= fpr <= 1:
        raise ValueError(f"fpr is a rate between 0 and 1, got {fpr}")
    k = int(np.floor(fpr * normal.size + 1e-9))
    return float("-inf") if k >= normal.size else float(normal[k])


# ---------------------------------------------------------------------------------------------
# Patch features and the memory bank (PatchCore-style)
# ---------------------------------------------------------------------------------------------

def patch_features(feature_maps: Sequence[Tensor], *, neighbourhood: int = 3) -> Tensor:
    """Locally aware patch features from CNN feature maps of several depths: ``(B, sum C_i, h, w)``.

    Each map ``(B, C_i, h_i, w_i)`` is averaged over a ``neighbourhood x neighbourhood`` window (stride
    1, so each position also sees its neighbours), resized bilinearly to the first map's ``(h, w)`` and
    the maps are concatenated along the channels, as PatchCore does with ResNet ``layer2`` and
    ``layer3``. Introduced in lecture 8 (anomaly detection).
    """
    if not feature_maps:
        raise ValueError("patch_features needs at least one feature map")
    size = feature_maps[0].shape[-2:]
    out = []
    for maps in feature_maps:
        if neighbourhood > 1:
            maps = F.avg_pool2d(maps, neighbourhood, stride=1, padding=neighbourhood // 2, count_include_pad=False)
        if maps.shape[-2:] != size:
            maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
        out.append(maps)
    return torch.cat(out, dim=1)


def nearest_distance(queries: Tensor, bank: Tensor, *, chunk: int = 1024) -> Tensor:
    """Euclidean distance from each query ``(N, D)`` to its nearest row of ``bank`` ``(M, D)``: ``(N,)``.

    Exact search in chunks of ``chunk`` queries (``torch.cdist``, which uses matrix products for
    speed), so memory stays at ``chunk x M``; equal, to float precision, to faiss's ``IndexFlatL2``
    (which returns squared distances). Introduced in lecture 8.
    """
    if queries.ndim != 2 or bank.ndim != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"queries (N, D) and bank (M, D) must share D; got {tuple(queries.shape)} and "
                         f"{tuple(bank.shape)}")
    if len(bank) == 0:
        raise ValueError("the memory bank is empty")
    parts = [torch.cdist(queries[i:i + chunk], bank).amin(dim=1) for i in range(0, len(queries), chunk)]
    return torch.cat(parts) if parts else queries.new_zeros(0)


def greedy_coreset(features: Tensor, n: int, *, projection_dim: int | None = 128, seed: int = 0,
                   start: int | None = None) -> Tensor:
    """Indices of ``n`` rows of ``features`` ``(M, D)`` chosen by greedy k-center selection.

    Start from row ``start`` (None: a random row); then repeatedly add the row farthest from everything chosen so far, so
    the chosen rows cover the bank: every row ends up close to one of them (at most twice the best
    possible covering radius, Gonzalez 1985). PatchCore keeps 1-10% of its bank this way. Distances are
    measured after a random Gaussian projection to ``projection_dim`` dimensions (None: none), which
    keeps them roughly (Johnson-Lindenstrauss) and makes selection cheaper, as in PatchCore. Ties go
    to the first row. Deterministic for a given ``seed``. Introduced in lecture 8 (anomaly detection).
    """
    m = len(features)
    if not 1 <= n <= m:
        raise ValueError(f"n must be between 1 and the bank size {m}, got {n}")
    generator = torch.Generator().manual_seed(seed)
    points = features.float()
    if projection_dim is not None and projection_dim < points.shape[1]:
        projection = torch.randn(points.shape[1], projection_dim, generator=generator) / projection_dim ** 0.5
        points = points @ projection.to(points.device)
    squared_norms = (points * points).sum(dim=1)

    def squared_distance_to(index: int) -> Tensor:  # |p - c|^2 = |p|^2 - 2 p.c + |c|^2, one matrix-vector product
        return (squared_norms - 2 * (points @ points[index]) + squared_norms[index]).clamp_min(0)

    chosen = torch.empty(n, dtype=torch.long)
    chosen[0] = int(torch.randint(m, (1,), generator=generator)) if start is None else int(start)
    distance = squared_distance_to(int(chosen[0]))
    for i in range(1, n):
        chosen[i] = int(torch.argmax(distance))
        distance = torch.minimum(distance, squared_distance_to(int(chosen[i])))
    return chosen


def memory_bank_maps(features: Tensor, bank: Tensor, *, chunk: int = 1024) -> Tensor:
    """Anomaly maps ``(B, h, w)``: each patch feature of ``features`` ``(B, D, h, w)``, its distance to
    the nearest row of the memory ``bank`` ``(M, D)`` of normal patch features. Introduced in lecture 8.
    """
    b, d, h, w = features.shape
    queries = features.permute(0, 2, 3, 1).reshape(-1, d)
    return nearest_distance(queries, bank.to(queries.dtype), chunk=chunk).reshape(b, h, w)


# ---------------------------------------------------------------------------------------------
# One Gaussian per position (PaDiM-style)
# ---------------------------------------------------------------------------------------------

class Gaussian(NamedTuple):
    """Per-position Gaussians of PaDiM: ``mean`` (h, w, D) and ``precision`` (h, w, D, D), the inverse
    of the covariance (regularised by ``eps * I``)."""

    mean: Tensor
    precision: Tensor


def fit_gaussian(features: Tensor, *, eps: float = 0.01) -> Gaussian:
    """Fit one Gaussian per position to normal ``features`` ``(N, D, h, w)`` (N images, N >= 2).

    The covariance at each position is the unbiased sample covariance plus ``eps * I`` (PaDiM's 0.01),
    which keeps it invertible when ``N`` is smaller than ``D``. Introduced in lecture 8.
    """
    n = features.shape[0]
    if n < 2:
        raise ValueError("fit_gaussian needs at least two normal images")
    x = features.permute(2, 3, 0, 1).double()  # (h, w, N, D)
    mean = x.mean(dim=2)
    centred = x - mean[:, :, None]
    covariance = centred.transpose(-1, -2) @ centred / (n - 1)
    covariance = covariance + eps * torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    return Gaussian(mean.float(), torch.linalg.inv(covariance).float())


def mahalanobis_maps(features: Tensor, gaussian: Gaussian) -> Tensor:
    """Mahalanobis distance of each position of ``features`` ``(B, D, h, w)`` to its Gaussian: ``(B, h, w)``.

    ``sqrt((x - mean)^T precision (x - mean))``, as PaDiM scores a patch. Introduced in lecture 8.
    """
    x = features.permute(0, 2, 3, 1) - gaussian.mean  # (B, h, w, D)
    squared = torch.einsum("bhwi,hwij,bhwj->bhw", x, gaussian.precision, x)
    return squared.clamp_min(0).sqrt()


# ---------------------------------------------------------------------------------------------
# From the feature grid to pixels
# ---------------------------------------------------------------------------------------------

def upsample_maps(maps: Tensor, size: int | tuple[int, int], *, sigma: float = 4.0) -> Tensor:
    """Maps ``(B, h, w)`` resized bilinearly to ``size`` and smoothed with a Gaussian of ``sigma`` pixels.

    PatchCore and PaDiM smooth with sigma 4 at 224 pixels; scale ``sigma`` with the image size.
    ``sigma=0`` skips the smoothing. Returns ``(B, H, W)``. Introduced in lecture 8 (anomaly detection).
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    out = F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)
    if sigma > 0:
        radius = int(4 * sigma + 0.5)
        out = gaussian_blur(out, kernel_size=2 * radius + 1, sigma=sigma)
    return out[:, 0]
