"""AnoGAN (Schlegl et al., IPMI 2017): DCGAN shapes, mapping losses (Eq. 3-6), batched mapping,
eval-mode scoring, the shared trained DCGAN of anogan / gan_r / p_d, aCAE, patch mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reprolib.cache import fit_or_load
from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.anogan.method import grid_positions, random_crops
from reprolib.methods.anogan.model import (
    Discriminator,
    Generator,
    feature_matching_loss,
    map_to_latent,
    reference_discrimination_loss,
    residual_loss,
)

TINY = {"img_size": 32, "widths": [8, 8, 8, 8], "z_dim": 6, "epochs": 1, "batch_size": 4}
MAP = {"map_steps": 3, "map_batch_size": 3}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one torch thread


def tiny_gan(seed: int = 0) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    generator, discriminator = Generator(32, 1, (8, 8, 8, 8), 6), Discriminator(32, 1, (8, 8, 8, 8))
    # give BatchNorm non-trivial running statistics, as after training
    with torch.no_grad():
        for module in [*generator.modules(), *discriminator.modules()]:
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return generator.eval(), discriminator.eval()


def test_paper_sized_dcgan_shapes() -> None:
    generator, discriminator = Generator(), Discriminator()  # 64 px, 512-256-128-64, z of 100
    z = torch.rand(2, 100) * 2 - 1
    image = generator(z)
    assert image.shape == (2, 1, 64, 64)
    assert image.abs().max() <= 1
    assert discriminator(image).shape == (2,)
    assert discriminator.features(image).shape == (2, 512, 4, 4)
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.kernel_size for c in convs] == [(5, 5)] * 4
    assert [c.out_channels for c in convs] == [256, 128, 64, 1]
    with pytest.raises(ValueError, match=r"expected z of shape \(N, 100\)"):
        generator(torch.zeros(2, 7))


def test_losses_against_hand_computation() -> None:
    x = torch.tensor([[[[0.5, -1.0], [0.0, 1.0]]]])
    g = torch.tensor([[[[0.0, -0.5], [0.25, 1.0]]]])
    assert residual_loss(x, g).tolist() == [pytest.approx(0.5 + 0.5 + 0.25)]  # Eq. 3
    fx, fg = torch.tensor([[1.0, 2.0, -3.0]]), torch.tensor([[0.5, 2.0, 1.0]])
    assert feature_matching_loss(fx, fg).tolist() == [pytest.approx(4.5)]  # Eq. 4
    logits = torch.tensor([0.0, 2.0, -30.0])
    expected = [math.log(2), -math.log(1 / (1 + math.exp(-2))), 30.0]  # -log sigmoid(logit)
    assert reference_discrimination_loss(logits).tolist() == pytest.approx(expected, rel=1e-6)


def test_scores_are_eq6_at_the_last_step() -> None:
    generator, discriminator = tiny_gan()
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    z0 = torch.rand(2, 6) * 2 - 1
    result = map_to_latent(x, generator, discriminator, steps=0, lam=0.25, z_init=z0)
    with torch.no_grad():
        gz = generator(z0)
        r = (x - gz).abs().sum(dim=(1, 2, 3))
        d = (discriminator.features(x) - discriminator.features(gz)).abs().sum(dim=(1, 2, 3))
    torch.testing.assert_close(result.residual, r)
    torch.testing.assert_close(result.discrimination, d)
    torch.testing.assert_close(result.score, 0.75 * r + 0.25 * d)
    ref = map_to_latent(x, generator, discriminator, steps=0, z_init=z0,
                        discrimination="reference")
    torch.testing.assert_close(ref.discrimination, torch.nn.functional.softplus(
        -discriminator(gz)))


@pytest.mark.parametrize("kind", ["feature", "reference"])
def test_batched_mapping_equals_one_image_at_a_time(kind: str) -> None:
    generator, discriminator = tiny_gan()
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    z0 = torch.rand(4, 6) * 2 - 1
    batch = map_to_latent(x, generator, discriminator, steps=8, z_init=z0, discrimination=kind)
    for i in range(4):
        alone = map_to_latent(x[i:i + 1], generator, discriminator, steps=8, z_init=z0[i:i + 1],
                              discrimination=kind)
        torch.testing.assert_close(alone.z, batch.z[i:i + 1], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(alone.score, batch.score[i:i + 1], rtol=1e-4, atol=1e-4)


def test_mapping_moves_only_z_and_lowers_the_loss() -> None:
    generator, discriminator = tiny_gan()
    before = [p.clone() for p in generator.parameters()]
    target = generator(torch.rand(3, 6) * 2 - 1).detach()
    z0 = torch.rand(3, 6) * 2 - 1
    start = map_to_latent(target, generator, discriminator, steps=0, z_init=z0)
    end = map_to_latent(target, generator, discriminator, steps=40, lr=0.05, z_init=z0)
    assert (end.score < start.score).all()
    assert end.z.abs().max() <= 1  # clipped to the support of the prior
    assert all(torch.equal(a, b) for a, b in zip(before, generator.parameters()))
    assert all(p.requires_grad for p in generator.parameters())


def test_mapping_refuses_train_mode() -> None:
    generator, discriminator = tiny_gan()
    generator.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        map_to_latent(torch.zeros(1, 1, 32, 32), generator, discriminator, steps=1)


@pytest.mark.parametrize("name", ["dcgan", "p_d", "anogan", "gan_r", "acae"])
def test_fit_and_score_in_eval_mode(name: str, tiny_dataset, isolated_dirs) -> None:
    from tinydata import TinyDataset

    config = {**TINY, **(MAP if name in ("anogan", "gan_r", "acae") else {})}
    config.pop("map_steps") if name == "acae" else None
    method = create_method(name, config, seed=0, device="cpu")
    method.fit(tiny_dataset)
    test = TinyDataset(n=5, anomalous=2, seed=1)
    scores = method.score(test)
    assert all(not m.training for m in method.modules().values())
    assert scores.image.shape == (5,) and np.isfinite(scores.image).all()
    if name in ("anogan", "gan_r", "acae"):
        assert scores.maps is not None and scores.maps.shape == (5, 32, 32)
        assert set(scores.extra) == {"residual", "discrimination_ref" if name == "gan_r"
                                     else "discrimination"}
    # eval mode: an image's score does not depend on the other images of the batch
    single = TinyDataset(n=5, anomalous=2, seed=1)
    single.images, single.labels = single.images[3:4], single.labels[3:4]
    np.testing.assert_allclose(method.score(single).image, scores.image[3:4], rtol=1e-4)


def test_anogan_gan_r_p_d_share_one_trained_dcgan(tiny_dataset, isolated_dirs) -> None:
    anogan = fit_or_load("anogan", {**TINY, **MAP}, tiny_dataset, seed=0, device="cpu")
    gan_r = fit_or_load("gan_r", {**TINY, "map_steps": 7}, tiny_dataset, seed=0, device="cpu")
    p_d = fit_or_load("p_d", TINY, tiny_dataset, seed=0, device="cpu")
    dcgan_files = list((isolated_dirs / "cache" / "models" / "dcgan").glob("*.pt"))
    assert len(dcgan_files) == 1  # trained once, whatever the mapping settings
    for other in (gan_r, p_d):
        for a, b in zip(anogan.generator.state_dict().values(),
                        other.generator.state_dict().values()):
            assert torch.equal(a, b)
    assert anogan.history and anogan.history == p_d.history


def test_patch_mode_scores_whole_images(isolated_dirs) -> None:
    from tinydata import TinyDataset

    config = {**TINY, **MAP, "img_size": 64, "patch_size": 32, "patches_per_image": 2,
              "patch_stride": 16}
    method = create_method("anogan", config, device="cpu").fit(TinyDataset(n=4, size=64))
    test = TinyDataset(n=2, size=64, anomalous=1)
    scores = method.score(test)
    assert scores.image.shape == (2,) and scores.maps.shape == (2, 64, 64)
    assert grid_positions(64, 32, 16) == [0, 16, 32] and grid_positions(70, 32, 32) == [0, 32, 38]
    crops = random_crops(torch.zeros(3, 1, 64, 64), 32, 2, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 1, 32, 32)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 64, 64\)"):
        method.score(TinyDataset(n=2, size=32))


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 60}, "multiple of 2\\*\\*len\\(widths\\) = 16"),
    ({"lam": 1.5}, "'lam': expected a value in \\[0, 1\\]"),
    ({"patch_size": 128}, "patch_size: expected 0"),
    ({"map_step": 5}, "unknown config key 'map_step'"),
    ({"patch_reduce": "median"}, "expected one of \\['mean', 'max'\\]"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("anogan", values, device="cpu")
