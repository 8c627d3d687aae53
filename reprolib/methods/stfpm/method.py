"""Fit / score glue of STFPM (Wang et al., BMVC 2021; own implementation, see model.py).

Training (the paper's implementation details): SGD, lr 0.4, momentum 0.9, weight decay 1e-4,
batch 32, 100 epochs, 256 px. Only the student learns; the teacher stays frozen and in eval
mode. Score = max of the product map. The last epoch is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import check_pretrained_input, check_schedule
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.stfpm.model import stfpm_anomaly_map, stfpm_loss

RESNET_LAYERS = ("layer1", "layer2", "layer3", "layer4")


@dataclass
class STFPMConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    #: ``efficientnet_lite0``: the packaged ImageNet weights (a recorded variant, issue 9); its
    #: ``layer1``..``layer4`` are the stride-4/8/16/32 stage ends.
    backbone: Literal["resnet18", "resnet50", "wide_resnet50_2",
                      "efficientnet_lite0"] = "resnet18"
    weights: Literal["imagenet", "random"] = "imagenet"
    #: Stop at construction when the ImageNet weights are absent (``paper`` profiles).
    require_imagenet: bool = False
    layers: tuple[str, ...] = ("layer1", "layer2", "layer3")
    epochs: int = 100
    batch_size: int = 32
    lr: float = 0.4
    momentum: float = 0.9
    weight_decay: float = 1e-4

    def validate(self) -> None:
        check_pretrained_input(self.img_size, self.in_channels, 32)
        bad = [name for name in self.layers if name not in RESNET_LAYERS]
        if not self.layers or bad:
            raise ConfigError(f"layers: expected a non-empty subset of {list(RESNET_LAYERS)}, "
                              f"got {list(self.layers)}")
        check_schedule(self.epochs, self.batch_size, self.lr)


@register("stfpm")
class STFPM(PretrainedMethod):
    """Student-teacher feature pyramid matching: ImageNet teacher, same-shape random student."""

    Config = STFPMConfig
    config: STFPMConfig

    def __init__(self, config: STFPMConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        teacher, self.weights_used = load_backbone(c.backbone, c.weights,
                                                   required=c.require_imagenet)
        student, _ = load_backbone(c.backbone, "random")
        self.teacher = freeze(FeatureTaps(teacher, c.layers)).to(self.device)
        self.student = FeatureTaps(student, c.layers).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> STFPM:
        c = self.config
        optimiser = torch.optim.SGD(self.student.parameters(), lr=c.lr, momentum=c.momentum,
                                    weight_decay=c.weight_decay)
        self.teacher.eval()
        self.student.train()

        def loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                target = self.teacher(x)
            return {"loss": stfpm_loss(target, self.student(x), c.layers)}

        self.fit_batches(train, optimiser, loss)
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        c = self.config
        out = self.score_batches(data, lambda x: {"map": stfpm_anomaly_map(
            self.teacher(x), self.student(x), c.layers, tuple(x.shape[-2:]))})
        return Scores.from_maps(out["map"], "max")
