"""DRAEM's simulated anomalies (Zavrtanik et al., ICCV 2021, Sec. 3.3 and Fig. 4), with
procedural textures in place of the DTD texture set.

Per training image (the official ``data_loader.py``): with probability 0.5 no anomaly; otherwise
a Perlin mask (lattice ``2**k`` per axis, k uniform in 0..5, rotated by U(-90, 90) degrees,
thresholded at 0.5) cuts an augmented texture into the image,
``I_a = I (1 - M) + (1 - beta) T M + beta I M`` with beta ~ U(0, 0.8). The texture gets three
of DRAEM's ten augmenters, drawn without replacement. The normal image itself is first rotated
by U(-90, 90) degrees with probability 0.3.

Deviation (said so in docs/baselines_resynthdetect.md): DRAEM draws its textures from DTD,
which this machine does not have; :func:`procedural_texture` draws one of three procedural
families instead (coloured fractal Perlin noise, an oriented sinusoidal grating with noise, a
random-colour cell pattern). The augmenters are torchvision's ``transforms.v2`` operations
standing in for imgaug's of the same name and range.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torchvision.transforms.v2.functional as TF

from reprolib.methods.draem._perlin import perlin_noise

#: DRAEM: Perlin lattice 2**k with k uniform in [MIN_SCALE, MAX_SCALE).
MIN_SCALE, MAX_SCALE = 0, 6
THRESHOLD = 0.5


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return float(low + (high - low) * torch.rand((), generator=gen))


def _randint(gen: torch.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high)."""
    return int(torch.randint(low, high, (), generator=gen))


def perlin_mask(size: int, gen: torch.Generator, *, rotate: bool = True) -> torch.Tensor:
    """(size, size) {0, 1} float mask: Perlin noise thresholded at 0.5 after a random
    rotation in [-90, 90] degrees (zeros fill the corners), as DRAEM."""
    scales = (2 ** _randint(gen, MIN_SCALE, MAX_SCALE), 2 ** _randint(gen, MIN_SCALE, MAX_SCALE))
    noise = perlin_noise((size, size), scales, gen)
    if rotate:
        noise = TF.rotate(noise[None], _uniform(gen, -90, 90),
                          interpolation=TF.InterpolationMode.BILINEAR, fill=[0.0])[0]
    return (noise > THRESHOLD).float()


def _fractal(size: int, gen: torch.Generator, octaves: int = 4) -> torch.Tensor:
    """Fractal Perlin noise (persistence 0.5) normalised to [0, 1]."""
    base = 2 ** _randint(gen, 1, 4)
    noise = torch.zeros(size, size)
    for octave in range(octaves):
        res = min(base * 2 ** octave, size)
        noise += 0.5 ** octave * perlin_noise((size, size), (res, res), gen)
    return (noise - noise.min()) / (noise.max() - noise.min()).clamp_min(1e-8)


def procedural_texture(size: int, channels: int, gen: torch.Generator) -> torch.Tensor:
    """(channels, size, size) texture in [0, 1] from one of three procedural families (the DTD
    stand-in): coloured fractal noise, an oriented grating with noise, random-colour cells."""
    kind = _randint(gen, 0, 3)
    if kind == 0:
        field = _fractal(size, gen)[None]
    elif kind == 1:
        theta = _uniform(gen, 0, math.pi)
        freq = _uniform(gen, 2, max(3.0, size / 4))
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        phase = (xx * math.cos(theta) + yy * math.sin(theta)) / size
        grating = 0.5 + 0.5 * torch.sin(2 * math.pi * freq * phase)
        field = (0.7 * grating + 0.3 * _fractal(size, gen))[None]
    else:
        cells = 2 ** _randint(gen, 1, 5)
        values = torch.rand(1, 1, cells, cells, generator=gen)
        field = torch.nn.functional.interpolate(values, size=(size, size), mode="nearest")[0]
        field = 0.8 * field + 0.2 * _fractal(size, gen)[None]
    low = torch.rand(channels, 1, 1, generator=gen)
    high = torch.rand(channels, 1, 1, generator=gen)
    return (low + (high - low) * field).clamp(0, 1)


def _u8(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Run an op defined on uint8 images (posterize, equalize) on a [0, 1] float image."""
    def wrapped(img: torch.Tensor) -> torch.Tensor:
        return fn((img * 255).round().to(torch.uint8)).float() / 255
    return wrapped


def augmenters(gen: torch.Generator) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """DRAEM's ten augmenters (``data_loader.py``) with their imgaug ranges, on [0, 1] tensors:
    gamma 0.5-2; multiply 0.8-1.2 and add +-30/255; sharpness; hue +-50/255 of a turn with
    saturation x0.8-1.2; solarize (p 0.5, threshold 32-128); posterize (1-8 bits); invert;
    autocontrast; equalize; rotate +-45 degrees. Hue ops leave 1-channel images unchanged."""
    def brightness(x: torch.Tensor) -> torch.Tensor:
        return (x * _uniform(gen, 0.8, 1.2) + _uniform(gen, -30, 30) / 255).clamp(0, 1)

    def hue_sat(x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 3:
            return x
        x = TF.adjust_hue(x, _uniform(gen, -50, 50) / 255)
        return TF.adjust_saturation(x, _uniform(gen, 0.8, 1.2)).clamp(0, 1)

    def solarize(x: torch.Tensor) -> torch.Tensor:
        if _uniform(gen, 0, 1) >= 0.5:
            return x
        return TF.solarize(x, _uniform(gen, 32, 128) / 255)

    return [
        lambda x: TF.adjust_gamma(x, _uniform(gen, 0.5, 2.0)),
        brightness,
        lambda x: TF.adjust_sharpness(x, _uniform(gen, 0.0, 2.0)).clamp(0, 1),
        hue_sat,
        solarize,
        _u8(lambda x: TF.posterize(x, _randint(gen, 1, 9))),
        TF.invert,
        TF.autocontrast,
        _u8(TF.equalize),
        lambda x: TF.rotate(x, _uniform(gen, -45, 45),
                            interpolation=TF.InterpolationMode.BILINEAR),
    ]


def augment_texture(texture: torch.Tensor, gen: torch.Generator, n_ops: int = 3) -> torch.Tensor:
    """Apply ``n_ops`` of DRAEM's augmenters, drawn without replacement, in a random order."""
    ops = augmenters(gen)
    order = torch.randperm(len(ops), generator=gen)[:n_ops]
    for i in order.tolist():
        texture = ops[i](texture)
    return texture.clamp(0, 1)


def simulate_anomalies(images: torch.Tensor, gen: torch.Generator, *,
                       anomaly_p: float = 0.5, rotate_p: float = 0.3, beta_max: float = 0.8
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DRAEM's training triple for a batch of [0, 1] images (B, C, H, W), on the CPU:
    ``(normal, augmented, mask)`` where ``normal`` is the (possibly rotated) input that the
    reconstructive net must restore, ``augmented`` carries the anomaly and ``mask`` (B, 1, H, W)
    marks it (all zero for the images left normal)."""
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"simulate_anomalies: expected square images (B, C, H, H), "
                         f"got {tuple(images.shape)}")
    b, c, size, _ = images.shape
    normal = images.detach().cpu().clone()
    augmented = normal.clone()
    masks = torch.zeros(b, 1, size, size)
    for i in range(b):
        if _uniform(gen, 0, 1) < rotate_p:
            normal[i] = TF.rotate(normal[i], _uniform(gen, -90, 90),
                                  interpolation=TF.InterpolationMode.BILINEAR)
        augmented[i] = normal[i]
        if _uniform(gen, 0, 1) >= anomaly_p:
            continue
        mask = perlin_mask(size, gen)[None]
        texture = augment_texture(procedural_texture(size, c, gen), gen)
        beta = _uniform(gen, 0, beta_max)
        augmented[i] = (normal[i] * (1 - mask) + (1 - beta) * texture * mask
                        + beta * normal[i] * mask)
        masks[i] = mask
    return normal, augmented, masks
