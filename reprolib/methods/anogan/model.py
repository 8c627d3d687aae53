"""DCGAN generator / discriminator of AnoGAN (Schlegl et al., IPMI 2017, §2.1 and §3
"Implementation details"), the aCAE encoder, and the latent-space mapping of §2.2.

G: z (uniform in [-1, 1]) -> projection to ``widths[-1]`` x s x s -> four fractionally-strided
5x5 convolutions (512-256-128-64 channels in the paper) -> tanh image in [-1, 1].
D: four strided 5x5 convolutions (64-128-256-512) -> one logit. ``D.features`` returns the
output of the last convolution block, the intermediate representation f(.) of Eq. 4.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from reprolib.blocks.dcgan import bce_fake, bce_real, init_dcgan_weights

KERNEL = 5


#: DCGAN initialisation (Radford et al.), the linear projection of z included.
init_weights = partial(init_dcgan_weights, linear=True)


def _base_size(img_size: int, n_layers: int) -> int:
    if img_size % 2 ** n_layers or img_size < 2 ** n_layers:
        raise ValueError(f"img_size: expected a multiple of 2**{n_layers} = {2 ** n_layers}, "
                         f"got {img_size}")
    return img_size // 2 ** n_layers


def down_block(in_ch: int, out_ch: int, *, norm: bool) -> nn.Sequential:
    """5x5 stride-2 convolution (halves the size) + optional BatchNorm + LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, KERNEL, 2, KERNEL // 2, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def up_conv(in_ch: int, out_ch: int, *, bias: bool) -> nn.ConvTranspose2d:
    """5x5 fractionally-strided convolution doubling the size."""
    return nn.ConvTranspose2d(in_ch, out_ch, KERNEL, 2, KERNEL // 2, output_padding=1, bias=bias)


class Generator(nn.Module):
    """DCGAN generator: ``widths`` given discriminator-side (64, 128, 256, 512 in the paper)."""

    def __init__(self, img_size: int = 64, in_channels: int = 1,
                 widths: tuple[int, ...] = (64, 128, 256, 512), z_dim: int = 100) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.base = _base_size(img_size, len(widths))
        rev = tuple(reversed(widths))
        self.project = nn.Linear(z_dim, rev[0] * self.base * self.base, bias=False)
        self.project_norm = nn.BatchNorm2d(rev[0])
        layers: list[nn.Module] = []
        for prev, width in zip(rev[:-1], rev[1:]):
            layers += [up_conv(prev, width, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        layers += [up_conv(rev[-1], in_channels, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.widths = widths
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"Generator: expected z of shape (N, {self.z_dim}), "
                             f"got {tuple(z.shape)}")
        h = self.project(z).view(len(z), self.widths[-1], self.base, self.base)
        return self.net(F.relu(self.project_norm(h)))


class Discriminator(nn.Module):
    """DCGAN discriminator: four 5x5 stride-2 convolutions, BatchNorm after all but the first,
    LeakyReLU(0.2), then a linear layer to one logit."""

    def __init__(self, img_size: int = 64, in_channels: int = 1,
                 widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        base = _base_size(img_size, len(widths))
        blocks = []
        prev = in_channels
        for i, width in enumerate(widths):
            blocks.append(down_block(prev, width, norm=i > 0))
            prev = width
        self.conv = nn.Sequential(*blocks)
        self.head = nn.Linear(prev * base * base, 1)
        self.apply(init_weights)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) of Eq. 4: the last convolution block's output (N, widths[-1], s, s)."""
        return self.conv(x)

    def logit_from_features(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head(feats.flatten(1)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logit of D(x) (sigmoid of it is the probability that x is real), shape (N,)."""
        return self.logit_from_features(self.features(x))


class Encoder(nn.Module):
    """aCAE encoder (§3): the discriminator's convolution stack and a linear map to z in
    [-1, 1] (tanh), so that the decoder can be a DCGAN generator of the same depth."""

    def __init__(self, img_size: int = 64, in_channels: int = 1,
                 widths: tuple[int, ...] = (64, 128, 256, 512), z_dim: int = 100) -> None:
        super().__init__()
        base = _base_size(img_size, len(widths))
        self.conv = Discriminator(img_size, in_channels, widths).conv
        self.head = nn.Linear(widths[-1] * base * base, z_dim)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.conv(x).flatten(1)))


# --- losses of the mapping (§2.2) ----------------------------------------------------------

def residual_loss(x: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """Eq. 3 per sample: sum over pixels of |x - G(z)|, shape (N,)."""
    return (x - generated).abs().flatten(1).sum(1)


def feature_matching_loss(feats_x: torch.Tensor, feats_g: torch.Tensor) -> torch.Tensor:
    """Eq. 4 per sample: sum of |f(x) - f(G(z))| over D's intermediate features, shape (N,)."""
    return (feats_x - feats_g).abs().flatten(1).sum(1)


def discriminator_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor) -> torch.Tensor:
    """Eq. 1 for D: sigmoid cross-entropy of real logits against 1 plus fake logits against 0."""
    return bce_real(real_logit) + bce_fake(fake_logit)


def generator_loss(fake_logit: torch.Tensor) -> torch.Tensor:
    """Eq. 2 (non-saturating): G maximises log D(G(z)), the cross-entropy against "real"."""
    return bce_real(fake_logit)


def reference_discrimination_loss(logits_g: torch.Tensor) -> torch.Tensor:
    """Yeh et al.'s L_D^ per sample: sigmoid cross-entropy of D(G(z)) against target 1 ("real"),
    i.e. -log sigmoid(logit) = softplus(-logit), shape (N,)."""
    return F.softplus(-logits_g)


@dataclass
class MappingResult:
    """Per-sample results of the mapping after the last step Γ (all detached, on the device)."""

    z: torch.Tensor            # (N, z_dim)
    generated: torch.Tensor    # G(z_Γ), (N, C, H, W)
    residual: torch.Tensor     # R(x) = L_R(z_Γ), (N,)
    discrimination: torch.Tensor  # D(x) = L_D(z_Γ) or D^(x) = L_D^(z_Γ), (N,)
    score: torch.Tensor        # (1 - λ) R + λ D, (N,)


def map_to_latent(x: torch.Tensor, generator: Generator, discriminator: Discriminator, *,
                  steps: int, lam: float = 0.1, lr: float = 0.01,
                  discrimination: str = "feature", clip_z: bool = True,
                  z_init: torch.Tensor | None = None, generator_seed: int = 0,
                  callback: Callable[[int], None] | None = None) -> MappingResult:
    """Find z_Γ for every image of the batch ``x`` by ``steps`` Adam steps on z only (§2.2).

    The loss is Eq. 5: (1 - λ) L_R + λ L_D with ``discrimination="feature"`` (AnoGAN, Eq. 4)
    or (1 - λ) L_R + λ L_D^ with ``"reference"`` (GAN_R, Yeh et al.). G and D are frozen and
    must be in eval mode. The batch loss is the *sum* of the per-sample losses: each sample's
    loss depends only on its own z and Adam is element-wise, so the batch gives the same z_Γ
    as mapping each image alone. After every step z is clipped to [-1, 1] (the support of the
    prior) when ``clip_z``. The scores are evaluated at z_Γ (after the last step).
    """
    if discrimination not in ("feature", "reference"):
        raise ValueError(f"discrimination: expected 'feature' or 'reference', "
                         f"got {discrimination!r}")
    if generator.training or discriminator.training:
        raise RuntimeError("map_to_latent: G and D must be in eval mode (BatchNorm statistics "
                           "frozen); call .eval() first")
    if steps < 0:
        raise ValueError(f"steps: expected >= 0, got {steps}")
    params = [*generator.parameters(), *discriminator.parameters()]
    requires = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        if z_init is None:
            gen = torch.Generator().manual_seed(generator_seed)
            z_init = torch.rand(len(x), generator.z_dim, generator=gen) * 2 - 1
        z = z_init.detach().clone().to(x.device).requires_grad_(True)
        optimiser = torch.optim.Adam([z], lr=lr)
        with torch.no_grad():
            feats_x = discriminator.features(x) if discrimination == "feature" else None

        def losses(z_now: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            generated = generator(z_now)
            res = residual_loss(x, generated)
            feats_g = discriminator.features(generated)
            if discrimination == "feature":
                disc = feature_matching_loss(feats_x, feats_g)
            else:
                disc = reference_discrimination_loss(discriminator.logit_from_features(feats_g))
            return generated, res, disc

        with torch.enable_grad():
            for step in range(steps):
                _, res, disc = losses(z)
                loss = ((1 - lam) * res + lam * disc).sum()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                if clip_z:
                    with torch.no_grad():
                        z.clamp_(-1.0, 1.0)
                if callback is not None:
                    callback(step)
        with torch.no_grad():
            generated, res, disc = losses(z)
    finally:
        for p, flag in zip(params, requires):
            p.requires_grad_(flag)
    return MappingResult(z.detach(), generated, res, disc, (1 - lam) * res + lam * disc)
