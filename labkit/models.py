"""Pretrained torchvision models that degrade honestly offline, and a Keras-like layer summary.

Introduced in lecture 1 (CNN internals: AlexNet/VGG/ResNet anatomy); :func:`pretrained` is reused
by lectures 2, 4 and 5 (ImageNet and COCO weights), :func:`print_summary` by lectures 3 and 5.
"""
from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision.transforms import v2

from labkit import env
from labkit.train import eval_mode, model_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------
# pretrained()
# --------------------------------------------------------------------------------------------

def weights_cache_path(weights: torchvision.models.WeightsEnum) -> Path:
    """Where ``torch.hub`` looks for (and saves) the file of ``weights``.

    That is ``<torch.hub.get_dir()>/checkpoints/<file name in weights.url>``; putting a manual
    download there makes :func:`pretrained` use it without any network. Introduced in lecture 1.
    """
    file_name = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def imagenet_preprocess(resize: int = 256, crop: int = 224) -> nn.Module:
    """Resize(``resize``) + CenterCrop(``crop``) + ImageNet normalisation, as torchvision's presets.

    Used only for models without a torchvision weights enum. Accepts what
    ``weights.transforms()`` accepts: a PIL image, or a tensor ``(C, H, W)`` / ``(B, C, H, W)``
    that is uint8 in [0, 255] or float in [0, 1]. Returns float32 ``(..., 3, crop, crop)``.
    Introduced in lecture 1 (CNN internals), with :func:`pretrained`.
    """
    return v2.Compose([
        v2.ToImage(),  # PIL -> tensor; tensors pass through unchanged
        v2.Resize(resize, antialias=True),
        v2.CenterCrop(crop),
        v2.ToDtype(torch.float32, scale=True),  # uint8 /255; float stays as it is
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        v2.ToPureTensor(),  # a plain Tensor, as weights.transforms() returns
    ])


def _check_name(name: str) -> None:
    known = torchvision.models.list_models()
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"Unknown torchvision model {name!r}.{hint} "
                     f"torchvision.models.list_models() lists all {len(known)} names.")


def _check_num_classes(name: str, weights: Any, kwargs: dict[str, Any]) -> None:
    # torchvision refuses num_classes != len(categories) when it loads weights. We refuse it on
    # both paths, so a notebook that works offline (random init) also works for a student online.
    categories = weights.meta.get("categories") if weights is not None else None
    wanted = kwargs.get("num_classes")
    if wanted is None or categories is None or wanted == len(categories):
        return
    raise ValueError(
        f"pretrained({name!r}, num_classes={wanted}): the pretrained head has {len(categories)} "
        f"classes. To fine-tune, load model = pretrained({name!r}) and replace its last layer "
        f"(e.g. model.fc = nn.Linear(model.fc.in_features, {wanted}) for a ResNet); for an "
        f"untrained model use torchvision.models.get_model({name!r}, weights=None, "
        f"num_classes={wanted}).")


def _fetch(weights: Any, path: Path) -> None:
    """Download ``weights`` into the torch hub cache, checking the hash in the file name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)
    hash_prefix = match.group(1) if match else None
    torch.hub.download_url_to_file(weights.url, str(path), hash_prefix, progress=True)


def pretrained(name: str, **kwargs: Any) -> nn.Module:
    """torchvision model ``name`` with its DEFAULT weights if they can be had, else random init.

    Introduced in lecture 1 (CNN internals). The weights are used when their file is already in
    the torch hub cache (see :func:`weights_cache_path`) or this machine is online
    (:func:`labkit.is_online`) and the download succeeds. Otherwise the same architecture is built
    randomly initialised (detection backbones included) and one line says so, why, and how to
    get the weights. ``kwargs`` go to ``torchvision.models.get_model`` (e.g.
    ``zero_init_residual=True``); ``num_classes`` must match the pretrained head.

    The model is returned in eval mode with these attributes:

    - ``is_pretrained`` (bool): whether the weights were loaded;
    - ``weights``: the torchvision weights enum member, or None when not pretrained;
    - ``preprocess``: ``weights.transforms()`` (the same on both paths). For classifiers it takes a
      PIL image or a tensor ``(C, H, W)`` / ``(B, C, H, W)``, uint8 in [0, 255] or float in
      [0, 1], resizes (256), centre-crops (224) and normalises with the ImageNet mean/std;
    - ``categories``: the class names of the output indices (``weights.meta["categories"]``),
      or None. They are given even when not pretrained, so code printing top-5 labels runs on
      both paths; check ``is_pretrained`` before trusting the predictions.

    Raises:
        ValueError: unknown ``name`` (close matches listed) or ``num_classes`` that does not
            match the pretrained head.
    """
    _check_name(name)
    if "weights" in kwargs:
        raise TypeError("pretrained() picks the DEFAULT weights itself; for other weights call "
                        f"torchvision.models.get_model({name!r}, weights=...) directly.")
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError, KeyError):  # a model without published weights
        weights = None
    _check_num_classes(name, weights, kwargs)

    reason = "torchvision publishes no weights for it"
    loaded = False
    if weights is not None:
        path = weights_cache_path(weights)
        if path.exists():
            loaded = True
        elif env.is_online():
            try:
                _fetch(weights, path)
                loaded = True
            except (OSError, RuntimeError) as err:  # URLError is an OSError; bad hash: RuntimeError
                reason = f"the download failed: {type(err).__name__}: {err}"
        else:
            reason = "offline, and not in the torch hub cache"

    if loaded:
        model = torchvision.models.get_model(name, weights=weights, **kwargs)
    else:
        if "weights_backbone" in inspect.signature(torchvision.models.get_model_builder(name)).parameters:
            # Detection builders would otherwise try to download ImageNet backbone weights.
            kwargs.setdefault("weights_backbone", None)
        model = torchvision.models.get_model(name, weights=None, **kwargs)
        how = ""
        if weights is not None:
            how = (f" To use them, run this once with internet access, or put the file "
                   f"{weights.url} at {weights_cache_path(weights)}.")
        what = f"weights {weights} unavailable" if weights is not None else "no weights"
        print(f"labkit: {name} is RANDOMLY INITIALISED, not pretrained ({what}: {reason}).{how}")

    model.eval()
    model.is_pretrained = loaded
    model.weights = weights if loaded else None
    # Set without nn.Module.__setattr__, so the transform is not registered as a submodule: else it
    # would be the model's last child and the common idiom nn.Sequential(*list(model.children())[:-2])
    # (the convolutional body, for CAM in lecture 2) would silently keep the pooling layer.
    object.__setattr__(model, "preprocess",
                       weights.transforms() if weights is not None else imagenet_preprocess())
    model.categories = weights.meta.get("categories") if weights is not None else None
    return model


# --------------------------------------------------------------------------------------------
# summary()
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerRow:
    """One line of :func:`summary`: one call of one module during the forward pass.

    ``output_shape`` is a tuple of ints for a tensor output (batch dimension included), a tuple
    of such tuples for a tuple/list of tensors, and None for anything else. ``params`` counts
    the module's parameters (its submodules' included), ``trainable`` those with
    ``requires_grad``; both are 0 on a repeated call of a module, so that sums are not
    double counted. Introduced in lecture 1 (CNN internals).
    """

    name: str
    kind: str
    output_shape: Any
    params: int
    trainable: int


def _shape_of(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output)
    return None


def _selected_modules(model: nn.Module, depth: int | None) -> list[tuple[str, nn.Module]]:
    """Leaves, or the modules ``depth`` levels down plus shallower leaves (disjoint subtrees)."""
    chosen = []
    for name, module in model.named_modules():
        if not name:
            continue
        level = name.count(".") + 1
        is_leaf = next(module.children(), None) is None
        if (depth is None and is_leaf) or (depth is not None and (level == depth or (level < depth and is_leaf))):
            chosen.append((name, module))
    return chosen


def summary(model: nn.Module, example: torch.Tensor | Sequence[int], *,
            depth: int | None = None) -> list[LayerRow]:
    """Run ``model`` once and return a :class:`LayerRow` per module call, in call order.

    Introduced in lecture 1 (CNN internals) to trace AlexNet/VGG/ResNet shapes; lecture 3 prints
    its layer table with :func:`print_summary`.

    Args:
        model: any module; it is run in eval mode under ``torch.inference_mode()`` and every
            submodule's train/eval mode is restored afterwards.
        example: an input tensor, or an input size with the batch dimension, e.g.
            ``(1, 3, 224, 224)`` (a zero tensor on the model's device and dtype is then used).
        depth: None lists leaf modules (Conv2d, ReLU, ...); ``depth=1`` lists the model's direct
            children (e.g. ResNet's ``layer1``..``layer4``), ``depth=2`` one level further down.
    """
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be None or >= 1, got {depth}.")
    if not isinstance(example, torch.Tensor):
        if not (isinstance(example, Sequence) and example and all(isinstance(s, int) for s in example)):
            raise TypeError("example must be a tensor or an input size with the batch dimension, "
                            f"e.g. (1, 3, 224, 224); got {example!r}.")
        first = next(model.parameters(), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else None
        example = torch.zeros(tuple(example), device=model_device(model), dtype=dtype)

    rows: list[LayerRow] = []
    seen: set[int] = set()

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            first_call = id(module) not in seen
            seen.add(id(module))
            params = sum(p.numel() for p in module.parameters()) if first_call else 0
            trainable = sum(p.numel() for p in module.parameters() if p.requires_grad) if first_call else 0
            rows.append(LayerRow(name, type(module).__name__, _shape_of(output), params, trainable))
        return hook

    handles = []
    try:
        for name, module in _selected_modules(model, depth):
            handles.append(module.register_forward_hook(make_hook(name)))
        with eval_mode(model), torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return rows


def _format_shape(shape: Any) -> str:
    if shape is None:
        return "-"
    if shape and all(isinstance(s, int) for s in shape):
        return "(" + ", ".join(str(s) for s in shape) + ")"
    return str(shape)


def print_summary(model: nn.Module, example: torch.Tensor | Sequence[int], *,
                  depth: int | None = None) -> list[LayerRow]:
    """Print :func:`summary` as a Keras-like table with parameter totals; return the rows.

    Introduced in lecture 1 (CNN internals). Totals count every parameter of ``model`` once
    (shared ones once, unused ones too), so they can exceed the sum of the rows.
    """
    rows = summary(model, example, depth=depth)
    layer_col = [f"{r.name} ({r.kind})" for r in rows]
    shape_col = [_format_shape(r.output_shape) for r in rows]
    w1 = max([len("Layer (type)")] + [len(s) for s in layer_col]) + 2
    w2 = max([len("Output shape")] + [len(s) for s in shape_col]) + 2
    w3, w4 = 14, 14
    rule = "=" * (w1 + w2 + w3 + w4)
    lines = [f"{'Layer (type)':<{w1}}{'Output shape':<{w2}}{'Param #':>{w3}}{'Trainable':>{w4}}", rule]
    for row, layer, shape in zip(rows, layer_col, shape_col):
        lines.append(f"{layer:<{w1}}{shape:<{w2}}{row.params:>{w3},}{row.trainable:>{w4},}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines += [rule,
              f"Total params: {total:,}",
              f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}"]
    print("\n".join(lines))
    return rows
