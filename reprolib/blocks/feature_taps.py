"""Named intermediate features of a torchvision ResNet / WideResNet / VGG / EfficientNet.

Used by the knowledge-distillation baselines (STFPM, MKD, RD4AD) and Hetero-AE. A
:class:`FeatureTaps` wraps a backbone and returns ``{tap name: feature map}`` for the taps asked
for, running the network only as far as the deepest tap.

Tap names:

- ResNet family (``resnet18``, ``resnet50``, ``wide_resnet50_2``...): ``conv1`` (after conv1, BN,
  ReLU; stride 2), ``maxpool`` (stride 4), ``layer1`` (/4), ``layer2`` (/8), ``layer3`` (/16),
  ``layer4`` (/32).
- Anything with a ``features`` ``nn.Sequential`` (VGG, EfficientNet) or a bare ``nn.Sequential``:
  ``features.<i>`` (output of module ``i``); for VGG-style stacks also ``pool<k>`` (output of the
  k-th ``MaxPool2d``, k from 1) and ``conv<b>_<j>`` (output of the j-th convolution of block b,
  before its ReLU). A backbone may add its own aliases in a ``tap_aliases`` dict (the packaged
  EfficientNet-Lite0 names its stride-4/8/16/32 stage ends ``layer1``..``layer4``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

RESNET_TAPS: tuple[str, ...] = ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4")


def _resnet_steps(net: nn.Module) -> list[tuple[str, nn.Module]]:
    stem = nn.Sequential(net.conv1, net.bn1, net.relu)
    return [("conv1", stem), ("maxpool", net.maxpool), ("layer1", net.layer1),
            ("layer2", net.layer2), ("layer3", net.layer3), ("layer4", net.layer4)]


def _sequential_steps(seq: nn.Sequential) -> tuple[list[tuple[str, nn.Module]], dict[str, str]]:
    """Steps named ``features.<i>`` plus aliases ``pool<k>`` and ``conv<b>_<j>`` (VGG style)."""
    steps: list[tuple[str, nn.Module]] = []
    aliases: dict[str, str] = {}
    block, conv_in_block = 1, 0
    for i, module in enumerate(seq):
        name = f"features.{i}"
        steps.append((name, module))
        if isinstance(module, nn.MaxPool2d):
            aliases[f"pool{block}"] = name
            block, conv_in_block = block + 1, 0
        elif isinstance(module, nn.Conv2d):
            conv_in_block += 1
            aliases[f"conv{block}_{conv_in_block}"] = name
    return steps, aliases


class FeatureTaps(nn.Module):
    """Run ``backbone`` and return the named intermediate features in ``taps`` (a dict).

    ``backbone``: a torchvision ResNet-like module (``conv1``, ``bn1``, ``relu``, ``maxpool``,
    ``layer1``..``layer4``), a module with a ``features`` ``nn.Sequential``, or an
    ``nn.Sequential``. Modules after the deepest tap are dropped (their parameters too), so a
    teacher cut after ``layer3`` carries no ``layer4`` weights.
    """

    def __init__(self, backbone: nn.Module, taps: Sequence[str]) -> None:
        super().__init__()
        if isinstance(taps, str) or not taps:
            raise ValueError(f"taps: expected a non-empty list of tap names, got {taps!r}")
        if all(hasattr(backbone, a) for a in ("conv1", "bn1", "maxpool", "layer1", "layer4")):
            steps, aliases = _resnet_steps(backbone), {}
        elif isinstance(getattr(backbone, "features", None), nn.Sequential):
            steps, aliases = _sequential_steps(backbone.features)
            aliases.update(getattr(backbone, "tap_aliases", {}))
        elif isinstance(backbone, nn.Sequential):
            steps, aliases = _sequential_steps(backbone)
        else:
            raise ValueError("FeatureTaps: expected a ResNet-like module, a module with a "
                             "'features' Sequential or a Sequential, got "
                             f"{type(backbone).__name__}")
        order = [name for name, _ in steps]
        known = order + sorted(aliases)
        resolved: list[str] = []
        for tap in taps:
            name = aliases.get(tap, tap)
            if name not in order:
                raise ValueError(f"unknown tap '{tap}' for {type(backbone).__name__}; known: "
                                 f"{', '.join(known[:12])}{' ...' if len(known) > 12 else ''}")
            resolved.append(name)
        last = max(order.index(name) for name in resolved)
        self.taps = list(taps)
        self._resolved = dict(zip(taps, resolved))
        self.step_names = order[: last + 1]
        self.steps = nn.ModuleList(module for _, module in steps[: last + 1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = set(self._resolved.values())
        out: dict[str, torch.Tensor] = {}
        for i, (name, module) in enumerate(zip(self.step_names, self.steps)):
            x = module(x)
            if name in wanted:
                following = self.steps[i + 1] if i + 1 < len(self.steps) else None
                # an in-place activation next (VGG's ReLU) would overwrite a pre-ReLU tap
                out[name] = x.clone() if getattr(following, "inplace", False) else x
        return {tap: out[name] for tap, name in self._resolved.items()}


def freeze(module: nn.Module) -> nn.Module:
    """Freeze a teacher: no gradients and eval mode (BatchNorm statistics fixed). Returns it.

    A frozen module's ``train()`` still flips BatchNorm back to training mode, so callers put
    their trainable parts in train mode one by one, never the whole method.
    """
    for param in module.parameters():
        param.requires_grad_(False)
    return module.eval()


__all__ = ["RESNET_TAPS", "FeatureTaps", "freeze"]
