"""MDFSC's networks and feature pipeline (Rahul et al., "Multi-Scale Deep Feature Sparse Coding",
§3.1-3.3, §4.2), with the feature formula of its ancestor MLF-SC (LeapMind/MLF-SC,
``src/preprocessor.py``, ``src/models.py``).

- :class:`VGGAutoencoder` (§3.1, Fig. 1): encoder = torchvision VGG16 ``features`` (13 convs,
  5 max-pools); flattened, a linear layer to a 256-value latent, a linear layer back, reshaped
  and fed to a decoder built symmetrically to the encoder. ``linear=False`` drops both linear
  layers (the Table 3 "reconstruction loss" baseline, §4.4).
- :func:`multiscale_features` (§3.2): ``f1 = phi_21(I)``, ``f2 = phi_14(T_d(I, 2))``,
  ``f3 = phi_7(T_d(I, 4))``: conv4_3, conv3_3 and conv2_2 before their ReLU, all at 1/8 of the
  input, concatenated to 512 + 256 + 128 = 896 channels; MLF-SC downscales by max-pooling.
- :func:`standardise`: MLF-SC crops a border of 2 feature pixels and standardises every
  channel of every image (mean 0, unbiased std 1).
- :func:`extract_patches`: square patches of every channel, row-major positions, stride 2.
- :func:`patch_residual_map` and :func:`top_k_score` (§3.3): the image score is the sum over
  channels of the top-5 patch residuals.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: (VGG16 ``features`` index, downscale factor): conv4_3 at 1, conv3_3 at 1/2, conv2_2 at 1/4.
TAPS: tuple[tuple[int, int], ...] = ((21, 1), (14, 2), (7, 4))
#: Channels of those taps: 512 + 256 + 128.
N_CHANNELS = 896
#: The same formula on the packaged ImageNet EfficientNet-Lite0
#: (:class:`~reprolib.blocks.backbones.LiteBackbone` ``features``): the stride-8 stage end
#: (``features.3``, 40 channels) of the image, the stride-4 one (``features.2``, 24) of the
#: image downscaled by 2 and the stride-2 one (``features.1``, 16) of the image downscaled by 4,
#: all at 1/8 of the input. Stage ends are the linear projections of MBConv blocks (no
#: activation after them), as VGG's taps are taken before their ReLU. Table 2 stand-in for the
#: ImageNet VGG16, whose weights are not obtainable here.
LITE0_TAPS: tuple[tuple[int, int], ...] = ((3, 1), (2, 2), (1, 4))
#: Channels of those taps: 40 + 24 + 16.
LITE0_CHANNELS = 80


def vgg16_features() -> nn.Sequential:
    """torchvision's VGG16 ``features`` stack (``make_layers(cfgs['D'])``), initialised as
    torchvision's ``VGG`` does (Kaiming-normal fan-out, zero bias), without building the
    100M-parameter classifier; ImageNet weights are loaded by callers."""
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["D"], batch_norm=False)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return features


def _decoder(features: nn.Sequential) -> nn.Sequential:
    """The mirror of a VGG ``features`` stack: every max-pool becomes a x2 upsampling, every
    conv ``a -> b`` a conv ``b -> a`` (ReLU after each but the last, which outputs the image)."""
    layers: list[nn.Module] = []
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    for module in reversed(list(features)):
        if isinstance(module, nn.MaxPool2d):
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        elif isinstance(module, nn.Conv2d):
            layers.append(nn.Conv2d(module.out_channels, module.in_channels, 3, padding=1))
            if module is not convs[0]:
                layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class VGGAutoencoder(nn.Module):
    """VGG16-features encoder, FC 256 latent, symmetric decoder (§3.1).

    ``crop_size``: the training crop (64 in §4.2); the linear layers are sized for it
    (512 x (crop/32)^2 <-> 256). Without the linear layers the network is fully convolutional.
    """

    def __init__(self, crop_size: int = 64, latent: int = 256, linear: bool = True) -> None:
        super().__init__()
        if crop_size % 32:
            raise ValueError(f"crop_size: expected a multiple of 32 (five max-pools), got "
                             f"{crop_size}")
        self.encoder = vgg16_features()
        self.side = crop_size // 32
        self.linear = linear
        flat = 512 * self.side * self.side
        self.to_latent = nn.Linear(flat, latent) if linear else None
        self.from_latent = nn.Linear(latent, flat) if linear else None
        self.decoder = _decoder(self.encoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        if self.to_latent is not None and self.from_latent is not None:
            if h.shape[-2:] != (self.side, self.side):
                raise ValueError(f"VGGAutoencoder with linear layers expects "
                                 f"{self.side * 32}x{self.side * 32} crops, got "
                                 f"{tuple(x.shape[-2:])}")
            z = self.to_latent(h.flatten(1))
            h = self.from_latent(z).view(-1, 512, self.side, self.side)
        return self.decoder(h)


def random_crops(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One random ``size`` x ``size`` crop per image (§4.2: random 64x64 crops of 512 px)."""
    n, _, h, w = x.shape
    if size > min(h, w):
        raise ValueError(f"crop size {size} is larger than the {h}x{w} images")
    rows = torch.randint(0, h - size + 1, (n,), generator=generator).tolist()
    cols = torch.randint(0, w - size + 1, (n,), generator=generator).tolist()
    return torch.stack([x[i, :, r:r + size, c:c + size] for i, (r, c) in
                        enumerate(zip(rows, cols))])


def multiscale_features(features: nn.Sequential, x: torch.Tensor,
                        downscale: str = "maxpool",
                        taps: tuple[tuple[int, int], ...] = TAPS) -> torch.Tensor:
    """(B, 896, H/8, W/8): conv4_3 of x, conv3_3 of x/2, conv2_2 of x/4, before ReLU (§3.2).

    ``taps``: (index in ``features``, downscale factor) pairs; :data:`LITE0_TAPS` gives the
    same formula on EfficientNet-Lite0's ``features`` (80 channels).

    ``downscale``: ``"maxpool"`` (MLF-SC's ``F.max_pool2d``) or ``"bilinear"`` (an antialiased
    resize, one reading of MDFSC's "T_d downscales").
    """
    if x.shape[-1] % 8 or x.shape[-2] % 8:
        raise ValueError(f"multiscale_features: image sides must be multiples of 8, got "
                         f"{tuple(x.shape[-2:])}")
    maps = []
    for index, factor in taps:
        if factor == 1:
            h = x
        elif downscale == "maxpool":
            h = F.max_pool2d(x, factor)
        elif downscale == "bilinear":
            h = F.interpolate(x, scale_factor=1 / factor, mode="bilinear", antialias=True,
                              align_corners=False)
        else:
            raise ValueError(f"downscale: expected 'maxpool' or 'bilinear', got {downscale!r}")
        for module in list(features)[: index + 1]:  # stop at the conv: no ReLU after the tap
            h = module(h)
        maps.append(h)
    return torch.cat(maps, dim=1)


def standardise(fmap: torch.Tensor, border: int = 2) -> torch.Tensor:
    """Crop ``border`` feature pixels per side, then standardise every channel of every image
    (MLF-SC: ``(x - mean) / std`` over the map, torch's unbiased std). A constant channel
    (std 0) becomes 0 instead of NaN."""
    if border:
        fmap = fmap[..., border:-border, border:-border]
    mean = fmap.mean(dim=(2, 3), keepdim=True)
    std = fmap.std(dim=(2, 3), keepdim=True)
    return (fmap - mean) / torch.where(std > 0, std, torch.ones_like(std))


def extract_patches(fmap: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(C, B, P, size*size): every ``size`` x ``size`` patch of every channel, positions
    row-major (top row first), pixels row-major within a patch, as MLF-SC's ``BatchSplitImg``."""
    b, c, h, w = fmap.shape
    if size > min(h, w):
        raise ValueError(f"patch size {size} is larger than the {h}x{w} feature map")
    cols = F.unfold(fmap.reshape(b * c, 1, h, w), kernel_size=size, stride=stride)
    return cols.reshape(b, c, size * size, -1).permute(1, 0, 3, 2)


def patch_grid(side: int, size: int, stride: int) -> int:
    """Patches per row/column of a ``side`` x ``side`` map."""
    return (side - size) // stride + 1


def top_k_score(residuals: torch.Tensor, k: int = 5) -> torch.Tensor:
    """(B,) image scores from (C, B, P) patch residuals: per channel the sum of its ``k``
    largest residuals, summed over channels (§3.3, MLF-SC ``calculate_error``)."""
    k = min(k, residuals.shape[-1])
    return residuals.topk(k, dim=-1).values.sum(-1).sum(0)


def patch_residual_map(residuals: torch.Tensor, side: int, size: int, stride: int,
                       border: int, out_size: int) -> torch.Tensor:
    """(B, out, out) map for figures: each patch's residual, summed over channels, spread over
    the feature pixels it covers and averaged where patches overlap; the cropped border gets 0;
    upsampled bilinearly from the 1/8 feature grid to the input size."""
    _, b, p = residuals.shape
    per_patch = residuals.sum(0)  # (B, P)
    spread = per_patch[:, None, :].expand(b, size * size, p)
    total = F.fold(spread, (side, side), kernel_size=size, stride=stride)
    cover = F.fold(torch.ones_like(spread), (side, side), kernel_size=size, stride=stride)
    fmap = torch.where(cover > 0, total / cover.clamp(min=1), torch.zeros_like(total))
    if border:
        fmap = F.pad(fmap, (border,) * 4)
    return F.interpolate(fmap, size=(out_size, out_size), mode="bilinear",
                         align_corners=False)[:, 0]
