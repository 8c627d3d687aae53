"""CycleGAN (Zhu et al., ICCV 2017, §3) between the image domain A and a proxy domain B
(ProxyAno Table I "Cycle-GAN [56]": "our method consists of the translation between image and
proxy", §IV-A3), with the losses of the reference ``models/cycle_gan_model.py``:

- G_A: A -> B (image -> proxy), G_B: B -> A (proxy -> image); D_A judges B-domain images
  (real proxies vs. G_A(a)), D_B judges A-domain images;
- G's loss = LSGAN(D_A(G_A(a)), real) + LSGAN(D_B(G_B(b)), real)
  + λ_A |G_B(G_A(a)) - a| + λ_B |G_A(G_B(b)) - b| (cycle, λ = 10)
  + λ_idt (λ_B |G_A(b) - b| + λ_A |G_B(a) - a|) (identity, λ_idt = 0.5);
- each D's loss = 0.5 (LSGAN(D(real), real) + LSGAN(D(pool(fake)), fake)).

Proxies: a named function of :data:`PROXIES` (``register_proxy`` adds one): ``si``, ProxyAno's
superpixel image (``reprolib.blocks.superpixel``: SLIC, 800 segments at 256 px scaled with the
area, each superpixel filled with its mean; computed once per image and kept in memory), the
paper's proxy; ``gaussian_blur`` (Table III's "smooth image" proxy, the config's default).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import kornia
import numpy as np
import torch

from reprolib.blocks.pix2pix import gan_loss

#: ``fn(images (B, C, H, W) in the method's [-1, 1] range, ids, config) -> proxies`` (same shape).
ProxyFn = Callable[[torch.Tensor, Sequence[str], Any], torch.Tensor]


def gaussian_blur_proxy(images: torch.Tensor, ids: Sequence[str], config: Any) -> torch.Tensor:
    """The image smoothed with a Gaussian of standard deviation ``config.proxy_sigma`` pixels
    (kernel 2 ceil(3σ) + 1, reflected borders; kornia)."""
    del ids
    sigma = float(config.proxy_sigma)
    k = 2 * math.ceil(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(images, (k, k), (sigma, sigma), border_type="reflect")


#: SI proxies already computed, by image content (SLIC runs once per image, not per epoch).
_SI_CACHE: dict[str, np.ndarray] = {}
#: Entries kept before the cache is emptied (16 KB each for 64 px grey images).
_SI_CACHE_ENTRIES = 20_000


def superpixel_proxy(images: torch.Tensor, ids: Sequence[str], config: Any) -> torch.Tensor:
    """ProxyAno's superpixel image (SI, §III-B) of each image, as ``proxyano`` computes it
    (``reprolib.blocks.superpixel.compute_proxy`` with ``ProxySpec("si")``: SLIC with 800
    segments at 256 px, scaled with the image area; each superpixel filled with its mean), on
    the image mapped from [-1, 1] to [0, 1] and back. Each image's SI is computed once and
    kept in memory, keyed by the image's content (``ids`` are not needed)."""
    from reprolib.blocks.superpixel import ProxySpec, compute_proxy

    del ids, config
    spec = ProxySpec(kind="si")
    unit = ((images.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0).numpy()
    out = np.empty_like(unit)
    for i, image in enumerate(unit):
        key = hashlib.sha1(image.tobytes() + str(image.shape).encode()).hexdigest()
        proxy = _SI_CACHE.get(key)
        if proxy is None:
            if len(_SI_CACHE) >= _SI_CACHE_ENTRIES:
                _SI_CACHE.clear()
            proxy = _SI_CACHE[key] = compute_proxy(image, spec)
        out[i] = proxy
    return torch.from_numpy(out * 2.0 - 1.0).to(device=images.device, dtype=images.dtype)


PROXIES: dict[str, ProxyFn] = {"gaussian_blur": gaussian_blur_proxy, "si": superpixel_proxy}


def register_proxy(name: str, fn: ProxyFn) -> None:
    """Make ``fn`` available as ``proxy: <name>`` in the CycleGAN config."""
    PROXIES[name] = fn


def get_proxy(name: str) -> ProxyFn:
    if name not in PROXIES:
        raise ValueError(f"proxy: expected one of {sorted(PROXIES)}, got {name!r}")
    return PROXIES[name]


def cycle_g_losses(real_a: torch.Tensor, real_b: torch.Tensor, fake_b: torch.Tensor,
                   rec_a: torch.Tensor, fake_a: torch.Tensor, rec_b: torch.Tensor,
                   idt_a: torch.Tensor | None, idt_b: torch.Tensor | None,
                   d_a_fake: torch.Tensor, d_b_fake: torch.Tensor, *, lambda_a: float,
                   lambda_b: float, lambda_idt: float) -> dict[str, torch.Tensor]:
    """The generators' loss of the reference (see the module docstring). ``idt_a`` = G_A(b),
    ``idt_b`` = G_B(a); None when ``lambda_idt`` is 0."""
    g_a = gan_loss(d_a_fake, True, "lsgan")
    g_b = gan_loss(d_b_fake, True, "lsgan")
    cyc_a = torch.mean(torch.abs(rec_a - real_a)) * lambda_a
    cyc_b = torch.mean(torch.abs(rec_b - real_b)) * lambda_b
    zero = real_a.new_zeros(())
    idt_loss_a = (torch.mean(torch.abs(idt_a - real_b)) * lambda_b * lambda_idt
                  if idt_a is not None else zero)
    idt_loss_b = (torch.mean(torch.abs(idt_b - real_a)) * lambda_a * lambda_idt
                  if idt_b is not None else zero)
    total = g_a + g_b + cyc_a + cyc_b + idt_loss_a + idt_loss_b
    return {"g": total, "g_a": g_a, "g_b": g_b, "cycle_a": cyc_a, "cycle_b": cyc_b,
            "idt_a": idt_loss_a, "idt_b": idt_loss_b}


def cycle_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """0.5 (LSGAN(D(real), real) + LSGAN(D(fake), fake))."""
    return 0.5 * (gan_loss(d_real, True, "lsgan") + gan_loss(d_fake, False, "lsgan"))


__all__ = ["PROXIES", "ProxyFn", "cycle_d_loss", "cycle_g_losses", "gaussian_blur_proxy",
           "get_proxy", "register_proxy", "superpixel_proxy"]
