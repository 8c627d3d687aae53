"""STFPM networks, loss and anomaly map (Wang, Wu, Cui, Wang: "Student-Teacher Feature Pyramid
Matching for Anomaly Detection", BMVC 2021). Written from the paper; the public code is GPL and
was not copied.

Teacher: an ImageNet ResNet-18 cut after layer3, frozen. Student: the same architecture from
random initialisation. Features of layer1-3 are L2-normalised over channels (Eq. 1);
per layer l the loss is 1/(2 h_l w_l) * sum_ij ||F_t - F_s||^2 (Eq. 2), summed over layers with
weights 1 (Eq. 3). The anomaly map of layer l is 1/2 ||F_t - F_s||^2 per pixel, bilinearly
upsampled to the input size; the final map is their product and the score its maximum (test stage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from reprolib.blocks.distill import upsample_maps


def layer_distance_maps(teacher: Mapping[str, torch.Tensor], student: Mapping[str, torch.Tensor],
                        layers: Sequence[str]) -> list[torch.Tensor]:
    """Per layer: 1/2 ||F^_t - F^_s||^2 at every pixel (features L2-normalised over channels,
    Eq. 1); each (B, h_l, w_l)."""
    maps = []
    for layer in layers:
        t, s = teacher[layer], student[layer]
        if t.shape != s.shape:
            raise ValueError(f"layer {layer}: teacher {tuple(t.shape)} and student "
                             f"{tuple(s.shape)} features differ in shape")
        diff = F.normalize(t, dim=1) - F.normalize(s, dim=1)
        maps.append(0.5 * (diff ** 2).sum(dim=1))
    return maps


def stfpm_loss(teacher: Mapping[str, torch.Tensor], student: Mapping[str, torch.Tensor],
               layers: Sequence[str]) -> torch.Tensor:
    """Eqs. 2-3: sum over layers of the pixel-mean of 1/2 ||F^_t - F^_s||^2, batch-averaged."""
    return torch.stack([m.mean() for m in layer_distance_maps(teacher, student, layers)]).sum()


def stfpm_anomaly_map(teacher: Mapping[str, torch.Tensor], student: Mapping[str, torch.Tensor],
                      layers: Sequence[str], size: int | tuple[int, int]) -> torch.Tensor:
    """Test stage: product over layers of the upsampled per-layer maps -> (B, H, W)."""
    maps = upsample_maps(layer_distance_maps(teacher, student, layers), size)
    out = maps[0]
    for m in maps[1:]:
        out = out * m
    return out
