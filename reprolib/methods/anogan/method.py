"""AnoGAN (Schlegl et al., IPMI 2017) and the comparison models of its §3.

Registered names (one trained DCGAN serves four of them through the model cache):

- ``dcgan``: trains the DCGAN of §2.1 (Eq. 1-2, Adam); its own score is P_D.
- ``anogan``: maps each query to the latent space with the feature-matching loss (Eq. 3-5) and
  scores A(x) = (1 - λ) R(x) + λ D(x) (Eq. 6); maps are the residual |x - G(z_Γ)|.
- ``gan_r``: the same mapping with Yeh et al.'s discrimination loss (sigmoid cross-entropy of
  D(G(z)) against "real"); scores Â(x) = (1 - λ) R(x) + λ D̂(x).
- ``p_d``: the discriminator's output on the query itself, no mapping: score -log D(x).
- ``acae``: adversarial convolutional autoencoder of the same depth (encoder = D's convolution
  stack, decoder = G, a discriminator on the reconstruction), scored with the same A(x).

``anogan``, ``gan_r`` and ``p_d`` hold only scoring settings beside the DCGAN's: their ``fit``
asks the model cache for the ``dcgan`` trained with the DCGAN fields of their config, so the
GAN is trained once and mapping settings (steps, λ, learning rate) never retrain it.

Whole images (as a baseline in ProxyAno or MDFSC): with ``patch_size = 0`` the networks are
sized for the whole image at ``img_size`` (a multiple of 16: the four stride-2 layers start
from img_size/16); with ``patch_size > 0`` they are sized for patch_size x patch_size patches,
trained on ``patches_per_image`` random crops per image, and an image is scored on a grid of
patches (stride ``patch_stride``): the image score is the ``patch_reduce`` (mean or max) of
the patch scores and the map is the residual averaged over overlapping patches.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.anogan.model import (
    Discriminator,
    Encoder,
    Generator,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    map_to_latent,
    residual_loss,
)
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.training import make_loader, optimiser_step, progress, run_epochs


@dataclass
class DCGANConfig(MethodConfig):
    """The DCGAN of §2.1 / §3 "Implementation details" (the training cache key)."""

    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (64, 128, 256, 512)
    z_dim: int = 100
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    patch_size: int = 0          # 0: networks see the whole image; > 0: patches of this size
    patches_per_image: int = 8   # random training crops per image and epoch (patch mode)
    patch_stride: int = 0        # grid stride at scoring time (0: patch_size // 2)
    patch_reduce: Literal["mean", "max"] = "max"

    def validate(self) -> None:
        size = self.net_size
        if size % 2 ** len(self.widths) or size < 2 ** len(self.widths):
            raise ConfigError(f"{'patch_size' if self.patch_size else 'img_size'} {size}: "
                              f"expected a multiple of 2**len(widths) = {2 ** len(self.widths)}")
        if self.patch_size < 0 or self.patch_size > self.img_size:
            raise ConfigError(f"patch_size: expected 0 (whole image) or 1..img_size "
                              f"({self.img_size}), got {self.patch_size}")
        if self.in_channels not in (1, 3):
            raise ConfigError(f"in_channels: expected 1 or 3, got {self.in_channels}")
        for key in ("epochs", "patch_stride"):
            if getattr(self, key) < 0:
                raise ConfigError(f"config key '{key}': expected >= 0, got {getattr(self, key)}")
        for key in ("z_dim", "batch_size", "patches_per_image"):
            if getattr(self, key) < 1:
                raise ConfigError(f"config key '{key}': expected >= 1, got {getattr(self, key)}")

    @property
    def net_size(self) -> int:
        """Side of what G generates and D sees: the patch size, or the whole image size."""
        return self.patch_size or self.img_size

    def dcgan_fields(self) -> dict[str, Any]:
        """Only the DCGAN's own fields (what the shared ``dcgan`` model is trained with)."""
        names = {f.name for f in dataclasses.fields(DCGANConfig)}
        return {k: v for k, v in self.to_dict().items() if k in names}


@dataclass
class AnoGANConfig(DCGANConfig):
    """DCGAN fields plus the mapping of §2.2 (500 steps, λ = 0.1 in the paper)."""

    map_steps: int = 500
    map_lr: float = 0.01
    lam: float = 0.1
    map_batch_size: int = 256
    clip_z: bool = True

    def validate(self) -> None:
        super().validate()
        if self.map_steps < 0:
            raise ConfigError(f"config key 'map_steps': expected >= 0, got {self.map_steps}")
        if not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"config key 'lam': expected a value in [0, 1], got {self.lam}")
        if self.map_batch_size < 1:
            raise ConfigError(f"config key 'map_batch_size': expected >= 1, "
                              f"got {self.map_batch_size}")


@dataclass
class ACAEConfig(DCGANConfig):
    """aCAE: DCGAN-depth encoder/decoder, a discriminator on the reconstruction (§3)."""

    rec_weight: float = 100.0   # weight of the mean L1 reconstruction term vs the adversarial one
    lam: float = 0.1            # λ of the unchanged anomaly score A(x) (Eq. 6)
    map_batch_size: int = 256   # scoring batch size


# --- patches --------------------------------------------------------------------------------

def grid_positions(size: int, patch: int, stride: int) -> list[int]:
    """Top-left offsets of a grid of ``patch``-wide windows covering ``size`` (last one flush)."""
    if patch >= size:
        return [0]
    positions = list(range(0, size - patch + 1, stride))
    if positions[-1] != size - patch:
        positions.append(size - patch)
    return positions


def random_crops(x: torch.Tensor, patch: int, per_image: int, generator: torch.Generator
                 ) -> torch.Tensor:
    """``per_image`` random ``patch`` x ``patch`` crops of every image of ``x`` (N, C, H, W)."""
    n, _, h, w = x.shape
    tops = torch.randint(0, h - patch + 1, (n, per_image), generator=generator)
    lefts = torch.randint(0, w - patch + 1, (n, per_image), generator=generator)
    crops = [x[i, :, t:t + patch, s:s + patch] for i in range(n)
             for t, s in zip(tops[i].tolist(), lefts[i].tolist())]
    return torch.stack(crops)


def _stack_images(data: Dataset, batch_size: int = 64) -> torch.Tensor:
    return torch.cat([batch["image"] for batch in make_loader(data, batch_size, shuffle=False)])


def _check_images(x: torch.Tensor, config: DCGANConfig, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != config.in_channels or x.shape[2:] != (config.img_size,
                                                                          config.img_size):
        raise ValueError(f"{who}: expected images of shape (N, {config.in_channels}, "
                         f"{config.img_size}, {config.img_size}), got {tuple(x.shape)}; load "
                         f"the data with method.data_spec()")


class _PatchScored(AnomalyMethod):
    """Shared scoring frame: cut images into units (whole images or grid patches), score the
    units with :meth:`score_units`, reduce unit scores to image scores and stitch maps."""

    normalize = "tanh"
    config: DCGANConfig

    def score_units(self, units: torch.Tensor) -> tuple[dict[str, torch.Tensor],
                                                        torch.Tensor | None]:
        """Per-unit scores (``"score"`` is the main one) and per-unit maps (N, h, w) or None."""
        raise NotImplementedError

    def training_units(self, batch: dict[str, Any], rng: torch.Generator) -> torch.Tensor:
        """A training batch's images (checked), cut into ``patches_per_image`` random patches
        when ``patch_size`` is set, on the device."""
        c = self.config
        x = batch["image"]
        _check_images(x, c, f"{self.name}.fit")
        if c.patch_size:
            x = random_crops(x, c.patch_size, c.patches_per_image, rng)
        return x.to(self.device)

    def unit_batch_size(self) -> int:
        return int(getattr(self.config, "map_batch_size", self.config.batch_size))

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        c = self.config
        images = _stack_images(data, self.unit_batch_size())
        _check_images(images, c, f"{self.name}.score")
        n, p = len(images), c.net_size
        rows = cols = grid_positions(c.img_size, p, c.patch_stride or max(p // 2, 1))
        units = torch.stack([images[:, :, t:t + p, s:s + p] for t in rows for s in cols], 1)
        units = units.reshape(n * len(rows) * len(cols), c.in_channels, p, p)
        unit_scores, unit_maps = self.score_units(units)
        per = len(rows) * len(cols)
        reduce = (lambda v: v.max(1)) if c.patch_reduce == "max" else (lambda v: v.mean(1))
        arrays = {k: reduce(v.detach().double().cpu().numpy().reshape(n, per))
                  for k, v in unit_scores.items()}
        maps = None
        if unit_maps is not None:
            unit_maps = unit_maps.detach().float().cpu().reshape(n, per, p, p)
            total = torch.zeros(n, c.img_size, c.img_size)
            count = torch.zeros(1, c.img_size, c.img_size)
            for k, (t, s) in enumerate((t, s) for t in rows for s in cols):
                total[:, t:t + p, s:s + p] += unit_maps[:, k]
                count[:, t:t + p, s:s + p] += 1
            maps = (total / count).numpy()
        image = arrays.pop("score")
        return Scores(image=image, maps=maps, extra=arrays)


# --- the DCGAN --------------------------------------------------------------------------------

@register("dcgan")
class DCGAN(_PatchScored):
    """The DCGAN of §2.1, trained adversarially with Adam (Eq. 1; G maximises log D(G(z)),
    Eq. 2). Its own score is P_D: -log D(x), the discriminator's output on the query."""

    Config = DCGANConfig
    config: DCGANConfig
    #: A DCGAN has no loss that settles to a plateau; the rule watches the generator's loss
    #: (the counted optimiser's objective), so the flag says whether it still falls.
    convergence_key = "loss_g"

    def __init__(self, config: DCGANConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.generator = Generator(c.net_size, c.in_channels, c.widths, c.z_dim).to(self.device)
        self.discriminator = Discriminator(c.net_size, c.in_channels, c.widths).to(self.device)

    def sample_z(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """z uniform in [-1, 1] (§2.1)."""
        return (torch.rand(n, self.config.z_dim, generator=generator) * 2 - 1).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> DCGAN:
        c = self.config
        gen_opt = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=(c.beta1, 0.999))
        disc_opt = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr,
                                    betas=(c.beta1, 0.999))
        rng = torch.Generator().manual_seed(self.seed)
        self.generator.train()
        self.discriminator.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = self.training_units(batch, rng)
            fake = self.generator(self.sample_z(len(x), rng))
            real_logit = self.discriminator(x)
            fake_logit = self.discriminator(fake.detach())
            loss_d = discriminator_loss(real_logit, fake_logit)
            optimiser_step(disc_opt, loss_d)
            loss_g = generator_loss(self.discriminator(fake))
            optimiser_step(gen_opt, loss_g)
            return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                    "d_real": torch.sigmoid(real_logit).mean().detach(),
                    "d_fake": torch.sigmoid(fake_logit).mean().detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    def score_units(self, units: torch.Tensor) -> tuple[dict[str, torch.Tensor], None]:
        logits = torch.cat([self.discriminator(chunk.to(self.device)) for chunk in
                            units.split(self.unit_batch_size())])
        return {"score": F.softplus(-logits), "p_real": torch.sigmoid(logits)}, None


class _UsesTrainedDCGAN(DCGAN):
    """A method whose ``fit`` takes the shared ``dcgan`` from the model cache (trained once)."""

    def fit(self, train: Dataset, val: Dataset | None = None) -> _UsesTrainedDCGAN:
        if getattr(train, "fingerprint", None) is None:  # no cache key possible: train here
            return super().fit(train, val)  # type: ignore[return-value]
        from reprolib.cache import fit_or_load

        gan = fit_or_load("dcgan", self.config.dcgan_fields(), train, seed=self.seed,
                          device=self.device)
        self.generator.load_state_dict(gan.generator.state_dict())
        self.discriminator.load_state_dict(gan.discriminator.state_dict())
        self.history = list(gan.history)
        self.dcgan_fit_seconds = float(gan.fit_seconds)
        return self


@register("p_d")
class PD(_UsesTrainedDCGAN):
    """P_D of §3: the trained discriminator's output on the query, no mapping.
    Score = -log D(x) (monotone in 1 - D(x), without saturating); ``extra["p_real"]`` = D(x)."""

    Config = DCGANConfig


@register("anogan")
class AnoGAN(_UsesTrainedDCGAN):
    """AnoGAN (§2.2-2.3): score A(x) after mapping with the feature-matching loss.

    ``extra``: ``residual`` R(x), ``discrimination`` D(x). Maps: residual |x - G(z_Γ)|
    averaged over channels."""

    Config = AnoGANConfig
    config: AnoGANConfig
    discrimination_kind = "feature"
    discrimination_name = "discrimination"

    def score_units(self, units: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        c = self.config
        z_init = torch.rand(len(units), c.z_dim, generator=torch.Generator().manual_seed(
            self.seed)) * 2 - 1  # drawn for all units at once: independent of the batch size
        out: dict[str, list[torch.Tensor]] = {"score": [], "residual": [],
                                              self.discrimination_name: []}
        maps = []
        chunks = list(zip(units.split(c.map_batch_size), z_init.split(c.map_batch_size)))
        for x, z0 in progress(chunks, desc=f"{self.name} mapping", total=len(chunks)):
            x = x.to(self.device)
            result = map_to_latent(x, self.generator, self.discriminator, steps=c.map_steps,
                                   lam=c.lam, lr=c.map_lr, discrimination=self.discrimination_kind,
                                   clip_z=c.clip_z, z_init=z0)
            out["score"].append(result.score.cpu())
            out["residual"].append(result.residual.cpu())
            out[self.discrimination_name].append(result.discrimination.cpu())
            maps.append((x - result.generated).abs().mean(1).cpu())
        return {k: torch.cat(v) for k, v in out.items()}, torch.cat(maps)

    def reconstruct(self, data: Dataset) -> dict[str, np.ndarray]:
        """Map whole units (patch_size 0) for Figure 3: ``query`` and ``generated`` G(z_Γ)
        (N, C, H, W) in [-1, 1], ``residual`` R(x) and ``discrimination`` D(x) (or D̂(x))."""
        self.eval_mode()
        c = self.config
        if c.patch_size:
            raise ValueError("reconstruct: expected patch_size 0 (whole units), got "
                             f"{c.patch_size}")
        x = _stack_images(data).to(self.device)
        _check_images(x, c, f"{self.name}.reconstruct")
        z_init = torch.rand(len(x), c.z_dim, generator=torch.Generator().manual_seed(
            self.seed)) * 2 - 1
        result = map_to_latent(x, self.generator, self.discriminator, steps=c.map_steps,
                               lam=c.lam, lr=c.map_lr, discrimination=self.discrimination_kind,
                               clip_z=c.clip_z, z_init=z_init)
        return {"query": x.cpu().numpy(), "generated": result.generated.cpu().numpy(),
                "residual": result.residual.cpu().numpy(),
                "discrimination": result.discrimination.cpu().numpy()}


@register("gan_r")
class GANR(AnoGAN):
    """GAN_R of §3: the mapping and the score use Yeh et al.'s reference discrimination loss
    (sigmoid cross-entropy of D(G(z)) against "real"): Â(x) = (1 - λ) R(x) + λ D̂(x).
    ``extra``: ``residual`` R(x), ``discrimination_ref`` D̂(x)."""

    discrimination_kind = "reference"
    discrimination_name = "discrimination_ref"


# --- aCAE -----------------------------------------------------------------------------------

@register("acae")
class ACAE(_PatchScored):
    """Adversarial convolutional autoencoder (§3): encoder (D-like, 4 strided 5x5 convs) to z,
    decoder = a DCGAN generator, a DCGAN discriminator on the reconstruction. Trained with
    ``rec_weight`` * mean |x - x̂| + adversarial loss; scored with the unchanged A(x) (Eq. 6)
    with x̂ in place of G(z_Γ) and f(.) = the aCAE discriminator's last convolution block."""

    Config = ACAEConfig
    config: ACAEConfig
    #: The reconstruction term (what scores); the adversarial terms oscillate by design.
    convergence_key = "loss_rec"

    def __init__(self, config: ACAEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.encoder = Encoder(c.net_size, c.in_channels, c.widths, c.z_dim).to(self.device)
        self.decoder = Generator(c.net_size, c.in_channels, c.widths, c.z_dim).to(self.device)
        self.discriminator = Discriminator(c.net_size, c.in_channels, c.widths).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> ACAE:
        c = self.config
        ae_params = [*self.encoder.parameters(), *self.decoder.parameters()]
        ae_opt = torch.optim.Adam(ae_params, lr=c.lr, betas=(c.beta1, 0.999))
        disc_opt = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr,
                                    betas=(c.beta1, 0.999))
        rng = torch.Generator().manual_seed(self.seed)
        for module in self.modules().values():
            module.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = self.training_units(batch, rng)
            rec = self.decoder(self.encoder(x))
            loss_d = discriminator_loss(self.discriminator(x), self.discriminator(rec.detach()))
            optimiser_step(disc_opt, loss_d)
            adv_logit = self.discriminator(rec)
            loss_rec = (x - rec).abs().mean()
            loss_adv = generator_loss(adv_logit)
            optimiser_step(ae_opt, c.rec_weight * loss_rec + loss_adv)
            return {"loss_d": loss_d.detach(), "loss_rec": loss_rec.detach(),
                    "loss_adv": loss_adv.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    def score_units(self, units: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        c = self.config
        out: dict[str, list[torch.Tensor]] = {"score": [], "residual": [], "discrimination": []}
        maps = []
        for x in units.split(c.map_batch_size):
            x = x.to(self.device)
            rec = self.decoder(self.encoder(x))
            res = residual_loss(x, rec)
            disc = feature_matching_loss(self.discriminator.features(x),
                                         self.discriminator.features(rec))
            out["score"].append(((1 - c.lam) * res + c.lam * disc).cpu())
            out["residual"].append(res.cpu())
            out["discrimination"].append(disc.cpu())
            maps.append((x - rec).abs().mean(1).cpu())
        return {k: torch.cat(v) for k, v in out.items()}, torch.cat(maps)

