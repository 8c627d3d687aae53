"""Hetero-AE networks (Lu et al., TIP 2024): CNN encoder, hybrid CNN-Transformer decoder.

- Encoder (§III-B1): the first four stages of a classification backbone (ResNet-18 by default)
  giving F_E^1..F_E^4; F_E^4 feeds the decoder. Ablation encoders (Tables II and IV):
  EfficientNet-B0, Swin-T and a CNN+Transformer encoder built from the decoder's own modules.
- Decoder (§III-B2, Fig. 2c): three hybrid modules producing F_D^3, F_D^2, F_D^1. Each splits
  its input with 1x1 convolutions into parallel branches (a conv block and a Multi-scale Sparse
  Transformer Block by default), concatenates them, fuses with a 1x1 convolution and upsamples
  by 2. The ablation decoders of Tables II-III swap the branch blocks in the same skeleton.
- MSTB (§III-C, Fig. 3, Eqs. 1-3): local tokens (+ learned position embedding) are the queries;
  two regional token sets from non-overlapping p1 x p1 and p2 x p2 patch projections (+ their
  own position embeddings) are keys and values, h/2 heads per scale; the two multi-head outputs
  are concatenated (Z), then LayerNorm and MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.feature_taps import FeatureTaps

#: Feature taps (stride 4, 8, 16, 32) of each encoder backbone, and whether they are NHWC.
ENCODER_TAPS: dict[str, tuple[tuple[str, ...], bool]] = {
    "resnet18": (("layer1", "layer2", "layer3", "layer4"), False),
    "efficientnet_b0": (("features.2", "features.3", "features.5", "features.7"), False),
    "efficientnet_lite0": (("features.2", "features.3", "features.5", "features.7"), False),
    "swin_t": (("features.1", "features.3", "features.5", "features.7"), True),
}
#: Channels of those taps (C1, C2, C3, C4).
ENCODER_CHANNELS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (64, 128, 256, 512),
    "efficientnet_b0": (24, 40, 112, 320),
    "efficientnet_lite0": (24, 40, 112, 320),
    "swin_t": (96, 192, 384, 768),
}
BRANCH_KINDS: tuple[str, ...] = ("conv", "mstb", "resnet", "mbconv", "swin", "pvt", "cmt")


def _resize_tokens(pos: torch.Tensor, old: tuple[int, int], new: tuple[int, int]) -> torch.Tensor:
    """Bicubically resize a (1, old_h*old_w, C) position embedding to a new token grid."""
    if old == new:
        return pos
    grid = pos.reshape(1, old[0], old[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new, mode="bicubic", align_corners=False)
    return grid.flatten(2).transpose(1, 2)


def _pos_embedding(tokens: int, dim: int) -> nn.Parameter:
    param = nn.Parameter(torch.zeros(1, tokens, dim))
    nn.init.trunc_normal_(param, std=0.02)
    return param


class Mlp(nn.Sequential):
    """Transformer MLP: Linear, GELU, Linear."""

    def __init__(self, dim: int, ratio: float) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class RegionalTokens(nn.Module):
    """Regional information of §III-C: non-overlapping p x p patches, flattened to p^2*C and
    projected by E in R^{(p^2 C) x C} (a p x p convolution with stride p), plus a learned
    position embedding E_pos^p in R^{N_p x C}."""

    def __init__(self, dim: int, patch: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.patch = patch
        self.grid = (size[0] // patch, size[1] // patch)
        self.proj = nn.Conv2d(dim, dim, patch, stride=patch)
        self.pos = _pos_embedding(self.grid[0] * self.grid[1], dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x)
        grid = (tokens.shape[2], tokens.shape[3])
        return tokens.flatten(2).transpose(1, 2) + _resize_tokens(self.pos, self.grid, grid)


class MultiScaleSparseTransformerBlock(nn.Module):
    """MSTB (§III-C, Eqs. 1-3): queries from the H*W local tokens, keys/values from H*W/p1^2
    and H*W/p2^2 regional tokens (p1 = p2 / 2), h/2 heads per scale, concatenated to Z, then
    LayerNorm and MLP. Residual connections around attention and MLP follow ViT."""

    def __init__(self, dim: int, size: tuple[int, int], heads: int, p2: int,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if heads < 2 or heads % 2:
            raise ValueError(f"MSTB heads: expected an even number >= 2 (h/2 per scale), "
                             f"got {heads}")
        if dim % heads:
            raise ValueError(f"MSTB: channels {dim} not divisible by heads {heads}")
        if p2 < 2 or p2 % 2:
            raise ValueError(f"MSTB p2: expected an even patch size >= 2 (p1 = p2/2), got {p2}")
        if size[0] % p2 or size[1] % p2:
            raise ValueError(f"MSTB: feature map {size} not divisible by patch size p2={p2}")
        self.dim, self.heads, self.size = dim, heads, size
        self.patches = (p2 // 2, p2)
        self.head_dim = dim // heads
        self.pos_local = _pos_embedding(size[0] * size[1], dim)
        self.regions = nn.ModuleList(RegionalTokens(dim, p, size) for p in self.patches)
        self.query = nn.Linear(dim, dim)  # W^Q of all h heads (h/2 per scale), Eq. 1
        # W^K and W^V of the h/2 heads of each scale: 2 * (h/2 * d_head) = dim outputs
        self.key_value = nn.ModuleList(nn.Linear(dim, dim) for _ in self.patches)
        self.norm = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, h, w = x.shape
        local = x.flatten(2).transpose(1, 2) + _resize_tokens(self.pos_local, self.size, (h, w))
        half = self.heads // 2
        queries = self.query(local).view(b, h * w, self.heads, self.head_dim).transpose(1, 2)
        outputs, attentions = [], []
        for scale, (region, key_value) in enumerate(zip(self.regions, self.key_value)):
            tokens = region(x)  # (B, N_p, C)
            kv = key_value(tokens).view(b, tokens.shape[1], 2, half, self.head_dim)
            keys, values = kv.permute(2, 0, 3, 1, 4)  # each (B, h/2, N_p, d_head)
            q = queries[:, scale * half:(scale + 1) * half]
            if return_attention:
                attn = torch.softmax(q @ keys.transpose(-2, -1) / math.sqrt(self.head_dim), -1)
                attentions.append(attn)  # Eq. 2: (B, h/2, N, N_p)
                outputs.append(attn @ values)
            else:
                outputs.append(F.scaled_dot_product_attention(q, keys, values))
        z = torch.cat(outputs, dim=1).transpose(1, 2).reshape(b, h * w, c)  # Eq. 3, both scales
        y = local + z
        y = y + self.mlp(self.norm(y))
        out = y.transpose(1, 2).reshape(b, c, h, w)
        return (out, attentions) if return_attention else out


class ConvBranch(nn.Sequential):
    """The conv block of the hybrid module: two 3x3 convolutions, stride 1 (each + BN + ReLU)."""

    def __init__(self, dim: int) -> None:
        super().__init__(nn.Conv2d(dim, dim, 3, padding=1, bias=False), nn.BatchNorm2d(dim),
                         nn.ReLU(inplace=True), nn.Conv2d(dim, dim, 3, padding=1, bias=False),
                         nn.BatchNorm2d(dim), nn.ReLU(inplace=True))


class ResNetBranch(nn.Sequential):
    """Homogeneous ResNet decoder block (Table II): two ResNet basic blocks."""

    def __init__(self, dim: int) -> None:
        super().__init__(BasicBlock(dim, dim), BasicBlock(dim, dim))


class MBConv(nn.Module):
    """EfficientNet's inverted residual: 1x1 expand, depthwise 3x3, squeeze-excite, 1x1."""

    def __init__(self, dim: int, expand: int = 4) -> None:
        super().__init__()
        hidden = dim * expand
        squeeze = max(1, dim // 4)
        self.expand = nn.Sequential(nn.Conv2d(dim, hidden, 1, bias=False),
                                    nn.BatchNorm2d(hidden), nn.SiLU(inplace=True))
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden,
                                                 bias=False),
                                       nn.BatchNorm2d(hidden), nn.SiLU(inplace=True))
        self.excite = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(hidden, squeeze, 1),
                                    nn.SiLU(inplace=True), nn.Conv2d(squeeze, hidden, 1),
                                    nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv2d(hidden, dim, 1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.expand(x))
        return x + self.project(y * self.excite(y))


class MBConvBranch(nn.Sequential):
    """Homogeneous EfficientNet decoder block (Table II): two MBConv blocks."""

    def __init__(self, dim: int) -> None:
        super().__init__(MBConv(dim), MBConv(dim))


class _TokenBlock(nn.Module):
    """Pre-norm transformer block on a (B, C, H, W) map: x + attn(LN x), x + MLP(LN x)."""

    def __init__(self, dim: int, attention: nn.Module, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = attention
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.attention(self.norm1(tokens), (h, w))
        tokens = tokens + self.mlp(self.norm2(tokens))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class WindowAttention(nn.Module):
    """Swin-style (shifted) window self-attention with a relative position bias (Liu et al.
    2021); windows of ``window`` x ``window`` tokens, cyclic shift ``shift`` with masking."""

    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                            indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + window - 1
        self.register_buffer("bias_index", rel[..., 0] * (2 * window - 1) + rel[..., 1],
                             persistent=False)

    def _mask(self, h: int, w: int, device: torch.device) -> torch.Tensor | None:
        if not self.shift:
            return None
        regions = torch.zeros(h, w, device=device)
        cuts = (slice(0, -self.window), slice(-self.window, -self.shift), slice(-self.shift, None))
        label = 0
        for rows in cuts:
            for cols in cuts:
                regions[rows, cols] = label
                label += 1
        win = self._windows(regions[None, :, :, None]).squeeze(-1)  # (nW, w*w)
        return (win[:, :, None] != win[:, None, :]).float() * -100.0

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        s = self.window
        x = x.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, s * s, c)

    def forward(self, tokens: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = tokens.shape
        h, w = size
        s = self.window
        x = tokens.view(b, h, w, c)
        if self.shift:
            x = torch.roll(x, (-self.shift, -self.shift), dims=(1, 2))
        win = self._windows(x)  # (B*nW, s*s, C)
        qkv = self.qkv(win).view(win.shape[0], s * s, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        bias = self.bias_table[self.bias_index.reshape(-1)].view(s * s, s * s, -1)
        attn_bias = bias.permute(2, 0, 1)[None]  # (1, heads, s*s, s*s)
        mask = self._mask(h, w, tokens.device)
        if mask is not None:
            n_win = mask.shape[0]
            attn_bias = (attn_bias.expand(b, -1, -1, -1).reshape(b, 1, self.heads, s * s, s * s)
                         + mask[None, :, None]).reshape(b * n_win, self.heads, s * s, s * s)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        out = out.transpose(1, 2).reshape(-1, s * s, c)
        out = out.view(b, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        if self.shift:
            out = torch.roll(out, (self.shift, self.shift), dims=(1, 2))
        return self.proj(out.reshape(b, n, c))


class SwinBranch(nn.Sequential):
    """Swin-style decoder block (Table II, ResNet -> Swin): a W-MSA block then an SW-MSA block,
    window = the stage's p2 (shift = window/2; no shift when one window covers the map)."""

    def __init__(self, dim: int, size: tuple[int, int], heads: int, window: int,
                 mlp_ratio: float) -> None:
        if size[0] % window or size[1] % window:
            raise ValueError(f"Swin block: feature map {size} not divisible by window {window}")
        shift = window // 2 if min(size) > window else 0
        super().__init__(_TokenBlock(dim, WindowAttention(dim, heads, window, 0), mlp_ratio),
                         _TokenBlock(dim, WindowAttention(dim, heads, window, shift), mlp_ratio))


class SpatialReductionAttention(nn.Module):
    """PVT-style spatial-reduction attention (Wang et al. 2021): every token attends to keys and
    values from an R x R strided convolution of the map (+ LayerNorm)."""

    def __init__(self, dim: int, heads: int, ratio: int, depthwise: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.reduce = (nn.Conv2d(dim, dim, ratio, stride=ratio, groups=dim if depthwise else 1)
                       if ratio > 1 else nn.Identity())
        self.norm = nn.LayerNorm(dim) if ratio > 1 else nn.Identity()

    def forward(self, tokens: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = tokens.shape
        d = c // self.heads
        q = self.query(tokens).view(b, n, self.heads, d).transpose(1, 2)
        grid = tokens.transpose(1, 2).reshape(b, c, *size)
        reduced = self.norm(self.reduce(grid).flatten(2).transpose(1, 2))
        k, v = self.key_value(reduced).view(b, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class PVTBranch(nn.Module):
    """PVT-style decoder block (Table II, ResNet -> PVT): learned position embedding, then two
    pre-norm spatial-reduction-attention blocks with reduction ratio = the stage's p2."""

    def __init__(self, dim: int, size: tuple[int, int], heads: int, ratio: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.size = size
        self.pos = _pos_embedding(size[0] * size[1], dim)
        self.blocks = nn.Sequential(
            *[_TokenBlock(dim, SpatialReductionAttention(dim, heads, ratio), mlp_ratio)
              for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        pos = _resize_tokens(self.pos, self.size, (h, w)).transpose(1, 2).reshape(1, c, h, w)
        return self.blocks(x + pos)


class CMTBlock(nn.Module):
    """CMT-style block (Guo et al. 2022): local perception unit (depthwise 3x3, residual),
    lightweight attention (keys/values from a depthwise k x k, stride k convolution), and an
    inverted-residual FFN (1x1 expand, depthwise 3x3 with residual, 1x1 project). The relative
    position bias of CMT's attention is omitted."""

    def __init__(self, dim: int, heads: int, ratio: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.local = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = SpatialReductionAttention(dim, heads, ratio, depthwise=True)
        self.expand = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.BatchNorm2d(hidden))
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
                                       nn.GELU(), nn.BatchNorm2d(hidden))
        self.project = nn.Sequential(nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = x + self.local(x)
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.attention(self.norm1(tokens), (h, w))
        y = self.norm2(tokens).transpose(1, 2).reshape(b, c, h, w)
        y = self.expand(y)
        y = y + self.depthwise(y)
        return tokens.transpose(1, 2).reshape(b, c, h, w) + self.project(y)


def make_branch(kind: str, dim: int, size: tuple[int, int], heads: int, p2: int,
                mlp_ratio: float) -> nn.Module:
    """One parallel branch of a hybrid module: ``conv`` (the paper's conv block), ``mstb``, and
    the ablation blocks ``resnet``, ``mbconv``, ``swin``, ``pvt``, ``cmt``."""
    if kind == "conv":
        return ConvBranch(dim)
    if kind == "mstb":
        return MultiScaleSparseTransformerBlock(dim, size, heads, p2, mlp_ratio)
    if kind == "resnet":
        return ResNetBranch(dim)
    if kind == "mbconv":
        return MBConvBranch(dim)
    if kind == "swin":
        return SwinBranch(dim, size, heads, p2, mlp_ratio)
    if kind == "pvt":
        return PVTBranch(dim, size, heads, p2, mlp_ratio)
    if kind == "cmt":
        return CMTBlock(dim, heads, p2, mlp_ratio)
    raise ValueError(f"decoder branch: expected one of {list(BRANCH_KINDS)}, got {kind!r}")


class HybridModule(nn.Module):
    """Hybrid CNN-Transformer module (§III-B2, Fig. 2c): per branch a 1x1 convolution to
    ``out_ch`` channels and the branch block, concatenation, a fusing 1x1 convolution, then a
    x2 resampling (bilinear upsampling in the decoder, average pooling in the hybrid encoder)."""

    def __init__(self, in_ch: int, out_ch: int, size: tuple[int, int], branches: Sequence[str],
                 heads: int, p2: int, mlp_ratio: float = 4.0, resample: str = "up") -> None:
        super().__init__()
        if not branches:
            raise ValueError("hybrid module: expected at least one branch, got none")
        self.splits = nn.ModuleList(nn.Conv2d(in_ch, out_ch, 1) for _ in branches)
        self.blocks = nn.ModuleList(make_branch(kind, out_ch, size, heads, p2, mlp_ratio)
                                    for kind in branches)
        self.fuse = nn.Conv2d(out_ch * len(branches), out_ch, 1)
        if resample == "up":
            self.resample: nn.Module = nn.Upsample(scale_factor=2, mode="bilinear",
                                                   align_corners=False)
        elif resample == "down":
            self.resample = nn.AvgPool2d(2)
        elif resample == "none":
            self.resample = nn.Identity()
        else:
            raise ValueError(f"resample: expected 'up', 'down' or 'none', got {resample!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [block(split(x)) for split, block in zip(self.splits, self.blocks)]
        return self.resample(self.fuse(torch.cat(parts, dim=1)))


class HybridDecoder(nn.Module):
    """Decoder (§III-B2): F_E^4 -> F_D^3 -> F_D^2 -> F_D^1 through three hybrid modules, each
    run at its input's resolution and upsampled x2 at its end.

    ``channels``: encoder channels (C1, C2, C3, C4); ``heads`` and ``p2`` are given for stages
    1, 2, 3 (the paper: heads 2/4/8, p2 8/4/2 for C = 64/128/256)."""

    def __init__(self, channels: Sequence[int], img_size: int, branches: Sequence[str],
                 heads: Sequence[int], p2: Sequence[int], mlp_ratio: float = 4.0) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.stage3 = HybridModule(c4, c3, (img_size // 32,) * 2, branches, heads[2], p2[2],
                                   mlp_ratio)
        self.stage2 = HybridModule(c3, c2, (img_size // 16,) * 2, branches, heads[1], p2[1],
                                   mlp_ratio)
        self.stage1 = HybridModule(c2, c1, (img_size // 8,) * 2, branches, heads[0], p2[0],
                                   mlp_ratio)

    def forward(self, f4: torch.Tensor) -> list[torch.Tensor]:
        """Return [F_D^1, F_D^2, F_D^3]."""
        d3 = self.stage3(f4)
        d2 = self.stage2(d3)
        return [self.stage1(d2), d2, d3]


class HybridEncoder(nn.Module):
    """CNN+Transformer encoder of Table II's homogeneous (CNN+Trans) -> (CNN+Trans) row: a
    ResNet-like stem (/4) then four hybrid modules (conv + MSTB), the last three halving the
    size. There are no pretrained weights for it: it is randomly initialised."""

    def __init__(self, img_size: int, channels: Sequence[int] = (64, 128, 256, 512),
                 heads: Sequence[int] = (2, 4, 8, 16), p2: Sequence[int] = (8, 8, 4, 2),
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.stem = nn.Sequential(nn.Conv2d(3, channels[0], 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        sizes = [img_size // 4, img_size // 4, img_size // 8, img_size // 16]
        ins = [channels[0], channels[0], channels[1], channels[2]]
        self.stages = nn.ModuleList(
            HybridModule(i, o, (s, s), ("conv", "mstb"), h, p, mlp_ratio,
                         resample="none" if k == 0 else "down")
            for k, (i, o, s, h, p) in enumerate(zip(ins, channels, sizes, heads, p2)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class Encoder(nn.Module):
    """The encoder's four stages F_E^1..F_E^4 (strides 4, 8, 16, 32) as NCHW tensors.

    ``name``: ``resnet18`` (the paper), ``efficientnet_b0``, ``swin_t`` (ImageNet weights when
    the machine has them), ``efficientnet_lite0`` (the packaged ImageNet weights; see
    :mod:`reprolib.blocks.backbones`) or ``hybrid`` (random init). ``self.weights`` records which
    weights; ``required`` stops with MissingWeightsError when ImageNet weights are absent.
    """

    def __init__(self, name: str, img_size: int, weights: str = "imagenet",
                 required: bool = False) -> None:
        super().__init__()
        self.name = name
        if name == "hybrid":
            self.body: nn.Module = HybridEncoder(img_size)
            self.channels_last = False
            self.weights = "random (no pretrained weights exist for this encoder)"
        elif name in ENCODER_TAPS:
            taps, self.channels_last = ENCODER_TAPS[name]
            backbone, self.weights = load_backbone(name, weights, required=required)
            self.body = FeatureTaps(backbone, list(taps))
        else:
            raise ValueError(f"encoder: expected one of {[*ENCODER_TAPS, 'hybrid']}, "
                             f"got {name!r}")
        body = self.body
        self.channels: tuple[int, ...] = (body.channels if isinstance(body, HybridEncoder)
                                          else ENCODER_CHANNELS[name])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.body(x)
        feats = list(out.values()) if isinstance(out, dict) else list(out)
        if self.channels_last:
            feats = [f.permute(0, 3, 1, 2).contiguous() for f in feats]
        return feats


class ImageHead(nn.Sequential):
    """Pixel-wise comparison variant (Table IV, no feature comparison): F_D^1 (/4) upsampled
    twice (bilinear + 3x3 conv + BN + ReLU) and projected to the 3 image channels."""

    def __init__(self, in_ch: int, out_ch: int = 3) -> None:
        mid = max(in_ch // 2, 16)
        super().__init__(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(in_ch, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True), nn.Conv2d(mid, out_ch, 1))


class HeteroAENet(nn.Module):
    """Encoder E, decoder D and, for pixel-wise comparison, an image head.

    ``forward`` returns (encoder features [F_E^1, F_E^2, F_E^3], decoder features
    [F_D^1, F_D^2, F_D^3], reconstructed image or None).
    """

    def __init__(self, img_size: int, encoder: str = "resnet18", weights: str = "imagenet",
                 branches: Sequence[str] = ("conv", "mstb"), heads: Sequence[int] = (2, 4, 8),
                 p2: Sequence[int] = (8, 4, 2), mlp_ratio: float = 4.0,
                 pixel_head: bool = False, require_imagenet: bool = False) -> None:
        super().__init__()
        self.encoder = Encoder(encoder, img_size, weights, required=require_imagenet)
        self.decoder = HybridDecoder(self.encoder.channels, img_size, branches, heads, p2,
                                     mlp_ratio)
        self.head = ImageHead(self.encoder.channels[0]) if pixel_head else None

    def forward(self, x: torch.Tensor, encoder_grad: bool = False
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
        with torch.set_grad_enabled(encoder_grad and torch.is_grad_enabled()):
            enc = self.encoder(x)
        dec = self.decoder(enc[3])
        recon = self.head(dec[0]) if self.head is not None else None
        return enc[:3], dec, recon


def feature_comparison_loss(enc: Sequence[torch.Tensor], dec: Sequence[torch.Tensor],
                            alpha: float = 0.7) -> torch.Tensor:
    """L_FC (Eqs. 4-5): per stage and pixel -alpha*cos + (1-alpha)*MSE over channels, averaged
    over the H_k*W_k pixels, summed over the stages (and averaged over the batch)."""
    total = enc[0].new_zeros(())
    for fe, fd in zip(enc, dec):
        cos = F.cosine_similarity(fe, fd, dim=1)  # (B, H, W)
        mse = ((fe - fd) ** 2).mean(dim=1)
        total = total + (-alpha * cos + (1 - alpha) * mse).mean()
    return total


def anomaly_map(enc: Sequence[torch.Tensor], dec: Sequence[torch.Tensor],
                size: tuple[int, int]) -> torch.Tensor:
    """M (Eqs. 6-7): sum over stages of the bilinearly resized per-pixel 1 - cos(F_D, F_E);
    returns (B, H, W)."""
    total = None
    for fe, fd in zip(enc, dec):
        m = 1 - F.cosine_similarity(fd, fe, dim=1, eps=1e-8)[:, None]
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)[:, 0]
        total = m if total is None else total + m
    assert total is not None
    return total
