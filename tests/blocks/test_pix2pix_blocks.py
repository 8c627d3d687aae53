"""Tests of the pix2pix / CycleGAN networks (reprolib.blocks.pix2pix): shapes at several sizes,
the U-Net's depth and dropout, the GAN losses by hand, the image pool."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from reprolib.blocks.pix2pix import (
    ImagePool,
    PatchDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    gan_loss,
    set_requires_grad,
    unet_downs,
)


@pytest.mark.parametrize("size", [32, 64, 256])
def test_unet_shapes_depth_and_dropout(size: int) -> None:
    gen = UnetGenerator(1, 1, size, ngf=4).eval()
    x = torch.rand(2, 1, size, size) * 2 - 1
    with torch.no_grad():
        y = gen(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    downs = [m for m in gen.modules() if isinstance(m, nn.Conv2d)]
    assert len(downs) == unet_downs(size) == int(math.log2(size))
    dropouts = [m for m in gen.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == unet_downs(size) - 5  # unet_256: 3, as the reference


def test_unet_rejects_sizes_it_cannot_halve_to_one_pixel() -> None:
    with pytest.raises(ValueError, match="power of two >= 32"):
        unet_downs(48)
    with pytest.raises(ValueError, match="power of two >= 32"):
        unet_downs(16)


@pytest.mark.parametrize("size", [32, 64])
def test_resnet_generator_and_patchgan_shapes(size: int) -> None:
    gen = ResnetGenerator(1, 1, ngf=4, n_blocks=2)
    x = torch.rand(2, 1, size, size)
    y = gen(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gen.modules())
    disc = PatchDiscriminator(2, ndf=4)
    assert disc(torch.cat([x, y], 1)).shape == (2, 1, size // 8 - 2, size // 8 - 2)


def test_gan_losses_by_hand() -> None:
    zeros = torch.zeros(2, 1, 3, 3)
    assert float(gan_loss(zeros, True, "vanilla")) == pytest.approx(math.log(2))
    assert float(gan_loss(zeros, False, "vanilla")) == pytest.approx(math.log(2))
    assert float(gan_loss(zeros, True, "lsgan")) == pytest.approx(1.0)
    assert float(gan_loss(zeros + 3, False, "lsgan")) == pytest.approx(9.0)
    with pytest.raises(ValueError, match="gan_mode"):
        gan_loss(zeros, True, "wgan")  # type: ignore[arg-type]


def test_image_pool_fills_then_swaps() -> None:
    pool = ImagePool(2, seed=0)
    first = torch.arange(2.0).view(2, 1, 1, 1)
    torch.testing.assert_close(pool.query(first), first)  # filling: returned as is
    later = torch.full((20, 1, 1, 1), 9.0)
    out = pool.query(later).flatten().tolist()
    swapped = [v for v in out if v != 9.0]
    assert 0 < len(swapped) <= 2 and set(swapped) <= {0.0, 1.0}  # stored images came back
    assert len(pool.images) == 2
    passthrough = ImagePool(0)
    torch.testing.assert_close(passthrough.query(later), later)


def test_set_requires_grad() -> None:
    net = nn.Linear(2, 2)
    set_requires_grad([net], False)
    assert not any(p.requires_grad for p in net.parameters())
    set_requires_grad([net], True)
    assert all(p.requires_grad for p in net.parameters())
