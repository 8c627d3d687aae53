"""reprolib.blocks.losses.focal_loss against ReSynthDetect's Eq. 2 by hand."""

from __future__ import annotations

import math

import pytest
import torch

from reprolib.blocks.losses import focal_loss


def test_focal_loss_is_eq2_by_hand() -> None:
    logits = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p = [1 / (1 + math.exp(-v)) for v in (0.0, 2.0, -1.0, 3.0)]
    terms = [-(1 - p[0]) ** 2 * math.log(p[0]), -p[1] ** 2 * math.log(1 - p[1]),
             -(1 - p[2]) ** 2 * math.log(p[2]), -p[3] ** 2 * math.log(1 - p[3])]
    assert focal_loss(logits, target).item() == pytest.approx(sum(terms) / 4, rel=1e-6)
    assert focal_loss(logits, target, reduction="sum").item() == pytest.approx(sum(terms),
                                                                                 rel=1e-6)
    # gamma 0 is binary cross-entropy
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    assert focal_loss(logits, target, gamma=0).item() == pytest.approx(bce.item(), rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        focal_loss(logits, target[0])
