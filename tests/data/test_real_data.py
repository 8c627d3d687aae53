"""The two real datasets in ../shared/data (skipped, with the reason, where absent)."""

from __future__ import annotations

import pytest

from reprolib.data import get_dataset
from tests.data.conftest import SHARED_DATA

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                 reason=f"real data folder {SHARED_DATA} is absent")]


def test_kermany_cxr_counts() -> None:
    train = get_dataset("kermany_cxr", "train", root=SHARED_DATA, val_fraction=0.0)
    test = get_dataset("kermany_cxr", "test", root=SHARED_DATA, img_size=64)
    assert len(train) == 1341
    assert test.counts() == {"NORMAL": 234, "bacteria": 242, "virus": 148}
    item = test[len(test) - 1]
    assert item["image"].shape == (1, 64, 64) and item["label"] == 1


def test_brain_tumor_mri_counts_mixed_channels() -> None:
    train = get_dataset("brain_tumor_mri", "train", root=SHARED_DATA, val_fraction=0.0)
    test = get_dataset("brain_tumor_mri", "test", root=SHARED_DATA, img_size=32, channels=3)
    assert len(train) == 1591
    assert test.counts() == {"glioma": 300, "meningioma": 306, "notumor": 405, "pituitary": 300}
    assert {tuple(test[i]["image"].shape) for i in range(0, len(test), 150)} == {(3, 32, 32)}


def test_brain_tumor_mri_duplicates_of_training_normals() -> None:
    """Measured counts of docs/datasets.md: most test and val normals duplicate a training
    normal (105 test files byte-identical), no tumour image does; train is never changed."""
    from reprolib.data.dedup import find_duplicates

    test = get_dataset("brain_tumor_mri", "test", root=SHARED_DATA, img_size=16, dedup=True)
    removed = test.duplicates_removed
    assert len(removed) == 363 and all(r.startswith("Testing/notumor/") for r in removed)
    assert test.counts() == {"glioma": 300, "meningioma": 306, "notumor": 42, "pituitary": 300}
    val = get_dataset("brain_tumor_mri", "val", root=SHARED_DATA, img_size=16, dedup=True)
    assert len(val.duplicates_removed) == 105 and len(val) == 159 - 105
    train = get_dataset("brain_tumor_mri", "train", root=SHARED_DATA, val_fraction=0.0)
    plain = get_dataset("brain_tumor_mri", "test", root=SHARED_DATA)
    report = find_duplicates(plain.records, train.records)
    assert int(report.identical.sum()) == 105


def test_kermany_cxr_has_no_test_duplicates() -> None:
    test = get_dataset("kermany_cxr", "test", root=SHARED_DATA, img_size=16, dedup=True)
    assert test.duplicates_removed == [] and len(test) == 624
