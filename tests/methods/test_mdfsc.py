"""MDFSC (reprolib.methods.mdfsc): feature taps and scales, standardisation, patch extraction,
top-5 score and residual map against hand computations, the autoencoders, and fit/score of
``mdfsc`` and its Table 3 variant (``scorer='ae_recon_loss'``) on a tiny phantom fundus set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reprolib.blocks.feature_taps import FeatureTaps
from reprolib.config import ConfigError
from reprolib.data import get_dataset
from reprolib.methods import create_method
from reprolib.methods.mdfsc.model import (
    LITE0_CHANNELS,
    LITE0_TAPS,
    N_CHANNELS,
    VGGAutoencoder,
    extract_patches,
    multiscale_features,
    patch_residual_map,
    standardise,
    top_k_score,
    vgg16_features,
)

pytestmark = pytest.mark.usefixtures("one_thread", "offline")


def test_taps_are_conv4_3_conv3_3_conv2_2_before_relu_at_one_eighth() -> None:
    torch.manual_seed(0)
    features = vgg16_features().eval()
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        out = multiscale_features(features, x)
        c43 = FeatureTaps(features, ["conv4_3"])(x)["conv4_3"]
        c33 = FeatureTaps(features, ["conv3_3"])(F.max_pool2d(x, 2))["conv3_3"]
        c22 = FeatureTaps(features, ["conv2_2"])(F.max_pool2d(x, 4))["conv2_2"]
    assert out.shape == (2, N_CHANNELS, 8, 6) == (2, 512 + 256 + 128, 64 // 8, 48 // 8)
    torch.testing.assert_close(out[:, :512], c43)
    torch.testing.assert_close(out[:, 512:768], c33)
    torch.testing.assert_close(out[:, 768:], c22)
    assert (out < 0).any()  # before the ReLU
    bilinear = multiscale_features(features, x, "bilinear")
    assert bilinear.shape == out.shape and torch.equal(bilinear[:, :512], out[:, :512])
    with pytest.raises(ValueError, match="multiples of 8"):
        multiscale_features(features, torch.randn(1, 3, 60, 64))


def test_standardise_crops_and_normalises_each_channel_of_each_image() -> None:
    fmap = torch.randn(2, 3, 10, 10) * 5 + 3
    fmap[1, 2] = 7.0  # a constant channel becomes 0, not NaN
    out = standardise(fmap, border=2)
    assert out.shape == (2, 3, 6, 6)
    inner = fmap[..., 2:-2, 2:-2]
    expected = (inner[0, 1] - inner[0, 1].mean()) / inner[0, 1].std()
    torch.testing.assert_close(out[0, 1], expected)
    assert torch.equal(out[1, 2], torch.zeros(6, 6))


def test_patches_match_hand_slicing() -> None:
    fmap = torch.arange(2 * 2 * 5 * 5, dtype=torch.float32).reshape(2, 2, 5, 5)
    patches = extract_patches(fmap, size=3, stride=2)
    assert patches.shape == (2, 2, 4, 9)  # (C, B, P, size^2)
    positions = [(0, 0), (0, 2), (2, 0), (2, 2)]  # row-major, as MLF-SC's BatchSplitImg
    for c in range(2):
        for b in range(2):
            for p, (r, q) in enumerate(positions):
                assert torch.equal(patches[c, b, p], fmap[b, c, r:r + 3, q:q + 3].reshape(-1))
    with pytest.raises(ValueError, match="larger than"):
        extract_patches(fmap, size=6, stride=1)


def test_top5_score_by_hand() -> None:
    # 2 channels, 1 image, 7 patches
    r = torch.tensor([[[1.0, 9.0, 3.0, 7.0, 5.0, 2.0, 8.0]],
                      [[0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7]]])
    expected = (9 + 8 + 7 + 5 + 3) + (0.7 + 0.6 + 0.5 + 0.4 + 0.3)
    assert top_k_score(r, 5).item() == pytest.approx(expected)
    assert top_k_score(r, 1).item() == pytest.approx(9 + 0.7)
    assert top_k_score(r[:, :, :3], 5).item() == pytest.approx(13 + 0.8)  # k > P: all of them


def test_residual_map_averages_overlapping_patches() -> None:
    # one channel, 6x6 map, 4x4 patches, stride 2: patches at (0,0), (0,2), (2,0), (2,2)
    r = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    fmap = patch_residual_map(r, side=6, size=4, stride=2, border=1, out_size=8)
    assert fmap.shape == (1, 8, 8)  # 6 + 2 x border 1 = 8: no resizing
    assert fmap[0, 1, 1].item() == pytest.approx(1.0)  # covered by patch 0 only
    assert fmap[0, 3, 3].item() == pytest.approx(2.5)  # covered by all four
    assert fmap[0, 1, 6].item() == pytest.approx(2.0)
    assert fmap[0, 0].abs().sum() == 0  # the cropped border


def test_autoencoder_shapes_and_recon_variant_without_linear_layers() -> None:
    ae = VGGAutoencoder(crop_size=64, latent=256)
    assert sum(isinstance(m, nn.Conv2d) for m in ae.encoder) == 13
    assert sum(isinstance(m, nn.MaxPool2d) for m in ae.encoder) == 5
    import torchvision

    reference = torchvision.models.vgg16(weights=None).features
    assert [type(m) for m in ae.encoder] == [type(m) for m in reference]
    assert [p.shape for p in ae.encoder.parameters()] == \
        [p.shape for p in reference.parameters()]
    assert ae.to_latent is not None and ae.to_latent.out_features == 256
    assert ae.to_latent.in_features == 512 * 2 * 2
    assert sum(isinstance(m, nn.Conv2d) for m in ae.decoder) == 13
    x = torch.randn(2, 3, 64, 64)
    assert ae(x).shape == x.shape
    with pytest.raises(ValueError, match="crops"):
        ae(torch.randn(1, 3, 96, 96))
    plain = VGGAutoencoder(64, linear=False)
    assert not any(isinstance(m, nn.Linear) for m in plain.modules())
    assert plain(torch.randn(1, 3, 96, 96)).shape == (1, 3, 96, 96)


TINY = {"img_size": 64, "epochs": 1, "batch_size": 4, "crop_size": 32, "patch_size": 2,
        "stride": 2, "n_atoms": 3, "dict_patches": 12, "dict_iter": 3, "channel_chunk": 300,
        "encoder_init": "random"}


@pytest.fixture(scope="module")
def fundus(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    import os

    old = os.environ.get("REPROLIB_CACHE")
    os.environ["REPROLIB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        spec = {"img_size": 64, "channels": 3, "normalize": "imagenet"}
        train = get_dataset("phantom_eyeq", "train", n_train=6, n_test=6, **spec)
        test = get_dataset("phantom_eyeq", "test", n_train=6, n_test=6, **spec)
        return train, test
    finally:
        if old is None:
            os.environ.pop("REPROLIB_CACHE")
        else:
            os.environ["REPROLIB_CACHE"] = old


def test_mdfsc_fit_score_save_load(fundus: tuple, tmp_path) -> None:
    train, test = fundus
    method = create_method("mdfsc", TINY, seed=0, device="cpu")
    assert method.data_spec() == {"img_size": 64, "channels": 3, "normalize": "imagenet"}
    method.fit(train)
    assert method.dictionaries.shape == (N_CHANNELS, 3, 4)
    assert method.dict_info["n_patches"] == 12
    assert len(method.history) == 1 and np.isfinite(method.history[0]["mse"])
    scores = method.score(test)
    assert scores.image.shape == (len(test),) and np.isfinite(scores.image).all()
    assert scores.maps is not None and scores.maps.shape == (len(test), 64, 64)
    assert (scores.maps >= 0).all()
    # the image score is the per-channel top-5 sum of the residuals the map is built from
    x = torch.stack([test[i]["image"] for i in range(2)])
    r = method.residuals(x)
    assert r.shape == (N_CHANNELS, 2, 4)
    np.testing.assert_allclose(scores.image[:2], top_k_score(r, 5).numpy(), rtol=1e-6)
    assert method.lasso_info["fallback"] == 0
    # same seed, same everything
    again = create_method("mdfsc", TINY, seed=0, device="cpu").fit(train)
    assert torch.equal(again.dictionaries, method.dictionaries)
    np.testing.assert_array_equal(again.score(test).image, scores.image)
    path = method.save(tmp_path / "mdfsc.pt")
    clone = create_method("mdfsc", TINY, seed=5, device="cpu").load(path)
    np.testing.assert_array_equal(clone.score(test).image, scores.image)
    assert clone.dict_info == method.dict_info


def test_ae_recon_loss_variant_fit_score(fundus: tuple, tmp_path) -> None:
    """Table 3's baseline: the AE without linear layers, scored by its MSE."""
    train, test = fundus
    method = create_method("mdfsc", {"img_size": 64, "epochs": 1, "batch_size": 4,
                                     "crop_size": 32, "encoder_init": "random",
                                     "scorer": "ae_recon_loss"}, seed=0, device="cpu")
    assert not any(isinstance(m, nn.Linear) for m in method.net.modules())
    method.fit(train)
    scores = method.score(test)
    assert scores.maps is not None and scores.maps.shape == (len(test), 64, 64)
    np.testing.assert_allclose(scores.image, scores.maps.mean(axis=(1, 2)), rtol=1e-5)
    x = torch.stack([test[i]["image"] for i in range(len(test))])
    with torch.no_grad():
        mse = ((method.net.eval()(x) - x) ** 2).mean(dim=(1, 2, 3))
    np.testing.assert_allclose(scores.image, mse.numpy(), rtol=1e-4)
    clone = create_method("mdfsc", method.config, device="cpu").load(
        method.save(tmp_path / "recon.pt"))
    np.testing.assert_array_equal(clone.score(test).image, scores.image)


def test_config_errors_and_imagenet_features_without_weights() -> None:
    with pytest.raises(ConfigError, match="patch_size"):
        create_method("mdfsc", {**TINY, "patch_size": 8}, device="cpu")
    with pytest.raises(ConfigError, match="crop_size"):
        create_method("mdfsc", {**TINY, "crop_size": 48}, device="cpu")
    with pytest.raises(ConfigError, match="in_channels"):
        create_method("mdfsc", {"in_channels": 1}, device="cpu")
    with pytest.raises(ConfigError, match="features"):
        create_method("mdfsc", {**TINY, "scorer": "ae_recon_loss", "features": "imagenet"},
                      device="cpu")
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_method("mdfsc", {**TINY, "scorer": "ae_recon_loss", "img_size": 80},
                      device="cpu")
    with pytest.raises(ConfigError, match="features"):
        create_method("mdfsc", {**TINY, "features": "resnet"}, device="cpu")
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="ImageNet VGG16"):
        create_method("mdfsc", {**TINY, "features": "imagenet"}, device="cpu")
    # without the weights the autoencoder's encoder starts from random init, and says so
    with pytest.warns(UserWarning):
        fallback = create_method("mdfsc", {**TINY, "encoder_init": "imagenet"}, device="cpu")
    assert fallback.weights_used == "random (imagenet unavailable)"
    assert create_method("mdfsc", TINY, device="cpu").weights_used == "random"


def test_imagenet_features_on_efficientnet_lite0(fundus: tuple) -> None:
    """Table 2's stand-in: the packaged ImageNet Lite0 through the same formula (stride-8
    stage of the image, stride-4 of the image /2, stride-2 of the image /4: 80 channels at
    1/8), no autoencoder training."""
    from reprolib.blocks.backbones import LiteBackbone, load_backbone

    lite, weights = load_backbone("efficientnet_lite0", "imagenet")
    if not weights.startswith("imagenet"):
        pytest.skip("the packaged EfficientNet-Lite0 weights are not installed")
    assert isinstance(lite, LiteBackbone)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        out = multiscale_features(lite.features.eval(), x, taps=LITE0_TAPS)
        s8 = lite.features[:4](x)
        s4 = lite.features[:3](F.max_pool2d(x, 2))
        s2 = lite.features[:2](F.max_pool2d(x, 4))
    assert out.shape == (2, LITE0_CHANNELS, 8, 6) == (2, 40 + 24 + 16, 8, 6)
    torch.testing.assert_close(out, torch.cat([s8, s4, s2], 1))
    train, test = fundus
    config = {**TINY, "features": "imagenet", "imagenet_backbone": "efficientnet_lite0",
              "epochs": 0}
    method = create_method("mdfsc", config, seed=0, device="cpu")
    assert method.weights_used == "imagenet:efficientnet_lite0"
    method.fit(train)
    assert method.history == [] and method.dictionaries.shape == (LITE0_CHANNELS, 3, 4)
    scores = method.score(test)
    assert scores.image.shape == (len(test),) and np.isfinite(scores.image).all()


def test_training_patches_are_the_chosen_patches(fundus: tuple) -> None:
    """The dictionary's training patches are rows of ``feature_patches`` of the training set."""
    train, _ = fundus
    method = create_method("mdfsc", TINY, seed=1, device="cpu")
    chosen = method._training_patches(train)
    assert chosen.shape == (N_CHANNELS, 12, 4)
    x = torch.stack([train[i]["image"] for i in range(len(train))])
    every = method.feature_patches(x).reshape(N_CHANNELS, -1, 4)
    per = every.shape[1]
    rng = np.random.default_rng(1)
    expected = np.sort(rng.choice(per, 12, replace=False))
    # (batches of 4 vs 5 images: float32 round-off only)
    torch.testing.assert_close(chosen, every[:, torch.from_numpy(expected)], atol=1e-4,
                               rtol=1e-4)
