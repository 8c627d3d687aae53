"""The networks of junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``): U-Net
generator (pix2pix, Isola et al., CVPR 2017), ResNet generator (CycleGAN, Zhu et al., ICCV
2017), 70x70 PatchGAN discriminator, the vanilla / least-squares GAN losses and the image pool.

Shared by ``pix2pix``, ``cyclegan`` and ``sparse_gan``. Initialisation is the reference's
``init_type='normal'`` (conv N(0, 0.02), BatchNorm N(1, 0.02)), i.e.
:func:`reprolib.blocks.dcgan.init_dcgan_weights`. One change: the reference's LeakyReLU at the
start of each inner U-Net block is in-place, so its skip connection carries LeakyReLU(x); here
it carries x (the U-Net of the pix2pix paper, Fig. 3).
"""

from __future__ import annotations

import random
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from reprolib.blocks.dcgan import bce_fake, bce_real

Norm = Literal["batch", "instance"]


def norm_layer(kind: Norm, channels: int) -> nn.Module:
    """``batch``: BatchNorm2d (affine, running statistics); ``instance``: InstanceNorm2d
    without affine parameters or running statistics (the reference's two choices)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"norm: expected 'batch' or 'instance', got {kind!r}")


def unet_downs(img_size: int) -> int:
    """Down-samplings of a U-Net that takes ``img_size`` to 1x1 (the reference's ``unet_256``
    has 8, ``unet_128`` 7); needs a power of two >= 32."""
    if img_size < 32 or img_size & (img_size - 1):
        raise ValueError(f"img_size: expected a power of two >= 32 for the U-Net, got {img_size}")
    return img_size.bit_length() - 1


class UnetBlock(nn.Module):
    """One level of the U-Net: down-sample, ``sub`` (the inner levels), up-sample, and (except
    at the outermost level) concatenate the input as the skip connection."""

    def __init__(self, outer: int, inner: int, *, in_channels: int | None = None,
                 sub: nn.Module | None = None, outermost: bool = False,
                 innermost: bool = False, dropout: bool = False, norm: Norm = "batch") -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"
        down = nn.Conv2d(in_channels or outer, inner, 4, 2, 1, bias=bias)
        layers: list[nn.Module]
        if outermost:
            assert sub is not None
            layers = [down, sub, nn.ReLU(), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1),
                      nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                      norm_layer(norm, outer)]
        else:
            assert sub is not None
            layers = [nn.LeakyReLU(0.2), down, norm_layer(norm, inner), sub, nn.ReLU(),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias),
                      norm_layer(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out if self.outermost else torch.cat([x, out], dim=1)


class UnetGenerator(nn.Module):
    """The reference ``UnetGenerator`` sized for ``img_size`` (down to 1x1): widths ngf, 2ngf,
    4ngf, then 8ngf; the 8ngf levels between the innermost and the 4ngf one use dropout 0.5."""

    def __init__(self, in_channels: int, out_channels: int, img_size: int, ngf: int = 64,
                 dropout: bool = True, norm: Norm = "batch") -> None:
        super().__init__()
        downs = unet_downs(img_size)
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, sub=block, dropout=dropout, norm=norm)
        for mult in (4, 2, 1):
            block = UnetBlock(ngf * mult, ngf * mult * 2, sub=block, norm=norm)
        self.model = UnetBlock(out_channels, ngf, in_channels=in_channels, sub=block,
                               outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    """x + (reflect-pad, 3x3 conv, norm, ReLU, reflect-pad, 3x3 conv, norm)(x)."""

    def __init__(self, channels: int, norm: Norm = "instance") -> None:
        super().__init__()
        bias = norm == "instance"
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """The reference ``ResnetGenerator`` (CycleGAN: ``resnet_9blocks`` at 256 px, 6 blocks at
    128 px): 7x7 conv, two stride-2 down-samplings, ``n_blocks`` residual blocks at 4ngf, two
    up-samplings, 7x7 conv, tanh. Needs a size divisible by 4."""

    def __init__(self, in_channels: int, out_channels: int, ngf: int = 64, n_blocks: int = 9,
                 norm: Norm = "instance") -> None:
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3),
                                   nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU()]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU()]
        layers += [ResnetBlock(ngf * 4, norm) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1,
                                          output_padding=1, bias=bias),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """The reference ``NLayerDiscriminator`` (n_layers = 3: the 70x70 PatchGAN): a map of logits
    (B, 1, S/8 - 2, S/8 - 2), one per overlapping patch. Needs a size >= 24."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3,
                 norm: Norm = "batch") -> None:
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def gan_loss(logits: torch.Tensor, real: bool, mode: Literal["vanilla", "lsgan"]) -> torch.Tensor:
    """The reference ``GANLoss``: ``vanilla`` = sigmoid cross-entropy against 1 / 0 (pix2pix),
    ``lsgan`` = mean squared error against 1 / 0 (CycleGAN), averaged over patches."""
    if mode == "vanilla":
        return bce_real(logits) if real else bce_fake(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))
    raise ValueError(f"gan_mode: expected 'vanilla' or 'lsgan', got {mode!r}")


class ImagePool:
    """The reference ``ImagePool`` (Shrivastava et al.): a buffer of up to ``size`` generated
    images; each query image is returned as is while the buffer fills, afterwards with
    probability 1/2 swapped for a stored one (which it replaces). ``size`` 0: no buffer."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() > 0.5:
                i = self.rng.randrange(self.size)
                out.append(self.images[i])
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    """Freeze (False) or unfreeze (True) every parameter of ``nets`` (the reference does this to
    the discriminators during the generator step)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


__all__ = ["ImagePool", "PatchDiscriminator", "ResnetBlock", "ResnetGenerator", "UnetBlock",
           "UnetGenerator", "gan_loss", "norm_layer", "set_requires_grad", "unet_downs"]
