"""Tests of labkit.superres (lecture 9): metrics equal to scikit-image, degradation equal to PIL, tiles equal
to one pass, the models' shapes and skips, and the GAN loop's two optimizers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labkit.superres import (ContentLoss, Discriminator, PairCrops, ResidualBlock, SRResNet, degrade,
                             discriminator_loss, generator_adversarial_loss, high_frequency_ratio, lr_hr_pair,
                             modcrop, psnr, random_feature_extractor, rgb_to_y, ssim, train_gan, upscale,
                             upscale_by_tiles)
from labkit.superres.degradation import random_flip_rot90


def _image(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _smooth(seed: int, size: int = 64) -> torch.Tensor:
    """A photo-like image: smooth noise, so that an upscaled LR version is close to it."""
    small = _image(seed, 1, 3, size // 8, size // 8)
    return F.interpolate(small, size=(size, size), mode="bicubic", align_corners=False)[0].clamp(0, 1)


def _y(image: torch.Tensor, border: int) -> np.ndarray:
    y = rgb2ycbcr(image.double().clamp(0, 1).permute(1, 2, 0).numpy())[..., 0]
    return y[border: y.shape[0] - border, border: y.shape[1] - border] if border else y


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def test_rgb_to_y_equals_skimage():
    image = _image(0, 3, 9, 11)
    assert np.allclose(rgb_to_y(image).numpy(), _y(image, 0), atol=1e-10)


@pytest.mark.parametrize("border", [0, 4])
def test_psnr_equals_skimage_on_y_with_border(border):
    hr, sr = _smooth(1), _smooth(2)
    expected = peak_signal_noise_ratio(_y(hr, border), _y(sr, border), data_range=255)
    assert psnr(sr, hr, border=border) == pytest.approx(expected, abs=1e-9)


def test_psnr_on_rgb_and_batches():
    hr, sr = _image(3, 3, 16, 16), _image(4, 3, 16, 16)
    assert psnr(sr, hr, y_channel=False) == pytest.approx(
        peak_signal_noise_ratio(hr.double().numpy(), sr.double().numpy(), data_range=1.0), abs=1e-9)
    batch = psnr(torch.stack([sr, hr]), torch.stack([hr, hr]), border=2)
    assert batch.shape == (2,) and batch[0] == pytest.approx(psnr(sr, hr, border=2)) and torch.isinf(batch[1])


@pytest.mark.parametrize("border", [0, 4])
def test_ssim_equals_skimage_with_the_papers_settings(border):
    hr, sr = _smooth(5), (_smooth(5) + 0.05 * _image(6, 3, 64, 64)).clamp(0, 1)
    expected = structural_similarity(_y(hr, border), _y(sr, border), data_range=255, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False)
    assert ssim(sr, hr, border=border) == pytest.approx(expected, abs=1e-12)
    assert ssim(hr, hr, border=border) == pytest.approx(1.0)
    both = ssim(torch.stack([sr, hr]), torch.stack([hr, hr]), border=border)
    assert both[0] == pytest.approx(expected, abs=1e-12) and both[1] == pytest.approx(1.0)


def test_metrics_refuse_mismatched_shapes_and_a_border_that_leaves_nothing():
    with pytest.raises(ValueError, match="modcrop"):
        psnr(_image(0, 3, 8, 8), _image(0, 3, 8, 9))
    with pytest.raises(ValueError, match="leaves nothing"):
        ssim(_image(0, 3, 8, 8), _image(1, 3, 8, 8), border=4)


def test_high_frequency_ratio_is_one_for_hr_and_below_one_for_a_blur():
    hr = modcrop(_image(7, 3, 64, 64), 4)
    blurred = upscale(degrade(hr, 4), 4, "bicubic")
    assert high_frequency_ratio(hr, hr) == pytest.approx(1.0)
    assert high_frequency_ratio(blurred, hr) < 0.5
    noisy = (hr + 0.2 * (_image(8, 3, 64, 64) - 0.5)).clamp(0, 1)
    assert high_frequency_ratio(noisy, hr) > 1.0


# ---------------------------------------------------------------------------------------------
# Degradation, pairs, tiles
# ---------------------------------------------------------------------------------------------

def test_degrade_equals_pils_antialiased_bicubic_resize():
    hr = _image(9, 3, 64, 48)
    ours = (degrade(hr, 4) * 255).permute(1, 2, 0).numpy()
    image = Image.fromarray((hr * 255).round().byte().permute(1, 2, 0).numpy())
    pil = np.asarray(image.resize((12, 16), Image.Resampling.BICUBIC), dtype=np.float64)
    assert np.abs(ours - pil).max() < 2.0  # PIL rounds its input and output to whole values


def test_degrade_needs_a_multiple_of_the_scale_and_modcrop_gives_one():
    image = _image(0, 3, 30, 27)
    with pytest.raises(ValueError, match="modcrop"):
        degrade(image, 4)
    assert modcrop(image, 4).shape == (3, 28, 24)
    assert degrade(modcrop(image, 4), 4).shape == (3, 7, 6)


def test_nearest_upscale_reads_floor_of_i_times_src_over_dst():
    lr = _image(1, 3, 5, 6)
    up = upscale(lr, 4, "nearest")
    rows, cols = torch.arange(20) * 5 // 20, torch.arange(24) * 6 // 24
    assert torch.equal(up, lr[:, rows][:, :, cols])
    with pytest.raises(ValueError, match="mode"):
        upscale(lr, 4, "lanczos")


def test_the_pair_is_made_from_the_crop_not_from_the_whole_image():
    hr = _smooth(3, 64)
    lr, crop = lr_hr_pair(hr, 8, 16, 32, 4)
    assert torch.equal(crop, hr[:, 8:40, 16:48]) and torch.equal(lr, degrade(crop, 4))
    whole = degrade(hr, 4)[:, 2:10, 4:12]  # the same place cut from the LR of the whole image
    assert not torch.allclose(lr, whole, atol=1e-6)  # borders differ: degradation is not local to the crop
    with pytest.raises(ValueError, match="does not fit"):
        lr_hr_pair(hr, 40, 0, 32, 4)


def test_flip_and_rotation_move_lr_and_hr_alike():
    hr = _image(4, 3, 16, 16)
    lr = degrade(hr, 4)
    for seed in range(8):
        new_lr, new_hr = random_flip_rot90(lr, hr, generator=torch.Generator().manual_seed(seed))
        assert torch.allclose(degrade(new_hr.contiguous(), 4), new_lr, atol=1e-6)


def test_pair_crops_give_aligned_pairs_of_the_right_size():
    torch.manual_seed(0)
    crops = PairCrops([_smooth(1, 64), _smooth(2, 80)], 32, 4, crops_per_image=3)
    assert len(crops) == 6
    for i in range(len(crops)):
        lr, hr = crops[i]
        assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32)
        assert torch.allclose(degrade(hr, 4), lr, atol=1e-6)
    with pytest.raises(ValueError, match="smaller than crop_size"):
        PairCrops([_image(0, 3, 16, 16)], 32, 4)


def test_tiles_equal_one_pass_when_the_overlap_covers_the_receptive_field():
    torch.manual_seed(0)
    model = SRResNet(2, channels=8, n_blocks=1, kernel_size=3).eval()  # receptive radius: 1+2+1+1+1 LR px
    lr = _image(5, 1, 3, 21, 30)
    with torch.inference_mode():
        whole = model(lr).clamp(0, 1)
    tiled = upscale_by_tiles(model, lr, 2, tile=8, overlap=7)
    assert tiled.shape == whole.shape and torch.allclose(tiled, whole, atol=1e-5)
    seams = upscale_by_tiles(model, lr, 2, tile=8, overlap=0)
    assert not torch.allclose(seams, whole, atol=1e-3)
    assert model.training is False and upscale_by_tiles(model, lr[0], 2, tile=8, overlap=7).shape == whole.shape[1:]


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def test_residual_block_is_the_input_plus_its_body():
    block = ResidualBlock(4).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(block(x), x + block.body(x))
        for p in block.body[-1].parameters():  # a block whose last BN outputs zero passes x on, negatives too
            p.zero_()
        assert torch.equal(block(-x.abs()), -x.abs())


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_scales_by_pixel_shuffle_stages(scale):
    model = SRResNet(scale, channels=8, n_blocks=2, kernel_size=3)
    assert sum(isinstance(m, nn.PixelShuffle) for m in model.modules()) == int(np.log2(scale))
    assert model(torch.rand(1, 3, 6, 5)).shape == (1, 3, 6 * scale, 5 * scale)


def test_srresnet_has_the_papers_size_by_default_and_refuses_other_scales():
    model = SRResNet()
    assert sum(isinstance(m, ResidualBlock) for m in model.modules()) == 16
    assert model.head[0].kernel_size == (9, 9) and model.head[0].out_channels == 64
    with pytest.raises(ValueError, match="power of two"):
        SRResNet(3)


def test_image_skip_starts_near_bicubic_and_the_global_skip_is_there():
    torch.manual_seed(0)
    model = SRResNet(4, channels=8, n_blocks=1, kernel_size=3, image_skip=True).eval()
    lr = _smooth(1, 64)[None, :, :16, :16]
    bicubic = F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
    with torch.no_grad():
        assert (model(lr) - bicubic).abs().mean() < 0.1 * bicubic.abs().mean()
        for p in model.trunk.parameters():  # trunk silenced: the head's features still reach the output
            p.zero_()
        assert model.tail(model.upsample(model.head(lr))).sub(model(lr) - bicubic).abs().max() < 1e-5


def test_discriminator_gives_one_logit_per_image_and_the_papers_head_for_96_pixels():
    d = Discriminator(channels=8, n_stages=2, hidden=16, pool=3)
    assert d(torch.rand(5, 3, 40, 40)).shape == (5,)
    paper = Discriminator()
    assert paper.head[2].in_features == 512 * 6 * 6
    assert not any(isinstance(m, nn.Sigmoid) for m in paper.modules())  # logits: BCEWithLogitsLoss


def test_random_features_are_frozen_named_and_content_loss_flows_to_sr_only():
    features = random_feature_extractor((4, 8), seed=1)
    assert "STAND-IN" in features.description
    assert not any(p.requires_grad for p in features.parameters())
    again = random_feature_extractor((4, 8), seed=1)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(features(x), again(x))
    loss = ContentLoss(features).train()
    assert not loss.features.training
    sr, hr = torch.rand(1, 3, 16, 16, requires_grad=True), torch.rand(1, 3, 16, 16)
    value = loss(sr, hr)
    value.backward()
    assert value > 0 and sr.grad is not None and loss(hr, hr) == 0


# ---------------------------------------------------------------------------------------------
# GAN losses and loop
# ---------------------------------------------------------------------------------------------

def test_discriminator_loss_is_bce_with_logits_and_exact_where_sigmoid_bce_is_not():
    real, fake = torch.randn(8), torch.randn(8)
    expected = (F.binary_cross_entropy(torch.sigmoid(real), torch.ones(8))
                + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(8)))
    assert discriminator_loss(real, fake) == pytest.approx(float(expected), rel=1e-5)
    z = torch.tensor([-200.0])
    assert float(discriminator_loss(z, torch.tensor([-1e4]))) == pytest.approx(200.0)
    assert float(F.binary_cross_entropy(torch.sigmoid(z), torch.ones(1))) == 100.0  # clamped log
    assert float(generator_adversarial_loss(torch.zeros(3))) == pytest.approx(np.log(2))


def test_train_gan_steps_both_players_and_logs_d_of_hr_and_sr():
    torch.manual_seed(0)
    hr = torch.stack([_smooth(i, 32) for i in range(8)])
    loader = DataLoader(TensorDataset(degrade(hr, 4), hr), batch_size=4)
    g = SRResNet(4, channels=8, n_blocks=1, kernel_size=3, image_skip=True)
    d = Discriminator(channels=4, n_stages=2, hidden=8, pool=2)
    g_before = [p.detach().clone() for p in g.parameters()]
    d_before = [p.detach().clone() for p in d.parameters()]
    log = train_gan(g, d, loader, steps=5, g_optimizer=torch.optim.Adam(g.parameters(), 1e-3),
                    d_optimizer=torch.optim.Adam(d.parameters(), 1e-3),
                    content_loss=ContentLoss(random_feature_extractor((4,))), device="cpu", log_every=2,
                    quiet=True)
    assert log.step == [2, 4, 5]  # the last block is logged too
    assert all(0 < v < 1 for v in log.d_hr + log.d_sr)
    assert all(len(getattr(log, k)) == 3 for k in ("d_loss", "g_loss", "pixel", "content", "adversarial"))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, g.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, d.parameters()))
    assert type(log).from_dict(log.to_dict()) == log
    with pytest.raises(ValueError, match="steps"):
        train_gan(g, d, loader, steps=0, g_optimizer=torch.optim.SGD(g.parameters(), 0.1),
                  d_optimizer=torch.optim.SGD(d.parameters(), 0.1))


def test_the_discriminator_step_gives_the_generator_no_gradient():
    torch.manual_seed(0)
    g, d = SRResNet(2, channels=4, n_blocks=1, kernel_size=3), Discriminator(channels=4, n_stages=1, hidden=4, pool=1)
    lr = torch.rand(2, 3, 8, 8)
    sr = g(lr)
    discriminator_loss(d(torch.rand(2, 3, 16, 16)), d(sr.detach())).backward()
    assert all(p.grad is None for p in g.parameters())
