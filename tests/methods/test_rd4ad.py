"""Tests of the RD4AD baseline: encoder / decoder stage shapes (WideResNet-50 and ResNet-18),
loss and map against hand computation, frozen encoder, eval-mode scoring, one-epoch fit + score
at 64 px, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.rd4ad.model import rd4ad_anomaly_map, rd4ad_loss

# offline: no download attempts, the backbone falls back to random init, recorded as such
pytestmark = [pytest.mark.filterwarnings("ignore:.*ImageNet weights.*"),
              pytest.mark.usefixtures("offline")]


SMALL = {"img_size": 64, "epochs": 1, "batch_size": 4, "backbone": "resnet18"}


@pytest.mark.parametrize(("backbone", "widths"), [("wide_resnet50_2", (256, 512, 1024, 2048)),
                                                   ("resnet18", (64, 128, 256, 512))])
def test_stage_shapes(backbone: str, widths: tuple[int, ...]) -> None:
    method = create_method("rd4ad", {"img_size": 64, "backbone": backbone}, device="cpu")
    method.eval_mode()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        encoded = list(method.encoder(x).values())
        embedding = method.bottleneck(encoded)
        decoded = method.decoder(embedding)
    expected = [(2, widths[0], 16, 16), (2, widths[1], 8, 8), (2, widths[2], 4, 4)]
    assert [tuple(t.shape) for t in encoded] == expected
    assert tuple(embedding.shape) == (2, widths[3], 2, 2)  # layer4-like one-class embedding
    assert [tuple(t.shape) for t in decoded] == expected


def test_loss_and_map_against_hand_computation() -> None:
    # stage 1: sample flattened (1,0) vs (0,1): 1 - cos = 1; stage 2: (1,1) vs (2,2): 0;
    # stage 3: (1,0) vs (1,1): 1 - 1/sqrt(2). Loss = 2 - 1/sqrt(2).
    enc = [torch.tensor([[[[1.0]], [[0.0]]]]), torch.tensor([[[[1.0]], [[1.0]]]]),
           torch.tensor([[[[1.0]], [[0.0]]]])]
    dec = [torch.tensor([[[[0.0]], [[1.0]]]]), torch.tensor([[[[2.0]], [[2.0]]]]),
           torch.tensor([[[[1.0]], [[1.0]]]])]
    expected = 2.0 - 2 ** -0.5
    torch.testing.assert_close(rd4ad_loss(enc, dec), torch.tensor(expected))
    # per-pixel form, two pixels: (1,0) vs (0,1) -> 1 and (1,1) vs (1,1) -> 0: mean 0.5
    enc2 = [torch.tensor([[[[1.0, 1.0]], [[0.0, 1.0]]]])]
    dec2 = [torch.tensor([[[[0.0, 1.0]], [[1.0, 1.0]]]])]
    torch.testing.assert_close(rd4ad_loss(enc2, dec2, form="per_pixel"), torch.tensor(0.5))
    # flattened: (1,1,0,1) . (0,1,1,1) = 2, norms sqrt(3): 1 - 2/3
    torch.testing.assert_close(rd4ad_loss(enc2, dec2), torch.tensor(1 / 3))
    amap = rd4ad_anomaly_map(enc, dec, (2, 2))  # 1x1 maps upsample to constants
    torch.testing.assert_close(amap, torch.full((1, 2, 2), expected))


def test_fit_leaves_encoder_unchanged_and_scores_in_eval_mode() -> None:
    method = create_method("rd4ad", SMALL, seed=0, device="cpu")
    before = {k: v.clone() for k, v in method.encoder.state_dict().items()}
    decoder_before = {k: v.clone() for k, v in method.decoder.state_dict().items()}
    method.fit(RGBSet())
    assert all(torch.equal(before[k], v) for k, v in method.encoder.state_dict().items())
    assert any(not torch.equal(decoder_before[k], v)
               for k, v in method.decoder.state_dict().items())
    assert np.isfinite(method.history[0]["loss"])
    test = RGBSet(n=6, anomalous=2, seed=1)
    scores = method.score(test)
    assert scores.image.shape == (6,) and scores.maps.shape == (6, 64, 64)
    np.testing.assert_allclose(scores.image, scores.maps.reshape(6, -1).max(axis=1))
    assert not any(m.training for m in method.modules().values())
    method.config = method.config.replace(batch_size=1)
    np.testing.assert_allclose(method.score(test).image, scores.image, rtol=1e-4)


def test_map_smoothing_switch() -> None:
    method = create_method("rd4ad", {**SMALL, "map_sigma": 0.0}, seed=0, device="cpu")
    raw = method.score(RGBSet(n=2)).maps
    method.config = method.config.replace(map_sigma=4.0)
    smooth = method.score(RGBSet(n=2)).maps
    assert smooth.std() < raw.std()  # Gaussian smoothing flattens the map
    np.testing.assert_allclose(smooth.mean(), raw.mean(), rtol=0.1)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="in_channels"):
        create_method("rd4ad", {"in_channels": 1})
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_method("rd4ad", {"img_size": 80})
    with pytest.raises(ConfigError, match="backbone"):
        create_method("rd4ad", {"backbone": "vgg16"})
    with pytest.raises(ConfigError, match="loss_form"):
        create_method("rd4ad", {"loss_form": "l2"})
    with pytest.raises(ConfigError, match="betas"):
        create_method("rd4ad", {"betas": [0.5]})
