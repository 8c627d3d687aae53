"""reprolib.blocks.synthetic_anomaly: the augmentation pool, Eq. 3 by hand, the paste (Eq. 4)
and Table 4's switches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import laplace

from reprolib.blocks.synthetic_anomaly import (
    AUGMENTATIONS,
    COLOUR_ONLY,
    SelfMixGenerator,
    augment,
    blend_weight,
    colour_temperature,
    kelvin_to_rgb,
    procedural_texture,
)


def _image(seed: int = 0, c: int = 3, size: int = 24, low: float = 0.0,
           high: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand((c, size, size), generator=g)


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_every_augmentation_keeps_the_range_and_shape(name: str) -> None:
    x = _image(1)
    out = AUGMENTATIONS[name](x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, x)


def test_sharpen_raises_high_frequencies() -> None:
    x = torch.nn.functional.avg_pool2d(_image(2)[None], 3, 1, 1)[0] * 0.5 + 0.25
    out = AUGMENTATIONS["sharpen"](x, np.random.default_rng(0))
    energy = lambda t: float(np.abs(laplace(t[0].numpy())).mean())  # noqa: E731
    assert energy(out) > 1.5 * energy(x)


def test_solarize_inverts_above_a_threshold_in_32_128() -> None:
    x = _image(3)
    out = AUGMENTATIONS["solarize"](x, np.random.default_rng(0))
    inverted = torch.isclose(out, 1 - x) & ~torch.isclose(out, x)
    assert torch.equal(out[x < 32 / 255], x[x < 32 / 255])
    assert torch.allclose(out[x >= 128 / 255], 1 - x[x >= 128 / 255])
    kept = x[~inverted]
    assert float(kept.max()) < float(x[inverted].min())  # one threshold splits the pixels
    assert float(x[inverted].min()) >= 32 / 255 and float(kept.max()) < 128 / 255


def test_gamma_is_one_power_in_half_to_two() -> None:
    x = _image(4, low=0.05, high=0.95)
    out = AUGMENTATIONS["gamma"](x, np.random.default_rng(0))
    gamma = torch.log(out) / torch.log(x)
    assert torch.allclose(gamma, gamma.mean(), atol=1e-3)
    assert 0.5 <= float(gamma.mean()) <= 2.0


def test_hue_keeps_hsv_value_and_changes_colour() -> None:
    x = _image(5)
    out = AUGMENTATIONS["hue"](x, np.random.default_rng(0))
    assert torch.allclose(out.max(0).values, x.max(0).values, atol=1e-5)  # V of HSV kept
    assert float((out - x).abs().max()) > 0.05


def test_colour_temperature_by_hand() -> None:
    np.testing.assert_allclose(kelvin_to_rgb(6600), [1, 1, 1], atol=0.02)
    warm, cool = kelvin_to_rgb(2000), kelvin_to_rgb(10000)
    assert warm[0] == 1 and warm[2] < 0.3 and cool[2] == 1 and cool[0] < 0.85
    x = _image(6)
    out = colour_temperature(x, 2000)
    torch.testing.assert_close(out, x * torch.tensor(warm, dtype=torch.float32)[:, None, None])
    gray = _image(6, c=1)
    assert torch.equal(colour_temperature(gray, 2000), gray)
    with pytest.raises(ValueError, match="kelvin"):
        kelvin_to_rgb(500)


def test_autocontrast_stretches_each_channel_to_full_range() -> None:
    x = _image(7, low=0.2, high=0.6)
    out = AUGMENTATIONS["autocontrast"](x, np.random.default_rng(0))
    assert torch.allclose(out.amin((1, 2)), torch.zeros(3), atol=1e-6)
    assert torch.allclose(out.amax((1, 2)), torch.ones(3), atol=1e-6)


def test_colour_shift_adds_one_offset_per_channel() -> None:
    x = _image(8, low=0.3, high=0.7)
    diff = AUGMENTATIONS["colour_shift"](x, np.random.default_rng(0)) - x
    per_channel = diff.mean((1, 2))
    assert torch.allclose(diff, per_channel[:, None, None].expand_as(diff), atol=1e-6)
    assert float(per_channel.abs().max()) <= 30 / 255 + 1e-6
    assert len(set(per_channel.tolist())) == 3


def test_augment_draws_distinct_ops_seeded_and_skips_colour_ops_on_gray() -> None:
    x = _image(9)
    a, names_a = augment(x, np.random.default_rng(11))
    b, names_b = augment(x, np.random.default_rng(11))
    assert torch.equal(a, b) and names_a == names_b
    assert len(names_a) == 3 and len(set(names_a)) == 3
    seen: set[str] = set()
    for seed in range(40):
        seen.update(augment(_image(9, c=1), np.random.default_rng(seed))[1])
    assert seen == set(AUGMENTATIONS) - COLOUR_ONLY
    with pytest.raises(ValueError, match="unknown"):
        augment(x, np.random.default_rng(0), names=["blur"])


def test_augmenting_the_crop_alone_equals_augmenting_the_whole_source() -> None:
    source = _image(10, size=40)
    gen = SelfMixGenerator(augmentations=tuple(a for a in AUGMENTATIONS if a != "autocontrast"))
    for seed in range(12):
        for box in ((5, 7, 12, 20), (0, 0, 10, 40), (30, 25, 10, 15)):
            fast = gen.augmented_crop(source, box, np.random.default_rng(seed))
            slow = gen.augmented_crop(source, box, np.random.default_rng(seed), whole=True)
            torch.testing.assert_close(fast, slow, atol=1e-6, rtol=0)


def test_blend_weight_by_hand() -> None:
    mask = np.zeros((5, 5))
    mask[1:4, 1:4] = 1
    w = blend_weight(mask, alpha=0.7)
    # distance to background: centre 2, the ring around it 1, outside 0; min 0, max 2
    expect = np.full((5, 5), 0.7)
    expect[1:4, 1:4] = 0.3 * 1 / 2 + 0.7
    expect[2, 2] = 1.0
    np.testing.assert_allclose(w, expect)
    # a full crop (Table 4, no Perlin mask): the outside of the crop is background
    w_rect = blend_weight(np.ones((3, 3)))
    expect_rect = np.full((3, 3), 0.7)
    expect_rect[1, 1] = 1.0
    np.testing.assert_allclose(w_rect, expect_rect)
    np.testing.assert_array_equal(blend_weight(mask, self_mix=False), np.ones((5, 5)))
    np.testing.assert_allclose(blend_weight(np.zeros((4, 4))), np.full((4, 4), 0.7))


@pytest.mark.parametrize("self_mix", [True, False])
def test_pasted_region_equals_the_mask(self_mix: bool) -> None:
    gen = SelfMixGenerator(n_augment=0, self_mix=self_mix, crop_fraction=(0.3, 0.6))
    target, source = torch.zeros(3, 48, 48), torch.ones(3, 48, 48)
    for seed in range(5):
        out, mask = gen(target, source, np.random.default_rng(seed))
        assert mask.shape == (1, 48, 48) and mask.sum() > 0
        changed = (out != target).any(0)
        assert torch.equal(changed, mask[0] > 0)          # changed pixels = M_G
        inside = out[:, mask[0] > 0]
        if self_mix:                                      # P W C_s with W in [0.7, 1]
            assert float(inside.min()) >= 0.7 - 1e-6 and float(inside.max()) <= 1 + 1e-6
        else:
            assert torch.all(inside == 1)


def test_pasted_values_follow_eq4() -> None:
    gen = SelfMixGenerator(n_augment=0)
    target = _image(12, low=0.0, high=0.4)
    source = torch.full((3, 24, 24), 0.9)  # constant: C_s is known wherever it was cut
    out, mask = gen(target, source, np.random.default_rng(3))
    # where mask = 0 the target is untouched; where 1, out = PW * 0.9 + (1 - PW) * target with
    # one weight PW in [0.7, 1] for the three channels
    m = mask[0] > 0
    assert torch.equal(out[:, ~m], target[:, ~m])
    pw = (out[:, m] - target[:, m]) / (0.9 - target[:, m])
    assert torch.allclose(pw, pw[0].expand_as(pw), atol=1e-5)
    assert float(pw.min()) >= 0.7 - 1e-5 and float(pw.max()) <= 1 + 1e-5
    assert float(pw.max()) > 0.75  # the fade reaches inside the blob


def test_without_perlin_the_mask_is_a_rectangle() -> None:
    gen = SelfMixGenerator(use_perlin=False)
    out, mask = gen(_image(14, size=40), _image(15, size=40), np.random.default_rng(0))
    rows, cols = torch.nonzero(mask[0], as_tuple=True)
    box = mask[0, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert torch.all(box == 1) and int(mask.sum()) == box.numel()
    assert 0.1 * 40 - 1 <= box.shape[0] <= 0.5 * 40 + 1


def test_texture_source_and_textures() -> None:
    gen = SelfMixGenerator(source="texture")
    target = _image(16, size=40)
    out, mask = gen(target, None, np.random.default_rng(0))
    assert mask.sum() > 0 and not torch.equal(out, target)
    for kind in ("fractal", "stripes", "checker"):
        tex = procedural_texture((20, 30), 3, np.random.default_rng(1), kind)
        assert tex.shape == (3, 20, 30) and float(tex.min()) >= 0 and float(tex.max()) <= 1
        assert float(tex.std()) > 0.05


def test_batch_is_seeded_and_p_anomaly_zero_leaves_images() -> None:
    images = torch.stack([_image(s, size=32) for s in range(4)])
    gen = SelfMixGenerator()
    a, ma = gen.batch(images, np.random.default_rng(0))
    b, mb = gen.batch(images, np.random.default_rng(0))
    assert a.shape == images.shape and ma.shape == (4, 1, 32, 32)
    assert torch.equal(a, b) and torch.equal(ma, mb)
    assert all(ma[i].sum() > 0 for i in range(4))
    same, empty = SelfMixGenerator(p_anomaly=0.0).batch(images, np.random.default_rng(0))
    assert torch.equal(same, images) and empty.sum() == 0
    with pytest.raises(ValueError, match="source"):
        gen(images[0], images[0, :1], np.random.default_rng(0))
    with pytest.raises(ValueError, match="crop_fraction"):
        SelfMixGenerator(crop_fraction=(0.5, 0.2))
