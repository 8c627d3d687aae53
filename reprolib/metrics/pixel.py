"""Pixel-level metrics over all test pixels: AUROC, AUPR, balanced accuracy.

ProxyAno (Table I) reports pixel AUROC and ACC at a fixed threshold of 0.5; ReSynthDetect
(Sec. 4, Tables 1-3) pixel AUROC, AUPR and balanced accuracy. All are taken over the pixels of
all test images pooled together, not averaged per image.

Memory: tens of millions of pixels must fit, so :class:`PixelMetricAccumulator` keeps each
pixel's score once, as float32 (4 bytes), split by its mask value (the mask itself is not
stored); the metrics then sort each class once and use binary searches (exact, ties
included; see :mod:`reprolib.metrics.sorted_counts`). Peak memory is about twice the
stored scores (8 bytes per pixel) while the batches are merged. Maps given as float64 are
rounded to float32 first, which can merge scores closer than float32's resolution (about 6e-8
relative); anomaly maps are float32 in this repository (docs/contracts.md ``Scores``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reprolib.metrics.sorted_counts import (
    auroc_from_sorted,
    average_precision_from_sorted,
    best_threshold_from_sorted,
    confusion_from_sorted,
)
from reprolib.metrics.thresholds import stats_from_counts
from reprolib.metrics.validation import (
    as_numpy,
    check_binary,
    check_both_classes,
    check_finite,
    check_threshold,
)


def _matched(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten maps and masks whose shapes agree up to axes of length 1 (e.g. (N,1,H,W))."""
    if maps.shape != masks.shape:
        core_maps = tuple(n for n in maps.shape if n != 1)
        core_masks = tuple(n for n in masks.shape if n != 1)
        if core_maps != core_masks:
            raise ValueError(f"anomaly maps and masks must have the same shape (up to axes of "
                             f"length 1); found maps {maps.shape} and masks {masks.shape}")
    return maps.reshape(-1), masks.reshape(-1)


class PixelMetricAccumulator:
    """Collect anomaly maps and lesion masks batch by batch; compute pooled pixel metrics.

    ``add(maps, masks)`` copies the scores (float32) of lesion pixels (mask 1) and of normal
    pixels (mask 0) into two stores; maps must be finite and masks 0/1. The metrics need
    both kinds of pixels. Adding after a metric was computed is allowed.
    """

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating type; found {self.dtype}")
        self._stores: dict[bool, list[np.ndarray]] = {True: [], False: []}
        self._is_sorted: dict[bool, bool] = {True: True, False: True}

    @property
    def n_positive(self) -> int:
        """Lesion (mask 1) pixels added so far."""
        return sum(chunk.size for chunk in self._stores[True])

    @property
    def n_negative(self) -> int:
        """Normal (mask 0) pixels added so far."""
        return sum(chunk.size for chunk in self._stores[False])

    @property
    def n_pixels(self) -> int:
        """All pixels added so far."""
        return self.n_positive + self.n_negative

    def reset(self) -> None:
        """Forget every pixel added."""
        self._stores = {True: [], False: []}
        self._is_sorted = {True: True, False: True}

    def add(self, maps: Any, masks: Any) -> None:
        """Add a batch: ``maps`` (N,H,W) scores and ``masks`` in {0,1} of the same shape."""
        maps_arr, masks_arr = as_numpy(maps), as_numpy(masks)
        check_finite(maps_arr, "anomaly maps")
        check_binary(masks_arr, "masks", "pixel masks")
        values, mask_values = _matched(maps_arr, masks_arr)
        values = values.astype(self.dtype, copy=False)
        is_lesion = mask_values.astype(bool, copy=False)
        for lesion in (True, False):
            selected = values[is_lesion if lesion else ~is_lesion]  # always a copy
            if selected.size:
                self._stores[lesion].append(selected)
                self._is_sorted[lesion] = False

    def _sorted(self, lesion: bool) -> np.ndarray:
        chunks = self._stores[lesion]
        if not self._is_sorted[lesion]:
            if len(chunks) == 1:
                merged = chunks.pop()
            else:
                merged = np.empty(sum(chunk.size for chunk in chunks), dtype=self.dtype)
                start = 0
                while chunks:  # release each batch once copied
                    chunk = chunks.pop()
                    merged[start:start + chunk.size] = chunk
                    start += chunk.size
            merged.sort()
            chunks.append(merged)
            self._is_sorted[lesion] = True
        return chunks[0] if chunks else np.empty(0, dtype=self.dtype)

    def _classes(self) -> tuple[np.ndarray, np.ndarray]:
        check_both_classes(self.n_positive, self.n_negative, "pixel masks")
        return self._sorted(True), self._sorted(False)

    def pix_auroc(self) -> float:
        """Pixel AUROC over every pixel added (equal to ``roc_auc_score`` on the raveled maps)."""
        return auroc_from_sorted(*self._classes())

    def pix_aupr(self) -> float:
        """Pixel AUPR as average precision (``average_precision_score`` on the raveled maps)."""
        return average_precision_from_sorted(*self._classes())

    def confusion(self, threshold: float) -> dict[str, int]:
        """Pixel ``{"tp", "fp", "tn", "fn"}`` when a score ``>= threshold`` is a lesion pixel."""
        return confusion_from_sorted(*self._classes(), check_threshold(threshold))

    def pix_bacc(self, threshold: float) -> float:
        """Pixel balanced accuracy (TPR + TNR) / 2 at ``threshold`` (ReSynthDetect Sec. 4)."""
        return self.pix_stats(threshold)["pix_bacc"]

    def pix_stats(self, threshold: float) -> dict[str, float]:
        """``{"pix_bacc", "pix_acc", "pix_f1"}`` at ``threshold`` (ProxyAno Table I: 0.5)."""
        stats = stats_from_counts(**self.confusion(threshold))
        return {"pix_bacc": (stats["sen"] + stats["spe"]) / 2, "pix_acc": stats["acc"],
                "pix_f1": stats["f1"]}

    def youden_threshold(self) -> float:
        """Pixel threshold maximising TPR - FPR, i.e. balanced accuracy (uses test masks)."""
        return best_threshold_from_sorted(*self._classes(), "youden")[0]

    def best_f1_threshold(self) -> float:
        """Pixel threshold maximising pixel F1 (uses test masks)."""
        return best_threshold_from_sorted(*self._classes(), "f1")[0]


def accumulate(maps: Any, masks: Any) -> PixelMetricAccumulator:
    """An accumulator holding ``maps`` and ``masks``: arrays of the same shape, or equal-length
    sequences of per-image arrays (images may differ in size)."""
    accumulator = PixelMetricAccumulator()
    if isinstance(maps, Sequence) and not isinstance(maps, str | bytes):
        n_masks = len(masks) if hasattr(masks, "__len__") else None
        if n_masks != len(maps):
            raise ValueError(f"a sequence of {len(maps)} maps needs as many masks; found "
                             f"{n_masks if n_masks is not None else type(masks).__name__}")
        for one_map, one_mask in zip(maps, masks):
            accumulator.add(one_map, one_mask)
    else:
        accumulator.add(maps, masks)
    return accumulator


def pixel_auroc(maps: Any, masks: Any) -> float:
    """Pixel AUROC over all pixels of ``maps`` against ``masks`` (see the module docstring)."""
    return accumulate(maps, masks).pix_auroc()


def pixel_aupr(maps: Any, masks: Any) -> float:
    """Pixel average precision over all pixels of ``maps`` against ``masks``."""
    return accumulate(maps, masks).pix_aupr()


def pixel_balanced_accuracy(maps: Any, masks: Any, threshold: float) -> float:
    """Pixel balanced accuracy (TPR + TNR) / 2, a score ``>= threshold`` being a lesion."""
    return accumulate(maps, masks).pix_bacc(threshold)
