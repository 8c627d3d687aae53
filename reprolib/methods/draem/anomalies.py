"""DRAEM's simulated anomalies (Zavrtanik et al., ICCV 2021, Sec. 3.3 and Fig. 4), with
procedural textures in place of the DTD texture set.

Per training image (the official ``data_loader.py``): with probability 0.5 no anomaly; otherwise
a Perlin mask (lattice ``2**k`` per axis, k uniform in 0..5, rotated by U(-90, 90) degrees,
thresholded at 0.5: :func:`reprolib.blocks.perlin.perlin_mask`) cuts an augmented texture into
the image, ``I_a = I (1 - M) + (1 - beta) T M + beta I M`` with beta ~ U(0, 0.8). The texture
gets three of DRAEM's ten augmenters, drawn without replacement. The normal image itself is
first rotated by U(-90, 90) degrees with probability 0.3.

Deviation (said so in docs/baselines_resynthdetect.md): DRAEM draws its textures from DTD,
which this machine does not have; the repository's procedural textures
(:func:`reprolib.blocks.synthetic_anomaly.procedural_texture`: fractal Perlin noise, warped
stripes, rotated checkerboards between two random colours, the same stand-in as ReSynthDetect's
Table 4 "Texture" row) replace them. The augmenters are torchvision's ``transforms.v2``
operations standing in for imgaug's of the same name and range (imgaug does not install beside
NumPy 2).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from reprolib.blocks.perlin import perlin_mask
from reprolib.blocks.synthetic_anomaly import procedural_texture


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _randint(rng: np.random.Generator, low: int, high: int) -> int:
    """Uniform integer in [low, high)."""
    return int(rng.integers(low, high))


def _u8(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Run an op defined on uint8 images (posterize, equalize) on a [0, 1] float image."""
    def wrapped(img: torch.Tensor) -> torch.Tensor:
        return fn((img * 255).round().to(torch.uint8)).float() / 255
    return wrapped


def augmenters(rng: np.random.Generator) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """DRAEM's ten augmenters (``data_loader.py``) with their imgaug ranges, on [0, 1] tensors:
    gamma 0.5-2; multiply 0.8-1.2 and add +-30/255; sharpness; hue +-50 on imgaug's +-255 scale
    (+-35 degrees) with saturation x0.8-1.2 (imgaug adds +-50); solarize (p 0.5, threshold
    32-128); posterize (1-8 bits); invert; autocontrast; equalize; rotate +-45 degrees. Hue ops
    leave 1-channel images unchanged."""
    def brightness(x: torch.Tensor) -> torch.Tensor:
        return (x * _uniform(rng, 0.8, 1.2) + _uniform(rng, -30, 30) / 255).clamp(0, 1)

    def hue_sat(x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 3:
            return x
        x = TF.adjust_hue(x, _uniform(rng, -50, 50) / 510)  # imgaug: +-255 = +-half a turn
        return TF.adjust_saturation(x, _uniform(rng, 0.8, 1.2)).clamp(0, 1)

    def solarize(x: torch.Tensor) -> torch.Tensor:
        if _uniform(rng, 0, 1) >= 0.5:
            return x
        return TF.solarize(x, _uniform(rng, 32, 128) / 255)

    return [
        lambda x: TF.adjust_gamma(x, _uniform(rng, 0.5, 2.0)),
        brightness,
        lambda x: TF.adjust_sharpness(x, _uniform(rng, 0.0, 2.0)).clamp(0, 1),
        hue_sat,
        solarize,
        _u8(lambda x: TF.posterize(x, _randint(rng, 1, 9))),
        TF.invert,
        TF.autocontrast,
        _u8(TF.equalize),
        lambda x: TF.rotate(x, _uniform(rng, -45, 45),
                            interpolation=TF.InterpolationMode.BILINEAR),
    ]


def augment_texture(texture: torch.Tensor, rng: np.random.Generator, n_ops: int = 3
                    ) -> torch.Tensor:
    """Apply ``n_ops`` of DRAEM's augmenters, drawn without replacement, in a random order."""
    ops = augmenters(rng)
    for i in rng.permutation(len(ops))[:n_ops].tolist():
        texture = ops[i](texture)
    return texture.clamp(0, 1)


def simulate_anomalies(images: torch.Tensor, rng: np.random.Generator, *,
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
        if _uniform(rng, 0, 1) < rotate_p:
            normal[i] = TF.rotate(normal[i], _uniform(rng, -90, 90),
                                  interpolation=TF.InterpolationMode.BILINEAR)
        augmented[i] = normal[i]
        if _uniform(rng, 0, 1) >= anomaly_p:
            continue
        mask = torch.from_numpy(perlin_mask((size, size), rng))[None]
        texture = augment_texture(procedural_texture((size, size), c, rng), rng)
        beta = _uniform(rng, 0, beta_max)
        augmented[i] = (normal[i] * (1 - mask) + (1 - beta) * texture * mask
                        + beta * normal[i] * mask)
        masks[i] = mask
    return normal, augmented, masks
