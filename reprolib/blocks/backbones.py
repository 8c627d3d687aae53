"""Pretrained backbones through torchvision's weight API, never failing for lack of weights.

A machine with internet or a filled torch cache gets ImageNet weights; one without (like the CI
machine) gets the same architecture randomly initialised, with a warning. Every caller records
the returned ``weights`` string in its results rows (REFERENCE_NOTES: "record weights").
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch
import torchvision
from torch import nn

#: torchvision constructor and weight enum member per backbone name.
_BACKBONES: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "resnet18": (torchvision.models.resnet18, "ResNet18_Weights.IMAGENET1K_V1"),
    "resnet50": (torchvision.models.resnet50, "ResNet50_Weights.IMAGENET1K_V1"),
    "wide_resnet50_2": (torchvision.models.wide_resnet50_2,
                        "Wide_ResNet50_2_Weights.IMAGENET1K_V1"),
    "vgg16": (torchvision.models.vgg16, "VGG16_Weights.IMAGENET1K_V1"),
    "vgg16_bn": (torchvision.models.vgg16_bn, "VGG16_BN_Weights.IMAGENET1K_V1"),
    "efficientnet_b0": (torchvision.models.efficientnet_b0,
                        "EfficientNet_B0_Weights.IMAGENET1K_V1"),
    "inception_v3": (torchvision.models.inception_v3, "Inception_V3_Weights.IMAGENET1K_V1"),
    "swin_t": (torchvision.models.swin_t, "Swin_T_Weights.IMAGENET1K_V1"),
}


def available_backbones() -> list[str]:
    return sorted(_BACKBONES)


def _weights_enum(spec: str) -> torchvision.models.WeightsEnum:
    enum_name, member = spec.split(".")
    return getattr(getattr(torchvision.models, enum_name), member)


def load_backbone(name: str, weights: str = "imagenet", **kwargs: object) -> tuple[nn.Module, str]:
    """Build backbone ``name``; return it and a string saying which weights it holds.

    ``weights``: ``"imagenet"`` (try torchvision's ImageNet weights; fall back to random init,
    returning ``"random (imagenet unavailable)"``) or ``"random"``. Setting
    ``REPROLIB_OFFLINE=1`` skips the download attempt (used by the tests).
    """
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; known: {available_backbones()}")
    if weights not in ("imagenet", "random"):
        raise ValueError(f"weights: expected 'imagenet' or 'random', got {weights!r}")
    build, spec = _BACKBONES[name]
    if weights == "random":
        return build(weights=None, **kwargs), "random"
    enum = _weights_enum(spec)
    offline = os.environ.get("REPROLIB_OFFLINE", "0") == "1"
    cached = os.path.exists(os.path.join(torch.hub.get_dir(), "checkpoints",
                                         os.path.basename(enum.url)))
    if offline and not cached:
        warnings.warn(f"{name}: ImageNet weights not in the torch cache and REPROLIB_OFFLINE=1; "
                      "using random initialisation", stacklevel=2)
        return build(weights=None, **kwargs), "random (imagenet unavailable)"
    try:
        return build(weights=enum, **kwargs), f"imagenet ({spec})"
    except Exception as err:  # no internet, no cache, corrupt file: never fail the run
        warnings.warn(f"{name}: could not load ImageNet weights ({type(err).__name__}: "
                      f"{str(err)[:120]}); using random initialisation", stacklevel=2)
        return build(weights=None, **kwargs), "random (imagenet unavailable)"
