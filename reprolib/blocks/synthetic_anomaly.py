"""Synthetic anomalies: ReSynthDetect's consistent anomaly generator (§3.3, Eq. 3-4) and the
pieces DRAEM's generator shares (augmentation pool, procedural textures).

Images are float tensors (C, H, W) in [0, 1] (the ``unit`` normalisation), C = 1 or 3; every
function keeps that range. Randomness comes from a ``numpy.random.Generator`` only, so a seed
fixes every draw.

Stable API (used by ``reprolib.methods.resynthdetect`` and the DRAEM baseline)::

    AUGMENTATIONS: dict[str, Callable[[Tensor, Generator], Tensor]]   # the paper's pool
    COLOUR_ONLY: frozenset[str]          # no-ops on 1-channel images, left out of their draws
    augment(image, rng, n=3, names=None) -> (Tensor, list[str])        # n drawn w/o replacement
    draw_augmentations(channels, rng, n=3, names=None) -> list[str]
    apply_augmentations(image, names, rng) -> Tensor
    colour_temperature(image, kelvin) -> Tensor
    kelvin_to_rgb(kelvin) -> np.ndarray (3,) in [0, 1]
    procedural_texture((H, W), channels, rng, kind=None) -> Tensor (C, H, W)
    blend_weight(mask, alpha=0.7, self_mix=True) -> np.ndarray (h, w)  # Eq. 3
    SelfMixGenerator(...)(target, source, rng) -> (image (C,H,W), mask (1,H,W))
    SelfMixGenerator(...).batch(images (B,C,H,W), rng) -> (images, masks (B,1,H,W))

The augmentation pool (§3.3: "sharpening, solarizing, gamma contrast enhancement, hue change,
color temperature alteration, auto-contrast, and random color shifting") is torchvision's
``transforms.v2.functional`` except two: colour temperature (no kept library has it: a small
tested function, :func:`colour_temperature`, on Tanner Helland's fit to the black-body colours,
like imgaug's ``ChangeColorTemperature``) and the random colour shift (one line: a per-channel
additive offset, albumentations' ``RGBShift``). The paper gives no parameter ranges; ours follow
DRAEM's imgaug pool where it has the operation (gamma 0.5-2, solarize threshold 32-128 of 255,
hue +-0.2 of the circle, colour shift +-30 of 255) and imgaug's default 1000-11000 K for the
temperature; sharpening factor 2-4 (torchvision ``adjust_sharpness``: 1 = unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torchvision.transforms.v2 import functional as TF

from reprolib.blocks.perlin import fractal_noise, perlin_mask, perlin_noise, random_res

Tensor = torch.Tensor
#: Smallest Perlin lattice spacing in a crop, px: DRAEM's finest lattice (32 periods at 256 px).
#: A crop's lattice is capped at ``side // 8`` periods (the noise is 0 on every lattice point,
#: so a lattice as fine as the pixels would give an empty mask).
MIN_LATTICE_SPACING = 8
#: Smallest crop side, px (smaller crops rarely hold a Perlin blob above the threshold).
MIN_CROP = 8


def _check_image(image: Tensor) -> Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image: expected a float tensor (C, H, W) with C = 1 or 3, got {shape}")
    if not image.is_floating_point():
        raise ValueError(f"image: expected a float tensor in [0, 1], got dtype {image.dtype}")
    return image


# --- the augmentation pool --------------------------------------------------------------------
def sharpen(image: Tensor, rng: np.random.Generator) -> Tensor:
    """torchvision ``adjust_sharpness`` with a factor uniform in [2, 4] (1 = unchanged)."""
    return TF.adjust_sharpness(image, float(rng.uniform(2.0, 4.0))).clamp(0, 1)


def solarize(image: Tensor, rng: np.random.Generator) -> Tensor:
    """torchvision ``solarize``: pixels >= t inverted, t uniform in [32, 128] / 255 (DRAEM)."""
    return TF.solarize(image, float(rng.uniform(32, 128)) / 255.0)


def gamma_contrast(image: Tensor, rng: np.random.Generator) -> Tensor:
    """torchvision ``adjust_gamma`` (x ** gamma), gamma log-uniform in [0.5, 2] (DRAEM's
    ``GammaContrast((0.5, 2.0))`` range)."""
    return TF.adjust_gamma(image, float(math.exp(rng.uniform(math.log(0.5), math.log(2.0)))))


def hue_change(image: Tensor, rng: np.random.Generator) -> Tensor:
    """torchvision ``adjust_hue`` by a fraction of the hue circle uniform in +-[0.05, 0.2]
    (a no-op on 1-channel images)."""
    shift = float(rng.uniform(0.05, 0.2)) * (1.0 if rng.random() < 0.5 else -1.0)
    return TF.adjust_hue(image, shift).clamp(0, 1)


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """RGB colour (3,) in [0, 1] of a black body at ``kelvin`` (Tanner Helland's fit, valid
    1000-40000 K; 6600 K is white)."""
    if not 1000 <= kelvin <= 40000:
        raise ValueError(f"kelvin: expected 1000..40000, got {kelvin}")
    t = kelvin / 100.0
    if t <= 66:
        r, g = 255.0, 99.4708025861 * math.log(t) - 161.1195681661
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
    if t >= 66:
        b = 255.0
    elif t <= 19:
        b = 0.0
    else:
        b = 138.5177312231 * math.log(t - 10) - 305.0447927307
    return np.clip(np.array([r, g, b]) / 255.0, 0.0, 1.0)


def colour_temperature(image: Tensor, kelvin: float) -> Tensor:
    """Each channel multiplied by the black-body colour of ``kelvin`` (:func:`kelvin_to_rgb`):
    below 6600 K warmer (blue and green reduced), above it cooler (red and green reduced), as
    imgaug's ``ChangeColorTemperature``. 1-channel images are returned unchanged."""
    image = _check_image(image)
    if image.shape[0] == 1:
        return image.clone()
    gains = torch.as_tensor(kelvin_to_rgb(kelvin), dtype=image.dtype, device=image.device)
    return (image * gains[:, None, None]).clamp(0, 1)


def temperature_change(image: Tensor, rng: np.random.Generator) -> Tensor:
    """:func:`colour_temperature` at a temperature uniform in [1000, 11000] K (imgaug default)."""
    return colour_temperature(image, float(rng.uniform(1000.0, 11000.0)))


def auto_contrast(image: Tensor, rng: np.random.Generator) -> Tensor:
    """torchvision ``autocontrast``: each channel stretched to [0, 1] (no random parameter)."""
    del rng
    return TF.autocontrast(image)


def colour_shift(image: Tensor, rng: np.random.Generator) -> Tensor:
    """Random colour shift: a per-channel offset uniform in [-30, 30] / 255 added, clipped."""
    offsets = torch.as_tensor(rng.uniform(-30, 30, size=image.shape[0]) / 255.0,
                              dtype=image.dtype, device=image.device)
    return (image + offsets[:, None, None]).clamp(0, 1)


#: The paper's pool (§3.3), in its order.
AUGMENTATIONS: dict[str, Callable[[Tensor, np.random.Generator], Tensor]] = {
    "sharpen": sharpen,
    "solarize": solarize,
    "gamma": gamma_contrast,
    "hue": hue_change,
    "temperature": temperature_change,
    "autocontrast": auto_contrast,
    "colour_shift": colour_shift,
}
#: Augmentations that do nothing on a 1-channel image: left out of the draw for such images.
COLOUR_ONLY = frozenset({"hue", "temperature"})


def draw_augmentations(channels: int, rng: np.random.Generator, n: int = 3,
                       names: Sequence[str] | None = None) -> list[str]:
    """``n`` names drawn without replacement from ``names`` (default: the whole pool), less
    :data:`COLOUR_ONLY` when ``channels`` is 1, in the order they are to be applied."""
    pool = list(AUGMENTATIONS) if names is None else list(names)
    unknown = [p for p in pool if p not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"augmentation {unknown[0]!r} unknown; known: {list(AUGMENTATIONS)}")
    if channels == 1:
        pool = [p for p in pool if p not in COLOUR_ONLY]
    if not 0 <= n <= len(pool):
        raise ValueError(f"n: expected 0..{len(pool)} augmentations, got {n}")
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]


def apply_augmentations(image: Tensor, names: Sequence[str], rng: np.random.Generator
                        ) -> Tensor:
    """The augmentations ``names`` applied to ``image`` in order (each draws its parameters
    from ``rng``; how many numbers it draws does not depend on the image size)."""
    image = _check_image(image)
    for name in names:
        image = AUGMENTATIONS[name](image, rng)
    return image


def augment(image: Tensor, rng: np.random.Generator, n: int = 3,
            names: Sequence[str] | None = None) -> tuple[Tensor, list[str]]:
    """``n`` augmentations drawn without replacement from ``names`` (default: the whole pool,
    less :data:`COLOUR_ONLY` for 1-channel images), applied in the drawn order (§3.3: "we
    randomly select three augmentation methods"). Returns the image and the names drawn."""
    image = _check_image(image)
    drawn = draw_augmentations(image.shape[0], rng, n, names)
    return apply_augmentations(image, drawn, rng), drawn


# --- procedural textures (stand-in for DTD) ---------------------------------------------------
TEXTURE_KINDS = ("fractal", "stripes", "checker")


def procedural_texture(shape: tuple[int, int], channels: int, rng: np.random.Generator,
                       kind: str | None = None) -> Tensor:
    """A random texture image (C, H, W) in [0, 1]: the stand-in for DRAEM's DTD textures (not
    available here). ``kind`` (default: drawn) is ``fractal`` (4-octave Perlin noise),
    ``stripes`` (a sine grating of random period and angle, warped by Perlin noise) or
    ``checker`` (a rotated checkerboard); the pattern t in [0, 1] is mapped between two random
    colours, ``(1 - t) * c0 + t * c1``."""
    h, w = shape
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 or 3, got {channels}")
    kind = TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))] if kind is None else kind
    if kind == "fractal":
        k = int(rng.integers(1, 4))
        t = fractal_noise((h, w), (2 ** k, 2 ** k), rng, octaves=4)
    elif kind in ("stripes", "checker"):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(4, max(5.0, min(h, w) / 3))
        u = (xx * math.cos(angle) + yy * math.sin(angle)) / period
        v = (-xx * math.sin(angle) + yy * math.cos(angle)) / period
        if kind == "stripes":
            warp = fractal_noise((h, w), (2, 2), rng, octaves=2)
            t = np.sin(2 * math.pi * (u + 0.5 * warp))
        else:
            t = np.sign(np.sin(math.pi * u) * np.sin(math.pi * v))
    else:
        raise ValueError(f"kind: expected one of {TEXTURE_KINDS}, got {kind!r}")
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-12)
    c0, c1 = rng.uniform(0, 1, size=(2, channels))
    image = (1 - t)[None] * c0[:, None, None] + t[None] * c1[:, None, None]
    return torch.as_tensor(image, dtype=torch.float32).clamp(0, 1)


# --- the self-mix paste (Eq. 3-4) ------------------------------------------------------------
def blend_weight(mask: np.ndarray, alpha: float = 0.7, self_mix: bool = True) -> np.ndarray:
    """Eq. 3: ``W = (1 - alpha) * (D - min D) / (max D - min D) + alpha``, with D the Euclidean
    distance transform of the binary ``mask`` P (scipy ``distance_transform_edt``: distance of
    each pixel to the nearest background pixel; pixels outside the crop count as background, so
    a lesion cut by the crop's edge fades there too). ``max D == min D`` (an empty mask) gives
    ``W = alpha``. ``self_mix=False`` (Table 4's ablation) gives ``W = 1`` (a hard paste)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask: expected a 2-D array, got shape {mask.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected 0..1, got {alpha}")
    if not self_mix:
        return np.ones(mask.shape, dtype=np.float64)
    dist = distance_transform_edt(np.pad(mask > 0.5, 1))[1:-1, 1:-1]
    low, high = float(dist.min()), float(dist.max())
    norm = (dist - low) / (high - low) if high > low else np.zeros_like(dist)
    return (1.0 - alpha) * norm + alpha


@dataclasses.dataclass(frozen=True)
class SelfMixGenerator:
    """ReSynthDetect's consistent anomaly generator (§3.3, Fig. 3).

    For a target image I_t and a source image I_s (two normal training images): ``n_augment``
    augmentations of the pool on I_s; a crop C_s of random size (each side a fraction of the
    image side uniform in ``crop_fraction``, at least :data:`MIN_CROP` px) at a random place of
    the augmented source; a Perlin mask P of the crop's size
    (:func:`reprolib.blocks.perlin.perlin_mask`: lattice 2**k per axis, k uniform in
    ``[perlin_min_scale, perlin_max_scale)``, at most side / :data:`MIN_LATTICE_SPACING`
    periods; rotated by an angle uniform in ``rotate`` degrees; thresholded at ``threshold``;
    drawn again, up to ``max_tries`` times, while empty: an 8-px crop stays empty after 20
    tries about once in 10^4, and the sample is then normal); the blend weight W of Eq. 3
    (:func:`blend_weight`); a crop C_t of the target at another random place;
    ``C = (P W) C_s + (1 - P W) C_t`` pasted there, and the mask ``M_G = P`` there (Eq. 4).
    ``p_anomaly`` < 1 leaves that fraction of samples unchanged with an empty mask
    (the paper does not say it does this; DRAEM does with 0.5).

    Table 4's ablations: ``use_perlin=False`` (P = 1 on the whole crop: a rectangle),
    ``self_mix=False`` (W = 1: the crop pasted without the distance-transform fade),
    ``source="texture"`` (I_s a :func:`procedural_texture` instead of a fundus image).
    """

    alpha: float = 0.7
    n_augment: int = 3
    augmentations: tuple[str, ...] = tuple(AUGMENTATIONS)
    crop_fraction: tuple[float, float] = (0.1, 0.5)
    perlin_min_scale: int = 0
    perlin_max_scale: int = 4
    rotate: tuple[float, float] = (-90.0, 90.0)
    threshold: float = 0.5
    use_perlin: bool = True
    self_mix: bool = True
    source: Literal["fundus", "texture"] = "fundus"
    p_anomaly: float = 1.0
    max_tries: int = 20

    def __post_init__(self) -> None:
        low, high = self.crop_fraction
        if not 0 < low <= high <= 1:
            raise ValueError(f"crop_fraction: expected 0 < low <= high <= 1, got "
                             f"{self.crop_fraction}")
        if self.source not in ("fundus", "texture"):
            raise ValueError(f"source: expected 'fundus' or 'texture', got {self.source!r}")
        if not 0 <= self.p_anomaly <= 1:
            raise ValueError(f"p_anomaly: expected 0..1, got {self.p_anomaly}")
        unknown = [a for a in self.augmentations if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"augmentation {unknown[0]!r} unknown; known: "
                             f"{list(AUGMENTATIONS)}")

    def crop_mask(self, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """The mask P of a crop of ``size`` (float32 in {0, 1})."""
        if not self.use_perlin:
            return np.ones(size, dtype=np.float32)
        mask = np.zeros(size, dtype=np.float32)
        for _ in range(max(1, self.max_tries)):
            res = random_res(rng, self.perlin_min_scale, self.perlin_max_scale)
            res = (min(res[0], max(1, size[0] // MIN_LATTICE_SPACING)),
                   min(res[1], max(1, size[1] // MIN_LATTICE_SPACING)))
            mask = perlin_mask(size, rng, rotate=self.rotate, threshold=self.threshold,
                               noise=perlin_noise(size, res, rng))
            if mask.any():
                break
        return mask

    def augmented_crop(self, source: Tensor, box: tuple[int, int, int, int],
                       rng: np.random.Generator, whole: bool = False) -> Tensor:
        """The crop ``box = (y, x, height, width)`` of the augmented ``source`` (§3.3: the
        source is augmented, then cut). The same as augmenting the whole image and cutting,
        but cheaper: without ``autocontrast`` (whose per-channel min and max are the whole
        image's) only the crop and a 1-px margin are augmented (every other augmentation is
        per pixel, except sharpening's 3x3 blur, which the margin serves). ``whole=True``
        augments the whole image (the tests compare both)."""
        y, x, ch, cw = box
        names = draw_augmentations(source.shape[0], rng, self.n_augment, self.augmentations)
        if whole or "autocontrast" in names:
            return apply_augmentations(source, names, rng)[:, y:y + ch, x:x + cw]
        h, w = source.shape[1:]
        y0, x0 = max(0, y - 1), max(0, x - 1)
        y1, x1 = min(h, y + ch + 1), min(w, x + cw + 1)
        region = apply_augmentations(source[:, y0:y1, x0:x1], names, rng)
        return region[:, y - y0:y - y0 + ch, x - x0:x - x0 + cw]

    def __call__(self, target: Tensor, source: Tensor | None, rng: np.random.Generator
                 ) -> tuple[Tensor, Tensor]:
        """One synthetic image I_G (C, H, W) and its mask M_G (1, H, W) from ``target`` and
        ``source`` (same shape; ignored, may be None, when ``source="texture"``)."""
        target = _check_image(target)
        c, h, w = target.shape
        out, full_mask = target.clone(), torch.zeros((1, h, w), dtype=target.dtype,
                                                     device=target.device)
        if self.p_anomaly < 1 and rng.random() >= self.p_anomaly:
            return out, full_mask
        if self.source == "texture":
            source = procedural_texture((h, w), c, rng).to(target)
        elif source is None or tuple(source.shape) != tuple(target.shape):
            got = None if source is None else tuple(source.shape)
            raise ValueError(f"source: expected an image of the target's shape "
                             f"{tuple(target.shape)}, got {got}")
        low, high = self.crop_fraction
        ch = min(h, max(MIN_CROP, round(float(rng.uniform(low, high)) * h)))
        cw = min(w, max(MIN_CROP, round(float(rng.uniform(low, high)) * w)))
        sy, sx = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        ty, tx = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop_s = self.augmented_crop(_check_image(source), (sy, sx, ch, cw), rng)
        mask = self.crop_mask((ch, cw), rng)
        weight = mask * blend_weight(mask, self.alpha, self.self_mix)
        pw = torch.as_tensor(weight, dtype=target.dtype, device=target.device)[None]
        crop_t = target[:, ty:ty + ch, tx:tx + cw]
        out[:, ty:ty + ch, tx:tx + cw] = pw * crop_s + (1 - pw) * crop_t
        full_mask[0, ty:ty + ch, tx:tx + cw] = torch.as_tensor(mask).to(full_mask)
        return out, full_mask

    def batch(self, images: Tensor, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """A synthetic image per image of ``images`` (B, C, H, W), each the target of one call
        whose source is another image of the batch drawn at random (the image itself when
        B = 1). Returns images (B, C, H, W) and masks (B, 1, H, W)."""
        if images.ndim != 4:
            raise ValueError(f"images: expected (B, C, H, W), got {tuple(images.shape)}")
        b = images.shape[0]
        outs, masks = [], []
        for i in range(b):
            j = i if b == 1 else int((i + rng.integers(1, b)) % b)
            image, mask = self(images[i], images[j], rng)
            outs.append(image)
            masks.append(mask)
        return torch.stack(outs), torch.stack(masks)
