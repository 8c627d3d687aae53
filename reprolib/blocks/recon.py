"""Small helpers shared by the reconstruction baselines (``ae``, ``vae``, ``conv_ae``,
``ganomaly``, ``f_anogan``, ``salad``): config range checks and pixel error maps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from reprolib.config import ConfigError

if TYPE_CHECKING:
    from reprolib.methods.base import Scores


def check_positive(config: Any, *keys: str, allow_zero: tuple[str, ...] = ()) -> None:
    """Raise :class:`ConfigError` naming the first key whose value is not > 0
    (or >= 0 for the keys in ``allow_zero``)."""
    for key in keys:
        value = getattr(config, key)
        if key in allow_zero:
            if value < 0:
                raise ConfigError(f"config key '{key}': expected >= 0, got {value}")
        elif value <= 0:
            raise ConfigError(f"config key '{key}': expected > 0, got {value}")


def check_halvings(img_size: int, widths: tuple[int, ...]) -> None:
    """Encoders that halve the image once per width need ``img_size`` a multiple of
    2**len(widths)."""
    if not widths or img_size % 2 ** len(widths) or img_size < 2 ** len(widths):
        raise ConfigError(f"config key 'img_size': expected a multiple of 2**len(widths) = "
                          f"{2 ** len(widths)}, got {img_size}")


def check_power_of_two(img_size: int, minimum: int = 16) -> None:
    """GAN stacks that halve down to 4x4 need a power-of-two image size."""
    if img_size < minimum or img_size & (img_size - 1):
        raise ConfigError(f"config key 'img_size': expected a power of two >= {minimum}, "
                          f"got {img_size}")


def error_map(x: torch.Tensor, x_hat: torch.Tensor,
              kind: Literal["squared", "abs"] = "squared") -> torch.Tensor:
    """Per-pixel reconstruction error (N, H, W), averaged over channels."""
    diff = x_hat - x
    return (diff ** 2 if kind == "squared" else diff.abs()).mean(dim=1)


def reconstruction_scores(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image of a batch: ``mse`` = mean squared error (the image score of ``pix2pix``,
    ``cyclegan``; a monotone function of ||x - x_hat||_F), ``l1`` = mean absolute error, and
    ``map`` = |x - x_hat| (N, H, W), channel mean."""
    diff = x_hat - x
    return {"mse": (diff ** 2).flatten(1).mean(dim=1), "l1": diff.abs().flatten(1).mean(dim=1),
            "map": error_map(x, x_hat, "abs")}


def reconstruction_result(out: dict[str, np.ndarray]) -> Scores:
    """``Scores`` from the concatenated outputs of :func:`reconstruction_scores`: image = mse,
    maps = |x - x_hat|, ``extra["l1"]``."""
    from reprolib.methods.base import Scores  # noqa: PLC0415 (blocks load before methods)

    return Scores(image=out["mse"], maps=out["map"].astype(np.float32),
                  extra={"l1": out["l1"]})


__all__ = ["check_halvings", "check_positive", "check_power_of_two", "error_map",
           "reconstruction_result", "reconstruction_scores"]
