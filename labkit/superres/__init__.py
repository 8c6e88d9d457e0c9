"""Super-resolution, lecture 9: metrics, degradation and tiles, SRResNet/SRGAN models, the GAN loop.

One job per module:

- :mod:`labkit.superres.metrics`: PSNR and SSIM on the Y channel with a border crop (as SR papers report
  them; SSIM is scikit-image's), and a sharpness measure (high-frequency energy against the HR image);
- :mod:`labkit.superres.degradation`: LR from an HR *crop* by antialiased bicubic downsampling, training
  pairs, whole-image upscaling by tiles;
- :mod:`labkit.superres.models`: SRResNet and the SRGAN discriminator sized by arguments, content-loss
  feature networks (VGG-19 when its weights can be had, a named random-feature stand-in otherwise);
- :mod:`labkit.superres.gan`: the adversarial training loop (two optimizers), which
  :func:`labkit.train.fit`, a one-model loop, does not do.
"""
from labkit.superres.degradation import (PairCrops, degrade, lr_hr_pair, modcrop, upscale,
                                         upscale_by_tiles)
from labkit.superres.gan import GANHistory, discriminator_loss, generator_adversarial_loss, train_gan
from labkit.superres.metrics import high_frequency_ratio, psnr, rgb_to_y, ssim
from labkit.superres.models import (ContentLoss, Discriminator, ResidualBlock, SRResNet,
                                    random_feature_extractor, vgg19_feature_extractor)

__all__ = ["PairCrops", "degrade", "lr_hr_pair", "modcrop", "upscale", "upscale_by_tiles", "GANHistory",
           "discriminator_loss", "generator_adversarial_loss", "train_gan", "high_frequency_ratio", "psnr",
           "rgb_to_y", "ssim", "ContentLoss", "Discriminator", "ResidualBlock", "SRResNet",
           "random_feature_extractor", "vgg19_feature_extractor"]
