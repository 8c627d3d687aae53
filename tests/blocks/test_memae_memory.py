"""Tests of MemAE's memory (reprolib.blocks.memae_memory): hard shrinkage and addressing on
hand-made weight vectors, the entropy loss by hand, spatial layout, gradients, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from reprolib.blocks.memae_memory import MemAEMemory, hard_shrink_relu, memae_entropy


def test_hard_shrinkage_keeps_weights_above_the_threshold() -> None:
    w = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = hard_shrink_relu(w, 0.1)
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.3, 0.15, 0.0]]))
    assert float(hard_shrink_relu(torch.tensor(0.1), 0.1)) == 0.0  # w = λ is dropped


def memory_with_identity_items(shrink: float | None) -> MemAEMemory:
    memory = MemAEMemory(4, 4, shrink_thres=shrink, similarity="dot")
    with torch.no_grad():
        memory.items.copy_(torch.eye(4))
    return memory


def test_addressing_against_hand_computation() -> None:
    # dot products with identity items = the query, so softmax(log p) = p
    p = torch.tensor([0.6, 0.25, 0.1, 0.05])
    query = torch.log(p)[None]
    default = memory_with_identity_items(None)  # λ = 1/N = 0.25: only 0.6 survives
    assert default.shrink_thres == pytest.approx(0.25)
    z_hat, att = default(query)
    torch.testing.assert_close(att, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(z_hat, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    z_hat, att = memory_with_identity_items(0.2)(query)  # 0.6 and 0.25 survive, renormalised
    expected = torch.tensor([[0.6, 0.25, 0.0, 0.0]]) / 0.85
    torch.testing.assert_close(att, expected)
    torch.testing.assert_close(z_hat, expected)  # w @ I
    _, att = memory_with_identity_items(0.0)(query)  # no shrinkage: the softmax itself
    torch.testing.assert_close(att, p[None])


def test_cosine_addressing_ignores_the_query_norm() -> None:
    torch.manual_seed(0)
    cosine = MemAEMemory(10, 6, similarity="cosine")
    dot = MemAEMemory(10, 6, similarity="dot")
    dot.load_state_dict(cosine.state_dict())
    q = torch.randn(3, 6)
    torch.testing.assert_close(cosine(q)[1], cosine(5 * q)[1])
    assert not torch.allclose(dot(q)[1], dot(5 * q)[1])
    att = cosine(q)[1]
    torch.testing.assert_close(att.sum(dim=1), torch.ones(3))
    assert (att >= 0).all()


def test_entropy_by_hand() -> None:
    att = torch.tensor([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert float(memae_entropy(att)) == pytest.approx(math.log(2) / 2, abs=1e-6)
    spatial = att.t().reshape(1, 4, 1, 2)  # the same two queries as a (B, N, H, W) map
    assert float(memae_entropy(spatial)) == pytest.approx(math.log(2) / 2, abs=1e-6)


def test_spatial_maps_address_every_position_and_pass_gradients() -> None:
    torch.manual_seed(0)
    memory = MemAEMemory(7, 5)
    z = torch.randn(2, 5, 3, 4, requires_grad=True)
    z_hat, att = memory(z)
    assert z_hat.shape == z.shape and att.shape == (2, 7, 3, 4)
    flat_hat, flat_att = memory(z.permute(0, 2, 3, 1).reshape(-1, 5))
    torch.testing.assert_close(z_hat.permute(0, 2, 3, 1).reshape(-1, 5), flat_hat)
    torch.testing.assert_close(att.permute(0, 2, 3, 1).reshape(-1, 7), flat_att)
    (z_hat.sum() + memae_entropy(att)).backward()
    assert z.grad is not None and memory.items.grad is not None
    assert torch.isfinite(memory.items.grad).all() and memory.items.grad.abs().sum() > 0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"expected \(B, 5\) or \(B, 5, H, W\), got \(2, 4\)"):
        MemAEMemory(3, 5)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="similarity expected"):
        MemAEMemory(3, 5, similarity="l2")  # type: ignore[arg-type]
