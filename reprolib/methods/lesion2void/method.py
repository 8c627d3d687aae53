"""Fit / score glue of Lesion2Void (Huang et al., ISBI 2022), ReSynthDetect's Table 1
baseline. Our module, written from the official code's facts (REFERENCE_NOTES "Lesion2Void").

Training (``train.py``): each step masks the batch with one random lattice phase (16-px squares
on a 48-px lattice at 224 px, i.e. 1/9 of the pixels, replaced by U(-1, 1) noise); the U-Net
restores the image; loss = L1 on the masked pixels (``L1(G(x~) m, x m)``, mean over all pixels)
+ 0.1 x LSGAN adversarial; the PatchGAN discriminator steps first on (x real, G(x~) fake), loss
halved; two Adams (lr 1e-3, weight decay 5e-4), batch 32, 50 epochs. With ``val`` normals the
epoch of lowest masked L1 on them is kept (the official ``best_validation_weights.pt``).

Scoring (``inference/inference.py``): residual ``|x - G(x~)| m`` averaged over the lattice
phases that are multiples of ``patch / 2`` in both axes (36 passes at 224 px; 6 phases per axis
at ``round(k grid / 6)`` at other sizes); map = that
residual on channel ``eval_channel`` (green, as the official evaluation; channel 0 for
grayscale); image score = :func:`component_score` (Otsu + connected components ranked 30-99);
``extra`` holds both image scores, ``components`` and ``mean_residual`` (the map's mean;
``image_score`` picks the main one).

Deviations: no field-of-view masks (the phantoms have none; the loss covers the whole image,
the disc of the score stands in); the lattice scales with the image side (48 and 16 px at
224 px); inputs in [-1, 1] (``normalize="tanh"``) instead of the dataset's mean/std, so the
U(-1, 1) noise spans the data range; no Ben-Graham preprocessing (the data's own CLAHE option
is the repository's preprocessing); no flips.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from reprolib.blocks.distill import check_batch
from reprolib.blocks.recon import check_positive
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.lesion2void.model import (
    PatchDiscriminator,
    UNet,
    component_score,
    fov_disc,
    grid_mask,
    mask_images,
)
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class Lesion2VoidConfig(MethodConfig):
    img_size: int = 224
    in_channels: int = 3
    base: int = 64
    ndf: int = 64
    d_layers: int = 3
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 5e-4
    adv_weight: float = 0.1
    #: lattice pitch and square side in pixels at 224 px (scaled with img_size)
    grid: int = 48
    patch: int = 16
    #: lattice phases per axis at inference (6 x 6 = the official 36 passes)
    infer_phases: int = 6
    eval_channel: int = 1
    fov_circle: bool = True
    drop_largest: int = 30
    keep_until: int = 100
    select_on_val: bool = True
    #: ``components``: the official image score; ``mean_residual``: the map's mean (for images
    #: too small or too clean to hold more than ``drop_largest`` components)
    image_score: Literal["components", "mean_residual"] = "components"

    def validate(self) -> None:
        check_positive(self, "img_size", "in_channels", "base", "ndf", "d_layers", "epochs",
                       "batch_size", "lr", "grid", "patch", "infer_phases", allow_zero=("epochs",))
        check_positive(self, "weight_decay", "adv_weight", "drop_largest",
                       allow_zero=("weight_decay", "adv_weight", "drop_largest"))
        if self.img_size % 16:
            raise ConfigError(f"img_size: expected a multiple of 16 (4 max-pools), got "
                              f"{self.img_size}")
        if self.patch >= self.grid:
            raise ConfigError(f"patch ({self.patch}) must be smaller than grid ({self.grid})")
        if self.keep_until <= self.drop_largest:
            raise ConfigError(f"keep_until ({self.keep_until}) must exceed drop_largest "
                              f"({self.drop_largest})")


def lattice(config: Lesion2VoidConfig) -> tuple[int, int, list[int]]:
    """(grid, patch, inference phases per axis) in pixels at ``config.img_size``: the phases
    ``round(k grid / infer_phases)``, k < infer_phases (at 224 px: 0, 8, ..., 40, the official
    multiples of patch / 2)."""
    scale = config.img_size / 224
    patch = max(1, round(config.patch * scale))
    grid = max(patch + 1, round(config.grid * scale))
    n = min(config.infer_phases, grid)
    return grid, patch, sorted({round(k * grid / n) for k in range(n)})


@register("lesion2void")
class Lesion2Void(AnomalyMethod):
    """Masked-patch (blind-spot) reconstruction with a PatchGAN critic."""

    Config = Lesion2VoidConfig
    config: Lesion2VoidConfig
    normalize: ClassVar[str] = "tanh"
    convergence_key: ClassVar[str | None] = "l1"

    def __init__(self, config: Lesion2VoidConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = UNet(c.in_channels, c.in_channels, c.base).to(self.device)
        self.disc = PatchDiscriminator(c.in_channels, c.ndf, c.d_layers).to(self.device)
        self.generator = torch.Generator().manual_seed(seed)

    def batch_images(self, batch: dict[str, Any]) -> torch.Tensor:
        c = self.config
        return check_batch(batch["image"], c.in_channels, c.img_size).to(self.device)

    def random_mask(self) -> torch.Tensor:
        """The mask of one random lattice phase (training)."""
        grid, patch, _ = lattice(self.config)
        py, px = torch.randint(0, grid, (2,), generator=self.generator).tolist()
        return grid_mask(self.config.img_size, grid, patch, py, px)

    def step(self, x: torch.Tensor, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """One discriminator step, then one generator step (the official order)."""
        mask = self.random_mask().to(self.device)
        recon = self.net(mask_images(x, mask, self.generator))
        real, fake = self.disc(x), self.disc(recon.detach())
        d_loss = (F.mse_loss(real, torch.ones_like(real))
                  + F.mse_loss(fake, torch.zeros_like(fake))) / 2
        optimiser_step(opt_d, d_loss)
        pred = self.disc(recon)
        adv = F.mse_loss(pred, torch.ones_like(pred))
        l1 = F.l1_loss(recon * mask, x * mask)
        loss = l1 + self.config.adv_weight * adv
        optimiser_step(opt_g, loss)
        return {"loss": loss.detach(), "l1": l1.detach(), "adv": adv.detach(),
                "d_loss": d_loss.detach()}

    @torch.no_grad()
    def val_l1(self, val: Dataset) -> float:
        """Masked L1 on held-out normals with seeded phases (the official checkpoint rule)."""
        self.net.eval()
        gen = torch.Generator().manual_seed(self.seed)
        grid, patch, _ = lattice(self.config)
        total, count = 0.0, 0
        for batch in make_loader(val, self.config.batch_size, shuffle=False):
            x = self.batch_images(batch)
            py, px = torch.randint(0, grid, (2,), generator=gen).tolist()
            mask = grid_mask(self.config.img_size, grid, patch, py, px).to(self.device)
            total += float(F.l1_loss(self.net(mask_images(x, mask, gen)) * mask, x * mask))
            count += 1
        self.net.train()
        return total / max(count, 1)

    def fit(self, train: Dataset, val: Dataset | None = None) -> Lesion2Void:
        c = self.config
        opt_g = torch.optim.Adam(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        opt_d = torch.optim.Adam(self.disc.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.net.train()
        self.disc.train()
        best: dict[str, Any] = {"l1": float("inf"), "state": None}
        select = c.select_on_val and val is not None and len(val) > 0  # type: ignore[arg-type]

        def on_epoch_end(epoch: int, means: dict[str, float]) -> None:
            if not select:
                return
            score = self.val_l1(val)  # type: ignore[arg-type]
            self.history[-1]["val_l1"] = score
            if score < best["l1"]:
                best.update(l1=score, epoch=epoch,
                            state=copy.deepcopy(self.net.state_dict()))

        budget = {"steps": c.steps} if getattr(c, "steps", 0) else {}
        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(lambda batch: self.step(self.batch_images(batch), opt_g, opt_d), loader,
                   c.epochs, desc=self.name, history=self.history, on_epoch_end=on_epoch_end,
                   **budget)
        if best["state"] is not None:
            self.net.load_state_dict(best["state"])
            self.selected_epoch = int(best["epoch"])
        self.fitted = True
        return self

    @torch.no_grad()
    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) residual ``|x - G(x~)| m`` averaged over the inference phases."""
        grid, patch, phases = lattice(self.config)
        gen = torch.Generator().manual_seed(self.seed)
        parts = []
        for py in phases:
            for px in phases:
                mask = grid_mask(self.config.img_size, grid, patch, py, px).to(self.device)
                parts.append((x - self.net(mask_images(x, mask, gen))).abs() * mask)
        return torch.stack(parts).mean(dim=0)

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        c = self.config
        channel = min(c.eval_channel, c.in_channels - 1)
        maps = self.score_batches(data, lambda x: {"map": self.residual(x)[:, channel]})["map"]
        disc = fov_disc(c.img_size) if c.fov_circle else None
        components = np.array([component_score(m, disc, c.drop_largest, c.keep_until)
                               for m in maps])
        mean = maps.reshape(len(maps), -1).mean(axis=1)
        image = components if c.image_score == "components" else mean
        return Scores(image=image, maps=maps,
                      extra={"components": components, "mean_residual": mean})

    def extra_state(self) -> dict[str, Any]:
        return {"selected_epoch": getattr(self, "selected_epoch", 0)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.selected_epoch = int(state.get("selected_epoch", 0))
