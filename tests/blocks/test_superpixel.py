"""Tests of ProxyAno's proxies (reprolib.blocks.superpixel): the mean fill against hand
computation, the SI of a toy image, the Table III proxies, and that a dataset's proxies are
computed once (in-memory and disk cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tinydata import TinyDataset

from reprolib.blocks import superpixel as sp
from reprolib.blocks.superpixel import (
    ProxyDataset,
    ProxySpec,
    block_mean,
    canny_edges,
    compute_proxy,
    gaussian_blur,
    mean_fill,
    proxies_for,
    slic_labels,
    superpixel_image,
)


def test_mean_fill_against_hand_computation() -> None:
    image = np.array([[1.0, 3.0, 10.0], [5.0, 7.0, 20.0]])
    labels = np.array([[0, 0, 2], [1, 1, 2]])
    np.testing.assert_allclose(mean_fill(image, labels), [[2, 2, 15], [6, 6, 15]])
    colour = np.stack([image, 2 * image], axis=-1)
    np.testing.assert_allclose(mean_fill(colour, labels)[..., 1], [[4, 4, 30], [12, 12, 30]])


def test_si_of_two_flat_regions_is_exactly_their_means() -> None:
    image = np.zeros((1, 32, 32))
    image[:, :, :16], image[:, :, 16:] = 0.2, 0.8
    si = superpixel_image(image, n_segments=4)
    assert si.shape == (1, 32, 32) and si.dtype == np.float32
    np.testing.assert_allclose(si[0, :, :16], 0.2, atol=1e-7)
    np.testing.assert_allclose(si[0, :, 16:], 0.8, atol=1e-7)
    # colour: SLIC on Lab, fill per RGB channel
    rgb = np.zeros((3, 32, 32))
    rgb[:, :, :16] = np.array([0.9, 0.1, 0.1])[:, None, None]
    rgb[:, :, 16:] = np.array([0.1, 0.2, 0.9])[:, None, None]
    np.testing.assert_allclose(superpixel_image(rgb, n_segments=4), rgb, atol=1e-6)


def test_si_is_piecewise_constant_on_the_slic_labels_and_keeps_region_means() -> None:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(0.5, 0.1, (1, 64, 64)), 0, 1)
    image[:, 20:40, 20:40] += 0.3
    labels = slic_labels(np.moveaxis(image, 0, -1), 50)
    si = superpixel_image(image, 50)[0]
    assert 1 < labels.max() + 1 <= 100
    for label in np.unique(labels):
        region = labels == label
        assert np.ptp(si[region]) == 0
        assert si[region][0] == pytest.approx(image[0][region].mean(), abs=1e-6)


def test_table_iii_proxies() -> None:
    image = np.zeros((1, 32, 32))
    image[:, :, 16:] = 1.0
    edges = canny_edges(image, sigma=1.0)
    assert edges.shape == (1, 32, 32) and set(np.unique(edges)) <= {0.0, 1.0}
    assert edges[0, 8:24, 14:18].any() and not edges[0, :, :12].any()
    np.testing.assert_allclose(gaussian_blur(np.full((1, 16, 16), 0.3), 2.0), 0.3, atol=1e-6)
    ramp = np.arange(16, dtype=float)[None, None, :].repeat(4, axis=1) / 16  # (1, 4, 16)
    blocks = block_mean(ramp, 4)
    np.testing.assert_allclose(blocks[0, 0, :4], ramp[0, 0, :4].mean())
    np.testing.assert_allclose(blocks[0, :, 12:], ramp[0, 0, 12:].mean())
    for kind, channels in [("si", 3), ("canny", 1), ("blur", 3), ("block", 3),
                           ("canny_blur", 4), ("canny_block", 4)]:
        spec = ProxySpec(kind=kind)
        out = compute_proxy(np.random.default_rng(1).random((3, 32, 32)), spec)
        assert out.shape == (channels, 32, 32) == (spec.channels(3), 32, 32), kind


def test_sizes_scale_with_the_image() -> None:
    spec = ProxySpec()
    assert spec.segments_at(256) == 800 and spec.segments_at(64) == 50
    assert spec.block_at(256) == 8 and spec.block_at(128) == 4
    assert ProxySpec(scale_to_size=False).segments_at(64) == 800
    with pytest.raises(ValueError, match="proxy kind"):
        ProxySpec(kind="edges")  # type: ignore[arg-type]


def test_proxies_are_computed_once_per_dataset(monkeypatch: pytest.MonkeyPatch,
                                               isolated_dirs) -> None:
    calls = []
    real = sp.compute_proxy

    def counting(image: np.ndarray, spec: ProxySpec) -> np.ndarray:
        calls.append(1)
        return real(image, spec)

    monkeypatch.setattr(sp, "compute_proxy", counting)
    sp.clear_memory_cache()
    data = TinyDataset(n=5, size=32)
    spec = ProxySpec(kind="si")
    first = proxies_for(data, spec)
    assert len(calls) == 5 and first.shape == (5, 1, 32, 32)
    np.testing.assert_array_equal(first[2], real(data[2]["image"].numpy(), spec))
    assert proxies_for(data, spec) is first and len(calls) == 5  # memory
    sp.clear_memory_cache()
    np.testing.assert_array_equal(proxies_for(data, spec), first)  # disk
    assert len(calls) == 5
    assert len(list((isolated_dirs / "cache" / "proxies").glob("*.npy"))) == 1
    proxies_for(data, ProxySpec(kind="blur"))  # another spec: computed
    assert len(calls) == 10
    proxies_for(TinyDataset(n=5, size=32, seed=3), spec)  # another dataset: computed
    assert len(calls) == 15
    sp.clear_memory_cache()


def test_proxy_dataset_adds_the_proxy() -> None:
    data = TinyDataset(n=3, size=32)
    proxies = np.random.default_rng(0).random((3, 2, 32, 32)).astype(np.float32)
    item = ProxyDataset(data, proxies)[1]
    assert torch.equal(item["proxy"], torch.from_numpy(proxies[1]))
    assert torch.equal(item["image"], data[1]["image"])
    with pytest.raises(ValueError, match="expected 3 rows"):
        ProxyDataset(data, proxies[:2])
