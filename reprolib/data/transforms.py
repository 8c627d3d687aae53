"""Small composable image transforms on uint8 arrays (H, W) or (H, W, 3), and the three
normalisations the papers use.

Geometry and colour steps map uint8 -> uint8 (so a dataset can cache their output); the last
step, :class:`Normalize`, maps uint8 -> float32 tensor (C, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

#: ImageNet statistics (torchvision's), used by ``normalize="imagenet"``.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
NORMALIZATIONS: tuple[str, ...] = ("unit", "tanh", "imagenet")

ArrayTransform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Resize:
    """Resize to ``size`` x ``size`` (aspect ratio not kept; combine with :class:`CenterCrop`
    to keep it). Area interpolation when shrinking, bilinear when enlarging; ``nearest`` for
    label maps."""

    size: int
    nearest: bool = False

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if (h, w) == (self.size, self.size):
            return image
        if self.nearest:
            interp = cv2.INTER_NEAREST
        else:
            interp = cv2.INTER_AREA if self.size < min(h, w) else cv2.INTER_LINEAR
        return cv2.resize(image, (self.size, self.size), interpolation=interp)


@dataclass(frozen=True)
class CenterCrop:
    """Crop the central ``size`` x ``size`` square; ``size=None`` crops the largest central
    square (min of height and width)."""

    size: int | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        side = min(h, w) if self.size is None else self.size
        if side > min(h, w):
            raise ValueError(f"CenterCrop: crop {side} is larger than the image {h}x{w}")
        top, left = (h - side) // 2, (w - side) // 2
        return image[top:top + side, left:left + side]


@dataclass(frozen=True)
class CropBox:
    """Crop a fractional box (top, left, bottom, right) in [0, 1]; e.g. ProxyAno's 3x3 tiles."""

    box: tuple[float, float, float, float]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        t, left, b, r = self.box
        return image[int(round(t * h)):int(round(b * h)), int(round(left * w)):int(round(r * w))]


@dataclass(frozen=True)
class CLAHE:
    """Contrast-limited adaptive histogram equalisation, OpenCV's definition (clip limit 2,
    8x8 tiles: ReSynthDetect §4 "Datasets"). Colour images are equalised on the L channel of
    CIE-Lab, so hues are kept."""

    clip_limit: float = 2.0
    grid: int = 8

    def __call__(self, image: np.ndarray) -> np.ndarray:
        clahe = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=(self.grid, self.grid))
        if image.ndim == 2:
            return clahe.apply(image)
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
        lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


@dataclass(frozen=True)
class Standardize:
    """Per-image standardisation (issue 9, item 4): ``z = (x - mean) / std`` over all pixels and
    channels of the image, stored as uint8 ``round(center + scale * z)`` clipped to [0, 255]
    (defaults: z in [-3, 3] fills the range), so that it composes with every normalisation
    (:class:`Normalize`) and the uint8 cache. A flat image maps to ``center``. Not part of any
    paper's preprocessing: an option to remove brightness and contrast differences between
    image collections."""

    center: float = 127.5
    scale: float = 42.5

    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = image.astype(np.float64)
        std = float(x.std())
        z = (x - x.mean()) / std if std > 0 else np.zeros_like(x)
        return np.clip(np.rint(self.center + self.scale * z), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ToGray:
    """RGB -> grayscale (ITU-R 601 luma, as PIL's "L"); grayscale passes through."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


@dataclass(frozen=True)
class ToRGB:
    """Grayscale -> RGB by repeating the channel; RGB passes through."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def to_channels(channels: int) -> ArrayTransform:
    """The conversion to ``channels`` (1 or 3)."""
    if channels == 1:
        return ToGray()
    if channels == 3:
        return ToRGB()
    raise ValueError(f"channels: expected 1, 3 or None, got {channels!r}")


@dataclass(frozen=True)
class Normalize:
    """uint8 (H, W[, C]) -> float32 tensor (C, H, W): ``unit`` [0, 1], ``tanh`` [-1, 1],
    ``imagenet`` ((x/255 - mean) / std, 3 channels only)."""

    kind: str = "unit"

    def __post_init__(self) -> None:
        if self.kind not in NORMALIZATIONS:
            raise ValueError(f"normalize: expected one of {list(NORMALIZATIONS)}, "
                             f"got {self.kind!r}")

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        array = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
        tensor = torch.from_numpy(np.array(array, dtype=np.float32)).div_(255.0)
        if self.kind == "tanh":
            return tensor.mul_(2.0).sub_(1.0)
        if self.kind == "imagenet":
            if tensor.shape[0] != 3:
                raise ValueError("normalize='imagenet' needs 3 channels, got "
                                 f"{tensor.shape[0]}: pass channels=3")
            mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
            std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
            return tensor.sub_(mean).div_(std)
        return tensor


def denormalize(image: torch.Tensor | np.ndarray, kind: str = "unit") -> np.ndarray:
    """Inverse of :class:`Normalize` to a float array (H, W[, 3]) in [0, 1], for display."""
    array = np.asarray(image, dtype=np.float32)
    if kind == "tanh":
        array = (array + 1.0) / 2.0
    elif kind == "imagenet":
        array = array * np.asarray(IMAGENET_STD).reshape(3, 1, 1) + np.asarray(
            IMAGENET_MEAN).reshape(3, 1, 1)
    array = array.transpose(1, 2, 0) if array.ndim == 3 else array
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return np.clip(array, 0.0, 1.0)


@dataclass(frozen=True)
class Compose:
    """Apply ``steps`` in order."""

    steps: Sequence[Callable]

    def __call__(self, image):
        for step in self.steps:
            image = step(image)
        return image
