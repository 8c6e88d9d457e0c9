"""Image search: embeddings, cosine top-k, retrieval scores, and approximate nearest neighbours (faiss).

Introduced in lecture 6 (image search and recommendation). The lecture writes cosine similarity, top-k
and precision@k out once in its own cells; this module holds the tested versions it then reuses:

- :func:`embed` runs a network over a loader of ``(images, ids)`` batches under ``inference_mode`` and
  returns an ``(N, D)`` float32 array with the ids in the same order, cached on disk by model and data;
- :func:`l2_normalize`, :func:`cosine_similarity`, :func:`topk` (blocked, so a 44,000-item gallery
  never needs its 44,000 x 44,000 matrix);
- :func:`relevance`, :func:`precision_at_k`, :func:`recall_at_k`, :func:`average_precision`,
  :func:`mean_average_precision`, :func:`precision_by_attribute`: retrieval scored by an attribute
  (a neighbour is relevant when it shares the query's article type, colour, ...);
- :func:`colour_histogram`, the classic colour descriptor, and :func:`raw_pixels`;
- :func:`flat_index`, :func:`hnsw_index`, :func:`ivf_index`, :func:`search` (faiss, inner product on
  L2-normalised vectors = cosine) and :func:`neighbour_recall`, the recall of an approximate index
  against exact search.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from labkit.train import eval_mode, model_device, to_device

__all__ = ["Embeddings", "model_key", "embed", "l2_normalize", "cosine_similarity", "topk", "relevance",
           "precision_at_k", "recall_at_k", "average_precision", "mean_average_precision",
           "precision_by_attribute", "colour_histogram", "raw_pixels", "flat_index", "hnsw_index", "ivf_index",
           "search", "neighbour_recall"]


# ---------------------------------------------------------------------------------------------------------
# Embeddings, cached
# ---------------------------------------------------------------------------------------------------------

class Embeddings(NamedTuple):
    """What :func:`embed` returns: ``vectors`` float32 ``(N, D)``, ``ids`` int64 ``(N,)`` (row ``i`` is
    item ``ids[i]``) and whether they came from the cache."""

    vectors: np.ndarray
    ids: np.ndarray
    cached: bool


def model_key(model: nn.Module) -> str:
    """A short hash of a model's class and every tensor of its ``state_dict`` (names, shapes, values):
    a retrained or differently loaded model gets another key. Lecture 6 (the cache of :func:`embed`)."""
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _save_atomic(path: Path, array: np.ndarray) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".npy", delete=False) as tmp:
        np.save(tmp, array)
    os.replace(tmp.name, path)


def embed(model: nn.Module, loader: Iterable, *, cache: str | os.PathLike | None = None,
          data_key: str | None = None, device: torch.device | str | None = None) -> Embeddings:
    """Embed every item of ``loader`` (batches of ``(images, ids)``) with ``model``: ``(N, D)`` float32.

    Batched, under :func:`labkit.train.eval_mode` and ``torch.inference_mode()``, on ``device`` (default:
    the model's). Outputs with more than two dimensions are flattened per item. With ``cache=folder``
    the result is saved there as ``<model key>-<data key>.npy`` and ``...-ids.npy`` (written atomically)
    and read back next time instead of running the model. The model key is :func:`model_key`; the data
    key is ``data_key``, else ``loader.dataset.fingerprint()`` (:class:`labkit.data.fashion_products.
    FashionProducts` has one); a cache without either is refused, since it could return another
    dataset's vectors. Introduced in lecture 6 (image search).
    """
    files = None
    if cache is not None:
        if data_key is None:
            fingerprint = getattr(getattr(loader, "dataset", None), "fingerprint", None)
            if fingerprint is None:
                raise ValueError("embed(cache=...) needs a key for the data: pass data_key='...' (anything that "
                                 "changes when the images or their preprocessing change), or a loader whose "
                                 "dataset has a fingerprint() method")
            data_key = fingerprint()
        folder = Path(cache).expanduser()
        stem = f"{model_key(model)}-{data_key}"
        files = folder / f"{stem}.npy", folder / f"{stem}-ids.npy"
        if files[0].is_file() and files[1].is_file():
            return Embeddings(np.load(files[0]), np.load(files[1]), True)

    device = torch.device(device) if device is not None else model_device(model)
    vectors, ids = [], []
    with eval_mode(model), torch.inference_mode():
        for images, batch_ids in loader:
            out = model(to_device(images, device))
            vectors.append(out.reshape(len(out), -1).float().cpu().numpy())
            ids.append(np.asarray(batch_ids, dtype=np.int64).reshape(-1))
    if not vectors:
        raise ValueError("embed: the loader yielded no batches")
    result = Embeddings(np.concatenate(vectors).astype(np.float32, copy=False), np.concatenate(ids), False)
    if len(result.ids) != len(result.vectors):
        raise ValueError(f"embed: {len(result.vectors)} vectors but {len(result.ids)} ids; the loader must "
                         "yield (images, ids) with one id per image")
    if files is not None:
        files[0].parent.mkdir(parents=True, exist_ok=True)
        _save_atomic(files[1], result.ids)
        _save_atomic(files[0], result.vectors)  # last: its presence means "complete"
    return result


# ---------------------------------------------------------------------------------------------------------
# Cosine similarity and top-k
# ---------------------------------------------------------------------------------------------------------

def l2_normalize(x: np.ndarray | Tensor, eps: float = 1e-12) -> np.ndarray | Tensor:
    """Each row divided by its Euclidean norm (rows of zeros stay zero); NumPy in, NumPy out, and
    tensors likewise. Then a dot product is the cosine similarity. Lecture 6."""
    if isinstance(x, Tensor):
        return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    x = np.asarray(x, dtype=np.float32 if np.asarray(x).dtype != np.float64 else np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(Q, N)`` cosine similarities of the rows of ``a`` (Q, D) and ``b`` (N, D); both must be 2-D
    (a single vector is ``v[None]``: the book passed a 1-D one). Equals scikit-learn's. Lecture 6."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"cosine_similarity needs 2-D arrays (rows are vectors), got shapes {a.shape} and "
                         f"{b.shape}; for one vector v use v[None] (or v.reshape(1, -1))")
    return l2_normalize(a) @ l2_normalize(b).T


def topk(queries: np.ndarray, gallery: np.ndarray, k: int, *, exclude_self: bool = True,
         block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery rows most cosine-similar to each query: ``(indices (Q, k), scores (Q, k))``,
    best first (ties: the lower index first).

    ``exclude_self=True`` is for searching the gallery with its own items: query ``i`` is gallery
    item ``i``, which is never returned as its own neighbour (``queries`` must then have as many rows as
    ``gallery``). Use ``exclude_self=False`` for outside queries. Similarities are computed ``block``
    queries at a time. Introduced in lecture 6 (image search).
    """
    queries, gallery = l2_normalize(np.asarray(queries)), l2_normalize(np.asarray(gallery))
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries (Q, D) and gallery (N, D) must be 2-D with the same D, got {queries.shape} "
                         f"and {gallery.shape}")
    if exclude_self and len(queries) != len(gallery):
        raise ValueError(f"exclude_self=True means query i is gallery item i, but there are {len(queries)} "
                         f"queries and {len(gallery)} gallery items; pass exclude_self=False for outside queries")
    available = len(gallery) - (1 if exclude_self else 0)
    if not 1 <= k <= available:
        raise ValueError(f"k must be between 1 and {available}, got {k}")
    indices = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), block):
        sims = queries[start:start + block] @ gallery.T
        if exclude_self:
            rows = np.arange(len(sims))
            sims[rows, start + rows] = -np.inf
        # Stable sort of the negated scores: best first, ties by index. argpartition first when N is large.
        if k < sims.shape[1] // 4:
            part = np.argpartition(-sims, k, axis=1)[:, :k + 1]
            candidates = np.take_along_axis(sims, part, axis=1)
            order = np.lexsort((part, -candidates), axis=1)[:, :k]
            chosen = np.take_along_axis(part, order, axis=1)
            # argpartition may cut a tie at the k-th place arbitrarily: recheck against the k-th score
            kth = np.take_along_axis(sims, chosen[:, -1:], axis=1)
            tied = (sims >= kth).sum(1) > k
            if tied.any():
                full = np.argsort(-sims[tied], axis=1, kind="stable")[:, :k]
                chosen[tied] = full
        else:
            chosen = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        indices[start:start + len(sims)] = chosen
        scores[start:start + len(sims)] = np.take_along_axis(sims, chosen, axis=1)
    return indices, scores


# ---------------------------------------------------------------------------------------------------------
# Scoring retrieval by an attribute
# ---------------------------------------------------------------------------------------------------------

def relevance(query_labels: np.ndarray, neighbour_labels: np.ndarray) -> np.ndarray:
    """``(Q, k)`` bool: neighbour ``j`` of query ``i`` shares its label (``neighbour_labels`` is
    ``labels[indices]``). Lecture 6."""
    query_labels, neighbour_labels = np.asarray(query_labels), np.asarray(neighbour_labels)
    if neighbour_labels.ndim != 2 or len(neighbour_labels) != len(query_labels):
        raise ValueError(f"neighbour_labels must be (Q, k) for Q = {len(query_labels)} queries, got shape "
                         f"{neighbour_labels.shape}")
    return neighbour_labels == query_labels[:, None]


def precision_at_k(relevant: np.ndarray, k: int) -> float:
    """Mean over queries of the fraction of the first ``k`` neighbours that are relevant.

    ``relevant`` is ``(Q, >= k)`` bool, best neighbour first (see :func:`relevance`). Lecture 6.
    """
    relevant = np.asarray(relevant, dtype=bool)
    if relevant.ndim != 2 or relevant.shape[1] < k or k < 1:
        raise ValueError(f"relevant must be (Q, >= k) with k >= 1; got shape {relevant.shape} and k = {k}")
    return float(relevant[:, :k].mean())


def recall_at_k(relevant: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """Mean over queries of (relevant items among the first ``k``) / (relevant items in the gallery).

    ``n_relevant[i]`` counts the gallery items that share query ``i``'s label (itself excluded when
    searching with ``exclude_self``); queries with none are left out of the mean. Lecture 6.
    """
    relevant = np.asarray(relevant, dtype=bool)
    n_relevant = np.asarray(n_relevant)
    if relevant.ndim != 2 or relevant.shape[1] < k or k < 1 or len(n_relevant) != len(relevant):
        raise ValueError(f"relevant must be (Q, >= k) and n_relevant (Q,); got {relevant.shape}, "
                         f"{n_relevant.shape} and k = {k}")
    has = n_relevant > 0
    if not has.any():
        return float("nan")
    return float((relevant[has, :k].sum(1) / n_relevant[has]).mean())


def average_precision(relevant: np.ndarray, n_relevant: int | None = None) -> float:
    """Average precision of one ranked list: the mean of precision@r over the ranks r of the relevant
    items, ``sum_r P@r * rel_r / n_relevant``.

    ``relevant`` is 1-D bool, best first. ``n_relevant`` (default: ``relevant.sum()``, right when the
    list is the whole ranking) is the number of relevant items in the gallery, for a list cut at k:
    the missing ones then count as found at no rank. 0.0 when nothing is relevant. For a full ranking
    without ties it equals scikit-learn's ``average_precision_score``. Lecture 6.
    """
    relevant = np.asarray(relevant, dtype=bool).reshape(-1)
    n = int(relevant.sum()) if n_relevant is None else int(n_relevant)
    if n == 0:
        return 0.0
    hits = np.cumsum(relevant)
    ranks = np.arange(1, len(relevant) + 1)
    return float((hits / ranks)[relevant].sum() / n)


def mean_average_precision(relevant: np.ndarray, n_relevant: np.ndarray | None = None) -> float:
    """:func:`average_precision` averaged over the rows of ``relevant`` (Q, k). Lecture 6."""
    relevant = np.asarray(relevant, dtype=bool)
    counts = [None] * len(relevant) if n_relevant is None else list(n_relevant)
    return float(np.mean([average_precision(r, n) for r, n in zip(relevant, counts)]))


def precision_by_attribute(indices: np.ndarray, labels: np.ndarray, k: int, *,
                           query_labels: np.ndarray | None = None, unknown: str = "") -> float:
    """Precision@k of neighbours ``indices`` (Q, >= k) judged by one attribute ``labels`` (N,).

    A neighbour is relevant when its label equals the query's: ``query_labels`` (Q,) for outside
    queries, else ``labels`` itself (the queries are the gallery). Queries whose label is ``unknown``
    (e.g. a real product whose name states no pattern) are left out. Lecture 6.
    """
    labels = np.asarray(labels)
    indices = np.asarray(indices)
    queries = labels if query_labels is None else np.asarray(query_labels)
    known = queries != unknown
    if not known.any():
        return float("nan")
    return precision_at_k(relevance(queries[known], labels[indices[known]]), k)


# ---------------------------------------------------------------------------------------------------------
# Baseline descriptors
# ---------------------------------------------------------------------------------------------------------

def colour_histogram(images: Tensor | np.ndarray, bins: int = 4) -> np.ndarray:
    """Joint RGB histogram of each image, ``bins`` levels per channel: ``(N, bins**3)`` float32, each
    row summing to 1. ``images`` is uint8 ``(N, 3, H, W)``. Equals OpenCV's ``calcHist`` with
    ``bins`` bins over [0, 256) per channel. Lecture 6 (a colour baseline, and the colour-aware
    exercise)."""
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be uint8 (N, 3, H, W), got {x.dtype} {tuple(x.shape)}")
    level = (x.long() * bins) // 256  # 0 .. bins-1 per channel
    code = (level[:, 0] * bins + level[:, 1]) * bins + level[:, 2]
    counts = torch.zeros(len(x), bins ** 3, dtype=torch.float32)
    counts.scatter_add_(1, code.reshape(len(x), -1), torch.ones(code.reshape(len(x), -1).shape))
    return (counts / counts.sum(1, keepdim=True)).numpy()


def raw_pixels(images: Tensor | np.ndarray, size: tuple[int, int] = (20, 15)) -> np.ndarray:
    """Images shrunk to ``size`` (H, W) by area averaging and flattened: the "no learning" baseline.
    ``images`` is uint8 ``(N, 3, H, W)``; returns float32 ``(N, 3 * H * W)`` in [0, 1]. Subtract the
    gallery's mean vector before comparing by cosine (all-positive vectors all point the same way).
    Lecture 6."""
    x = torch.as_tensor(images).float() / 255
    return torch.nn.functional.interpolate(x, size=size, mode="area").reshape(len(x), -1).numpy()


# ---------------------------------------------------------------------------------------------------------
# Approximate nearest neighbours with faiss
# ---------------------------------------------------------------------------------------------------------

def _float32(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be (N, D), got shape {vectors.shape}")
    return vectors


def flat_index(vectors: np.ndarray):
    """Exact search: ``faiss.IndexFlatIP`` holding ``vectors`` (normalise them first for cosine).
    Every query is compared with every vector: cost grows with N. Lecture 6."""
    import faiss

    vectors = _float32(vectors)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def hnsw_index(vectors: np.ndarray, m: int = 32, *, ef_construction: int = 64, ef_search: int = 64):
    """Approximate search on a graph: ``faiss.IndexHNSWFlat`` (inner product), each vector linked to
    about ``m`` neighbours; ``ef_search`` (candidates kept while searching) trades speed for recall.
    Lecture 6."""
    import faiss

    vectors = _float32(vectors)
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    index.hnsw.efSearch = ef_search
    return index


def ivf_index(vectors: np.ndarray, nlist: int = 256, *, nprobe: int = 8, seed: int = 0):
    """Approximate search by clusters: ``faiss.IndexIVFFlat`` (inner product) with ``nlist`` k-means
    cells; a query visits the ``nprobe`` nearest cells only. Trained on ``vectors``. Lecture 6."""
    import faiss

    vectors = _float32(vectors)
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(vectors)
    index.add(vectors)
    index.nprobe = nprobe
    return index  # faiss's Python wrapper keeps the quantizer alive with the index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indices (Q, k), scores (Q, k))`` of a faiss index, best first, as :func:`topk` returns them
    (faiss itself returns scores first). Lecture 6."""
    scores, indices = index.search(_float32(queries), k)
    return indices.astype(np.int64), scores


def neighbour_recall(approx: np.ndarray, exact: np.ndarray, k: int | None = None) -> float:
    """Recall@k of an approximate search against the exact one: the mean over queries of the fraction
    of the exact ``k`` nearest neighbours that the approximate search also returned in its first ``k``.
    ``approx`` and ``exact`` are ``(Q, >= k)`` index arrays; ``k`` defaults to their width. Lecture 6."""
    approx, exact = np.asarray(approx), np.asarray(exact)
    k = exact.shape[1] if k is None else k
    if approx.shape[0] != exact.shape[0] or min(approx.shape[1], exact.shape[1]) < k:
        raise ValueError(f"approx and exact must be (Q, >= k) for the same Q; got {approx.shape}, {exact.shape}, k = {k}")
    found = [len(set(a[:k].tolist()) & set(e[:k].tolist())) for a, e in zip(approx, exact)]
    return float(np.mean(found) / k)
