"""The sanity test set (issue 8, item 5): anomalies that any working method must find.

``get_dataset(name, "test", sanity_square="saturate" | "invert")`` replaces a dataset's test
split by one built from its **normal test images only**:

1. the normal test images are ordered by id and shuffled with ``numpy.random.default_rng(seed)``
   (``seed`` of ``get_dataset``); the first ``n // 2`` get a square pasted and become anomalous
   (label 1, sub-label ``sanity_square``, id ``<id>+square``), the other ``n - n // 2`` stay
   normal (label 0). The test set's own anomalous images are left out;
2. the square's side is :func:`square_side` = ``max(4, round(img_size * 5 / 32))`` pixels of the
   loaded image (20 px at 128, 10 px at 64, 40 px at 256: 2.4 % of the image area at every
   size); its place is uniform over the positions that keep it inside the image, drawn per image
   from ``default_rng([seed, <a number from the id>])`` as a fraction of the side, so it falls
   on the same spot of the image at every ``img_size``;
3. inside the square the uint8 image (every channel) is set to 255 (``saturate``) or to
   ``255 - value`` (``invert``) after resizing and before normalisation; the mask is 1 exactly
   there. Every image of the set has a mask (all-zero for the normal ones).

The train and val splits are unchanged and keep their fingerprint, so a model trained for a
table on the same dataset is reused from the model cache; the test fingerprint records
``sanity_square``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from reprolib.data.base import ImageDataset, Record, stable_fraction

#: Values of the ``sanity_square`` option.
SANITY_MODES: tuple[str, ...] = ("saturate", "invert")
#: Square side as a share of the image side.
SQUARE_SHARE = 5 / 32


def square_side(img_size: int) -> int:
    """Side in pixels of the pasted square at ``img_size``: ``max(4, round(img_size * 5/32))``."""
    return max(4, int(round(img_size * SQUARE_SHARE)))


def check_mode(mode: Any) -> str:
    """``True`` means ``saturate``; otherwise one of :data:`SANITY_MODES`."""
    if mode is True:
        return "saturate"
    if mode not in SANITY_MODES:
        raise ValueError(f"sanity_square: expected True or one of {list(SANITY_MODES)}, "
                         f"got {mode!r}")
    return str(mode)


def sanity_records(records: list[Record], seed: int) -> list[Record]:
    """The sanity set's records from a test split's records (module docstring, steps 1-2)."""
    normals = sorted((r for r in records if r.label == 0), key=lambda r: r.id)
    if len(normals) < 2:
        raise ValueError(f"sanity_square: needs at least 2 normal test images, found "
                         f"{len(normals)}")
    order = np.random.default_rng(seed).permutation(len(normals))
    pasted = set(order[: len(normals) // 2].tolist())
    out = []
    for i, record in enumerate(normals):
        if i not in pasted:
            out.append(dataclasses.replace(record, masks=(), meta=dict(record.meta)))
            continue
        place = np.random.default_rng([seed, int(stable_fraction(record.id) * 2**32)])
        corner = tuple(float(v) for v in place.random(2))  # fraction of the free range
        out.append(dataclasses.replace(
            record, label=1, sublabel="sanity_square", id=f"{record.id}+square", masks=(),
            meta={**record.meta, "sanity_corner": corner}))
    return out


class SanityDataset(ImageDataset):
    """An :class:`ImageDataset` whose records marked with ``sanity_corner`` get the square."""

    def __init__(self, records: list[Record], *, mode: str, **kwargs: Any) -> None:
        self.mode = check_mode(mode)
        super().__init__(records, **kwargs)

    def square_box(self, index: int) -> tuple[int, int, int] | None:
        """``(row, col, side)`` of image ``index``'s square, or None for a normal image."""
        corner = self.records[index].meta.get("sanity_corner")
        if corner is None:
            return None
        side = square_side(self.img_size)
        free = self.img_size - side
        return int(round(corner[0] * free)), int(round(corner[1] * free)), side

    def load_uint8(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        if index in self._cache:
            return self._cache[index]
        image, mask = super().load_uint8(index)
        box = self.square_box(index)
        if box is not None:
            row, col, side = box
            image = image.copy()
            patch = image[row:row + side, col:col + side]
            image[row:row + side, col:col + side] = 255 if self.mode == "saturate" else \
                255 - patch
            mask = np.zeros(image.shape[:2], dtype=np.uint8) if mask is None else mask.copy()
            mask[row:row + side, col:col + side] = 1
        if self.cache_in_memory:
            self._cache[index] = (image, mask)
        return image, mask
