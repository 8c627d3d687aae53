"""RD4AD networks (Deng & Li: "Anomaly Detection via Reverse Distillation from One-Class
Embedding", CVPR 2022).

- Teacher encoder: an ImageNet (Wide)ResNet, frozen; features of layer1-3 (§3.1).
- One-class bottleneck embedding, OCBE (§3.2, Fig. 3): multi-scale feature fusion brings layer1
  (two stride-2 3x3 conv + BN + ReLU) and layer2 (one) to layer3's resolution, concatenates the
  three, and a residual stage like layer4 (one-class embedding, OCE) compresses them to a
  layer4-shaped embedding.
- Student decoder (§3.1): the encoder mirrored: three residual stages whose first block
  upsamples with a 2x2 stride-2 transposed convolution, producing maps shaped like layer3,
  layer2 and layer1.

Loss: sum over the three stages of 1 - cosine similarity of each sample's flattened maps,
batch-averaged, as the public code and REFERENCE_NOTES do (``form="flattened"``); the paper's
Eqs. 1-2 write the mean over pixels of the per-pixel 1 - cosine instead (``form="per_pixel"``).
Map (Eq. 3): sum over stages of the upsampled per-pixel 1 - cosine.

Stage sizes per backbone, following the public code's choices: ``wide_resnet50_2`` and
``resnet50`` (bottleneck blocks): OCE 3 blocks, decoder 3/4/6 blocks; ``resnet18`` (basic
blocks, a smaller option for CPU profiles): OCE 2 blocks, decoder 2/2/2;
``efficientnet_lite0`` (the packaged ImageNet weights, issue 9): the ResNet-18 layout with the
Lite0 stage widths (24, 40, 112; OCE 320), its basic blocks built at those widths.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from reprolib.blocks.distill import flat_cosine_distance, pixel_cosine_distance, upsample_maps

#: backbone -> (bottleneck blocks?, base width per group, OCE blocks, decoder blocks per stage)
RD4AD_BACKBONES: dict[str, tuple[bool, int, int, tuple[int, int, int]]] = {
    "wide_resnet50_2": (True, 128, 3, (3, 4, 6)),
    "resnet50": (True, 64, 3, (3, 4, 6)),
    "resnet18": (False, 64, 2, (2, 2, 2)),
    "efficientnet_lite0": (False, 64, 2, (2, 2, 2)),
}
#: backbone -> block ``planes`` of encoder stages 1-3 and of the one-class embedding (stage 4).
RD4AD_PLANES: dict[str, tuple[int, int, int, int]] = {
    "wide_resnet50_2": (64, 128, 256, 512),
    "resnet50": (64, 128, 256, 512),
    "resnet18": (64, 128, 256, 512),
    "efficientnet_lite0": (24, 40, 112, 320),
}


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class DeBasicBlock(nn.Module):
    """Basic residual block whose stride-2 version upsamples with a 2x2 transposed conv."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 upsample: nn.Module | None = None, base_width: int = 64) -> None:
        super().__init__()
        del base_width
        self.conv1 = (nn.ConvTranspose2d(inplanes, planes, 2, stride=2, bias=False) if stride == 2
                      else nn.Conv2d(inplanes, planes, 3, padding=1, bias=False))
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.upsample is None else self.upsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class DeBottleneck(nn.Module):
    """Bottleneck block (1x1, 3x3, 1x1) whose stride-2 version has a 2x2 transposed conv in
    place of the strided 3x3 convolution."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 upsample: nn.Module | None = None, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * base_width / 64)
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = (nn.ConvTranspose2d(width, width, 2, stride=2, bias=False) if stride == 2
                      else nn.Conv2d(width, width, 3, padding=1, bias=False))
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.upsample is None else self.upsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _encoder_stage(bottleneck: bool, inplanes: int, planes: int, blocks: int,
                   base_width: int) -> nn.Sequential:
    """A stride-2 ResNet stage (torchvision blocks) from ``inplanes`` channels."""
    block = Bottleneck if bottleneck else BasicBlock
    out = planes * block.expansion
    downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=2, bias=False),
                               nn.BatchNorm2d(out))
    layers: list[nn.Module] = [block(inplanes, planes, 2, downsample, base_width=base_width)]
    layers += [block(out, planes, base_width=base_width) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _decoder_stage(bottleneck: bool, inplanes: int, planes: int, blocks: int,
                   base_width: int) -> nn.Sequential:
    """A stage that doubles the resolution (first block upsamples) from ``inplanes`` channels."""
    block = DeBottleneck if bottleneck else DeBasicBlock
    out = planes * block.expansion
    upsample = nn.Sequential(nn.ConvTranspose2d(inplanes, out, 2, stride=2, bias=False),
                             nn.BatchNorm2d(out))
    layers: list[nn.Module] = [block(inplanes, planes, 2, upsample, base_width=base_width)]
    layers += [block(out, planes, base_width=base_width) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class OneClassBottleneck(nn.Module):
    """OCBE (§3.2): multi-scale feature fusion of layer1-3, then the one-class embedding stage."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        bottleneck, base_width, oce_blocks, _ = RD4AD_BACKBONES[backbone]
        e = Bottleneck.expansion if bottleneck else BasicBlock.expansion
        p1, p2, p3, p4 = RD4AD_PLANES[backbone]
        c1, c2, c3 = p1 * e, p2 * e, p3 * e
        self.fuse1 = nn.Sequential(_conv_bn_relu(c1, c2), _conv_bn_relu(c2, c3))
        self.fuse2 = _conv_bn_relu(c2, c3)
        self.oce = _encoder_stage(bottleneck, 3 * c3, p4, oce_blocks, base_width)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        f1, f2, f3 = feats
        return self.oce(torch.cat([self.fuse1(f1), self.fuse2(f2), f3], dim=1))


class ReverseDecoder(nn.Module):
    """Student decoder (§3.1): layer4-shaped embedding -> maps shaped like layer3, 2, 1.
    Returns them in encoder order ``[layer1-like, layer2-like, layer3-like]``."""

    def __init__(self, backbone: str) -> None:
        super().__init__()
        bottleneck, base_width, _, blocks = RD4AD_BACKBONES[backbone]
        e = DeBottleneck.expansion if bottleneck else DeBasicBlock.expansion
        p1, p2, p3, p4 = RD4AD_PLANES[backbone]
        self.stage3 = _decoder_stage(bottleneck, p4 * e, p3, blocks[0], base_width)
        self.stage2 = _decoder_stage(bottleneck, p3 * e, p2, blocks[1], base_width)
        self.stage1 = _decoder_stage(bottleneck, p2 * e, p1, blocks[2], base_width)

    def forward(self, embedding: torch.Tensor) -> list[torch.Tensor]:
        d3 = self.stage3(embedding)
        d2 = self.stage2(d3)
        d1 = self.stage1(d2)
        return [d1, d2, d3]


def rd4ad_loss(encoder: Sequence[torch.Tensor], decoder: Sequence[torch.Tensor],
               form: str = "flattened") -> torch.Tensor:
    """Sum over stages of the batch mean of 1 - cos(vec(f_E), vec(f_D)) (``"flattened"``, the
    public code) or of the pixel mean of the per-pixel 1 - cos (``"per_pixel"``, Eq. 2)."""
    if form not in ("flattened", "per_pixel"):
        raise ValueError(f"form: expected 'flattened' or 'per_pixel', got {form!r}")
    distance = flat_cosine_distance if form == "flattened" else pixel_cosine_distance
    return torch.stack([distance(e, d).mean()
                        for e, d in zip(encoder, decoder, strict=True)]).sum()


def rd4ad_anomaly_map(encoder: Sequence[torch.Tensor], decoder: Sequence[torch.Tensor],
                      size: int | tuple[int, int]) -> torch.Tensor:
    """Eq. 3: sum over stages of the bilinearly upsampled per-pixel 1 - cosine -> (B, H, W)."""
    maps = [pixel_cosine_distance(e, d) for e, d in zip(encoder, decoder, strict=True)]
    return torch.stack(upsample_maps(maps, size, align_corners=True)).sum(0)
