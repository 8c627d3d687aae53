"""ReSynthDetect (Niu et al., BMVC 2023): fit / score glue of the two training stages.

Stage 1 (§3.1): the reconstruction autoencoder (:class:`ReconstructionAE`) is trained on the
normal training images with the L2 loss of Eq. 1 (``rec_epochs`` epochs, or ``rec_steps``
steps; Adam at ``rec_lr``: the paper gives no stage-1 optimiser), then frozen (eval mode, no
gradients). Stage 2 (§3.2): every batch of normal images becomes synthetic anomalies through
the consistent anomaly generator (§3.3, :class:`reprolib.blocks.synthetic_anomaly.
SelfMixGenerator`: each image a target, another image of the batch its source), and the
localisation U-Net (:class:`LocalisationUNet`), its encoder concatenated with the frozen E_r's
features at every level, learns the masks with the focal loss of Eq. 2 (gamma 2). Learning
rate (§4.1 "Implementation Details"): Adam at ``lr`` = 5e-5, a linear warm-up (``warmup_epochs``;
the paper: 50 epochs; 0 = ``warmup_fraction`` of the training), then cosine decay to
``min_lr`` = 2.5e-5 (``torch.optim.lr_scheduler`` LinearLR then CosineAnnealingLR, stepped per
batch). Score: pixel map = the anomaly probability map; image score = the mean of its 10
highest pixel probabilities (§4.1).

Preprocessing (CLAHE, clip 2, grid 8, §4.1) is not done here: it is the data option ``clahe``
of every dataset (``reprolib.data``), so that the baselines of the same table see the same
images; the ReSynthDetect notebooks set it for every method.

Table 3's architectures are ``variant``: ``full`` (trained E_r features concatenated),
``loc_only`` (the U-Net alone, no stage 1), ``rec_only`` (the stage-1 autoencoder alone,
scored by its squared reconstruction error: map per pixel averaged over channels, image score
its mean), ``random_rec`` (E_r randomly initialised and frozen, its features concatenated),
``rec_image`` (DRAEM-style: the U-Net's input is the image concatenated with the trained
autoencoder's reconstruction, no feature concatenation). Table 4's generator ablations are
``use_perlin``, ``self_mix`` and ``anomaly_source``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.losses import focal_loss
from reprolib.blocks.recon import error_map
from reprolib.blocks.synthetic_anomaly import AUGMENTATIONS, SelfMixGenerator
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.resynthdetect.model import LocalisationUNet, ReconstructionAE
from reprolib.training import make_loader, optimiser_step, run_epochs

VARIANTS = ("full", "loc_only", "rec_only", "random_rec", "rec_image")


@dataclass
class ReSynthDetectConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 3
    variant: Literal["full", "loc_only", "rec_only", "random_rec", "rec_image"] = "full"
    # networks (the paper gives no layer list): widths base * (1, 2, 4, 8, 8)
    rec_base: int = 32
    loc_base: int = 32
    depth: int = 5
    # stage 1: L2 reconstruction (Eq. 1)
    rec_epochs: int = 0   # 0: as many as ``epochs``
    rec_steps: int = 0    # > 0: overrides rec_epochs (stage-1 steps)
    rec_lr: float = 1e-3
    # stage 2: focal loss (Eq. 2), warm-up + cosine (§4.1); ``steps`` > 0 overrides epochs
    epochs: int = 10
    batch_size: int = 8
    lr: float = 5e-5
    min_lr: float = 2.5e-5
    warmup_epochs: int = 0          # the paper: 50; 0 = warmup_fraction of the training
    warmup_fraction: float = 0.1
    warmup_start_factor: float = 0.01
    gamma: float = 2.0
    top_k: int = 10
    # the anomaly generator (§3.3) and Table 4's switches
    alpha: float = 0.7
    n_augment: int = 3
    crop_fraction: tuple[float, float] = (0.1, 0.5)
    perlin_max_scale: int = 4
    use_perlin: bool = True
    self_mix: bool = True
    anomaly_source: Literal["fundus", "texture"] = "fundus"
    p_anomaly: float = 1.0

    def validate(self) -> None:
        if self.img_size % 2 ** (self.depth - 1):
            raise ConfigError(f"img_size {self.img_size} must be divisible by "
                              f"2**(depth - 1) = {2 ** (self.depth - 1)}")
        if self.in_channels not in (1, 3):
            raise ConfigError(f"config key 'in_channels': expected 1 or 3, got "
                              f"{self.in_channels}")
        if self.top_k < 1 or self.top_k > self.img_size ** 2:
            raise ConfigError(f"config key 'top_k': expected 1..img_size**2, got {self.top_k}")
        if not 0 <= self.warmup_fraction < 1 or not 0 < self.warmup_start_factor <= 1:
            raise ConfigError("config keys 'warmup_fraction' (0..1) and 'warmup_start_factor' "
                              f"(0..1], > 0) out of range: {self.warmup_fraction}, "
                              f"{self.warmup_start_factor}")
        if min(self.rec_epochs, self.rec_steps, self.warmup_epochs) < 0:
            raise ConfigError("config keys 'rec_epochs', 'rec_steps', 'warmup_epochs': "
                              "expected >= 0")


def top_k_mean(maps: torch.Tensor, k: int) -> torch.Tensor:
    """Image score (§4.1): the mean of the ``k`` highest values of each map (N, ...) -> (N,)."""
    flat = maps.reshape(len(maps), -1)
    return flat.topk(min(k, flat.shape[1]), dim=1).values.mean(dim=1)


def warmup_cosine(optimiser: torch.optim.Optimizer, total_steps: int, warmup_steps: int, *,
                  min_lr: float, start_factor: float) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up over ``warmup_steps`` from ``start_factor`` x lr to lr, then cosine decay
    to ``min_lr`` at ``total_steps`` (stepped once per optimiser step)."""
    warmup_steps = min(max(warmup_steps, 0), max(total_steps - 1, 0))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=max(total_steps - warmup_steps, 1), eta_min=min_lr)
    if warmup_steps == 0:
        return cosine
    warm = torch.optim.lr_scheduler.LinearLR(optimiser, start_factor=start_factor,
                                             end_factor=1.0, total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimiser, [warm, cosine],
                                                 milestones=[warmup_steps])


@register("resynthdetect")
class ReSynthDetect(AnomalyMethod):
    """ReSynthDetect: frozen reconstruction features + synthetic-anomaly localisation U-Net."""

    Config = ReSynthDetectConfig
    config: ReSynthDetectConfig
    convergence_key: ClassVar[str | None] = "focal"

    def __init__(self, config: ReSynthDetectConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        if c.variant == "rec_only":
            self.convergence_key = "rec_l2"
        self.ae = ReconstructionAE(c.in_channels, c.rec_base, c.depth).to(self.device)
        if c.variant != "rec_only":
            rec_widths = self.ae.encoder.widths if c.variant in ("full", "random_rec") else None
            in_ch = 2 * c.in_channels if c.variant == "rec_image" else c.in_channels
            self.loc = LocalisationUNet(in_ch, c.loc_base, c.depth, rec_widths).to(self.device)
        self.generator = SelfMixGenerator(
            alpha=c.alpha, n_augment=c.n_augment, augmentations=tuple(AUGMENTATIONS),
            crop_fraction=c.crop_fraction, perlin_max_scale=c.perlin_max_scale,
            use_perlin=c.use_perlin, self_mix=c.self_mix, source=c.anomaly_source,
            p_anomaly=c.p_anomaly)

    # --- the stages ---------------------------------------------------------------------
    @property
    def trains_ae(self) -> bool:
        return self.config.variant in ("full", "rec_only", "rec_image")

    @property
    def uses_ae(self) -> bool:
        return self.config.variant != "loc_only"

    def fit_reconstruction(self, train: Dataset) -> None:
        """Stage 1 (§3.1): the autoencoder on normal images, L2 loss (Eq. 1)."""
        c = self.config
        optimiser = torch.optim.Adam(self.ae.parameters(), lr=c.rec_lr)
        self.ae.train()

        def step(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            x = self.batch_images(batch)
            loss = torch.mean((self.ae(x) - x) ** 2)
            optimiser_step(optimiser, loss)
            return {"rec_l2": loss.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.rec_epochs or c.epochs, desc=f"{self.name} stage 1",
                   history=self.history, steps=c.rec_steps)

    def localisation_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The localisation network's logits for images ``x``, with the frozen autoencoder's
        features (or reconstruction) as the variant asks."""
        variant = self.config.variant
        if variant in ("full", "random_rec"):
            with torch.no_grad():
                feats = self.ae.features(x)
            return self.loc(x, feats)
        if variant == "rec_image":
            with torch.no_grad():
                recon = self.ae(x)
            return self.loc(torch.cat([x, recon], dim=1))
        return self.loc(x)

    def fit_localisation(self, train: Dataset) -> None:
        """Stage 2 (§3.2-3.3): synthetic anomalies, focal loss, warm-up + cosine schedule."""
        c = self.config
        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        total = c.steps if c.steps > 0 else c.epochs * len(loader)
        warmup = (c.warmup_epochs * len(loader) if c.warmup_epochs > 0
                  else math.floor(c.warmup_fraction * total))
        optimiser = torch.optim.Adam(self.loc.parameters(), lr=c.lr)
        scheduler = warmup_cosine(optimiser, total, warmup, min_lr=c.min_lr,
                                  start_factor=c.warmup_start_factor)
        rng = np.random.default_rng(self.seed)
        self.ae.eval()
        self.loc.train()

        def step(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            images, masks = self.generator.batch(self.batch_images(batch), rng)
            loss = focal_loss(self.localisation_logits(images), masks, gamma=c.gamma)
            optimiser_step(optimiser, loss)
            lr = optimiser.param_groups[0]["lr"]
            scheduler.step()
            return {"focal": loss.detach(), "lr": lr}

        run_epochs(step, loader, c.epochs, desc=f"{self.name} stage 2", history=self.history,
                   steps=c.steps)

    def fit(self, train: Dataset, val: Dataset | None = None) -> ReSynthDetect:
        del val  # no model selection: the paper names none
        if self.trains_ae:
            self.fit_reconstruction(train)
        self.ae.eval()
        for p in self.ae.parameters():
            p.requires_grad_(False)
        if self.config.variant != "rec_only":
            self.fit_localisation(train)
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        c = self.config
        if c.variant == "rec_only":
            out = self.score_batches(data, lambda x: {"map": error_map(x, self.ae(x))})
            return Scores.from_maps(out["map"], reduce="mean")

        def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            probs = torch.sigmoid(self.localisation_logits(x))[:, 0]
            return {"map": probs, "image": top_k_mean(probs, c.top_k)}

        out = self.score_batches(data, fn)
        return Scores(image=out["image"], maps=out["map"])
