"""Tests of reprolib.blocks.feature_taps: tap names, shapes, truncation, pre-ReLU taps."""

from __future__ import annotations

import os

import pytest
import torch
import torchvision

from reprolib.blocks.feature_taps import FeatureTaps, freeze

os.environ.setdefault("REPROLIB_OFFLINE", "1")


def test_resnet18_taps_shapes_and_truncation() -> None:
    taps = FeatureTaps(torchvision.models.resnet18(weights=None),
                       ["layer1", "layer2", "layer3"]).eval()
    out = taps(torch.rand(2, 3, 64, 64))
    assert list(out) == ["layer1", "layer2", "layer3"]
    assert out["layer1"].shape == (2, 64, 16, 16)
    assert out["layer2"].shape == (2, 128, 8, 8)
    assert out["layer3"].shape == (2, 256, 4, 4)
    assert taps.step_names[-1] == "layer3"  # layer4 dropped
    assert not any(name.startswith("steps.5") for name, _ in taps.named_parameters())


def test_resnet_taps_equal_torchvision_forward() -> None:
    net = torchvision.models.resnet18(weights=None).eval()
    taps = FeatureTaps(net, ["layer4"]).eval()
    x = torch.rand(1, 3, 64, 64)
    ref = net.layer4(net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(
        net.conv1(x))))))))
    torch.testing.assert_close(taps(x)["layer4"], ref)


def test_vgg_aliases_and_pre_relu_tap_not_overwritten() -> None:
    net = torchvision.models.vgg16(weights=None).eval()
    taps = FeatureTaps(net, ["conv2_2", "pool2", "pool5"]).eval()
    out = taps(torch.rand(1, 3, 64, 64))
    assert out["pool2"].shape == (1, 128, 16, 16)
    assert out["pool5"].shape == (1, 512, 2, 2)
    assert out["conv2_2"].shape == (1, 128, 32, 32)
    assert out["conv2_2"].min() < 0  # the in-place ReLU after it did not clobber the tap


def test_unknown_tap_and_bad_backbone() -> None:
    with pytest.raises(ValueError, match="unknown tap 'layer9'"):
        FeatureTaps(torchvision.models.resnet18(weights=None), ["layer9"])
    with pytest.raises(ValueError, match="expected a ResNet-like module"):
        FeatureTaps(torch.nn.Linear(2, 2), ["x"])
    with pytest.raises(ValueError, match="non-empty list"):
        FeatureTaps(torchvision.models.resnet18(weights=None), "layer1")


def test_freeze() -> None:
    net = freeze(torchvision.models.resnet18(weights=None))
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
