"""How low-resolution images are made, and how a whole image is upscaled tile by tile.

Introduced in lecture 9 (super-resolution). The LR image of a training pair is made from the HR
**crop** itself (antialiased bicubic downsampling), so every LR pixel describes exactly the HR pixels
it is paired with; the book made the LR image from the full picture and paired it with a random crop,
so inputs and targets showed different places. Whole held-out images are upscaled in overlapping
tiles (:func:`upscale_by_tiles`), which bounds the memory a large photo needs and gives the same
result as one pass when the overlap covers the network's receptive field.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from labkit.train import eval_mode, model_device

__all__ = ["modcrop", "degrade", "upscale", "lr_hr_pair", "random_flip_rot90", "PairCrops",
           "upscale_by_tiles", "INTERPOLATIONS"]

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


def modcrop(image: Tensor, scale: int) -> Tensor:
    """``image[..., :H', :W']`` with ``H'``, ``W'`` the largest multiples of ``scale``: an HR image
    whose LR version has a whole number of pixels. Introduced in lecture 9."""
    height, width = image.shape[-2:]
    return image[..., : height - height % scale, : width - width % scale]


def degrade(hr: Tensor, scale: int) -> Tensor:
    """The LR version of ``hr``: bicubic downsampling by ``scale`` with antialiasing, clamped to [0, 1].

    ``hr``: ``Tensor[3, H, W]`` or ``Tensor[B, 3, H, W]`` in [0, 1], ``H`` and ``W`` multiples of
    ``scale`` (see :func:`modcrop`). The antialiasing filter widens with the scale, as MATLAB's
    ``imresize`` and PIL's ``resize`` do; without it, downsampling by 4 aliases fine textures into
    patterns that are not in the scene. Introduced in lecture 9.
    """
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"the HR image is {height}x{width}, not a multiple of scale={scale}: crop it first "
                         f"with modcrop(image, {scale})")
    batch = hr if hr.ndim == 4 else hr[None]
    lr = F.interpolate(batch, size=(height // scale, width // scale), mode="bicubic", antialias=True,
                       align_corners=False).clamp(0, 1)
    return lr if hr.ndim == 4 else lr[0]


def upscale(lr: Tensor, scale: int, mode: str = "bicubic") -> Tensor:
    """``lr`` enlarged ``scale`` times by ``mode`` ("nearest", "bilinear" or "bicubic"), clamped to [0, 1].

    Pixel centres are aligned (``align_corners=False``); "nearest" is PyTorch's, whose source index
    is ``floor(i * in_size / out_size)``. Introduced in lecture 9.
    """
    if mode not in INTERPOLATIONS:
        raise ValueError(f"mode must be one of {INTERPOLATIONS}, got {mode!r}")
    batch = lr if lr.ndim == 4 else lr[None]
    options = {} if mode == "nearest" else {"align_corners": False}
    out = F.interpolate(batch, scale_factor=scale, mode=mode, **options).clamp(0, 1)
    return out if lr.ndim == 4 else out[0]


def lr_hr_pair(hr_image: Tensor, top: int, left: int, size: int, scale: int) -> tuple[Tensor, Tensor]:
    """One training pair: the ``size`` x ``size`` HR crop at (``top``, ``left``) and the LR image made
    **from that crop** (:func:`degrade`). ``hr_image``: ``Tensor[3, H, W]``. Introduced in lecture 9."""
    height, width = hr_image.shape[-2:]
    if size % scale:
        raise ValueError(f"crop size {size} is not a multiple of scale={scale}")
    if not (0 <= top <= height - size and 0 <= left <= width - size):
        raise ValueError(f"a {size}-pixel crop at ({top}, {left}) does not fit in a {height}x{width} image")
    hr = hr_image[..., top: top + size, left: left + size]
    return degrade(hr, scale), hr


def random_flip_rot90(*images: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, ...]:
    """The same random horizontal flip and rotation by a multiple of 90 degrees applied to every image.

    Exact pixel moves (no interpolation, no black corners), unlike ``RandomRotation(90)``, which turns
    by any angle between -90 and 90 degrees. Introduced in lecture 9.
    """
    flip = bool(torch.randint(2, (1,), generator=generator))
    turns = int(torch.randint(4, (1,), generator=generator))
    out = []
    for image in images:
        image = image.flip(-1) if flip else image
        out.append(torch.rot90(image, turns, dims=(-2, -1)))
    return tuple(out)


class PairCrops(Dataset):
    """Random (LR, HR) training pairs cut from HR images held in memory.

    ``images``: ``Tensor[3, H, W]`` in [0, 1], each at least ``crop_size`` a side. Item ``i`` is a crop of
    image ``i % len(images)`` at a random place (``crops_per_image`` items per image and epoch),
    augmented by :func:`random_flip_rot90` when ``augment``, and its LR version made from the crop
    (:func:`lr_hr_pair`): ``(lr Tensor[3, s/scale, s/scale], hr Tensor[3, s, s])``. Randomness comes from
    PyTorch's global generator (seeded by ``labkit.setup``; DataLoader workers get their own seeds).
    Introduced in lecture 9.
    """

    def __init__(self, images: Sequence[Tensor], crop_size: int, scale: int, *, crops_per_image: int = 1,
                 augment: bool = True):
        if crop_size % scale:
            raise ValueError(f"crop_size={crop_size} must be a multiple of scale={scale}")
        small = [i for i, image in enumerate(images) if min(image.shape[-2:]) < crop_size]
        if small:
            raise ValueError(f"images {small} are smaller than crop_size={crop_size}")
        if not images:
            raise ValueError("PairCrops needs at least one image")
        self.images, self.crop_size, self.scale = list(images), crop_size, scale
        self.crops_per_image, self.augment = crops_per_image, augment

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_image

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= index < len(self):  # also ends `for lr, hr in crops`
            raise IndexError(f"index {index} out of range for {len(self)} items")
        image = self.images[index % len(self.images)]
        height, width = image.shape[-2:]
        top = int(torch.randint(height - self.crop_size + 1, (1,)))
        left = int(torch.randint(width - self.crop_size + 1, (1,)))
        crop = image[..., top: top + self.crop_size, left: left + self.crop_size]
        if self.augment:
            (crop,) = random_flip_rot90(crop)
        crop = crop.contiguous()
        return degrade(crop, self.scale), crop


def upscale_by_tiles(model: nn.Module, lr: Tensor, scale: int, *, tile: int = 64, overlap: int = 8) -> Tensor:
    """``model(lr)`` computed on overlapping ``tile`` x ``tile`` LR tiles and stitched together.

    ``lr``: ``Tensor[3, h, w]`` or ``Tensor[B, 3, h, w]``; returns ``Tensor[..., 3, h*scale, w*scale]``
    clamped to [0, 1], on the input's device. Each tile is read with ``overlap`` extra LR pixels on every
    side (fewer at the image's edges) and only its centre is kept, so when ``overlap`` is at least the
    network's receptive-field radius the result equals one pass over the whole image. Runs under
    ``torch.inference_mode`` with the model in eval mode. Introduced in lecture 9.
    """
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    batch = lr if lr.ndim == 4 else lr[None]
    b, c, h, w = batch.shape
    device = model_device(model)
    out = torch.zeros(b, c, h * scale, w * scale, dtype=batch.dtype, device=batch.device)
    with eval_mode(model), torch.inference_mode():
        for top in range(0, h, tile):
            for left in range(0, w, tile):
                bottom, right = min(top + tile, h), min(left + tile, w)
                y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
                y1, x1 = min(bottom + overlap, h), min(right + overlap, w)
                sr = model(batch[:, :, y0:y1, x0:x1].to(device)).to(batch.device)
                keep = sr[:, :, (top - y0) * scale: (bottom - y0) * scale,
                          (left - x0) * scale: (right - x0) * scale]
                out[:, :, top * scale: bottom * scale, left * scale: right * scale] = keep
    out = out.clamp(0, 1)
    return out if lr.ndim == 4 else out[0]
