"""Proxies of ProxyAno (Zhou et al., TMI 2022): the superpixel image (SI, §III-B) and the other
proxies of its Table III, computed once per image and cached with the dataset.

SI (§III-B, §IV-A1): SLIC superpixels [48] (``skimage.segmentation.slic``) with 800 segments at
256 px, every superpixel filled with the mean intensity of its pixels. Our SLIC settings (the
paper gives only the segment count):

- grey images (C = 1): SLIC on the intensity in [0, 1] (``channel_axis=None``), compactness
  0.1, the equivalent on a [0, 1] scale of SLIC's m = 10 on Lab lightness in [0, 100];
- colour images (C = 3): SLIC on Lab (scikit-image's conversion) with compactness 10, the
  SLIC paper's value; the fill is the mean of each RGB channel;
- ``sigma = 0`` (no pre-smoothing, scikit-image's default), ``start_label = 0``;
- below 256 px the segment count is scaled with the image area (``800 * (S / 256)**2``, at
  least 1) so that superpixels cover the same share of the image as in the paper; 800 exactly
  at 256 px (``scale_to_size=False`` keeps 800 at every size).

Measured cost (``benchmarks/bench_superpixel.py``, one thread, scikit-image 0.26, 40 real brain
MRI images and 18 brain phantoms at 256 x 256, grey): SLIC (800 segments) + mean fill 34 ms of
CPU per image (70-86 ms wall on the shared, loaded 2-core development machine), i.e. about 17 s
of CPU for the paper's 500 training images, once; at 64 px (50 segments) 2.3 ms. The other
proxies cost 0.5 ms (block) to 6 ms (Canny + blur) per 256 px image.

Table III proxies (§IV-E), same interface: ``canny`` (Canny edges, ``skimage.feature.canny``,
sigma 1 at 256 px, scikit-image's default thresholds, on the grey image), ``blur`` (Gaussian
blur, ``skimage.filters.gaussian``, sigma 3 px at 256 px), ``block`` ("image with smooth
patches": 8 x 8 px blocks at 256 px, i.e. 1024 blocks, filled with their mean), and the
concatenations ``canny_blur`` and ``canny_block`` (edge channel first). Sizes in pixels are
given at 256 px and scaled with the image side. The paper gives none of these parameters.

Caching (:func:`proxies_for`): all proxies of a dataset are computed in one pass and kept in
memory and in ``cache_dir()/proxies/<hash>.npy``, keyed by the dataset's ``fingerprint`` and
the :class:`ProxySpec`; training epochs only read them. Datasets without a fingerprint are
computed once per call (a method's ``fit`` calls it once).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.atomic import exclusive, temp_path
from reprolib.config import stable_hash
from reprolib.paths import cache_dir

ProxyKind = Literal["si", "canny", "blur", "block", "canny_blur", "canny_block"]
PROXY_KINDS: tuple[str, ...] = ("si", "canny", "blur", "block", "canny_blur", "canny_block")
#: Proxies that are images of the input's channels (pseudo-abnormal pasting applies to them).
IMAGE_LIKE = ("si", "blur", "block")
#: Side at which the paper's sizes (800 segments, sigmas, block) are given.
REFERENCE_SIZE = 256
#: Bump when a proxy's computation changes, so that cached proxies are recomputed.
PROXY_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ProxySpec:
    """Which proxy and its parameters (sizes in pixels at :data:`REFERENCE_SIZE`)."""

    kind: ProxyKind = "si"
    n_segments: int = 800
    compactness: float | None = None  # None: 0.1 on grey [0, 1], 10 on Lab (colour)
    slic_sigma: float = 0.0
    canny_sigma: float = 1.0
    blur_sigma: float = 3.0
    block: int = 8
    scale_to_size: bool = True

    def __post_init__(self) -> None:
        if self.kind not in PROXY_KINDS:
            raise ValueError(f"proxy kind: expected one of {list(PROXY_KINDS)}, "
                             f"got {self.kind!r}")
        if self.n_segments < 1 or self.block < 1:
            raise ValueError(f"n_segments and block: expected >= 1, got {self.n_segments} "
                             f"and {self.block}")
        if min(self.slic_sigma, self.canny_sigma, self.blur_sigma) < 0:
            raise ValueError("proxy sigmas: expected >= 0")

    def channels(self, image_channels: int) -> int:
        """Channels of this proxy for an image of ``image_channels`` channels."""
        if self.kind == "canny":
            return 1
        if self.kind in ("canny_blur", "canny_block"):
            return image_channels + 1
        return image_channels

    def scale(self, size: int) -> float:
        """Factor from the reference side to ``size`` (1 when ``scale_to_size`` is off)."""
        return size / REFERENCE_SIZE if self.scale_to_size else 1.0

    def segments_at(self, size: int) -> int:
        """SLIC segment count at side ``size``: 800 * (size / 256)**2, at least 1."""
        return max(1, int(round(self.n_segments * self.scale(size) ** 2)))

    def block_at(self, size: int) -> int:
        return max(1, int(round(self.block * self.scale(size))))


# --- the proxies of one image --------------------------------------------------------------

def _hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) -> (H, W, C) float64."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image: expected (C, H, W) or (H, W), got shape {image.shape}")
    return np.moveaxis(image, 0, -1)


def mean_fill(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Every region of ``labels`` (H, W ints >= 0) filled with the mean of ``image``
    ((H, W) or (H, W, C)) over it, per channel; same shape as ``image``."""
    flat = labels.reshape(-1)
    if flat.min(initial=0) < 0:
        raise ValueError("labels: expected non-negative region labels")
    counts = np.bincount(flat)
    img = image.reshape(len(flat), -1)
    out = np.empty_like(img, dtype=np.float64)
    for c in range(img.shape[1]):
        sums = np.bincount(flat, weights=img[:, c], minlength=len(counts))
        out[:, c] = (sums / np.maximum(counts, 1))[flat]
    return out.reshape(image.shape)


def slic_labels(image: np.ndarray, n_segments: int, compactness: float | None = None,
                sigma: float = 0.0) -> np.ndarray:
    """SLIC superpixel labels (H, W) of an (H, W, C) image in [0, 1] (grey: C = 1, on the
    intensity; colour: C = 3, on Lab)."""
    from skimage.segmentation import slic

    if image.shape[-1] == 1:
        return slic(image[:, :, 0], n_segments=n_segments,
                    compactness=0.1 if compactness is None else compactness, sigma=sigma,
                    channel_axis=None, start_label=0)
    return slic(image, n_segments=n_segments, compactness=10.0 if compactness is None
                else compactness, sigma=sigma, channel_axis=-1, convert2lab=True, start_label=0)


def superpixel_image(image: np.ndarray, n_segments: int = 800,
                     compactness: float | None = None, sigma: float = 0.0) -> np.ndarray:
    """The SI (§III-B): SLIC superpixels of ``image`` ((C, H, W) in [0, 1]), each filled with
    its mean; returns (C, H, W) float32."""
    hwc = _hwc(image)
    filled = mean_fill(hwc, slic_labels(hwc, n_segments, compactness, sigma))
    return np.moveaxis(filled, -1, 0).astype(np.float32)


def canny_edges(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Canny edges (Table III "edge") of the grey image (channel mean): (1, H, W) in {0, 1}."""
    from skimage.feature import canny

    grey = _hwc(image).mean(axis=-1)
    return canny(grey, sigma=sigma)[None].astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Gaussian-blurred image (Table III "smooth image"), per channel: (C, H, W) float32."""
    from skimage.filters import gaussian

    hwc = _hwc(image)
    out = gaussian(hwc, sigma=sigma, channel_axis=-1, preserve_range=True)
    return np.moveaxis(out, -1, 0).astype(np.float32)


def block_labels(height: int, width: int, block: int) -> np.ndarray:
    """Labels of a grid of ``block`` x ``block`` squares (the last row/column may be smaller)."""
    rows = np.arange(height) // block
    cols = np.arange(width) // block
    return rows[:, None] * (int(cols.max()) + 1) + cols[None, :]


def block_mean(image: np.ndarray, block: int = 8) -> np.ndarray:
    """Image with smooth patches (Table III): ``block`` x ``block`` squares filled with their
    mean, per channel: (C, H, W) float32."""
    hwc = _hwc(image)
    filled = mean_fill(hwc, block_labels(hwc.shape[0], hwc.shape[1], block))
    return np.moveaxis(filled, -1, 0).astype(np.float32)


def compute_proxy(image: np.ndarray, spec: ProxySpec) -> np.ndarray:
    """The proxy ``spec.kind`` of one image ((C, H, W) in [0, 1]) at its own size:
    (``spec.channels(C)``, H, W) float32."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ValueError(f"image: expected (C, H, W), got shape {image.shape}")
    size = max(image.shape[1:])
    s = spec.scale(size)
    parts: list[np.ndarray] = []
    if spec.kind in ("canny", "canny_blur", "canny_block"):
        parts.append(canny_edges(image, spec.canny_sigma * s))
    if spec.kind == "si":
        parts.append(superpixel_image(image, spec.segments_at(size), spec.compactness,
                                      spec.slic_sigma * s))
    if spec.kind in ("blur", "canny_blur"):
        parts.append(gaussian_blur(image, spec.blur_sigma * s))
    if spec.kind in ("block", "canny_block"):
        parts.append(block_mean(image, spec.block_at(size)))
    return np.concatenate(parts, axis=0)


# --- computed once per dataset, cached ---------------------------------------------------------

_MEMORY: dict[str, np.ndarray] = {}
#: Proxy sets kept in memory (the oldest is dropped; the disk cache keeps them all).
_MEMORY_ENTRIES = 2


def proxy_cache_key(dataset: Dataset, spec: ProxySpec) -> str | None:
    """Hash of (dataset fingerprint, spec, proxy version); None without a fingerprint."""
    fingerprint = getattr(dataset, "fingerprint", None)
    if fingerprint is None:
        return None
    return stable_hash({"dataset": fingerprint, "spec": dataclasses.asdict(spec),
                        "version": PROXY_VERSION}, 20)


def _compute_all(dataset: Dataset, spec: ProxySpec) -> np.ndarray:
    n = len(dataset)  # type: ignore[arg-type]
    out: np.ndarray | None = None
    for i in range(n):
        image = dataset[i]["image"]
        image = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        proxy = compute_proxy(image, spec)
        if out is None:
            out = np.empty((n, *proxy.shape), dtype=np.float32)
        out[i] = proxy
    if out is None:
        raise ValueError("proxies_for: the dataset is empty")
    return out


def proxies_for(dataset: Dataset, spec: ProxySpec) -> np.ndarray:
    """The proxies (N, Cp, H, W) float32 of every image of ``dataset`` (its ``image`` items,
    as the method sees them), computed once: from memory, else from
    ``cache_dir()/proxies/<key>.npy``, else computed now and saved there atomically."""
    key = proxy_cache_key(dataset, spec)
    if key is None:
        return _compute_all(dataset, spec)
    if key in _MEMORY:
        return _MEMORY[key]
    folder = cache_dir() / "proxies"
    path = folder / f"{key}.npy"
    n = len(dataset)  # type: ignore[arg-type]
    with exclusive(f"proxies-{key}"):
        proxies = _read(path, n)
        if proxies is None:
            proxies = _compute_all(dataset, spec)
            folder.mkdir(parents=True, exist_ok=True)
            tmp = temp_path(path)
            with open(tmp, "wb") as handle:
                np.save(handle, proxies)
            os.replace(tmp, path)
            meta = {"dataset": getattr(dataset, "fingerprint", None),
                    "spec": dataclasses.asdict(spec), "version": PROXY_VERSION}
            tmp_meta = temp_path(path.with_suffix(".json"))
            tmp_meta.write_text(json.dumps(meta, indent=1, default=str))
            os.replace(tmp_meta, path.with_suffix(".json"))
    while len(_MEMORY) >= _MEMORY_ENTRIES:  # bounded: at 256 px a set is ~130 MB
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = proxies
    return proxies


def _read(path: Path, n: int) -> np.ndarray | None:
    """A cached proxy array with ``n`` rows, or None (absent or unreadable: recomputed)."""
    if not path.exists():
        return None
    try:
        proxies = np.load(path)
    except (OSError, ValueError, EOFError):
        return None
    if proxies.ndim != 4 or len(proxies) != n or proxies.dtype != np.float32:
        return None
    return proxies


def clear_memory_cache() -> None:
    """Forget the in-memory proxies (the disk cache stays)."""
    _MEMORY.clear()


class ProxyDataset(Dataset):
    """``dataset``'s items with an added ``proxy`` tensor (Cp, H, W) from ``proxies``."""

    def __init__(self, dataset: Dataset, proxies: np.ndarray) -> None:
        if len(proxies) != len(dataset):  # type: ignore[arg-type]
            raise ValueError(f"proxies: expected {len(dataset)} rows, "  # type: ignore[arg-type]
                             f"got {len(proxies)}")
        self.dataset, self.proxies = dataset, proxies

    def __len__(self) -> int:
        return len(self.proxies)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = dict(self.dataset[index])
        item["proxy"] = torch.from_numpy(self.proxies[index])
        return item


__all__ = ["IMAGE_LIKE", "PROXY_KINDS", "ProxyDataset", "ProxySpec", "block_labels", "block_mean",
           "canny_edges", "clear_memory_cache", "compute_proxy", "gaussian_blur", "mean_fill",
           "proxies_for", "proxy_cache_key", "slic_labels", "superpixel_image"]
