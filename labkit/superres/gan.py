"""The adversarial training loop of SRGAN: a discriminator step and a generator step per batch.

Introduced in lecture 9 (super-resolution). :func:`labkit.train.fit` trains one model with one
optimizer; a GAN has two players with two optimizers and two losses, so its loop lives here. Each step:

1. **Discriminator**: ``D`` scores the HR batch and the generator's SR batch (detached, so no gradient
   reaches ``G``); loss ``BCE(D(HR), 1) + BCE(D(SR), 0)`` on logits (:func:`discriminator_loss`).
2. **Generator**: ``pixel_weight * MSE(SR, HR) + content_weight * content(SR, HR) +
   adversarial_weight * BCE(D(SR), 1)`` (:func:`generator_adversarial_loss`, the non-saturating form).

It logs the losses and ``D(HR)``, ``D(SR)`` (mean probabilities "real"): when ``D(HR)`` stays near 1 and
``D(SR)`` near 0 the discriminator has won and the generator gets little useful signal; that, with the
PSNR collapsing, is what the book's log shows.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from labkit.env import device as default_device
from labkit.train import to_device

__all__ = ["GANHistory", "discriminator_loss", "generator_adversarial_loss", "train_gan"]


@dataclass
class GANHistory:
    """Means over each block of ``log_every`` steps of :func:`train_gan`; one entry per block.

    ``step`` is the last step of the block (1-based); ``d_hr`` and ``d_sr`` are the discriminator's mean
    probability "real" for HR and SR images during its own step. Introduced in lecture 9.
    """

    step: list[int] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    pixel: list[float] = field(default_factory=list)
    content: list[float] = field(default_factory=list)
    adversarial: list[float] = field(default_factory=list)
    d_hr: list[float] = field(default_factory=list)
    d_sr: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain lists (what a checkpoint stores, loadable with ``weights_only=True``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GANHistory:
        return cls(**{k: list(v) for k, v in d.items()})


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``BCE(sigmoid(real), 1) + BCE(sigmoid(fake), 0)``, each averaged, computed from the logits.

    ``F.binary_cross_entropy_with_logits`` uses ``log(sigmoid(z)) = -softplus(-z)``, exact for any
    logit; a sigmoid followed by ``BCELoss`` rounds ``sigmoid(z)`` to 0 or 1 for large ``|z|`` and
    PyTorch then clamps the log at -100, so a confident discriminator's loss and gradient are wrong.
    Introduced in lecture 9.
    """
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """``BCE(sigmoid(D(SR)), 1) = -log D(SR)``: the non-saturating generator loss of Goodfellow et al.,
    which SRGAN uses. Introduced in lecture 9."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def train_gan(generator: nn.Module, discriminator: nn.Module, loader: Iterable, *, steps: int,
              g_optimizer: torch.optim.Optimizer, d_optimizer: torch.optim.Optimizer,
              content_loss: Callable[[Tensor, Tensor], Tensor] | None = None, pixel_weight: float = 1.0,
              content_weight: float = 1.0, adversarial_weight: float = 1e-3,
              device: torch.device | str | None = None, log_every: int = 10,
              quiet: bool = False) -> GANHistory:
    """Train ``generator`` against ``discriminator`` for ``steps`` batches of ``loader`` (cycled).

    ``loader`` yields ``(lr, hr)`` batches; the models (and ``content_loss`` if it is a module) are moved
    to ``device`` (default: :func:`labkit.env.device`) and left in train mode. ``content_loss(sr, hr)``
    is skipped when None. Returns a :class:`GANHistory`; ``quiet`` hides the progress bar.
    Introduced in lecture 9.
    """
    if steps < 1 or log_every < 1:
        raise ValueError(f"steps and log_every must be >= 1, got steps={steps}, log_every={log_every}")
    device = torch.device(device) if device is not None else default_device()
    generator.to(device).train()
    discriminator.to(device).train()
    if isinstance(content_loss, nn.Module):
        content_loss.to(device)
    history = GANHistory()
    sums: dict[str, Tensor] = {}
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    bar = tqdm(range(1, steps + 1), desc="GAN", disable=quiet, leave=False)
    for step in bar:
        lr, hr = to_device(next(batches), device)

        # 1. Discriminator: real HR against the generator's output, which gets no gradient here.
        sr = generator(lr)
        real_logits, fake_logits = discriminator(hr), discriminator(sr.detach())
        d_loss = discriminator_loss(real_logits, fake_logits)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()

        # 2. Generator: fool the (just updated) discriminator while staying close to HR.
        pixel = F.mse_loss(sr, hr)
        content = content_loss(sr, hr) if content_loss is not None else torch.zeros((), device=device)
        adversarial = generator_adversarial_loss(discriminator(sr))
        g_loss = pixel_weight * pixel + content_weight * content + adversarial_weight * adversarial
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        g_optimizer.step()

        values = {"d_loss": d_loss, "g_loss": g_loss, "pixel": pixel, "content": content,
                  "adversarial": adversarial, "d_hr": torch.sigmoid(real_logits).mean(),
                  "d_sr": torch.sigmoid(fake_logits).mean()}
        for key, value in values.items():
            sums[key] = sums.get(key, 0) + value.detach()
        if step % log_every == 0 or step == steps:
            count = (step - 1) % log_every + 1
            history.step.append(step)
            for key, total in sums.items():
                getattr(history, key).append(float(total) / count)
            sums = {}
            bar.set_postfix(d_hr=f"{history.d_hr[-1]:.2f}", d_sr=f"{history.d_sr[-1]:.2f}")
    return history
