"""Shared helpers of the reconstruction-baseline tests (ae, vae, ganomaly, f_anogan, salad):
a tiny labelled dataset and checks that scoring leaves BatchNorm statistics untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from reprolib.methods.base import AnomalyMethod, Scores


class SquaresSet(Dataset):
    """``n`` flat noisy images in [-0.2, 0.2] (tanh range) or [0.4, 0.6] (unit range); the last
    ``anomalous`` carry a bright square with its mask."""

    def __init__(self, n: int = 8, size: int = 32, channels: int = 1, anomalous: int = 2,
                 unit: bool = True, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        low = 0.4 if unit else -0.2
        self.images = torch.rand(n, channels, size, size, generator=gen) * 0.2 + low
        self.masks = torch.zeros(n, 1, size, size)
        q = size // 4
        for i in range(n - anomalous, n):
            self.images[i, :, q:2 * q, q:2 * q] = 1.0
            self.masks[i, :, q:2 * q, q:2 * q] = 1.0
        self.labels = np.array([0] * (n - anomalous) + [1] * anomalous)
        self.fingerprint = {"name": "squares", "n": n, "size": size, "channels": channels,
                            "anomalous": anomalous, "unit": unit, "seed": seed}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": int(self.labels[i]), "mask": self.masks[i],
                "has_mask": True, "sublabel": "", "id": f"sq{i}"}


def batchnorm_state(method: AnomalyMethod) -> dict[str, torch.Tensor]:
    """Copies of every BatchNorm running statistic of every module of ``method``."""
    state = {}
    for name, module in method.modules().items():
        for sub_name, sub in module.named_modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                for key in ("running_mean", "running_var", "num_batches_tracked"):
                    state[f"{name}.{sub_name}.{key}"] = getattr(sub, key).clone()
    return state


def assert_scoring_is_eval_mode(method: AnomalyMethod, data: Dataset) -> Scores:
    """Score twice: BatchNorm statistics unchanged, both results identical, nets in eval."""
    before = batchnorm_state(method)
    assert before, "expected the method to contain BatchNorm layers"
    for module in method.modules().values():
        module.train()  # scoring must switch to eval mode itself
    first = method.score(data)
    second = method.score(data)
    after = batchnorm_state(method)
    for key, value in before.items():
        assert torch.equal(value, after[key]), f"score() changed BatchNorm statistic {key}"
    np.testing.assert_array_equal(first.image, second.image)
    assert all(not m.training for m in method.modules().values())
    return first


def check_scores(scores: Scores, n: int, size: int) -> None:
    """Image scores (N,) finite; maps (N, size, size) finite and non-negative."""
    assert scores.image.shape == (n,)
    assert np.isfinite(scores.image).all()
    assert scores.maps is not None and scores.maps.shape == (n, size, size)
    assert np.isfinite(scores.maps).all() and (scores.maps >= 0).all()
    for name, values in scores.extra.items():
        assert values.shape == (n,), name
        assert np.isfinite(values).all(), name


def check_save_load(method: AnomalyMethod, data: Dataset, tmp_path: Path) -> None:
    """A saved and re-loaded method scores exactly as the original."""
    path = method.save(tmp_path / f"{method.name}.pt")
    clone = type(method)(method.config, seed=method.seed + 1, device="cpu").load(path)
    np.testing.assert_array_equal(method.score(data).image, clone.score(data).image)
    assert clone.history == method.history
