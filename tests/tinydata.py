"""A tiny in-memory dataset with the item dict of docs/contracts.md, for method unit tests.

Import it as ``from tinydata import TinyDataset`` (``tests/`` is on the test path).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class TinyDataset(Dataset):
    """In-memory dataset with the item dict of docs/contracts.md (for method unit tests)."""

    def __init__(self, n: int = 8, channels: int = 1, size: int = 32, anomalous: int = 0,
                 seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, channels, size, size, generator=gen) * 0.2 + 0.4
        self.labels = np.array([0] * (n - anomalous) + [1] * anomalous)
        self.masks = torch.zeros(n, 1, size, size)
        for i in range(n - anomalous, n):
            self.images[i, :, 4:12, 4:12] = 1.0
            self.masks[i, :, 4:12, 4:12] = 1.0
        self.ids = [f"img{i}" for i in range(n)]
        self.sublabels = [""] * n
        self.has_masks = anomalous > 0
        self.channels, self.img_size, self.name = channels, size, "tiny"
        self.fingerprint = {"name": "tiny", "n": n, "channels": channels, "size": size,
                            "anomalous": anomalous, "seed": seed}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": int(self.labels[i]), "mask": self.masks[i],
                "has_mask": self.has_masks, "sublabel": "", "id": self.ids[i]}
