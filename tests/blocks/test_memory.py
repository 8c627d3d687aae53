"""Tests of ProxyAno's memory (reprolib.blocks.memory): nearest-item lookup against brute
force (Eq. 2), the EMA update against hand computation (Eq. 6), the straight-through gradient,
initialisation from the first batch, no update in eval mode."""

from __future__ import annotations

import pytest
import torch

from reprolib.blocks.memory import NearestMemory, commitment_loss


def test_lookup_is_the_nearest_item_at_every_position() -> None:
    torch.manual_seed(0)
    mem = NearestMemory(items=16, dim=4).eval()
    z = torch.randn(2, 4, 3, 5)
    out, index = mem(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    brute = torch.cdist(flat, mem.memory).argmin(dim=1)
    assert index.shape == (2, 3, 5)
    assert torch.equal(index.reshape(-1), brute)
    expected = mem.memory[brute].reshape(2, 3, 5, 4).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected)


def test_ema_update_against_hand_computation() -> None:
    mem = NearestMemory(items=2, dim=1, gamma=0.5, eps=0.0).train()
    with torch.no_grad():
        mem.memory.copy_(torch.tensor([[0.0], [10.0]]))
        mem.ema_sum.copy_(mem.memory)
        mem.ema_count.fill_(1.0)
        mem.initialised.fill_(True)
    z = torch.tensor([1.0, 2.0, 9.0]).reshape(1, 1, 1, 3)  # -> items 0, 0, 1
    out, index = mem(z)
    assert index.reshape(-1).tolist() == [0, 0, 1]
    torch.testing.assert_close(out.reshape(-1), torch.tensor([0.0, 0.0, 10.0]))  # pre-update
    # N = 0.5*1 + 0.5*[2, 1] = [1.5, 1.0]; e = 0.5*[0, 10] + 0.5*[3, 9] = [1.5, 9.5]
    torch.testing.assert_close(mem.ema_count, torch.tensor([1.5, 1.0]))
    torch.testing.assert_close(mem.ema_sum.reshape(-1), torch.tensor([1.5, 9.5]))
    torch.testing.assert_close(mem.memory.reshape(-1), torch.tensor([1.0, 9.5]))


def test_laplace_smoothing_matches_vqvae() -> None:
    mem = NearestMemory(items=2, dim=1, gamma=0.0, eps=0.5).train()
    with torch.no_grad():
        mem.memory.copy_(torch.tensor([[0.0], [10.0]]))
        mem.initialised.fill_(True)
    mem(torch.tensor([1.0, 3.0]).reshape(1, 1, 1, 2))  # both to item 0
    # N = [2, 0]; n = 2; smoothed = (N + 0.5) / (2 + 1) * 2 = [5/3, 1/3]; e = [4, 0]
    torch.testing.assert_close(mem.memory.reshape(-1), torch.tensor([4 / (5 / 3), 0.0]))


def test_straight_through_gradient_is_the_identity() -> None:
    torch.manual_seed(1)
    mem = NearestMemory(items=8, dim=3).eval()
    z = torch.randn(2, 3, 2, 2, requires_grad=True)
    weights = torch.randn(2, 3, 2, 2)
    out, _ = mem(z)
    (out * weights).sum().backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, weights)
    assert commitment_loss(z, out).item() == pytest.approx(((z - out) ** 2).mean().item())


def test_first_training_batch_initialises_the_items_and_eval_does_not_update() -> None:
    torch.manual_seed(2)
    mem = NearestMemory(items=4, dim=2, gamma=0.99)
    assert not bool(mem.initialised)
    z = torch.randn(1, 2, 3, 3)
    out, _ = mem.train()(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 2)
    # the items returned (taken before the EMA step) are rows of the batch
    for row in out.detach().permute(0, 2, 3, 1).reshape(-1, 2):
        assert any(torch.allclose(row, f, atol=1e-6) for f in flat)
    assert bool(mem.initialised)
    frozen = {k: v.clone() for k, v in mem.state_dict().items()}
    mem.eval()(torch.randn(1, 2, 3, 3))
    for key, value in mem.state_dict().items():
        assert torch.equal(value, frozen[key]), key


def test_initial_items_are_rows_of_the_first_batch() -> None:
    torch.manual_seed(3)
    mem = NearestMemory(items=4, dim=2)
    flat = torch.randn(9, 2)
    mem.init_from(flat)
    for row in mem.memory:
        assert any(torch.equal(row, f) for f in flat)
    assert torch.equal(mem.ema_sum, mem.memory) and torch.equal(mem.ema_count, torch.ones(4))


def test_bad_latent_shape() -> None:
    with pytest.raises(ValueError, match=r"expected latents \(N, 4, h, w\)"):
        NearestMemory(items=2, dim=4)(torch.zeros(1, 3, 2, 2))
