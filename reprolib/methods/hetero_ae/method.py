"""Fit / score glue of Hetero-AE (Lu et al., TIP 2024) and its ablation variants.

Training (§III-D1): only the decoder learns (the encoder is frozen by default; §III-B leaves it
open, ``train_encoder`` trains it too) by the feature-comparison loss L_FC (Eqs. 4-5, alpha 0.7),
Adam (1e-4 in the paper). Scoring: anomaly map M = sum over the three stages of the resized
1 - cos(F_D^k, F_E^k) (Eqs. 6-7), image score = max of M (Eq. 8).

The ablations of Tables II-IV are switches of this one method: ``encoder`` (resnet18,
efficientnet_b0, efficientnet_lite0 (packaged ImageNet weights), swin_t, hybrid), ``branches``
(the decoder blocks of each hybrid module) and ``comparison`` (``feature`` as the paper, or
``pixel``: the decoder gets an image head and is trained by pixel MSE; map = per-pixel squared
error averaged over channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from reprolib.blocks.distill import check_schedule
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.hetero_ae.model import (
    BRANCH_KINDS,
    HeteroAENet,
    anomaly_map,
    feature_comparison_loss,
)
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class HeteroAEConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 3
    encoder: Literal["resnet18", "efficientnet_b0", "efficientnet_lite0", "swin_t",
                     "hybrid"] = "resnet18"
    weights: Literal["imagenet", "random"] = "imagenet"
    #: Stop at construction when the encoder's ImageNet weights are absent (``paper`` profiles).
    require_imagenet: bool = False
    train_encoder: bool = False
    branches: tuple[str, ...] = ("conv", "mstb")
    heads: tuple[int, int, int] = (2, 4, 8)  # stages 1, 2, 3 (§IV-B1)
    patch_sizes: tuple[int, int, int] = (8, 4, 2)  # p2 of stages 1, 2, 3; p1 = p2 / 2
    mlp_ratio: float = 4.0
    comparison: Literal["feature", "pixel"] = "feature"
    alpha: float = 0.7
    score_reduction: Literal["max", "mean"] = "max"
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-4

    def validate(self) -> None:
        if self.in_channels != 3:
            raise ConfigError(f"in_channels: the ImageNet encoders expect 3, got "
                              f"{self.in_channels}")
        if self.img_size % 32:
            raise ConfigError(f"img_size: expected a multiple of 32 (encoder stride), "
                              f"got {self.img_size}")
        bad = [b for b in self.branches if b not in BRANCH_KINDS]
        if not self.branches or bad:
            raise ConfigError(f"branches: expected a non-empty list of {list(BRANCH_KINDS)}, "
                              f"got {list(self.branches)}")
        for stage, p2 in zip((1, 2, 3), self.patch_sizes):
            side = self.img_size // 2 ** (stage + 2)  # the module runs at its input's size
            if p2 < 2 or p2 % 2 or side % p2:
                raise ConfigError(f"patch_sizes: p2 of stage {stage} must be even, >= 2 and "
                                  f"divide its {side}x{side} feature map (img_size "
                                  f"{self.img_size}), got {p2}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha: expected a value in [0, 1], got {self.alpha}")
        check_schedule(self.epochs, self.batch_size, self.lr)


class _FeatureSet(Dataset):
    """Precomputed frozen-encoder features (and, for pixel comparison, the images)."""

    def __init__(self, features: list[torch.Tensor], images: torch.Tensor | None) -> None:
        self.features, self.images = features, images

    def __len__(self) -> int:
        return len(self.features[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"features": [f[i] for f in self.features]}
        if self.images is not None:
            item["image"] = self.images[i]
        return item


@register("hetero_ae")
class HeteroAE(PretrainedMethod):
    """Heterogeneous auto-encoder: frozen CNN encoder, hybrid CNN-Transformer decoder."""

    Config = HeteroAEConfig
    config: HeteroAEConfig
    #: Frozen-encoder features of the training set are kept in memory up to this size.
    FEATURE_CACHE_BYTES: ClassVar[int] = 2 * 1024**3
    #: L_FC is bounded below by -alpha per stage (cos = 1, MSE = 0), so a relative fall of the raw
    #: (negative) loss says little; the rule watches ``loss_above_min`` = L_FC + 3 alpha >= 0.
    convergence_key = "loss_above_min"

    def __init__(self, config: HeteroAEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = HeteroAENet(c.img_size, c.encoder, c.weights, c.branches, c.heads,
                               c.patch_sizes, c.mlp_ratio,
                               pixel_head=c.comparison == "pixel",
                               require_imagenet=c.require_imagenet).to(self.device)
        self.weights_used = self.net.encoder.weights
        if not c.train_encoder:
            for param in self.net.encoder.parameters():
                param.requires_grad_(False)

    def _train_mode(self) -> None:
        self.net.train()
        if not self.config.train_encoder:
            self.net.encoder.eval()  # frozen: BatchNorm statistics stay ImageNet's

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_FC (Eqs. 4-5), or pixel MSE for ``comparison='pixel'``."""
        enc, dec, recon = self.net(x, encoder_grad=self.config.train_encoder)
        if recon is not None:
            return {"loss": F.mse_loss(recon, x)}
        return {"loss": feature_comparison_loss(enc, dec, self.config.alpha)}

    def decoder_loss(self, x: torch.Tensor, enc: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss from given encoder features [F_E^1..F_E^4] (frozen encoder)."""
        dec = self.net.decoder(enc[3])
        if self.net.head is not None:
            return {"loss": F.mse_loss(self.net.head(dec[0]), x)}
        return {"loss": feature_comparison_loss(enc[:3], dec, self.config.alpha)}

    @torch.no_grad()
    def _frozen_features(self, train: Dataset) -> _FeatureSet | None:
        """The frozen encoder's features of every training image, computed once (a frozen
        encoder in eval mode gives the same features every epoch), or None when they would take
        more than ``FEATURE_CACHE_BYTES``. Only a speed-up: batches and results are the same."""
        c = self.config
        if c.train_encoder:
            return None
        side = c.img_size // 4
        channels = self.net.encoder.channels
        per_image = sum(ch * (side // 2 ** k) ** 2 for k, ch in enumerate(channels))
        images = c.in_channels * c.img_size ** 2 if c.comparison == "pixel" else 0
        if len(train) * 4 * (per_image + images) > self.FEATURE_CACHE_BYTES:  # type: ignore[arg-type]
            return None
        self.net.encoder.eval()  # frozen: never update its BatchNorm statistics
        feats: list[list[torch.Tensor]] = [[], [], [], []]
        pixels: list[torch.Tensor] = []
        for batch in make_loader(train, c.batch_size, shuffle=False):
            x = batch["image"].to(self.device)
            for store, f in zip(feats, self.net.encoder(x)):
                store.append(f.cpu())
            if images:
                pixels.append(batch["image"])
        return _FeatureSet([torch.cat(f) for f in feats],
                           torch.cat(pixels) if pixels else None)

    def fit(self, train: Dataset, val: Dataset | None = None) -> HeteroAE:
        c = self.config
        params = [p for p in self.net.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=c.lr)
        self._train_mode()
        features = self._frozen_features(train)
        offset = 0.0 if c.comparison == "pixel" else 3 * c.alpha  # three compared stages

        def step(batch: dict) -> dict[str, torch.Tensor]:
            if "features" in batch:
                enc = [f.to(self.device) for f in batch["features"]]
                x = batch["image"].to(self.device) if "image" in batch else enc[0]
                losses = self.decoder_loss(x, enc)
            else:
                losses = self.loss(batch["image"].to(self.device))
            optimiser_step(optimiser, losses["loss"])
            terms = {k: v.detach() for k, v in losses.items()}
            terms["loss_above_min"] = terms["loss"] + offset
            return terms

        # same length and seed as the image loader, so the same shuffled batches
        source: Dataset = train if features is None else features
        loader = make_loader(source, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    @torch.no_grad()
    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly maps (B, H, W) at the input size: Eqs. 6-7, or squared pixel error."""
        enc, dec, recon = self.net(x)
        if recon is not None:
            return ((recon - x) ** 2).mean(dim=1)
        return anomaly_map(enc, dec, (x.shape[2], x.shape[3]))

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        chunks = []
        for batch in make_loader(data, self.config.batch_size, shuffle=False):
            chunks.append(self.maps(batch["image"].to(self.device)).cpu().numpy())
        maps = np.concatenate(chunks).astype(np.float32)
        peak = maps.reshape(len(maps), -1).max(axis=1)
        mean = maps.reshape(len(maps), -1).mean(axis=1)
        image = peak if self.config.score_reduction == "max" else mean
        # "feature_distance": mean multi-stage distance of an image (Fig. 6's boxplots)
        return Scores(image=image, maps=maps,
                      extra={"max": peak, "mean": mean, "feature_distance": mean})
