"""Shared helpers of the distillation-baseline tests (stfpm, mkd, rd4ad): a tiny RGB dataset."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class RGBSet(Dataset):
    """Tiny in-test dataset with the item dict of docs/contracts.md (3 channels)."""

    def __init__(self, n: int = 6, size: int = 64, anomalous: int = 0, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, size, size, generator=gen) * 0.1
        self.labels = np.array([0] * (n - anomalous) + [1] * anomalous)
        self.images[n - anomalous:, :, 8:24, 8:24] = 2.0
        self.fingerprint = {"name": "rgb-tiny", "n": n, "size": size, "seed": seed}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": int(self.labels[i]),
                "mask": torch.zeros(1, *self.images.shape[-2:]), "has_mask": False,
                "sublabel": "", "id": f"img{i}"}
