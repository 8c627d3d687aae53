"""The dataset every loader returns: records read from disk, decoded lazily (and cached as
uint8 when asked), yielding the item dict of docs/contracts.md."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.data.errors import CorruptImageError, DataError
from reprolib.data.io import read_image, read_mask
from reprolib.data.transforms import (
    CLAHE,
    CenterCrop,
    Compose,
    CropBox,
    Normalize,
    Resize,
    Standardize,
    to_channels,
)


@dataclass(frozen=True)
class Record:
    """One image on disk. ``masks``: None = no mask known; () = known to be all-normal;
    else the mask files whose union is the lesion mask. ``box``: fractional crop (tiles)."""

    path: Path
    label: int
    sublabel: str
    id: str
    masks: tuple[Path, ...] | None = None
    box: tuple[float, float, float, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def stable_fraction(key: str) -> float:
    """A deterministic number in [0, 1) from a string (for seed-free fixed splits)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / 16 ** 12


def split_train_val(records: list[Record], val_fraction: float, seed: int
                    ) -> tuple[list[Record], list[Record]]:
    """Deterministic held-out fraction of the training normals (never overlapping)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction: expected a value in [0, 1), got {val_fraction}")
    ordered = sorted(records, key=lambda r: r.id)
    n_val = int(round(val_fraction * len(ordered)))
    if val_fraction > 0 and len(ordered) >= 2:
        n_val = min(max(n_val, 1), len(ordered) - 1)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    val_idx = set(perm[:n_val].tolist())
    train = [r for i, r in enumerate(ordered) if i not in val_idx]
    val = [r for i, r in enumerate(ordered) if i in val_idx]
    return train, val


class ImageDataset(Dataset):
    """Images of one split of one dataset, as the contract's item dicts.

    ``ds[i]`` = ``{"image": float32 (C,H,W), "label": int, "mask": float32 (1,H,W),
    "has_mask": bool, "sublabel": str, "id": str}``. Labels, sub-labels and ids are known
    without decoding a single image. With ``cache_in_memory`` the decoded, resized uint8 image
    and mask are kept, so later epochs do not decode again.
    ``skip_corrupt=True`` drops undecodable files at construction (counted in
    ``skipped``) instead of stopping on the first one. Preprocessing after the geometry:
    ``clahe`` (:class:`CLAHE`), then ``standardize`` (:class:`Standardize`), both uint8.
    ``duplicates_removed``: ids that ``get_dataset(..., dedup=True)`` dropped.
    """

    def __init__(self, records: list[Record], *, name: str, split: str, img_size: int = 256,
                 channels: int = 1, normalize: str = "unit", square: str = "stretch",
                 clahe: bool = False, standardize: bool = False, cache_in_memory: bool = True,
                 options: dict[str, Any] | None = None, skip_corrupt: bool = False,
                 root: Path | None = None) -> None:
        if int(img_size) < 8:
            raise ValueError(f"img_size: expected an integer >= 8, got {img_size!r}")
        if square not in ("stretch", "crop"):
            raise ValueError(f"square: expected 'stretch' or 'crop', got {square!r}")
        self.name, self.split, self.root = name, split, root
        self.img_size, self.channels = int(img_size), int(channels)
        self.normalize, self.square, self.clahe = normalize, square, bool(clahe)
        self.standardize = bool(standardize)
        self.cache_in_memory = bool(cache_in_memory)
        self._to_channels = to_channels(self.channels)
        self._normalize = Normalize(normalize)
        if normalize == "imagenet" and self.channels != 3:
            raise ValueError("normalize='imagenet' needs 3 channels: pass channels=3 "
                             f"(got channels={self.channels})")
        self.skipped: list[str] = []
        self.duplicates_removed: list[str] = []
        if skip_corrupt:
            kept = []
            for record in records:
                try:
                    read_image(record.path)
                    kept.append(record)
                except CorruptImageError as err:
                    self.skipped.append(str(err))
            records = kept
        self.records = list(records)
        self.labels = np.asarray([r.label for r in self.records], dtype=int)
        self.sublabels = [r.sublabel for r in self.records]
        self.ids = [r.id for r in self.records]
        self.has_masks = any(r.masks is not None for r in self.records) if self.records \
            else False
        self._cache: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        ids_hash = hashlib.sha256("\n".join(self.ids).encode()).hexdigest()[:16]
        self.fingerprint: dict[str, Any] = json.loads(json.dumps({
            "name": name, "split": split, "img_size": self.img_size, "channels": self.channels,
            "normalize": normalize, "square": square, "clahe": self.clahe,
            **({"standardize": True} if self.standardize else {}),
            "options": options or {}, "count": len(self.records), "ids": ids_hash},
            default=str))

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        n_ab = int(self.labels.sum())
        return (f"ImageDataset({self.name!r}, split={self.split!r}, n={len(self)} "
                f"({len(self) - n_ab} normal, {n_ab} anomalous), img_size={self.img_size}, "
                f"channels={self.channels}, masks={self.has_masks})")

    def _geometry(self, record: Record, nearest: bool = False) -> Compose:
        steps: list = []
        if record.box is not None:
            steps.append(CropBox(record.box))
        if self.square == "crop":
            steps.append(CenterCrop())
        steps.append(Resize(self.img_size, nearest=nearest))
        return Compose(steps)

    def load_uint8(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The resized uint8 image (H, W[, 3]) and uint8 mask (H, W) or None."""
        if index in self._cache:
            return self._cache[index]
        record = self.records[index]
        image = self._to_channels(read_image(record.path))
        image = self._geometry(record)(image)
        if self.clahe:
            image = CLAHE()(image)
        if self.standardize:
            image = Standardize()(image)
        mask = None
        if record.masks is not None:
            mask = np.zeros(image.shape[:2], dtype=np.uint8)
            if record.masks:
                full = None
                for path in record.masks:
                    part = read_mask(path)
                    full = part if full is None else np.maximum(full, part)
                assert full is not None
                shape = read_image_shape(record.path)
                if full.shape != shape:
                    raise DataError(f"mask {record.masks[0]} is {full.shape[1]}x{full.shape[0]}"
                                    f" but its image {record.path} is {shape[1]}x{shape[0]}")
                # area-resize the {0,1} mask and keep pixels at least half covered
                soft = self._geometry(record)(full.astype(np.float32))
                mask = (soft >= 0.5).astype(np.uint8)
        if self.cache_in_memory:
            self._cache[index] = (image, mask)
        return image, mask

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        record = self.records[index]
        image, mask = self.load_uint8(index)
        mask_t = torch.zeros(1, self.img_size, self.img_size) if mask is None else \
            torch.from_numpy(mask[None].astype(np.float32))
        return {"image": self._normalize(image), "label": int(record.label), "mask": mask_t,
                "has_mask": mask is not None, "sublabel": record.sublabel, "id": record.id}

    def counts(self) -> dict[str, int]:
        """Number of images per sub-label (or per label when there are none)."""
        keys = [s or ("anomalous" if lab else "normal")
                for s, lab in zip(self.sublabels, self.labels)]
        return {k: keys.count(k) for k in sorted(set(keys))}


def read_image_shape(path: Path) -> tuple[int, int]:
    """(H, W) of an image after EXIF orientation, without decoding pixels when possible."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(0x0112, 1)
            w, h = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(f"cannot decode image {path}: expected a readable image file, "
                                f"found {type(err).__name__}: {err}") from err
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)
