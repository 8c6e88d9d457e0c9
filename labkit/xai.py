"""Saliency maps of several families, scored and sanity-checked: the plumbing of lecture 11.

- :func:`saliency` gives one ``Tensor[N, H, W]`` map per image in [0, 1] for every method of the
  lecture: ``"cam"``, ``"grad_cam"`` and ``"grad_cam_pp"`` from :mod:`labkit.cam` (tested equal to
  pytorch-grad-cam), ``"gradient"``, ``"integrated_gradients"`` and ``"occlusion"`` from captum
  (attributions at the input pixels: another family, with no target layer).
- :func:`score_maps` scores maps against boxes: the pointing game (:func:`labkit.cam.pointing_game`)
  and the energy in the box (:func:`labkit.cam.energy_in_box`).
- The sanity checks of Adebayo et al., *Sanity Checks for Saliency Maps* (NeurIPS 2018):
  :func:`rank_correlation` (Spearman, from scipy) between the maps of a trained model and of a model
  whose layers :func:`cascading_randomization` re-initialises from the top down. A method whose maps
  barely change when the weights are destroyed explains the image, not the model: it fails.

Introduced in lecture 11 (explainable AI).
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn

from labkit.cam import (class_activation_map, energy_in_boxes, grad_cam, grad_cam_plus_plus, normalize_maps,
                        pointing_game, upsample_maps)
from labkit.train import eval_mode, model_device

__all__ = ["METHODS", "GRADIENT_METHODS", "saliency", "score_maps", "rank_correlation", "map_correlations",
           "cascading_randomization", "reinitialize", "cam_of_gap_model"]

METHODS = ("cam", "grad_cam", "grad_cam_pp", "gradient", "integrated_gradients", "occlusion")
"""The methods :func:`saliency` knows; the first three need a target layer."""
GRADIENT_METHODS = ("grad_cam", "grad_cam_pp", "gradient", "integrated_gradients")
"""The methods computed from gradients, which the randomisation checks are about."""


def cam_of_gap_model(model: nn.Module, target_layer: nn.Module, fc: nn.Linear, images: Tensor,
                     class_idx: Tensor) -> Tensor:
    """Rectified, upsampled, normalised CAM of a network whose ``target_layer`` feeds GAP + ``fc``.

    ``Tensor[N, H, W]`` in [0, 1], prepared like :func:`labkit.cam.grad_cam` (ReLU at the layer's
    resolution, bilinear upsampling, min-max), so the two can be compared. Introduced in lecture 11.
    """
    features = {}
    handle = target_layer.register_forward_hook(lambda m, i, o: features.setdefault("f", o.detach()))
    try:
        with eval_mode(model), torch.inference_mode():
            model(images.to(model_device(model)))
    finally:
        handle.remove()
    maps = class_activation_map(features["f"], fc.weight.detach(), class_idx.to(fc.weight.device))
    return normalize_maps(upsample_maps(maps.clamp_min(0).float().cpu(), images.shape[-2:]))


def _pixel_map(attributions: Tensor) -> Tensor:
    """captum's (N, C, H, W) attributions -> (N, H, W) in [0, 1]: |sum over colour channels|, min-max."""
    return normalize_maps(attributions.detach().float().sum(1).abs().cpu())


def saliency(method: str, model: nn.Module, images: Tensor, class_idx: Tensor, *,
             target_layer: nn.Module | None = None, fc: nn.Linear | None = None, steps: int = 16,
             window: int = 8, stride: int = 4, baseline: float | Tensor = 0.0) -> Tensor:
    """Maps ``Tensor[N, H, W]`` in [0, 1] of ``method`` (one of :data:`METHODS`) for class ``class_idx``.

    ``images``: ``Tensor[N, C, H, W]`` as the model expects them; ``class_idx``: ``LongTensor[N]``.
    ``"cam"`` needs ``fc`` (the linear layer after GAP) and ``target_layer`` (the layer GAP pools);
    ``"grad_cam"``/``"grad_cam_pp"`` need ``target_layer``. The captum methods work at the input:
    ``"gradient"`` is |dS_c/dx| (captum ``Saliency``), ``"integrated_gradients"`` integrates the gradient
    on the straight path from ``baseline`` to the image in ``steps`` steps (captum
    ``IntegratedGradients``, Gauss-Legendre), ``"occlusion"`` is the drop of the class score when a grey
    (``baseline``) ``window`` x ``window`` square covers each place, moved by ``stride`` (captum
    ``Occlusion``; only drops count: evidence *for* the class). Input maps are the absolute sum over
    colour channels, min-max normalised. The model's train/eval modes are restored afterwards.
    Introduced in lecture 11 (explainable AI).
    """
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method in ("cam", "grad_cam", "grad_cam_pp") and target_layer is None:
        raise ValueError(f"{method} needs target_layer, the convolutional block whose output it weighs")
    device = model_device(model)
    images, class_idx = images.to(device), torch.as_tensor(class_idx, device=device).long()
    if method == "cam":
        if fc is None:
            raise ValueError("cam needs fc, the linear layer right after global average pooling; a network "
                             "without GAP + one linear layer has no CAM (use grad_cam)")
        return cam_of_gap_model(model, target_layer, fc, images, class_idx)
    if method == "grad_cam":
        return grad_cam(model, target_layer, images, class_idx).cpu()
    if method == "grad_cam_pp":
        return grad_cam_plus_plus(model, target_layer, images, class_idx).cpu()
    with eval_mode(model), torch.inference_mode(False), torch.enable_grad():
        x = images.clone().requires_grad_(True)
        target = class_idx.tolist()
        if method == "gradient":
            attributions = Saliency(model).attribute(x, target=target, abs=True)
        elif method == "integrated_gradients":
            attributions = IntegratedGradients(model).attribute(
                x, baselines=baseline, target=target, n_steps=steps,
                internal_batch_size=min(len(x) * steps, 256))
        else:
            with torch.no_grad():
                channels = x.shape[1]
                attributions = Occlusion(model).attribute(
                    x.detach(), sliding_window_shapes=(channels, window, window),
                    strides=(channels, stride, stride), baselines=baseline, target=target,
                    perturbations_per_eval=16)
            return normalize_maps(attributions.detach().float().mean(1).clamp_min(0).cpu())
    return _pixel_map(attributions)


def score_maps(maps: Tensor, boxes_list: Sequence) -> dict[str, float]:
    """``{"pointing game": ..., "energy in box": ...}`` of maps ``Tensor[N, H, W]`` against one box set
    each (``Tensor[M_i, 4]`` xyxy pixels). Introduced in lecture 11 (explainable AI)."""
    return {"pointing game": pointing_game(maps, boxes_list),
            "energy in box": energy_in_boxes(maps, boxes_list)}


def rank_correlation(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape (``scipy.stats.spearmanr``).

    Ties get their average rank, as in scipy. A constant map has no ranking to share: its correlation
    with anything is 0.0 by this definition (scipy would give NaN), so an all-zero Grad-CAM map after
    randomisation counts as "nothing in common", not as undefined. Adebayo et al. (2018) use this
    measure (and SSIM) to say how much a map changes. Introduced in lecture 11 (explainable AI).
    """
    a = np.asarray(a.detach().cpu() if isinstance(a, Tensor) else a, dtype=np.float64).ravel()
    b = np.asarray(b.detach().cpu() if isinstance(b, Tensor) else b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"the maps have {a.size} and {b.size} values; compare maps of the same size")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def map_correlations(maps_a: Tensor, maps_b: Tensor) -> np.ndarray:
    """:func:`rank_correlation` of each pair ``maps_a[i], maps_b[i]``: ``ndarray[N]``. Lecture 11."""
    if len(maps_a) != len(maps_b):
        raise ValueError(f"got {len(maps_a)} and {len(maps_b)} maps; pass the maps of the same images")
    return np.array([rank_correlation(a, b) for a, b in zip(maps_a, maps_b)])


def reinitialize(module: nn.Module, generator_seed: int | None = None) -> nn.Module:
    """Re-draw every parameter of ``module`` (in place) with its layers' own ``reset_parameters``.

    Batch-norm layers get fresh statistics too. ``generator_seed`` seeds torch first, so a
    randomisation can be repeated. Returns ``module``. Introduced in lecture 11 (explainable AI).
    """
    if generator_seed is not None:
        torch.manual_seed(generator_seed)
    touched = False
    for sub in module.modules():
        if hasattr(sub, "reset_parameters") and callable(sub.reset_parameters):
            sub.reset_parameters()
            touched = True
        elif hasattr(sub, "reset_running_stats"):
            sub.reset_running_stats()
    if not touched and any(True for _ in module.parameters()):
        raise ValueError(f"{type(module).__name__} has parameters but no layer with reset_parameters()")
    return module


def cascading_randomization(model: nn.Module, layer_names: Sequence[str], *,
                            seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Adebayo et al.'s cascading randomisation: yield ``(name, model copy)`` after each step.

    ``layer_names`` are names of ``model.named_modules()`` from the **output** down (e.g.
    ``["fc", "block3", "block2", "block1"]``); step ``i`` re-initialises layers ``0..i`` of that list in
    a deep copy (:func:`reinitialize`), so the last copy has every listed layer random. The model
    passed in is never changed. Introduced in lecture 11 (explainable AI).
    """
    modules = dict(model.named_modules())
    unknown = [name for name in layer_names if name not in modules]
    if unknown:
        raise ValueError(f"no layer named {unknown} in the model; names are those of model.named_modules(), "
                         f"e.g. {[n for n in modules if n][:6]}")
    current = copy.deepcopy(model)
    for step, name in enumerate(layer_names):
        reinitialize(dict(current.named_modules())[name], generator_seed=seed + step)
        yield name, copy.deepcopy(current)

