"""The face every method shares (DESIGN §5): typed config, ``fit``, ``score``, save/load.

Methods are plain torch modules (``model.py``) with this glue beside them (``method.py``), the
model / lightning-module split of anomalib without Lightning.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from reprolib.blocks.distill import check_batch
from reprolib.config import MethodConfig, build_config
from reprolib.training import (
    make_loader,
    optimiser_step,
    resolve_device,
    run_epochs,
    seed_everything,
)


@dataclasses.dataclass
class Scores:
    """What ``score`` returns for N images.

    ``image``: (N,) anomaly scores, higher = more anomalous. ``maps``: (N, H, W) float32 pixel
    anomaly maps at the input size, or None. ``extra``: named alternative scores of length N
    (e.g. AnoGAN's ``residual`` and ``discrimination``) or named extra maps.
    """

    image: np.ndarray
    maps: np.ndarray | None = None
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image, dtype=np.float64).reshape(-1)
        if self.maps is not None:
            self.maps = np.asarray(self.maps, dtype=np.float32)
            if self.maps.ndim != 3 or len(self.maps) != len(self.image):
                raise ValueError(f"Scores.maps: expected shape (N={len(self.image)}, H, W), "
                                 f"got {self.maps.shape}")

    @classmethod
    def from_maps(cls, maps: np.ndarray, reduce: Literal["mean", "max"] = "mean",
                  extra: dict[str, np.ndarray] | None = None) -> Scores:
        """Image score = the mean or the maximum of each (float32) pixel map."""
        maps = np.asarray(maps).astype(np.float32)
        image = (maps.mean(axis=(1, 2)) if reduce == "mean"
                 else maps.reshape(len(maps), -1).max(axis=1))
        return cls(image=image, maps=maps, extra=extra or {})


class AnomalyMethod(ABC):
    """Base class: subclasses set ``Config`` and ``name`` and build their nets in ``__init__``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    #: Input normalisation the method expects: "unit" [0,1], "tanh" [-1,1] or "imagenet".
    normalize: ClassVar[str] = "unit"
    #: The ``history`` term the convergence rule watches (``reprolib.convergence``); None: the
    #: ``loss`` term, else the first one recorded. Set where that term is not the one to watch.
    convergence_key: ClassVar[str | None] = None

    def __init__(self, config: MethodConfig | dict[str, Any] | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        self.config = build_config(self.Config, config)
        self.seed = seed
        self.device = resolve_device(device)
        self.history: list[dict[str, float]] = []
        self.fitted = False
        self.fit_seconds = float("nan")  # set by reprolib.cache.fit_or_load
        self.cache_path: Path | None = None
        self.from_cache = False
        #: Which pretrained weights the method's backbones hold ("none", "random",
        #: "imagenet (...)", "random (imagenet unavailable)"); part of the model-cache key.
        self.weights_used = "none"
        seed_everything(seed)

    # --- the interface -------------------------------------------------------------------
    @abstractmethod
    def fit(self, train: Dataset, val: Dataset | None = None) -> AnomalyMethod:
        """Train on normal images only; ``val`` holds held-out normals (never test labels)."""

    @abstractmethod
    def score(self, data: Dataset) -> Scores:
        """Score every image of ``data`` (nets in eval mode, no gradients)."""

    def data_spec(self) -> dict[str, Any]:
        """How ``reprolib.data.get_dataset`` must load images for this method: image size,
        channels and normalisation (read from the config's ``img_size`` / ``in_channels``)."""
        return {"img_size": int(getattr(self.config, "img_size", 256)),
                "channels": getattr(self.config, "in_channels", None),
                "normalize": self.normalize}

    # --- persistence ---------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Every ``nn.Module`` attribute, by attribute name."""
        return {k: v for k, v in vars(self).items() if isinstance(v, nn.Module)}

    def extra_state(self) -> dict[str, Any]:
        """Non-module state to save (tensors, numbers, strings, lists, dicts only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned (nothing by default)."""
        del state

    def state_dict(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "config": self.config.to_dict(),
            "seed": self.seed,
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "extra": self.extra_state(),
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("method") != self.name:
            raise ValueError(f"checkpoint is for method '{state.get('method')}', "
                             f"not '{self.name}'")
        modules = self.modules()
        missing = sorted(set(modules) - set(state["modules"]))
        if missing:
            raise ValueError(f"checkpoint of '{self.name}' lacks modules {missing}")
        for key, module in modules.items():
            module.load_state_dict(state["modules"][key])
            module.to(self.device)
        self.load_extra_state(state.get("extra", {}))
        self.history = list(state.get("history", []))
        self.fitted = True

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save atomically (write aside, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load(self, path: str | os.PathLike[str]) -> AnomalyMethod:
        state = torch.load(Path(path), map_location=self.device, weights_only=True)
        self.load_state_dict(state)
        return self

    # --- helpers for subclasses ----------------------------------------------------------
    def eval_mode(self) -> None:
        """Put every module in eval mode (BatchNorm statistics frozen) before scoring."""
        for module in self.modules().values():
            module.eval()

    def batch_images(self, batch: dict[str, Any]) -> torch.Tensor:
        """The images of a loader batch, on the method's device."""
        return batch["image"].to(self.device)

    def fit_batches(self, train: Dataset, optimiser: torch.optim.Optimizer,
                    loss_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]], *,
                    key: str = "loss") -> None:
        """The single-optimiser training loop: for every batch ``x`` (shuffled with the
        method's seed, ``config.epochs`` epochs, or exactly ``config.steps`` steps when that is
        positive) one ``optimiser`` step on ``loss_fn(x)[key]``; every term ``loss_fn`` returns
        is logged per epoch in ``history`` with the cumulative ``steps``."""
        def step(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            terms = loss_fn(self.batch_images(batch))
            optimiser_step(optimiser, terms[key])
            return {name: value.detach() for name, value in terms.items()}

        c: Any = self.config
        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)

    def score_batches(self, data: Dataset,
                      fn: Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
                      ) -> dict[str, np.ndarray]:
        """The scoring loop: eval mode, then ``fn(x)`` for every batch ``x`` of ``data`` in order
        (``config.batch_size``); each named output is concatenated over the batches."""
        self.eval_mode()
        parts: dict[str, list[np.ndarray]] = {}
        c: Any = self.config
        for batch in make_loader(data, c.batch_size, shuffle=False):
            for name, value in fn(self.batch_images(batch)).items():
                parts.setdefault(name, []).append(value.cpu().numpy())
        return {name: np.concatenate(values) for name, values in parts.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class PretrainedMethod(AnomalyMethod):
    """Base of the methods on ImageNet backbones (STFPM, MKD, RD4AD, Hetero-AE): ImageNet input
    normalisation, batches checked to be 3-channel ``img_size`` images, and ``weights_used``
    saved with the model."""

    normalize: ClassVar[str] = "imagenet"

    def batch_images(self, batch: dict[str, Any]) -> torch.Tensor:
        """The images of a loader batch, shape-checked, on the method's device."""
        c: Any = self.config
        return check_batch(batch["image"], 3, c.img_size).to(self.device)

    def extra_state(self) -> dict[str, Any]:
        return {"weights_used": self.weights_used}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.weights_used = str(state.get("weights_used", self.weights_used))
