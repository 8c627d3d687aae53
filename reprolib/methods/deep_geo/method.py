"""Fit / score glue of Deep-Geo, GEOM (Golan & El-Yaniv, "Deep Anomaly Detection Using Geometric
Transformations", NeurIPS 2018), a baseline of MDFSC's Table 1; see model.py for the 72
transformations, the Wide-ResNet and the Dirichlet score.

Training (§5.1, the authors' ``experiments.py``): a randomly initialised WRN learns to tell which
of the 72 transformations was applied to a training normal; cross-entropy, Adam (lr 1e-3), L2
2.5e-4 on every weight (Keras ``l2(2.5e-4)`` adds 2.5e-4 |w|^2 to the loss, i.e. torch Adam's
``weight_decay`` 5e-4), ceil(200 / 72) = 3 epochs, inputs in [-1, 1]. Every loader batch of
``batch_size`` images is expanded to all 72 transformations of each (``batch_size`` x 72
samples per optimiser step; the reference shuffles (image, transformation) pairs into batches of
128, so the default ``batch_size: 2`` gives 144 samples per step, about as many).

Score (§3, the reference's default): for each transformation t, a Dirichlet is fitted by
maximum likelihood (Minka's fixed point) to the training images' softmax vectors of
transformation t; normality = mean over t of sum_k (alpha_tk - 1) log p_k(T_t(x)). Image score
= minus that (higher = more anomalous). ``extra["simplified"]`` is the simplified score of §3
(commented out in the reference): 1 - mean_t p_t(T_t(x)). ``score: simplified`` makes it the
image score. The Dirichlet score is the default because it is what the authors' code reports.

Deviations: the reference's network is WRN-10-4 at 32 px and WRN-16-8 at 64 px (shift 8 and
16 px: a quarter of the side, ``shift_fraction: 0.25``); the default here is WRN-10-1 at every
size (a CPU budget: WRN-10-4 takes about 6x longer per image), ``depth``/``widen`` set the
paper's. The final average pool is 8x8 as in the
reference (global at 32 px; at larger sizes the flattened grid feeds the linear layer). Log
probabilities come from ``log_softmax`` in float64 (the reference takes ``log`` of a float32
softmax, -inf on underflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from reprolib.blocks.distill import check_batch
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.deep_geo.model import (
    N_TRANSFORMS,
    WideResNet,
    dirichlet_mle,
    dirichlet_normality,
    transform_all,
)
from reprolib.training import make_loader


@dataclass
class DeepGeoConfig(MethodConfig):
    """GEOM: WRN size, shift, training schedule and the score."""

    img_size: int = 64
    in_channels: int = 3
    depth: int = 10
    #: WRN width factor; the reference's is 4 at 32 px (WRN-16-8 at 64 px). Default 1: WRN-10-4
    #: costs 6x more per image, minutes on a CPU even for the smoke profile.
    widen: int = 1
    shift_fraction: float = 0.25
    epochs: int = 3
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 5e-4
    score: Literal["dirichlet", "simplified"] = "dirichlet"
    #: Transformed images per forward pass when scoring (memory only; results unchanged).
    score_batch_size: int = 576

    @property
    def shift(self) -> int:
        """Shift in pixels: ``shift_fraction`` of the side, rounded."""
        return int(round(self.shift_fraction * self.img_size))

    def validate(self) -> None:
        if self.img_size < 32 or self.img_size % 32:
            raise ConfigError(f"img_size: expected a positive multiple of 32, got {self.img_size}")
        if self.in_channels not in (1, 3):
            raise ConfigError(f"in_channels: expected 1 or 3, got {self.in_channels}")
        if self.depth < 10 or (self.depth - 4) % 6:
            raise ConfigError(f"depth: expected 6n + 4 with n >= 1 (10, 16, 22...), got "
                              f"{self.depth}")
        if self.widen < 1:
            raise ConfigError(f"widen: expected >= 1, got {self.widen}")
        if not 0.0 < self.shift_fraction < 0.5:
            raise ConfigError(f"shift_fraction: expected a value in (0, 0.5), got "
                              f"{self.shift_fraction}")
        if self.shift < 1:
            raise ConfigError(f"shift_fraction {self.shift_fraction} of img_size "
                              f"{self.img_size}: expected a shift of at least 1 pixel")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"epochs >= 0, batch_size >= 1, lr > 0, weight_decay >= 0 "
                              f"expected, got {self.epochs}, {self.batch_size}, {self.lr}, "
                              f"{self.weight_decay}")
        if self.score_batch_size < N_TRANSFORMS:
            raise ConfigError(f"score_batch_size: expected >= {N_TRANSFORMS}, got "
                              f"{self.score_batch_size}")


@register("deep_geo")
class DeepGeo(AnomalyMethod):
    """A WRN classifier of 72 geometric transformations; Dirichlet normality score."""

    Config = DeepGeoConfig
    config: DeepGeoConfig
    normalize: ClassVar[str] = "tanh"

    def __init__(self, config: DeepGeoConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = WideResNet(c.img_size, c.in_channels, c.depth, c.widen).to(self.device)
        self.weights_used = "random"
        self.alphas = torch.zeros(0)

    def batch_images(self, batch: dict[str, Any]) -> torch.Tensor:
        c = self.config
        return check_batch(batch["image"], c.in_channels, c.img_size).to(self.device)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy of the 72 transformations of every image of the batch."""
        logits = self.net(transform_all(x, self.config.shift))
        target = torch.arange(N_TRANSFORMS, device=x.device).repeat(len(x))
        logits_f = logits.float()
        loss = F.cross_entropy(logits_f, target)
        accuracy = (logits_f.argmax(dim=1) == target).float().mean()
        return {"loss": loss, "accuracy": accuracy.detach()}

    def fit(self, train: Dataset, val: Dataset | None = None) -> DeepGeo:
        c = self.config
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr,
                                     weight_decay=c.weight_decay)
        self.net.train()
        self.fit_batches(train, optimiser, self.loss)
        log_p = self.log_probabilities(train)  # (N, 72 transformations, 72 classes)
        self.alphas = torch.from_numpy(dirichlet_mle(log_p.transpose(1, 0, 2)))
        self.fitted = True
        return self

    @torch.no_grad()
    def log_probabilities(self, data: Dataset) -> np.ndarray:
        """(N, 72, 72) float64 log-softmax of the classifier on every transformation of every
        image: [n, t, k] = log p_k(T_t(x_n))."""
        self.eval_mode()
        per = max(1, self.config.score_batch_size // N_TRANSFORMS)
        parts = []
        for batch in make_loader(data, per, shuffle=False):
            x = self.batch_images(batch)
            logits = self.net(transform_all(x, self.config.shift)).double()
            parts.append(F.log_softmax(logits, dim=1).reshape(len(x), N_TRANSFORMS, -1).cpu())
        if not parts:
            raise ValueError("deep_geo: expected at least one image, got an empty dataset")
        return torch.cat(parts).numpy()

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        if not self.fitted:
            raise RuntimeError("deep_geo: call fit() (or load()) before score()")
        log_p = self.log_probabilities(data)
        alphas = self.alphas.numpy()
        normality = np.mean([dirichlet_normality(alphas[t], log_p[:, t])
                             for t in range(N_TRANSFORMS)], axis=0)
        diagonal = np.exp(np.diagonal(log_p, axis1=1, axis2=2))  # (N, 72): p_t(T_t(x))
        dirichlet, simplified = -normality, 1.0 - diagonal.mean(axis=1)
        if self.config.score == "simplified":
            return Scores(image=simplified, extra={"dirichlet": dirichlet})
        return Scores(image=dirichlet, extra={"simplified": simplified})

    def extra_state(self) -> dict[str, Any]:
        return {"alphas": self.alphas}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.alphas = state["alphas"]


__all__ = ["DeepGeo", "DeepGeoConfig"]
