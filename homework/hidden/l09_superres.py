"""Hidden cases for the checks of lecture 9 (super-resolution): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l09_superres`` on these cases after the public ones; the references compute the
expected answers in the grader. Not in labkit nor in the student notebooks.
"""
import torch
from torch import nn

_gen = torch.Generator().manual_seed(909)


def _image(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen, dtype=dtype)


def _layers(channels: int, seed: int) -> dict:
    torch.manual_seed(seed)
    layers = dict(conv1=nn.Conv2d(channels, channels, 3, padding=1), bn1=nn.BatchNorm2d(channels),
                  act=nn.PReLU(), conv2=nn.Conv2d(channels, channels, 3, padding=1),
                  bn2=nn.BatchNorm2d(channels))
    with torch.no_grad():
        for bn in (layers["bn1"], layers["bn2"]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.2, 3.0)
            bn.bias.uniform_(-0.5, 0.5)
    for layer in layers.values():
        layer.eval()
    return layers


HIDDEN_CASES = {
    "check_nearest_indices": [
        dict(src_size=2, dst_size=16),      # x8
        dict(src_size=10, dst_size=3),      # shrinking by an odd ratio
        dict(src_size=24, dst_size=96),     # the paper's crop sizes
        dict(src_size=7, dst_size=1),
        dict(src_size=9, dst_size=12),
    ],
    "check_psnr_y": [
        dict(sr=_image(3, 24, 24), hr=_image(3, 24, 24), border=4),
        dict(sr=_image(3, 9, 9) * 1.2 - 0.1, hr=_image(3, 9, 9), border=0),   # values outside [0, 1]: clamped
        dict(sr=_image(3, 30, 18, dtype=torch.float32), hr=_image(3, 30, 18, dtype=torch.float32), border=6),
        dict(sr=torch.full((3, 8, 8), 0.25, dtype=torch.float64),
             hr=torch.full((3, 8, 8), 0.75, dtype=torch.float64), border=2),
        dict(sr=_image(3, 40, 40).clamp(0.2, 0.8), hr=_image(3, 40, 40), border=8),
    ],
    "check_pixel_unshuffle": [
        dict(x=_image(1, 4, 6, 6), r=3),
        dict(x=_image(4, 1, 2, 2), r=2),
        dict(x=_image(2, 5, 8, 4, dtype=torch.float32), r=4),
        dict(x=torch.arange(64.0).view(1, 1, 8, 8), r=2),
        dict(x=_image(1, 2, 12, 6), r=6),
    ],
    "check_residual_block": [
        dict(x=torch.randn(1, 1, 3, 3, generator=_gen), **_layers(1, 10)),    # one channel, shared PReLU
        dict(x=torch.randn(2, 6, 7, 5, generator=_gen), **_layers(6, 11)),
        dict(x=torch.randn(1, 16, 4, 4, generator=_gen) * 5, **_layers(16, 12)),
        dict(x=torch.zeros(1, 3, 5, 5), **_layers(3, 13)),                     # zero input: the body's bias alone
        dict(x=torch.randn(4, 2, 2, 9, generator=_gen), **_layers(2, 14)),
    ],
    "check_lr_hr_pair": [
        dict(hr_image=_image(3, 96, 96), top=0, left=0, size=96, scale=4),
        dict(hr_image=_image(3, 64, 80), top=31, left=17, size=32, scale=8),
        dict(hr_image=_image(3, 50, 50), top=10, left=20, size=30, scale=2),
        dict(hr_image=_image(3, 40, 40, dtype=torch.float32), top=7, left=9, size=24, scale=4),
        dict(hr_image=_image(3, 20, 36), top=4, left=12, size=16, scale=4),
    ],
    "check_discriminator_loss": [
        dict(real_logits=torch.tensor([1000.0, -1000.0]), fake_logits=torch.tensor([0.0])),
        dict(real_logits=torch.randn(32, generator=_gen) * 10, fake_logits=torch.randn(8, generator=_gen)),
        dict(real_logits=torch.tensor([0.3]), fake_logits=torch.tensor([0.3])),
        dict(real_logits=torch.zeros(4, dtype=torch.float64), fake_logits=torch.full((4,), 60.0, dtype=torch.float64)),
        dict(real_logits=torch.tensor([5.0, 6.0, 7.0]), fake_logits=torch.tensor([-5.0, -6.0, -7.0])),
    ],
}
