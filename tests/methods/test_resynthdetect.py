"""ReSynthDetect: top-10 score, E_r / E_l concatenation shapes, Table 3 variants, the LR
schedule, one training step of each stage, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.resynthdetect.method import VARIANTS, top_k_mean, warmup_cosine
from reprolib.methods.resynthdetect.model import LocalisationUNet, ReconstructionAE

TINY = {"img_size": 32, "rec_base": 4, "loc_base": 4, "depth": 3, "epochs": 1,
        "batch_size": 4, "in_channels": 3}


def test_top_10_mean_by_hand() -> None:
    maps = torch.zeros(2, 6, 6)
    values = torch.arange(1, 13, dtype=torch.float32) / 12   # 12 values, the top 10 are 3..12
    maps[0].view(-1)[torch.randperm(36, generator=torch.Generator().manual_seed(0))[:12]] = values
    maps[1] = 0.5
    expect = sum(range(3, 13)) / 12 / 10
    torch.testing.assert_close(top_k_mean(maps, 10), torch.tensor([expect, 0.5]))


def test_encoder_features_are_concatenated_at_every_level() -> None:
    ae = ReconstructionAE(3, base=4, depth=5).eval()
    x = torch.rand(2, 3, 32, 32)
    feats = ae.features(x)
    assert [tuple(f.shape) for f in feats] == [(2, 4, 32, 32), (2, 8, 16, 16), (2, 16, 8, 8),
                                               (2, 32, 4, 4), (2, 32, 2, 2)]
    assert ae(x).shape == x.shape
    loc = LocalisationUNet(3, base=6, depth=5, rec_widths=ae.encoder.widths).eval()
    fused = loc.encode(x, feats)
    assert [tuple(f.shape) for f in fused] == [(2, 4 + 6, 32, 32), (2, 8 + 12, 16, 16),
                                               (2, 16 + 24, 8, 8), (2, 32 + 48, 4, 4),
                                               (2, 32 + 48, 2, 2)]
    for f_c, f_r in zip(fused, feats):
        torch.testing.assert_close(f_c[:, :f_r.shape[1]], f_r)   # F_c = concat(F_r, F_l)
    # the next level of E_l reads F_c: its first conv takes w_l + w_r channels
    assert [b[0].in_channels for b in loc.enc_blocks] == [3, 4 + 6, 8 + 12, 16 + 24, 32 + 48]
    assert loc(x, feats).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="rec_feats"):
        loc(x)
    plain = LocalisationUNet(3, base=6, depth=5)
    assert plain(x).shape == (2, 1, 32, 32)


def test_warmup_then_cosine_schedule() -> None:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
    sched = warmup_cosine(opt, total_steps=100, warmup_steps=10, min_lr=2.5e-5,
                          start_factor=0.01)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(5e-7)
    assert lrs[10] == pytest.approx(5e-5)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))          # warm-up rises
    assert all(a >= b - 1e-15 for a, b in zip(lrs[10:], lrs[11:]))   # cosine falls
    assert lrs[100] == pytest.approx(2.5e-5)
    assert lrs[55] == pytest.approx(2.5e-5 + 0.5 * 2.5e-5 * (1 + np.cos(np.pi * 45 / 90)))


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_one_step_of_each_stage_trains_the_right_net() -> None:
    data = SquaresSet(n=4, size=32, channels=3, anomalous=0)
    method = create_method("resynthdetect", TINY, seed=0, device="cpu")
    ae0, loc0 = _params(method.ae), _params(method.loc)
    method.fit_reconstruction(data)                       # one batch of 4: one step
    ae1 = _params(method.ae)
    assert any(not torch.equal(a, b) for a, b in zip(ae0, ae1))
    assert all(torch.equal(a, b) for a, b in zip(loc0, _params(method.loc)))
    assert [r["epoch"] for r in method.history] == [1.0] and "rec_l2" in method.history[0]
    method.ae.eval()
    method.fit_localisation(data)                         # one step of stage 2
    assert all(torch.equal(a, b) for a, b in zip(ae1, _params(method.ae)))  # E_r frozen
    assert any(not torch.equal(a, b) for a, b in zip(loc0, _params(method.loc)))
    record = method.history[-1]
    # one step in all: no room for a warm-up (a tenth of 1 step is 0), the cosine starts at lr
    assert np.isfinite(record["focal"]) and record["lr"] == pytest.approx(5e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_table3_variant_fits_and_scores(variant: str, tmp_path: Path) -> None:
    train = SquaresSet(n=4, size=32, channels=3, anomalous=0)
    test = SquaresSet(n=4, size=32, channels=3, anomalous=2, seed=1)
    method = create_method("resynthdetect", {**TINY, "variant": variant}, seed=0,
                           device="cpu").fit(train)
    keys = {k for r in method.history for k in r}
    assert ("rec_l2" in keys) == (variant in ("full", "rec_only", "rec_image"))
    assert ("focal" in keys) == (variant != "rec_only")
    scores = assert_scoring_is_eval_mode(method, test)
    check_scores(scores, 4, 32)
    if variant != "rec_only":
        assert (scores.maps <= 1).all()
        np.testing.assert_allclose(
            scores.image, top_k_mean(torch.as_tensor(scores.maps), 10).numpy(), rtol=1e-6)
    check_save_load(method, test, tmp_path)


def test_table4_switches_reach_the_generator() -> None:
    method = create_method("resynthdetect", {**TINY, "use_perlin": False, "self_mix": False,
                                             "anomaly_source": "texture"}, device="cpu")
    g = method.generator
    assert (g.use_perlin, g.self_mix, g.source, g.alpha) == (False, False, "texture", 0.7)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        create_method("resynthdetect", {**TINY, "img_size": 30}, device="cpu")
    with pytest.raises(ConfigError, match="variant"):
        create_method("resynthdetect", {**TINY, "variant": "both"}, device="cpu")


def test_step_budgets_of_both_stages() -> None:
    data = SquaresSet(n=8, size=32, channels=3, anomalous=0)   # 2 batches of 4 per epoch
    method = create_method("resynthdetect", {**TINY, "rec_steps": 3, "steps": 5,
                                             "epochs": 50}, device="cpu").fit(data)
    rec = [r for r in method.history if "rec_l2" in r]
    loc = [r for r in method.history if "focal" in r]
    assert [r["steps"] for r in rec] == [2.0, 3.0]                # stage 1: 3 steps
    assert [r["steps"] for r in loc] == [5.0, 7.0, 8.0]           # then 5 more, cumulative
    # the schedule spans the budget: the last step's lr is near min_lr, not lr
    assert loc[-1]["lr"] < 5e-5 and method.convergence_key == "focal"
