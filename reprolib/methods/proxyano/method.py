"""Fit / score glue of ProxyAno (Zhou et al., TMI 2022), registered as ``proxyano``.

Training (§III, §IV-A1; Adam, lr 1e-3), two modules trained one after the other:

1. Proxy extraction module F_p = Dec_p(G(Enc_p(I))) (§III-C): image -> proxy, with the memory
   G (k = 128 items of d = 64, nearest item, EMA gamma 0.99, straight-through gradient,
   ``reprolib.blocks.memory``), trained with L_p = ||F_p(I) - P||^2 (Eq. 7) to the proxy P of
   every training image (the superpixel image by default), computed once per dataset and cached
   (``reprolib.blocks.superpixel.proxies_for``). ``proxy_epochs`` (``proxy_steps``) long.
2. Image reconstruction module F_g (§III-D), with F_p frozen (eval mode, no gradient):
   I^ = F_g(P^) with P^ = F_p(I), and on the pseudo-abnormal proxy P' (PAPC: a random-size
   patch of I pasted onto P^ at a random place) I^' = F_g(P'). Generator loss (Eq. 11)
   L = L_rec + w_global L_global + w_local L_local with L_rec (Eq. 8), L_global (Eq. 9),
   L_local (Eq. 10) each an L2 term plus w_adv (lambda_g = 0.01) times an adversarial term;
   w_global 0.25, w_local 0.5. One discriminator D (DCGAN classifier) is trained after each
   generator step on the real/fake pairs of the three terms, with the same weights.
   ``epochs`` (``steps``) long.

||.||^2 in Eqs. 7-10 is each image's squared norm (sum over channels and pixels) averaged over
the batch (``l2 = "sum"``, as written; ``"mean"`` = per-pixel MSE), adversarial terms
non-saturating BCE on the discriminator's logits (means over the batch, the E[.] of Eq. 8).

Scores (§III-E): ``image`` = A_img = ||Enc_p(I) - Enc_p(I^)||_F (Eqs. 12-13, ``score_space =
"latent"``) or the image-space ||I - I^||_F (Table V, ``score_space = "image"``); both are in
``extra`` (``latent``, ``image_space``). ``maps`` = A_pix = |I - I^| (Eq. 14), channel mean, in
the units of the [0, 1] input (no normalisation over the test set), so that the paper's fixed
pixel threshold 0.5 applies to it as it is.

Ablation switches: ``proxy`` (Table III: ``si``, ``canny``, ``blur``, ``block``, ``canny_blur``,
``canny_block``; ``none`` = one image -> image EncDec, Table IV rows 1-3), ``memory_items``
(Fig. 11, 0 = no memory), ``memory`` (``ours``; ``memae`` = Table IV's mem*), ``w_global`` /
``w_local`` (Fig. 12; both 0 = no repairing, Table IV rows 4-5), ``score_space`` (Table V and
Table IV row 8). Deviations from the paper: docs/proxyano.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reprolib.blocks.dcgan import DCGANDiscriminator, bce_fake, bce_real, init_dcgan_weights
from reprolib.blocks.recon import check_halvings, check_positive, check_power_of_two
from reprolib.blocks.superpixel import IMAGE_LIKE, ProxyDataset, ProxySpec, proxies_for
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.proxyano.model import (
    build_encdec,
    frobenius,
    memae_entropy,
    paste_patches,
    pixel_map,
    squared_error,
)
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class ProxyAnoConfig(MethodConfig):
    """ProxyAno's settings (defaults: the paper's, except the image size and epochs).

    ``epochs`` / ``steps``: length of the image reconstruction module's training (in epochs, or
    in generator steps when ``steps > 0``); ``proxy_epochs`` / ``proxy_steps`` the proxy
    extraction module's (None: the same as ``epochs`` / ``steps``). With ``proxy = "none"``
    there is one module, trained ``epochs`` (``steps``) with L2 only; the adversarial and
    repairing weights do not apply to it.
    """

    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    latent: int = 64  # d
    proxy: Literal["si", "canny", "blur", "block", "canny_blur", "canny_block", "none"] = "si"
    n_segments: int = 800  # SLIC segments at 256 px
    scale_segments: bool = True  # scale n_segments (and proxy sizes) with the image area/side
    compactness: float | None = None  # None: 0.1 (grey, [0, 1]) / 10 (colour, Lab)
    memory: Literal["ours", "memae"] = "ours"
    memory_items: int = 128  # k; 0 = no memory
    gamma: float = 0.99
    commitment: float = 0.0  # VQ-VAE's commitment weight; 0 = the paper's Eq. 7
    memae_entropy: float = 0.0002  # MemAE's entropy-loss weight, with memory "memae" only
    w_adv: float = 0.01  # lambda_g
    w_global: float = 0.25
    w_local: float = 0.5
    patch_min: float = 0.125  # PAPC patch side, fraction of the image side
    patch_max: float = 0.5
    patch_from: Literal["same", "other"] = "same"  # the patch's image: I itself or another
    paste_on: Literal["predicted", "slic"] = "predicted"  # P^ = F_p(I) or the SLIC proxy P
    score_space: Literal["latent", "image"] = "latent"
    l2: Literal["sum", "mean"] = "sum"  # ||.||^2 of Eqs. 7-10: per-image sum, or pixel mean
    d_width: int = 16
    d_max_width: int | None = 256
    epochs: int = 10
    proxy_epochs: int | None = None
    steps: int = 0
    proxy_steps: int | None = None
    batch_size: int = 16
    lr: float = 1e-3
    beta1: float = 0.9

    def validate(self) -> None:
        check_power_of_two(self.img_size)
        check_halvings(self.img_size, self.widths)
        check_positive(self, "in_channels", "latent", "n_segments", "batch_size", "lr",
                       "d_width", "epochs", "memory_items", "w_adv", "w_global", "w_local",
                       "commitment", "memae_entropy", "steps",
                       allow_zero=("epochs", "memory_items", "w_adv", "w_global", "w_local",
                                   "commitment", "memae_entropy", "steps"))
        for key in ("proxy_epochs", "proxy_steps"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ConfigError(f"config key '{key}': expected >= 0 or null, got {value}")
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"config key 'gamma': expected in [0, 1), got {self.gamma}")
        if not 0.0 < self.patch_min <= self.patch_max <= 1.0:
            raise ConfigError(f"config keys 'patch_min', 'patch_max': expected 0 < patch_min "
                              f"<= patch_max <= 1, got {self.patch_min}, {self.patch_max}")
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"config key 'beta1': expected in [0, 1), got {self.beta1}")
        if self.repairs and self.proxy not in IMAGE_LIKE:
            raise ConfigError(f"config keys 'w_global'/'w_local': the repairing loss pastes "
                              f"image patches onto the proxy, which needs an image-like proxy "
                              f"{list(IMAGE_LIKE)}; got proxy {self.proxy!r} (set both to 0)")

    @property
    def repairs(self) -> bool:
        return self.proxy != "none" and (self.w_global > 0 or self.w_local > 0)

    def proxy_spec(self) -> ProxySpec:
        if self.proxy == "none":
            raise ValueError("proxy 'none' has no proxy spec")
        return ProxySpec(kind=self.proxy, n_segments=self.n_segments,
                         compactness=self.compactness, scale_to_size=self.scale_segments)


def _run(step: Any, loader: DataLoader, epochs: int, steps: int, desc: str,
         history: list[dict[str, float]]) -> None:
    """``run_epochs`` for ``epochs``, or exactly ``steps`` steps when ``steps > 0``; the
    history's ``steps`` continue from module 1 into module 2."""
    run_epochs(step, loader, epochs, desc=desc, history=history, steps=steps)


@register("proxyano")
class ProxyAno(AnomalyMethod):
    """Proxy-bridged image reconstruction network (image -> proxy -> image)."""

    Config = ProxyAnoConfig
    config: ProxyAnoConfig
    #: The reconstruction module's weighted L2 (rec + w_global global + w_local local; the
    #: single module's L2 with ``proxy = "none"``); the proxy module logs ``proxy_l2`` before it.
    convergence_key = "l2"

    def __init__(self, config: ProxyAnoConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        channels = c.in_channels
        if c.proxy == "none":
            self.proxy_net = build_encdec(channels, channels, c.widths, c.latent, c.memory,
                                          c.memory_items, c.gamma).to(self.device)
            return
        proxy_channels = c.proxy_spec().channels(channels)
        self.proxy_net = build_encdec(channels, proxy_channels, c.widths, c.latent, c.memory,
                                      c.memory_items, c.gamma).to(self.device)
        self.recon_net = build_encdec(proxy_channels, channels, c.widths, c.latent,
                                      items=0).to(self.device)
        self.discriminator = DCGANDiscriminator(c.img_size, channels, c.d_width,
                                                c.d_max_width).to(self.device)
        self.discriminator.apply(init_dcgan_weights)

    # --- training ------------------------------------------------------------------------
    def _adam(self, params: Any) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=self.config.lr, betas=(self.config.beta1, 0.999))

    def fit(self, train: Dataset, val: Dataset | None = None) -> ProxyAno:
        c = self.config
        if c.proxy == "none":
            self._fit_single(train)
            return self
        proxies = proxies_for(train, c.proxy_spec())  # once, before any epoch
        data = ProxyDataset(train, proxies)
        self._fit_proxy_module(data)
        self._fit_reconstruction_module(data)
        return self

    def _proxy_l2(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. 7 (plus the optional commitment term; with MemAE's memory, its entropy loss)."""
        c = self.config
        result = self.proxy_net.run(x)
        terms = {"l2": squared_error(result["out"], target, c.l2)}
        loss = terms["l2"]
        if self.proxy_net.memory is not None and c.memory == "ours" and c.commitment > 0:
            terms["commitment"] = squared_error(result["z"], result["z_tilde"].detach(), c.l2)
            loss = loss + c.commitment * terms["commitment"]
        if self.proxy_net.memory is not None and c.memory == "memae" and c.memae_entropy > 0:
            terms["entropy"] = memae_entropy(result["aux"])
            loss = loss + c.memae_entropy * terms["entropy"]
        terms["loss"] = loss
        return terms

    def _fit_single(self, train: Dataset) -> None:
        """``proxy = "none"``: one EncDec image -> image, L2 (Table IV rows 1-3)."""
        c = self.config
        optimiser = self._adam(self.proxy_net.parameters())
        self.proxy_net.train()

        def step(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            x = self.batch_images(batch)
            terms = self._proxy_l2(x, x)
            optimiser_step(optimiser, terms["loss"])
            return {k: v.detach() for k, v in terms.items() if k != "loss"}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        _run(step, loader, c.epochs, c.steps, f"{self.name} encdec", self.history)

    def _fit_proxy_module(self, data: ProxyDataset) -> None:
        """Module 1 (§III-C): Eq. 7, memory updated by EMA in the forward pass."""
        c = self.config
        optimiser = self._adam(self.proxy_net.parameters())
        self.proxy_net.train()

        def step(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            x = self.batch_images(batch)
            terms = self._proxy_l2(x, batch["proxy"].to(self.device))
            optimiser_step(optimiser, terms["loss"])
            return {("proxy_l2" if k == "l2" else k): v.detach() for k, v in terms.items()
                    if k != "loss"}

        loader = make_loader(data, c.batch_size, shuffle=True, seed=self.seed)
        epochs = c.epochs if c.proxy_epochs is None else c.proxy_epochs
        steps = c.steps if c.proxy_steps is None else c.proxy_steps
        _run(step, loader, epochs, steps, f"{self.name} proxy module", self.history)

    def generator_terms(self, x: torch.Tensor, p_hat: torch.Tensor,
                        pseudo: torch.Tensor | None, mask: torch.Tensor | None
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Eqs. 8-11 for a batch: (loss terms, the generated images ``i_hat`` / ``i_hat_p``)."""
        c = self.config
        i_hat = self.recon_net(p_hat)[0]
        terms = {"rec_l2": squared_error(i_hat, x, c.l2)}
        adv = c.w_adv > 0
        if adv:
            terms["rec_adv"] = bce_real(self.discriminator(i_hat)[0])
        images = {"i_hat": i_hat}
        total = terms["rec_l2"] + c.w_adv * terms.get("rec_adv", 0.0)
        l2 = terms["rec_l2"]
        if pseudo is not None and mask is not None:
            i_hat_p = self.recon_net(pseudo)[0]
            images["i_hat_p"] = i_hat_p
            terms["global_l2"] = squared_error(i_hat_p, x, c.l2)
            terms["local_l2"] = squared_error(mask * i_hat_p, mask * x, c.l2)
            if adv:
                terms["global_adv"] = bce_real(self.discriminator(i_hat_p)[0])
                terms["local_adv"] = bce_real(self.discriminator(mask * i_hat_p)[0])
            total = total + c.w_global * (terms["global_l2"]
                                          + c.w_adv * terms.get("global_adv", 0.0))
            total = total + c.w_local * (terms["local_l2"]
                                         + c.w_adv * terms.get("local_adv", 0.0))
            l2 = l2 + c.w_global * terms["global_l2"] + c.w_local * terms["local_l2"]
        terms["l2"] = l2
        terms["g"] = total
        return terms, images

    def discriminator_loss(self, x: torch.Tensor, images: dict[str, torch.Tensor],
                           mask: torch.Tensor | None) -> torch.Tensor:
        """D's side of the three adversarial terms (Eqs. 8-10), weighted as in Eq. 11."""
        c = self.config
        d = self.discriminator
        loss = bce_real(d(x)[0]) + bce_fake(d(images["i_hat"].detach())[0])
        if "i_hat_p" in images and mask is not None:
            fake = images["i_hat_p"].detach()
            loss = loss + c.w_global * (bce_real(d(x)[0]) + bce_fake(d(fake)[0]))
            loss = loss + c.w_local * (bce_real(d(mask * x)[0]) + bce_fake(d(mask * fake)[0]))
        return loss

    def _fit_reconstruction_module(self, data: ProxyDataset) -> None:
        """Module 2 (§III-D) with module 1 frozen."""
        c = self.config
        self.proxy_net.eval()
        for param in self.proxy_net.parameters():
            param.requires_grad_(False)
        opt_g = self._adam(self.recon_net.parameters())
        opt_d = self._adam(self.discriminator.parameters())
        self.recon_net.train()
        self.discriminator.train()
        generator = torch.Generator().manual_seed(self.seed)

        def step(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            x = self.batch_images(batch)
            with torch.no_grad():
                p_hat = self.proxy_net(x)[0]
            pseudo = mask = None
            if c.repairs:
                base = p_hat if c.paste_on == "predicted" else batch["proxy"].to(self.device)
                source = x if c.patch_from == "same" else torch.roll(x, 1, dims=0)
                pseudo, mask, _ = paste_patches(base, source, generator, c.patch_min,
                                                c.patch_max)
            terms, images = self.generator_terms(x, p_hat, pseudo, mask)
            optimiser_step(opt_g, terms["g"])
            out = {k: v.detach() for k, v in terms.items()}
            if c.w_adv > 0:
                loss_d = self.discriminator_loss(x, images, mask)
                optimiser_step(opt_d, loss_d)
                out["d"] = loss_d.detach()
            return out

        loader = make_loader(data, c.batch_size, shuffle=True, seed=self.seed + 1)
        _run(step, loader, c.epochs, c.steps, f"{self.name} reconstruction module",
             self.history)
        for param in self.proxy_net.parameters():
            param.requires_grad_(True)

    # --- scoring -------------------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """P^ = F_p(I) and I^ = F_g(P^) (Eq. 1); with ``proxy = "none"`` I^ = EncDec(I)."""
        p_hat, z, _ = self.proxy_net(x)
        if self.config.proxy == "none":
            return {"i_hat": p_hat, "z": z}
        return {"p_hat": p_hat, "i_hat": self.recon_net(p_hat)[0], "z": z}

    def score_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per batch: latent score (Eq. 13), image-space score (Table V), map (Eq. 14)."""
        out = self.reconstruct(x)
        z_hat = self.proxy_net.encode(out["i_hat"])
        return {"latent": frobenius(out["z"], z_hat),
                "image_space": frobenius(x, out["i_hat"]),
                "map": pixel_map(x, out["i_hat"])}

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        out = self.score_batches(data, self.score_terms)
        main = out["latent"] if self.config.score_space == "latent" else out["image_space"]
        return Scores(image=main, maps=out["map"].astype(np.float32),
                      extra={"latent": out["latent"].astype(np.float64),
                             "image_space": out["image_space"].astype(np.float64)})

    @torch.no_grad()
    def proxies(self, data: Dataset) -> np.ndarray:
        """The predicted proxies P^ (N, Cp, H, W) of ``data`` (for figures such as Fig. 10)."""
        return self.score_batches(data, lambda x: {"p": self.proxy_net(x)[0]})["p"]


__all__ = ["ProxyAno", "ProxyAnoConfig"]
