"""Phantoms: determinism, reuse of the cache, test composition, masks, and that lesions are not
revealed by the image mean."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reprolib.data import STANDS_IN_FOR, available_datasets, get_dataset
from reprolib.data.phantoms import PHANTOMS, info
from reprolib.data.phantoms.writers import composition

ALL = sorted(PHANTOMS)


def test_names_match_contract() -> None:
    assert set(PHANTOMS) == set(STANDS_IN_FOR)
    assert set(PHANTOMS) <= set(available_datasets())


def test_composition() -> None:
    assert composition(624, {"normal": 234, "bacteria": 242, "virus": 148}) == {
        "normal": 234, "bacteria": 242, "virus": 148}
    c = composition(10, {"a": 405, "b": 300, "c": 306, "d": 300})
    assert sum(c.values()) == 10 and min(c.values()) >= 1


@pytest.mark.parametrize("name", ALL)
def test_every_phantom_loads_with_masks(name: str) -> None:
    test = get_dataset(name, "test", n_train=4, n_test=8, img_size=32, native_size=128)
    train = get_dataset(name, "train", n_train=4, n_test=8, img_size=32, native_size=128)
    assert (train.labels == 0).all() and len(train) >= 3
    assert (test.labels == 0).any() and (test.labels == 1).any()
    assert test.has_masks
    lesion = [test[i] for i in range(len(test)) if test.labels[i] == 1]
    assert any(item["mask"].sum() > 0 for item in lesion)
    for i in range(len(test)):
        if test.labels[i] == 0 and test[i]["has_mask"]:
            assert test[i]["mask"].sum() == 0


def test_deterministic_and_reused() -> None:
    a = get_dataset("phantom_cxr", "test", n_train=2, n_test=4, seed=3, native_size=96)
    folder = a.root
    stamp = (folder / "phantom.json").stat().st_mtime_ns
    b = get_dataset("phantom_cxr", "test", n_train=2, n_test=4, seed=3, native_size=96)
    assert b.root == folder and (folder / "phantom.json").stat().st_mtime_ns == stamp
    assert info(folder)["images_per_second"] > 0
    assert all(np.array_equal(a[i]["image"], b[i]["image"]) for i in range(len(a)))
    import shutil
    shutil.rmtree(folder)
    c = get_dataset("phantom_cxr", "test", n_train=2, n_test=4, seed=3, native_size=96)
    assert all(np.array_equal(a[i]["image"], c[i]["image"]) for i in range(len(a)))
    d = get_dataset("phantom_cxr", "test", n_train=2, n_test=4, seed=4, native_size=96)
    assert not np.array_equal(a[0]["image"], d[0]["image"])


@pytest.mark.parametrize("name", ["phantom_cxr", "phantom_brain", "phantom_oct",
                                  "phantom_eyeq"])
def test_mean_intensity_does_not_separate_lesions(name: str) -> None:
    test = get_dataset(name, "test", n_train=2, n_test=60, img_size=64, native_size=128)
    means = np.array([float(test[i]["image"].mean()) for i in range(len(test))])
    auroc = roc_auc_score(test.labels, means)
    assert max(auroc, 1 - auroc) < 0.8, f"{name}: image-mean AUROC {auroc:.2f}"


def test_bad_phantom_options() -> None:
    with pytest.raises(ValueError, match="difficulty"):
        get_dataset("phantom_cxr", "test", n_train=2, n_test=4, difficulty=2.0)
    with pytest.raises(ValueError, match="n_train"):
        get_dataset("phantom_cxr", "test", n_train=0, n_test=4)
