"""Loss functions shared by the synthetic-anomaly methods (ReSynthDetect, DRAEM).

``focal_loss`` is torchvision's ``sigmoid_focal_loss`` with no class weighting (``alpha=-1``),
which is exactly ReSynthDetect's Eq. 2: ``-(1 - p)^gamma log p`` on anomalous pixels and
``-p^gamma log(1 - p)`` on normal ones, p = sigmoid(logit), averaged over pixels (DRAEM's
focal loss with gamma 2 is the same on its 2-class softmax, whose p is a sigmoid of the logit
difference).
"""

from __future__ import annotations

import torch
from torchvision.ops import sigmoid_focal_loss


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               reduction: str = "mean") -> torch.Tensor:
    """Binary focal loss (ReSynthDetect Eq. 2, gamma = tau = 2) of ``logits`` against the 0/1
    ``target`` of the same shape; ``reduction`` ``mean`` (default), ``sum`` or ``none``."""
    if logits.shape != target.shape:
        raise ValueError(f"focal_loss: logits {tuple(logits.shape)} and target "
                         f"{tuple(target.shape)} must have the same shape")
    return sigmoid_focal_loss(logits, target.to(logits.dtype), alpha=-1, gamma=gamma,
                              reduction=reduction)
