"""The packaged ImageNet EfficientNet-Lite0 as encoder / teacher / source of the feature-based
methods (issue 9): built through the same taps interface, ``weights`` recorded, one epoch of
fit + score at 64 px; Hetero-AE Table II's homogeneous EfficientNet row uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet

from reprolib.methods import create_method
from reprolib.papers.heteroae import variant_config

pytestmark = pytest.mark.usefixtures("offline", "one_thread")
SMALL = {"img_size": 64, "epochs": 1, "batch_size": 4}
LITE = {
    "stfpm": {"backbone": "efficientnet_lite0"},
    "rd4ad": {"backbone": "efficientnet_lite0"},
    "mkd": {"source": "efficientnet_lite0"},
    "hetero_ae": variant_config("efficientnet_to_efficientnet"),
}


@pytest.mark.parametrize("name", sorted(LITE))
def test_lite0_variant_fits_scores_and_records_weights(name: str) -> None:
    method = create_method(name, {**SMALL, **LITE[name]}, device="cpu")
    assert method.weights_used == "imagenet:efficientnet_lite0"
    method.fit(RGBSet(n=4, size=64))
    scores = method.score(RGBSet(n=4, size=64, anomalous=2, seed=1))
    assert scores.image.shape == (4,) and np.isfinite(scores.image).all()


def test_lite0_teacher_taps_are_the_lite0_stage_ends() -> None:
    x = torch.rand(2, 3, 64, 64)
    stfpm = create_method("stfpm", {**SMALL, **LITE["stfpm"]}, device="cpu")
    assert [tuple(v.shape[1:]) for v in stfpm.teacher(x).values()] == [
        (24, 16, 16), (40, 8, 8), (112, 4, 4)]
    mkd = create_method("mkd", {**SMALL, **LITE["mkd"]}, device="cpu")
    source, cloner = mkd.source(x), mkd.cloner(x)
    assert [tuple(v.shape[1:]) for v in source.values()] == [
        tuple(v.shape[1:]) for v in cloner.values()] == [
        (24, 16, 16), (40, 8, 8), (112, 4, 4), (320, 2, 2)]
    rd4ad = create_method("rd4ad", {**SMALL, **LITE["rd4ad"]}, device="cpu")
    enc = list(rd4ad.encoder(x).values())
    dec = rd4ad.decoder(rd4ad.bottleneck(enc))
    assert [e.shape for e in enc] == [d.shape for d in dec]
