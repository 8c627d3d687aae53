"""Fit / score glue of WDMT-Net (Zhang et al., MICCAI 2022), ReSynthDetect's Table 2 baseline
("WNet"). Our module, written from the official code's facts (REFERENCE_NOTES "WDMT-Net").

Training (``main.py``, ``utils.py``): grayscale images; random horizontal and vertical flips;
the target image is the clean (flipped) image, the input gets ``GaussianBlur((5, 9),
sigma ~ U(0.1, 5))``; the HOG target is the HOG visualisation of the clean image at a cell size
drawn per sample from the label pool {4, 8, 16} (the official pool lists every patch once per
cell size); loss = MSE(image) + MSE(HOG), 1:1; Adam (amsgrad, weight decay 5e-5, lr 1e-4 as the
README), cosine decay per iteration to 0; batch 32; 200 epochs; alpha falls by ``delta`` (0.05)
per epoch, per iteration (:func:`alpha_at`).

Scoring: the network at the last training alpha; map = ``|x - x_hat|`` of the image channel
(the intended per-pixel L1; the official ``PairwiseDistance`` reduces over the last axis, a bug
not copied); image score = the map's mean. The official code keeps the best-test-AUC epoch and
a Youden threshold on test: neither is copied (last epoch; thresholds are the evaluation's).

Deviations: ``tiles`` (default 1) splits each image into ``tiles x tiles`` patches as the
official 3 x 3 split of 768-px images (set ``tiles: 3`` at 768 px); the HOG is computed at the
input resolution per patch rather than on the whole 768-px image before the split (identical
away from patch borders with these 1 x 1-cell blocks when the cell divides the patch).
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
from reprolib.methods.wdmt_net.model import WDMTNet, alpha_at, blur, hog_target


@dataclass
class WDMTConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 1
    base: int = 64
    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 5e-5
    #: skip weight alpha falls by delta per epoch (0: skips kept, the plain U-Net)
    delta: float = 0.05
    hog_cells: tuple[int, ...] = (4, 8, 16)
    hog_weight: float = 1.0
    blur_sigma: tuple[float, float] = (0.1, 5.0)
    flips: bool = True
    tiles: int = 1

    def validate(self) -> None:
        check_positive(self, "img_size", "in_channels", "base", "batch_size", "lr", "tiles",
                       "epochs", "delta", "weight_decay", "hog_weight",
                       allow_zero=("epochs", "delta", "weight_decay", "hog_weight"))
        if self.img_size % (16 * self.tiles):
            raise ConfigError(f"img_size: expected a multiple of 16 x tiles = {16 * self.tiles} "
                              f"(4 max-pools per tile), got {self.img_size}")
        if not self.hog_cells or any(c < 1 or c > self.img_size // self.tiles
                                     for c in self.hog_cells):
            raise ConfigError(f"hog_cells: expected cell sizes in 1..{self.img_size // self.tiles}"
                              f", got {list(self.hog_cells)}")
        low, high = self.blur_sigma
        if not 0 < low <= high:
            raise ConfigError(f"blur_sigma: expected 0 < low <= high, got {list(self.blur_sigma)}")


def tile(x: torch.Tensor, t: int) -> torch.Tensor:
    """(B, C, H, W) -> (B t t, C, H/t, W/t), row-major tiles of each image."""
    if t == 1:
        return x
    b, c, h, w = x.shape
    x = x.reshape(b, c, t, h // t, t, w // t).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b * t * t, c, h // t, w // t)


def untile(x: torch.Tensor, t: int) -> torch.Tensor:
    """Inverse of :func:`tile`."""
    if t == 1:
        return x
    n, c, h, w = x.shape
    x = x.reshape(n // (t * t), t, t, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n // (t * t), c, t * h, t * w)


@register("wdmt_net")
class WDMT(AnomalyMethod):
    """U-Net with weight-decay skips and HOG prediction, scored by reconstruction error."""

    Config = WDMTConfig
    config: WDMTConfig
    convergence_key = "mse_image"

    def __init__(self, config: WDMTConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = WDMTNet(c.in_channels, 2 * c.in_channels, c.base).to(self.device)
        self.alpha = 1.0
        self.generator = torch.Generator().manual_seed(seed)

    def batch_images(self, batch: dict[str, Any]) -> torch.Tensor:
        c = self.config
        return check_batch(batch["image"], c.in_channels, c.img_size).to(self.device)

    def training_pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(blurred input, clean target, HOG target) of a batch of (tiled) images."""
        c, gen = self.config, self.generator
        x = x.detach().cpu().clone()
        hogs = torch.empty_like(x)
        inputs = torch.empty_like(x)
        for i in range(len(x)):
            if c.flips and torch.rand((), generator=gen) < 0.5:
                x[i] = x[i].flip(-1)
            if c.flips and torch.rand((), generator=gen) < 0.5:
                x[i] = x[i].flip(-2)
            cell = c.hog_cells[int(torch.randint(len(c.hog_cells), (), generator=gen))]
            for ch in range(x.shape[1]):
                hogs[i, ch] = torch.from_numpy(hog_target(x[i, ch].numpy(), cell))
            low, high = c.blur_sigma
            sigma = float(low + (high - low) * torch.rand((), generator=gen))
            inputs[i] = blur(x[i][None], sigma)[0]
        return inputs.to(self.device), x.to(self.device), hogs.to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> WDMT:
        c = self.config
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr,
                                     weight_decay=c.weight_decay, amsgrad=True)
        per_epoch = math.ceil(len(train) / c.batch_size)  # type: ignore[arg-type]
        steps = int(getattr(c, "steps", 0) or 0)
        total = steps if steps > 0 else c.epochs * per_epoch
        counter = {"step": 0}

        def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            k = counter["step"]
            for group in optimiser.param_groups:  # CosineAnnealingLR(T_max=total), per step
                group["lr"] = c.lr * 0.5 * (1 + math.cos(math.pi * k / max(total, 1)))
            counter["step"] = k + 1
            self.alpha = alpha_at(k + 1, c.delta, per_epoch)
            inputs, target, hogs = self.training_pair(tile(x, c.tiles))
            out = self.net(inputs, self.alpha)
            n = c.in_channels
            mse_image = F.mse_loss(out[:, :n], target)
            mse_hog = F.mse_loss(out[:, n:], hogs)
            return {"loss": mse_image + c.hog_weight * mse_hog, "mse_image": mse_image,
                    "mse_hog": mse_hog, "alpha": torch.tensor(self.alpha)}

        self.net.train()
        self.fit_batches(train, optimiser, loss_fn)
        self.fitted = True
        return self

    @torch.no_grad()
    def anomaly_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) ``|x - x_hat|`` averaged over channels, at the final alpha."""
        c = self.config
        tiles = tile(x, c.tiles)
        recon = self.net(tiles, self.alpha)[:, :c.in_channels]
        return untile((tiles - recon).abs(), c.tiles).mean(dim=1)

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        maps = self.score_batches(data, lambda x: {"map": self.anomaly_map(x)})["map"]
        return Scores.from_maps(np.asarray(maps), "mean")

    def extra_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.alpha = float(state.get("alpha", 1.0))
