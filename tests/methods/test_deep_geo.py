"""Deep-Geo / GEOM (Golan & El-Yaniv 2018): the 72 transformations against a numpy/scipy
re-statement of the authors' Keras code, distinct and (without shifts) invertible, batched in
order; the WRN's shapes; the Dirichlet MLE against known parameters and the reference's
sequential loop; fit / score / save / load on a toy set."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.special import polygamma, psi
from tinydata import TinyDataset

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.deep_geo.model import (
    N_TRANSFORMS,
    TRANSFORMS,
    WideResNet,
    apply_transform,
    dirichlet_mle,
    dirichlet_normality,
    invert_transform,
    reflect_index,
    transform_all,
)

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"img_size": 32, "in_channels": 1, "epochs": 1, "batch_size": 2}


def keras_transform(img: np.ndarray, flip: bool, tx: int, ty: int, k: int) -> np.ndarray:
    """The authors' ``AffineTransformation`` on an (H, W, C) image: ``np.fliplr``, Keras'
    ``apply_affine_transform(tx, ty, fill_mode='reflect')`` (scipy ``affine_transform`` of each
    channel, order 1, offset (tx, ty)), ``np.rot90``."""
    out = np.fliplr(img) if flip else img
    if tx or ty:
        out = np.stack([ndimage.affine_transform(out[..., c], np.eye(2), offset=(tx, ty),
                                                 order=1, mode="reflect")
                        for c in range(out.shape[-1])], axis=-1)
    return np.rot90(out, k) if k else out


def test_transformations_match_the_reference_and_are_distinct() -> None:
    assert N_TRANSFORMS == 72
    # the reference's itertools.product order: flip, x shift, y shift, rotation
    assert [t for t in TRANSFORMS] == list(itertools.product((False, True), (0, -1, 1),
                                                             (0, -1, 1), range(4)))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    every = transform_all(x, 8)
    assert every.shape == (2 * 72, 3, 32, 32)
    for b in range(2):
        img = x[b].permute(1, 2, 0).double().numpy()
        for t, (flip, sr, sc, k) in enumerate(TRANSFORMS):
            ref = keras_transform(img, flip, 8 * sr, 8 * sc, k)
            ours = every[b * 72 + t].permute(1, 2, 0).double().numpy()
            np.testing.assert_allclose(ours, ref, atol=1e-6, err_msg=f"transformation {t}")
            torch.testing.assert_close(apply_transform(x[b:b + 1], t, 8)[0], every[b * 72 + t])
    flat = every[:72].reshape(72, -1)
    assert torch.cdist(flat, flat).add(torch.eye(72) * 1e9).min() > 1.0  # all 72 distinct


def test_flips_and_rotations_invert_and_shifts_refuse() -> None:
    x = torch.rand(1, 1, 32, 32)
    plain = [t for t, (_, sr, sc, _) in enumerate(TRANSFORMS) if not sr and not sc]
    assert len(plain) == 8
    for t in plain:
        assert torch.equal(invert_transform(apply_transform(x, t, 8), t), x)
    with pytest.raises(ValueError, match="not invertible"):
        invert_transform(x, 4)
    # reflect border, scipy's "reflect": d c b a | a b c d | d c b a
    assert reflect_index(4, 2).tolist() == [2, 3, 3, 2]
    assert reflect_index(4, -3).tolist() == [2, 1, 0, 0]


def test_wide_resnet_shapes() -> None:
    net = WideResNet(32, 3, depth=10, widen=4)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 72)
    blocks = [m for m in net.modules() if type(m).__name__ == "_Block"]
    assert len(blocks) == 3 and blocks[-1].conv2.out_channels == 256
    deeper = WideResNet(64, 1, depth=16, widen=2)
    assert len([m for m in deeper.modules() if type(m).__name__ == "_Block"]) == 6
    assert deeper.classifier.in_features == 128 * 4  # 8x8 pool of a 16x16 map: a 2x2 grid
    assert deeper(torch.randn(1, 1, 64, 64)).shape == (1, 72)
    with pytest.raises(ValueError, match="6n"):
        WideResNet(32, 3, depth=12)


def reference_mle(p: np.ndarray, max_iter: int = 1000) -> np.ndarray:
    """The authors' fixed point, verbatim in numpy/scipy (one problem at a time)."""
    n, k = p.shape
    f = p.mean(axis=0)
    total = (n * (k - 1) * (-psi(1))) / (n * np.sum(f * np.log(f))
                                        - np.sum(f * np.sum(np.log(p), axis=0)))

    def inv_psi(y: np.ndarray) -> np.ndarray:
        cond = y >= -2.22
        x = cond * (np.exp(y) + 0.5) + (1 - cond) * -1 / (y - psi(1))
        for _ in range(5):
            x = x - (psi(x) - y) / polygamma(1, x)
        return x

    old = f * total
    log_p_hat = np.log(p).mean(axis=0)
    for _ in range(max_iter):
        new = inv_psi(psi(np.sum(old)) + log_p_hat)
        if np.sqrt(np.sum((old - new) ** 2)) < 1e-9:
            break
        old = new
    return new


def test_dirichlet_mle_recovers_known_parameters_and_matches_the_reference() -> None:
    rng = np.random.default_rng(0)
    alpha = np.array([2.0, 5.0, 0.7, 1.5])
    p = rng.dirichlet(alpha, size=20000)
    est = dirichlet_mle(np.log(p))
    np.testing.assert_allclose(est, alpha, rtol=0.05)
    small = [rng.dirichlet(a, size=30) for a in ([1.0, 2.0, 3.0], [10.0, 1.0, 0.5])]
    stacked = dirichlet_mle(np.log(np.stack(small)))
    for i, sample in enumerate(small):
        np.testing.assert_allclose(stacked[i], reference_mle(sample), rtol=1e-8)
        np.testing.assert_allclose(stacked[i], dirichlet_mle(np.log(sample)), rtol=1e-12)
    with pytest.raises(ValueError, match="finite"):
        dirichlet_mle(np.array([[-np.inf, 0.0], [np.log(0.5), np.log(0.5)]]))
    # Eq. 4 up to constants: sum (alpha - 1) log p
    assert dirichlet_normality(np.array([2.0, 3.0]), np.log(np.array([[0.5, 0.5]])))[0] == \
        pytest.approx(3 * np.log(0.5))


def test_deep_geo_fit_score_save_load(tmp_path: Path) -> None:
    train, test = TinyDataset(n=3, size=32), TinyDataset(n=2, size=32, anomalous=1, seed=1)
    method = create_method("deep_geo", TINY, seed=0, device="cpu")
    assert method.data_spec() == {"img_size": 32, "channels": 1, "normalize": "tanh"}
    assert method.config.shift == 8  # a quarter of the side, the reference's 8 px at 32 px
    method.fit(train)
    assert method.weights_used == "random"
    assert len(method.history) == 1 and np.isfinite(method.history[0]["loss"])
    assert method.alphas.shape == (72, 72) and (method.alphas > 0).all()
    scores = method.score(test)
    assert scores.image.shape == (2,) and scores.maps is None
    assert set(scores.extra) == {"simplified"}
    assert ((scores.extra["simplified"] >= 0) & (scores.extra["simplified"] <= 1)).all()
    # the Dirichlet score by hand from the classifier's softmax on each transformation
    x = torch.stack([test[i]["image"] for i in range(2)])
    with torch.no_grad():
        log_p = torch.log_softmax(method.net.eval()(transform_all(x, 8)).double(), dim=1)
    log_p = log_p.reshape(2, 72, 72).numpy()
    alphas = method.alphas.numpy()
    normality = np.mean([((alphas[t] - 1) * log_p[:, t]).sum(-1) for t in range(72)], axis=0)
    np.testing.assert_allclose(scores.image, -normality, rtol=1e-6)
    diag = np.exp(log_p[:, np.arange(72), np.arange(72)])
    np.testing.assert_allclose(scores.extra["simplified"], 1 - diag.mean(axis=1), rtol=1e-6)
    # same seed, same model; save / load
    again = create_method("deep_geo", TINY, seed=0, device="cpu").fit(train).score(test)
    np.testing.assert_array_equal(again.image, scores.image)
    clone = create_method("deep_geo", TINY, device="cpu").load(method.save(tmp_path / "g.pt"))
    np.testing.assert_allclose(clone.score(test).image, scores.image, rtol=1e-9)
    simple = create_method("deep_geo", {**TINY, "score": "simplified"}, device="cpu")
    simple.net.load_state_dict(method.net.state_dict())
    simple.alphas, simple.fitted = method.alphas, True
    swapped = simple.score(test)
    np.testing.assert_allclose(swapped.image, scores.extra["simplified"], rtol=1e-9)
    np.testing.assert_allclose(swapped.extra["dirichlet"], scores.image, rtol=1e-9)


def test_deep_geo_learns_the_transformations() -> None:
    train = TinyDataset(n=2, size=32)
    train.images[:] = -1.0  # an "L" on a dark background: every transformation looks different
    train.images[:, :, 4:28, 4:10] = 1.0
    train.images[:, :, 22:28, 4:20] = 1.0
    train.images[1, :, 10:14, 14:18] = 0.5
    method = create_method("deep_geo", {**TINY, "epochs": 6, "lr": 3e-3}, seed=0,
                           device="cpu").fit(train)
    losses = [record["loss"] for record in method.history]
    assert losses[-1] < 0.95 * losses[0]  # starts at about log 72 = 4.28
    assert method.history[-1]["accuracy"] > 5 / 72  # chance: 1 / 72


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 48}, "multiple of 32"), ({"depth": 12}, "6n"),
    ({"shift_fraction": 0.6}, "shift_fraction"), ({"score": "mean"}, "dirichlet"),
    ({"score_batch_size": 10}, "score_batch_size")])
def test_deep_geo_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("deep_geo", values, device="cpu")
