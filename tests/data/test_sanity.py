"""The sanity test set: normal test images, half of them with a pasted square (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest

from reprolib.data import get_dataset
from reprolib.data.sanity import SanityDataset, square_side

OPTS = {"n_train": 4, "n_test": 12, "native_size": 96}


def test_square_side_rule() -> None:
    assert [square_side(s) for s in (16, 64, 100, 128, 154, 256)] == [4, 10, 16, 20, 24, 40]


@pytest.mark.parametrize("mode", ["saturate", "invert"])
def test_sanity_set_is_built_from_the_normals(mode: str) -> None:
    plain = get_dataset("phantom_cxr", "test", img_size=64, **OPTS)
    sanity = get_dataset("phantom_cxr", "test", img_size=64, sanity_square=mode, **OPTS)
    assert isinstance(sanity, SanityDataset) and sanity.has_masks
    normals = sorted(i for i, lab in zip(plain.ids, plain.labels) if lab == 0)
    assert len(sanity) == len(normals)
    assert int(sanity.labels.sum()) == len(normals) // 2
    assert sorted(i.removesuffix("+square") for i in sanity.ids) == normals
    side = square_side(64)
    by_id = {i: k for k, i in enumerate(plain.ids)}
    for k in range(len(sanity)):
        item = sanity[k]
        original = plain.load_uint8(by_id[sanity.ids[k].removesuffix("+square")])[0]
        image = sanity.load_uint8(k)[0]
        mask = item["mask"][0].numpy()
        if item["label"] == 0:
            assert mask.sum() == 0 and np.array_equal(image, original)
            continue
        assert mask.sum() == side * side and item["sublabel"] == "sanity_square"
        row, col, _ = sanity.square_box(k)
        assert mask[row:row + side, col:col + side].all()
        inside = image[row:row + side, col:col + side]
        expected = 255 if mode == "saturate" else 255 - original[row:row + side, col:col + side]
        assert np.array_equal(inside, np.broadcast_to(expected, inside.shape))
        outside = mask == 0
        assert np.array_equal(image[outside], original[outside])


def test_seeded_same_place_at_every_size_and_train_unchanged() -> None:
    a = get_dataset("phantom_cxr", "test", img_size=64, sanity_square=True, **OPTS)
    b = get_dataset("phantom_cxr", "test", img_size=128, sanity_square=True, **OPTS)
    assert a.ids == b.ids
    k = int(np.flatnonzero(a.labels)[0])
    (r64, c64, _), (r128, c128, _) = a.square_box(k), b.square_box(k)
    assert abs(2 * r64 - r128) <= 2 and abs(2 * c64 - c128) <= 2
    assert a.fingerprint["options"]["sanity_square"] == "saturate"
    train = get_dataset("phantom_cxr", "train", img_size=64, sanity_square=True, **OPTS)
    plain_train = get_dataset("phantom_cxr", "train", img_size=64, **OPTS)
    assert train.fingerprint == plain_train.fingerprint


def test_bad_mode_is_named() -> None:
    with pytest.raises(ValueError, match="sanity_square: expected True or one of"):
        get_dataset("phantom_cxr", "test", img_size=32, sanity_square="bright", **OPTS)
