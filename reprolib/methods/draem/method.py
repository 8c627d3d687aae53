"""Fit / score glue of DRAEM (Zavrtanik et al., ICCV 2021), ReSynthDetect's synthetic-anomaly
baseline (Tables 1 and 2). Written from the paper and the official code's facts
(REFERENCE_NOTES "DRAEM"); our own module, not a copy.

Training (``train_DRAEM.py``): each batch goes through :func:`simulate_anomalies` (half the
images get an anomaly), the reconstructive net restores the augmented image, the
discriminative net segments ``concat(reconstruction, augmented)``; loss = l2 + (1 - SSIM) +
focal; one Adam (lr 1e-4) over both nets, learning rate x0.2 at 80 % and 90 % of training;
batch 8; 700 epochs. The reconstruction is not detached in training (as the official code).

Scoring (``test_DRAEM.py``): map = softmax probability of the anomaly class; image score = the
maximum of the map mean-filtered by a 21 x 21 window (stride 1, zero padding 10).

Deviations: procedural textures replace DTD (:mod:`.anomalies`); torchvision augmenters
replace imgaug's; the learning-rate steps are placed at 80 %/90 % of the optimiser steps
(the same as of the epochs when training runs whole epochs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from reprolib.blocks.distill import check_batch
from reprolib.blocks.recon import check_positive
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.draem.anomalies import simulate_anomalies
from reprolib.methods.draem.model import (
    DiscriminativeSubNetwork,
    ReconstructiveSubNetwork,
    focal_map,
    init_weights,
    ssim_loss,
)


@dataclass
class DRAEMConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    recon_base: int = 128
    disc_base: int = 64
    epochs: int = 700
    batch_size: int = 8
    lr: float = 1e-4
    #: learning rate x ``lr_gamma`` at these fractions of training (MultiStepLR)
    lr_milestones: tuple[float, ...] = (0.8, 0.9)
    lr_gamma: float = 0.2
    anomaly_p: float = 0.5
    rotate_p: float = 0.3
    beta_max: float = 0.8
    focal_gamma: float = 2.0
    ssim_window: int = 11
    score_window: int = 21

    def validate(self) -> None:
        check_positive(self, "img_size", "in_channels", "recon_base", "disc_base", "epochs",
                       "batch_size", "lr", "ssim_window", "score_window", "lr_gamma")
        if self.img_size % 32:
            raise ConfigError(f"img_size: expected a multiple of 32 (the discriminative net "
                              f"max-pools 5 times), got {self.img_size}")
        if not (0 <= self.anomaly_p <= 1 and 0 <= self.rotate_p <= 1
                and 0 <= self.beta_max < 1):
            raise ConfigError(f"anomaly_p, rotate_p in [0, 1] and beta_max in [0, 1) expected, "
                              f"got {self.anomaly_p}, {self.rotate_p}, {self.beta_max}")
        if any(not 0 < m < 1 for m in self.lr_milestones):
            raise ConfigError(f"lr_milestones: expected fractions in (0, 1), got "
                              f"{list(self.lr_milestones)}")
        if self.score_window % 2 == 0 or self.ssim_window % 2 == 0:
            raise ConfigError(f"score_window and ssim_window must be odd, got "
                              f"{self.score_window}, {self.ssim_window}")


def total_steps(config: Any, n_train: int) -> int:
    """Optimiser steps of the whole training: ``config.steps`` when set, else epochs x
    batches per epoch."""
    steps = int(getattr(config, "steps", 0) or 0)
    return steps if steps > 0 else config.epochs * math.ceil(n_train / config.batch_size)


def multistep_lr(base: float, step: int, total: int, milestones: tuple[float, ...],
                 gamma: float) -> float:
    """MultiStepLR by fractions of training: ``base * gamma**(milestones passed)``."""
    passed = sum(step >= round(m * total) for m in milestones)
    return base * gamma ** passed


def max_of_mean_filtered(prob: torch.Tensor, window: int) -> torch.Tensor:
    """DRAEM's image score: max over pixels of ``avg_pool2d(prob, window, 1, window // 2)``
    (zero padding counted, as ``F.avg_pool2d``'s default)."""
    pooled = F.avg_pool2d(prob[:, None], window, stride=1, padding=window // 2)
    return pooled.flatten(1).amax(dim=1)


@register("draem")
class DRAEM(AnomalyMethod):
    """Reconstructive + discriminative sub-networks on simulated anomalies."""

    Config = DRAEMConfig
    config: DRAEMConfig

    def __init__(self, config: DRAEMConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.recon = ReconstructiveSubNetwork(c.in_channels, c.in_channels, c.recon_base)
        self.disc = DiscriminativeSubNetwork(2 * c.in_channels, 2, c.disc_base)
        for net in (self.recon, self.disc):
            net.apply(init_weights)
            net.to(self.device)
        self.rng = np.random.default_rng(seed)

    def batch_images(self, batch: dict[str, Any]) -> torch.Tensor:
        """The images of a loader batch, shape-checked, on the method's device."""
        return check_batch(batch["image"], self.config.in_channels,
                           self.config.img_size).to(self.device)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms of one batch of normal images ``x`` (anomalies simulated here)."""
        c = self.config
        normal, augmented, mask = (t.to(self.device) for t in simulate_anomalies(
            x, self.rng, anomaly_p=c.anomaly_p, rotate_p=c.rotate_p,
            beta_max=c.beta_max))
        rec = self.recon(augmented)
        logits = self.disc(torch.cat([rec, augmented], dim=1))
        l2 = F.mse_loss(rec, normal)
        ssim = ssim_loss(rec, normal, c.ssim_window)
        focal = focal_map(logits, mask, c.focal_gamma).mean()
        return {"loss": l2 + ssim + focal, "l2": l2, "ssim": ssim, "focal": focal}

    def fit(self, train: Dataset, val: Dataset | None = None) -> DRAEM:
        c = self.config
        params = [*self.recon.parameters(), *self.disc.parameters()]
        optimiser = torch.optim.Adam(params, lr=c.lr)
        total = total_steps(c, len(train))  # type: ignore[arg-type]
        counter = {"step": 0}

        def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            lr = multistep_lr(c.lr, counter["step"], total, c.lr_milestones, c.lr_gamma)
            for group in optimiser.param_groups:
                group["lr"] = lr
            counter["step"] += 1
            return self.losses(x)

        self.recon.train()
        self.disc.train()
        self.fit_batches(train, optimiser, loss_fn)
        self.fitted = True
        return self

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Anomaly probability map (B, H, W) and image score (B,) of images ``x``."""
        rec = self.recon(x)
        prob = torch.softmax(self.disc(torch.cat([rec, x], dim=1)), dim=1)[:, 1]
        return {"map": prob, "image": max_of_mean_filtered(prob, self.config.score_window)}

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        out = self.score_batches(data, self.predict)
        return Scores(image=out["image"], maps=out["map"])
