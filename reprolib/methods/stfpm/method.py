"""Fit / score glue of STFPM (Wang et al., BMVC 2021; own implementation, see model.py).

Training (the paper's implementation details): SGD, lr 0.4, momentum 0.9, weight decay 1e-4,
batch 32, 100 epochs, 256 px. Only the student learns; the teacher stays frozen and in eval
mode. Score = max of the product map. The last epoch is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import check_batch, check_pretrained_input
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.stfpm.model import stfpm_anomaly_map, stfpm_loss
from reprolib.training import make_loader, run_epochs

RESNET_LAYERS = ("layer1", "layer2", "layer3", "layer4")


@dataclass
class STFPMConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    backbone: Literal["resnet18", "resnet50", "wide_resnet50_2"] = "resnet18"
    weights: Literal["imagenet", "random"] = "imagenet"
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
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs >= 0, batch_size >= 1 and lr > 0 expected, got "
                              f"{self.epochs}, {self.batch_size}, {self.lr}")


@register("stfpm")
class STFPM(AnomalyMethod):
    """Student-teacher feature pyramid matching: ImageNet teacher, same-shape random student."""

    Config = STFPMConfig
    config: STFPMConfig
    normalize = "imagenet"

    def __init__(self, config: STFPMConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        teacher, self.weights_used = load_backbone(c.backbone, c.weights)
        student, _ = load_backbone(c.backbone, "random")
        self.teacher = freeze(FeatureTaps(teacher, c.layers)).to(self.device)
        self.student = FeatureTaps(student, c.layers).to(self.device)

    def extra_state(self) -> dict[str, Any]:
        return {"weights_used": self.weights_used}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.weights_used = str(state.get("weights_used", self.weights_used))

    def fit(self, train: Dataset, val: Dataset | None = None) -> STFPM:
        c = self.config
        optimiser = torch.optim.SGD(self.student.parameters(), lr=c.lr, momentum=c.momentum,
                                    weight_decay=c.weight_decay)
        self.teacher.eval()
        self.student.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = check_batch(batch["image"], 3, c.img_size).to(self.device)
            with torch.no_grad():
                target = self.teacher(x)
            loss = stfpm_loss(target, self.student(x), c.layers)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            return {"loss": loss.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history)
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        maps = []
        c = self.config
        for batch in make_loader(data, c.batch_size, shuffle=False):
            x = check_batch(batch["image"], 3, c.img_size).to(self.device)
            amap = stfpm_anomaly_map(self.teacher(x), self.student(x), c.layers,
                                     tuple(x.shape[-2:]))
            maps.append(amap.cpu().numpy())
        pixel = np.concatenate(maps).astype(np.float32)
        return Scores(image=pixel.reshape(len(pixel), -1).max(axis=1), maps=pixel)
