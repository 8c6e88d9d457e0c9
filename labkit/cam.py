"""Class activation maps and how to score them: CAM, Grad-CAM, Grad-CAM++, CAM to box, pointing game.

Pure functions on tensors in the style of ``torchvision.ops``; shapes are in the docstrings.

- :func:`class_activation_map` is the formula of Zhou et al. (CVPR 2016), ``M_c(x, y) = sum_k w_k^c f_k(x, y)``,
  for a network that ends in global average pooling and one linear layer.
- :func:`grad_cam` (Selvaraju et al., ICCV 2017) and :func:`grad_cam_plus_plus` (Chattopadhay et al.,
  WACV 2018) work for any layer of any classifier. Like pytorch-grad-cam's ``base_cam.py`` they share
  one routine and differ only in how the channel weights are computed (:func:`_grad_cam_weights`,
  :func:`_grad_cam_plus_plus_weights`); the layer hook lives in a context manager
  (:class:`ActivationsAndGradients`) so it is released even when the forward pass raises.
- :func:`cam_to_box` is the paper's box heuristic: keep the pixels at or above 20% of the map's
  maximum and take the bounding box of the largest connected component.
- :func:`pointing_game` (Zhang et al., ECCV 2016) and :func:`best_box_iou` score a map against
  ground-truth boxes (the IoU itself is ``torchvision.ops.box_iou``); :func:`energy_in_box` (the
  "energy-based pointing game" of Wang et al., Score-CAM, CVPR-W 2020) is the share of the map's mass
  inside the boxes (lecture 11).

Boxes are ``(x1, y1, x2, y2)`` in pixel units with ``x2``/``y2`` exclusive, as in torchvision: pixel
``(row, col)`` is the unit square ``[col, col + 1) x [row, row + 1)``, so a box around columns 3..5
is ``x1 = 3, x2 = 6`` and a single pixel has area 1.

Introduced in lecture 2 (GAP and CAM).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn
from torchvision.ops import box_iou

from labkit.train import eval_mode, model_device

__all__ = [
    "ActivationsAndGradients", "best_box_iou", "cam_to_box", "cams_to_boxes",
    "class_activation_map", "energy_in_box", "energy_in_boxes", "grad_cam", "grad_cam_plus_plus",
    "normalize_maps", "pointing_game", "pointing_game_hit", "upsample_maps",
]

# 8-connectivity: pixels touching at a corner belong to the same region.
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _class_indices(class_idx, n: int, num_classes: int, device: torch.device) -> Tensor:
    """int / sequence / 0-d or (N,) tensor -> LongTensor[N], range-checked."""
    idx = torch.as_tensor(class_idx, device=device)
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise ValueError(f"class_idx must hold integers, got dtype {idx.dtype}; use .long()")
    idx = idx.long()
    if idx.ndim == 0:
        idx = idx.expand(n)
    if idx.shape != (n,):
        raise ValueError(f"class_idx must be an int or hold one class per image ({n}), "
                         f"got shape {tuple(idx.shape)}")
    if n and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"class_idx must lie in [0, {num_classes - 1}] (the model has {num_classes} "
                         f"classes), got {idx.tolist()}")
    return idx


def class_activation_map(features: Tensor, fc_weight: Tensor, class_idx) -> Tensor:
    """Raw class activation maps ``M_c(x, y) = sum_k w_k^c f_k(x, y)`` (Zhou et al. 2016, eq. 2).

    Args:
        features: ``Tensor[N, K, h, w]`` (or ``[K, h, w]``, treated as N = 1): the last conv layer's
            output, the tensor that global average pooling reduces to ``Tensor[N, K]``.
        fc_weight: ``Tensor[C, K]``, the weight of the linear layer after the pooling (``fc.weight``).
        class_idx: an int (the same class for every image) or ``LongTensor[N]`` (one per image).

    Returns:
        ``Tensor[N, h, w]``: not upsampled, not normalised, not rectified. When the pooling is a mean,
        ``maps.mean((1, 2)) + fc.bias[c]`` is the class-``c`` logit: the map says where the score comes from.

    Introduced in lecture 2 (GAP and CAM).
    """
    if features.ndim == 3:
        features = features.unsqueeze(0)
    if features.ndim != 4:
        raise ValueError(f"features must be (N, K, h, w) or (K, h, w), got {tuple(features.shape)}; "
                         f"pass the conv output before global average pooling, not the pooled vector")
    if fc_weight.ndim != 2 or fc_weight.shape[1] != features.shape[1]:
        raise ValueError(f"fc_weight must be (C, K={features.shape[1]}) to match the features' "
                         f"{features.shape[1]} channels, got {tuple(fc_weight.shape)}; pass the "
                         f"weight of the linear layer right after the pooling (model.fc.weight)")
    idx = _class_indices(class_idx, features.shape[0], fc_weight.shape[0], fc_weight.device)
    w = fc_weight[idx].to(features.dtype)  # (N, K): each image's class weights w_k^c
    return torch.einsum("nkhw,nk->nhw", features, w)


def normalize_maps(maps: Tensor) -> Tensor:
    """Min-max scale each map to [0, 1]: ``Tensor[..., H, W] -> Tensor[..., H, W]``.

    Each ``(H, W)`` map is scaled on its own. A constant map carries no "where" information and
    becomes all zeros (never NaN).
    Introduced in lecture 2 (GAP and CAM).
    """
    if maps.ndim < 2:
        raise ValueError(f"maps must be (..., H, W), got {tuple(maps.shape)}")
    maps = maps.float() if not maps.is_floating_point() else maps
    lo = maps.amin(dim=(-2, -1), keepdim=True)
    span = maps.amax(dim=(-2, -1), keepdim=True) - lo
    # Dividing by a clamped span and masking afterwards keeps constant maps at 0 instead of 0/0.
    scaled = (maps - lo) / span.clamp_min(torch.finfo(maps.dtype).tiny)
    return torch.where(span > 0, scaled, torch.zeros_like(scaled))


def upsample_maps(maps: Tensor, size: int | tuple[int, int], *, stride: int | None = None) -> Tensor:
    """Bilinear resize of maps ``Tensor[N, h, w]`` (or ``[h, w]``) to ``Tensor[N, H, W]`` (``[H, W]``).

    ``size`` is ``(H, W)`` or one int for a square. By default uses ``align_corners=False`` (pixel
    centres aligned), which for upsampling gives the same values as OpenCV's
    ``cv2.resize(..., INTER_LINEAR)`` that pytorch-grad-cam and the CAM paper's code use. That puts
    map cell ``(i, j)`` at the centre of the ``(H/h) x (W/w)`` block it covers, about half a stride
    right of and below where a network's feature ``(i, j)`` looks.

    With ``stride``, cell ``(i, j)`` is placed at pixel ``(stride * i, stride * j)`` instead: the
    centre of its receptive field in a network whose convolutions and poolings are padded by
    ``k // 2`` (ResNet, VGG). Values between those points are interpolated bilinearly, and pixels
    beyond the last one (right and bottom) repeat the edge value.
    Introduced in lecture 2 (GAP and CAM).
    """
    if maps.ndim not in (2, 3):
        raise ValueError(f"maps must be (N, h, w) or (h, w), got {tuple(maps.shape)}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    x = maps if maps.is_floating_point() else maps.float()
    x = x.unsqueeze(0) if maps.ndim == 2 else x
    if stride is None:
        out = F.interpolate(x.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
    else:
        if int(stride) != stride or stride < 1:
            raise ValueError(f"stride must be a positive int (input pixels per map cell), got {stride}")
        stride = int(stride)
        h, w = x.shape[-2:]
        # align_corners=True on a grid whose corners are the first and last cell centres.
        grid = ((h - 1) * stride + 1, (w - 1) * stride + 1)
        out = F.interpolate(x.unsqueeze(1), size=grid, mode="bilinear", align_corners=True)
        out = out[..., : size[0], : size[1]]
        pad = (0, size[1] - out.shape[-1], 0, size[0] - out.shape[-2])
        out = (F.pad(out, pad, mode="replicate") if any(pad) else out).squeeze(1)
    return out.squeeze(0) if maps.ndim == 2 else out


class ActivationsAndGradients:
    """Context manager that records ``target_layer``'s output and the gradient of a score with respect to it.

    On entry the model goes to eval mode (dropout off, batch norm on running statistics, so each
    image's map depends on that image only) and a forward hook is put on ``target_layer``; on exit,
    also after an exception, the hook is removed and every submodule gets its previous mode back.
    Gradients come from ``torch.autograd.grad`` on the recorded activations, so no parameter's
    ``.grad`` is touched.
    Introduced in lecture 2 (GAP and CAM).

    Example::

        with ActivationsAndGradients(model, model.layer4) as rec:
            logits, acts, grads = rec(images, class_idx)   # acts, grads: Tensor[N, K, h, w]
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        if not any(m is target_layer for m in model.modules()):
            raise ValueError(f"target_layer ({type(target_layer).__name__}) is not a submodule of the "
                             f"model; pass the layer object itself, e.g. model.layer4 for a ResNet")
        self.model, self.target_layer = model, target_layer
        self.activations: Tensor | None = None
        self._handle = None
        self._eval_mode = None

    def _save(self, module: nn.Module, inputs, output):
        if not isinstance(output, Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(f"target_layer must output a (N, K, h, w) tensor, got {shape}; pick a "
                             f"convolutional block (e.g. model.layer4 or model.features)")
        self.activations = output
        # The next layer may work in place (nn.ReLU(inplace=True) after a conv in VGG): hand it a
        # copy, so the recorded tensor keeps the values the layer produced and its own gradient.
        return output.clone()

    def __enter__(self) -> ActivationsAndGradients:
        # eval_mode restores every submodule's mode, not just the root's: a model may be half frozen.
        self._eval_mode = eval_mode(self.model)
        self._eval_mode.__enter__()
        self._handle = self.target_layer.register_forward_hook(self._save)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._handle.remove()
        self._handle, self.activations = None, None
        self._eval_mode.__exit__(exc_type, exc, tb)

    def __call__(self, images: Tensor, class_idx=None) -> tuple[Tensor, Tensor, Tensor]:
        """Forward ``images: Tensor[N, C, H, W]`` and differentiate the class logits.

        Returns ``(logits Tensor[N, num_classes], activations Tensor[N, K, h, w], gradients
        Tensor[N, K, h, w])``, all detached. ``class_idx`` None means each image's predicted class.
        """
        if self._handle is None:
            raise RuntimeError("use ActivationsAndGradients inside a with-block, so its hook is removed")
        self.activations = None
        # inference_mode(False): also works when called inside a torch.inference_mode() block.
        with torch.inference_mode(False), torch.enable_grad():
            # An input that requires grad makes a graph even when the whole backbone is frozen;
            # the clone turns a possible inference tensor into a normal one.
            images = images.clone().requires_grad_(True)
            logits = self.model(images)
            if self.activations is None:
                raise RuntimeError("target_layer was not called in the model's forward pass; pass a "
                                   "module that forward() uses (check with print(model))")
            if not isinstance(logits, Tensor) or logits.ndim != 2:
                raise ValueError("the model must return logits of shape (N, num_classes), got "
                                 f"{tuple(logits.shape) if isinstance(logits, Tensor) else type(logits)}")
            idx = _class_indices(logits.argmax(1) if class_idx is None else class_idx,
                                 logits.shape[0], logits.shape[1], logits.device)
            # Summing over the batch is safe: in eval mode image i's score depends on image i only.
            score = logits.gather(1, idx[:, None]).sum()
            (grads,) = torch.autograd.grad(score, self.activations)
        return logits.detach(), self.activations.detach(), grads.detach()


def _grad_cam_weights(activations: Tensor, grads: Tensor) -> Tensor:
    """Grad-CAM channel weights ``alpha_k^c = mean_{x,y} dS_c / dA_k(x, y)``: ``Tensor[N, K]``."""
    return grads.mean(dim=(2, 3))


def _grad_cam_plus_plus_weights(activations: Tensor, grads: Tensor) -> Tensor:
    """Grad-CAM++ channel weights (Chattopadhay et al. 2018, eq. 19), exactly as pytorch-grad-cam.

    ``alpha_ij = g^2 / (2 g^2 + sum_ab A_ab g^3)`` with ``g`` the gradient of the class logit
    (the closed form the paper derives for an exponential of the score), then
    ``w_k = sum_ij alpha_ij relu(g_ij)``: ``Tensor[N, K]``.
    """
    g2 = grads.pow(2)
    g3 = g2 * grads
    sum_a = activations.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6)  # same eps as pytorch-grad-cam
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    return (alpha * grads.clamp_min(0)).sum(dim=(2, 3))


def _gradient_cam(model: nn.Module, target_layer: nn.Module, images: Tensor, class_idx,
                  weights_fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """Shared body of Grad-CAM and Grad-CAM++: only the channel weights differ."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) or (C, H, W), got {tuple(images.shape)}")
    with ActivationsAndGradients(model, target_layer) as rec:
        _, acts, grads = rec(images.to(model_device(model)), class_idx)
    acts, grads = acts.float(), grads.float()
    cam = torch.einsum("nkhw,nk->nhw", acts, weights_fn(acts, grads))
    # ReLU at the layer's resolution (Selvaraju et al.: only evidence *for* the class), then
    # upsample, then normalise: the same order as pytorch-grad-cam.
    cam = upsample_maps(cam.clamp_min(0), images.shape[-2:])
    return normalize_maps(cam).to(images.device)


def grad_cam(model: nn.Module, target_layer: nn.Module, images: Tensor, class_idx=None) -> Tensor:
    """Grad-CAM maps (Selvaraju et al. 2017): ``relu(sum_k alpha_k^c A_k)``, ``alpha_k^c`` the mean gradient.

    Args:
        model: a classifier returning logits ``(N, num_classes)``; its modes are restored afterwards.
        target_layer: a module of ``model`` whose output is ``(N, K, h, w)`` (usually the last conv block).
        images: ``Tensor[N, C, H, W]`` (or ``[C, H, W]``, treated as N = 1), preprocessed as the model expects.
        class_idx: int, ``LongTensor[N]``, or None for each image's predicted class.

    Returns:
        ``Tensor[N, H, W]`` in [0, 1], bilinearly upsampled to the input size (an all-zero map when
        nothing in the layer speaks for the class). For a GAP + linear head and the last conv layer
        as target, this equals the normalised, rectified :func:`class_activation_map`.

    Introduced in lecture 2 (GAP and CAM).
    """
    return _gradient_cam(model, target_layer, images, class_idx, _grad_cam_weights)


def grad_cam_plus_plus(model: nn.Module, target_layer: nn.Module, images: Tensor,
                       class_idx=None) -> Tensor:
    """Grad-CAM++ maps (Chattopadhay et al. 2018): :func:`grad_cam` with pixel-weighted gradients.

    Same arguments and ``Tensor[N, H, W]`` output in [0, 1] as :func:`grad_cam`; the channel
    weights sum only positive gradients, each weighted by ``alpha_ij`` (eq. 19), which helps when
    several instances of the class are in the image.
    Introduced in lecture 2 (GAP and CAM).
    """
    return _gradient_cam(model, target_layer, images, class_idx, _grad_cam_plus_plus_weights)


def _check_map(cam: Tensor, what: str = "cam") -> None:
    if cam.ndim != 2:
        raise ValueError(f"{what} must be one (H, W) map, got {tuple(cam.shape)}; "
                         f"use the batched variant for (N, H, W)")
    if not torch.isfinite(cam).all():
        raise ValueError(f"{what} contains NaN or inf; check the model's output before scoring the map")


def cam_to_box(cam: Tensor, threshold: float = 0.2) -> Tensor:
    """Bounding box of the largest region where ``cam >= threshold * cam.max()`` (Zhou et al. 2016).

    Args:
        cam: ``Tensor[H, W]`` at image resolution (upsample first). Thresholded as given: the paper's
            code min-max normalises first, so pass ``normalize_maps(cam)`` for a raw CAM with
            negative values.
        threshold: fraction of the maximum, in [0, 1]; the paper uses 0.2.

    Returns:
        ``Tensor[4]`` float ``(x1, y1, x2, y2)`` with ``x2 = last column + 1`` and ``y2 = last row + 1``,
        the convention of ``torchvision.ops.box_iou``. "Largest" is by pixel count with
        8-connectivity; ties go to the region met first in row-major order. A constant positive map
        gives the whole image; a map with no positive value (e.g. all zeros) has no evidence and gives
        the empty box ``(0, 0, 0, 0)``, whose IoU with any box is 0.

    Introduced in lecture 2 (GAP and CAM).
    """
    _check_map(cam)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a fraction of the map's maximum and must be in [0, 1], "
                         f"got {threshold}; the paper uses 0.2")
    out = torch.zeros(4, dtype=torch.float32, device=cam.device)
    peak = cam.max()
    if peak <= 0:
        return out
    mask = (cam >= threshold * peak).cpu().numpy()
    labels, n = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]  # label 0 is the background
    rows, cols = np.nonzero(labels == 1 + int(np.argmax(areas)))
    box = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    return out.new_tensor([float(v) for v in box])


def cams_to_boxes(cams: Tensor, threshold: float = 0.2) -> Tensor:
    """:func:`cam_to_box` for each map of ``cams: Tensor[N, H, W]``: ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)``.

    Introduced in lecture 2 (GAP and CAM).
    """
    if cams.ndim != 3:
        raise ValueError(f"cams must be (N, H, W), got {tuple(cams.shape)}; for one map use cam_to_box")
    if len(cams) == 0:
        return torch.zeros(0, 4, dtype=torch.float32, device=cams.device)
    return torch.stack([cam_to_box(c, threshold) for c in cams])


def _as_boxes(boxes) -> Tensor:
    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    if boxes.numel() % 4 or boxes.ndim > 2 or (boxes.ndim == 2 and boxes.shape[1] != 4):
        raise ValueError(f"boxes must be (M, 4) or (4,) in (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    return boxes.reshape(-1, 4)


def pointing_game_hit(cam: Tensor, boxes, tolerance: float = 0) -> bool:
    """Whether the peak of ``cam: Tensor[H, W]`` falls in one of ``boxes: Tensor[M, 4]`` (xyxy, pixels).

    The peak is the centre ``(col + 0.5, row + 0.5)`` of the arg-max pixel (the first one in
    row-major order on ties, so a constant map points at the top-left pixel). It hits when its
    distance to the nearest box is at most ``tolerance`` pixels; Zhang et al. (2016) use 15 pixels
    at 224x224. With no boxes (``M = 0``) there is nothing to hit: False.
    Introduced in lecture 2 (GAP and CAM).
    """
    _check_map(cam)
    if tolerance < 0:
        raise ValueError(f"tolerance is a distance in pixels and must be >= 0, got {tolerance}")
    boxes = _as_boxes(boxes)
    if len(boxes) == 0:
        return False
    row, col = divmod(int(cam.argmax()), cam.shape[1])
    px, py = col + 0.5, row + 0.5
    dx = torch.clamp(torch.maximum(boxes[:, 0] - px, px - boxes[:, 2]), min=0)
    dy = torch.clamp(torch.maximum(boxes[:, 1] - py, py - boxes[:, 3]), min=0)
    return bool((torch.hypot(dx, dy) <= tolerance).any())


def pointing_game(cams: Tensor | Sequence[Tensor], boxes_list: Sequence, tolerance: float = 0) -> float:
    """Fraction of maps whose peak hits a ground-truth box: the pointing-game accuracy in [0, 1].

    ``cams`` is ``Tensor[N, H, W]`` or a list of ``(H, W)`` maps (sizes may differ); ``boxes_list``
    holds one ``Tensor[M_i, 4]`` per map. See :func:`pointing_game_hit`.
    Introduced in lecture 2 (GAP and CAM).
    """
    if len(cams) != len(boxes_list):
        raise ValueError(f"got {len(cams)} maps but {len(boxes_list)} box sets; pass one set of "
                         f"ground-truth boxes per map")
    if len(cams) == 0:
        raise ValueError("the pointing game of zero maps is undefined")
    hits = sum(pointing_game_hit(c, b, tolerance) for c, b in zip(cams, boxes_list))
    return hits / len(cams)


def best_box_iou(pred_box: Tensor, gt_boxes) -> float:
    """Highest IoU of ``pred_box: Tensor[4]`` with any of ``gt_boxes: Tensor[M, 4]`` (all xyxy).

    Uses ``torchvision.ops.box_iou``. No ground-truth boxes gives 0.0. CAM localisation counts a
    box as correct when this is at least 0.5 (Zhou et al. 2016, after ILSVRC).
    Introduced in lecture 2 (GAP and CAM).
    """
    pred = _as_boxes(pred_box)
    if len(pred) != 1:
        raise ValueError(f"pred_box must be one box (4,), got {len(pred)}; use torchvision.ops.box_iou for many")
    gt = _as_boxes(gt_boxes)
    if len(gt) == 0:
        return 0.0
    iou = box_iou(pred, gt)
    # An empty predicted box against an empty ground truth is 0/0 in box_iou: no overlap, so 0.
    return float(torch.nan_to_num(iou, nan=0.0).max())


def energy_in_box(cam: Tensor, boxes) -> float:
    """Share of a map's mass inside the boxes: ``sum(cam inside) / sum(cam)``, in [0, 1].

    ``cam: Tensor[H, W]`` must be non-negative (rectify or take the absolute value first);
    ``boxes: Tensor[M, 4]`` xyxy in pixels, ``x2``/``y2`` exclusive, clipped to the map. A pixel
    counts once even where boxes overlap (their union). Where the pointing game looks only at the
    peak, this rewards a map that puts *all* its mass on the object: the "energy-based pointing
    game" of Wang et al. (Score-CAM, 2020). A map with no mass (all zeros) scores 0.0, as do no boxes.
    Pixels count as in :func:`cam_to_box`: pixel ``(row, col)`` is inside when ``x1 <= col < x2``
    and ``y1 <= row < y2``, for fractional box edges too (the pixel's corner decides).
    Introduced in lecture 11 (explainable AI).
    """
    _check_map(cam)
    if (cam < 0).any():
        raise ValueError("cam has negative values; energy is defined for non-negative maps: pass "
                         "cam.clamp_min(0) (Grad-CAM's ReLU) or cam.abs() (gradient maps)")
    boxes = _as_boxes(boxes)
    total = float(cam.double().sum())
    if total <= 0 or len(boxes) == 0:
        return 0.0
    h, w = cam.shape
    cols = torch.arange(w, dtype=torch.float32)
    rows = torch.arange(h, dtype=torch.float32)
    inside = torch.zeros(h, w, dtype=torch.bool)
    for x1, y1, x2, y2 in boxes.tolist():
        inside |= ((rows >= y1) & (rows < y2))[:, None] & ((cols >= x1) & (cols < x2))[None, :]
    return float(cam.double().cpu()[inside].sum()) / total


def energy_in_boxes(cams: Tensor | Sequence[Tensor], boxes_list: Sequence) -> float:
    """Mean of :func:`energy_in_box` over maps ``cams`` (``Tensor[N, H, W]`` or a list of ``(H, W)``)
    with one box set each. Introduced in lecture 11 (explainable AI)."""
    if len(cams) != len(boxes_list):
        raise ValueError(f"got {len(cams)} maps but {len(boxes_list)} box sets; pass one set of "
                         f"ground-truth boxes per map")
    if len(cams) == 0:
        raise ValueError("the energy in the box of zero maps is undefined")
    return sum(energy_in_box(c, b) for c, b in zip(cams, boxes_list)) / len(cams)
