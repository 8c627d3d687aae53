"""Duplicate control (``get_dataset(..., dedup=True)``, reprolib.data.dedup) on a tiny
Kermany-layout set with planted exact and near duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import reprolib.data.dedup as dedup
from reprolib.data import get_dataset
from reprolib.data.base import split_train_val
from reprolib.data.dedup import find_duplicates, hamming, pixel_rms, standardised


def _smooth(seed: int, size: int = 96) -> np.ndarray:
    """A smooth random grey image (blurred noise), distinct for each seed."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random((size, size)), (0, 0), 6)
    image = (image - image.min()) / np.ptp(image)
    return (image * 255).astype(np.uint8)


def _save(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def planted(tmp_path: Path) -> dict:
    """train/NORMAL: 10 distinct images + a byte copy of image 0 ("twin"); test/NORMAL: a byte
    copy of train image 1 (exact), train image 2 with +-2 grey-level noise (near), a new
    image (distinct); test/PNEUMONIA: two new images."""
    base = tmp_path / "kermany_chest_xray"
    train = [_save(_smooth(i), base / "train" / "NORMAL" / f"n{i:02d}.png") for i in range(10)]
    shutil.copyfile(train[0], base / "train" / "NORMAL" / "twin.png")
    (base / "test" / "NORMAL").mkdir(parents=True)
    shutil.copyfile(train[1], base / "test" / "NORMAL" / "exact.png")
    noise = np.random.default_rng(99).integers(-2, 3, (96, 96))
    near = np.clip(_smooth(2).astype(int) + noise, 0, 255).astype(np.uint8)
    _save(near, base / "test" / "NORMAL" / "near.png")
    _save(_smooth(50), base / "test" / "NORMAL" / "distinct.png")
    _save(_smooth(51), base / "test" / "PNEUMONIA" / "person1_bacteria_1.png")
    _save(_smooth(52), base / "test" / "PNEUMONIA" / "person2_virus_2.png")
    return {"root": tmp_path, "base": base}


def test_test_duplicates_dropped_exact_and_near(planted: dict) -> None:
    root = planted["root"]
    plain = get_dataset("kermany_cxr", "test", root=root, img_size=32)
    clean = get_dataset("kermany_cxr", "test", root=root, img_size=32, dedup=True)
    assert sorted(clean.duplicates_removed) == ["test/NORMAL/exact.png", "test/NORMAL/near.png"]
    assert len(clean) == len(plain) - 2
    assert set(clean.ids) == set(plain.ids) - set(clean.duplicates_removed)
    assert clean.counts() == {"NORMAL": 1, "bacteria": 1, "virus": 1}
    # recorded: the fingerprint (model/data identity) says dedup and how many were removed
    assert clean.fingerprint["options"]["dedup"] is True
    assert clean.fingerprint["dedup"]["removed"] == 2
    assert "dedup" not in plain.fingerprint and plain.fingerprint["ids"] != clean.fingerprint["ids"]


def test_report_separates_exact_near_and_distinct(planted: dict) -> None:
    root = planted["root"]
    test = get_dataset("kermany_cxr", "test", root=root).records
    train = get_dataset("kermany_cxr", "train", root=root, val_fraction=0.0).records
    report = find_duplicates(test, train)
    by_id = dict(zip(report.ids, zip(report.identical, report.duplicate, report.rms)))
    assert by_id["test/NORMAL/exact.png"][:2] == (True, True)
    assert by_id["test/NORMAL/near.png"][:2] == (False, True)
    assert 0 < by_id["test/NORMAL/near.png"][2] < 0.1
    assert not by_id["test/NORMAL/distinct.png"][1]
    assert report.nearest[report.ids.index("test/NORMAL/near.png")] == "train/NORMAL/n02.png"
    # without the pixel stage's tolerance only the byte-identical file is a duplicate
    strict = find_duplicates(test, train, max_rms=0.0)
    assert [i for i, d in zip(strict.ids, strict.duplicate) if d] == ["test/NORMAL/exact.png"]


def test_train_is_never_deduplicated_and_keeps_its_fingerprint(planted: dict) -> None:
    root = planted["root"]
    for seed in range(20):
        a = get_dataset("kermany_cxr", "train", root=root, val_fraction=0.3, seed=seed)
        b = get_dataset("kermany_cxr", "train", root=root, val_fraction=0.3, seed=seed,
                        dedup=True)
        assert a.ids == b.ids and a.fingerprint == b.fingerprint and not b.duplicates_removed


def test_val_drops_only_duplicates_of_the_train_split(planted: dict) -> None:
    root = planted["root"]
    records = get_dataset("kermany_cxr", "train", root=root, val_fraction=0.0).records
    for seed in range(40):  # a seed that puts image 0 and its twin on different sides
        train, val = split_train_val(records, 0.3, seed)
        sides = {r.id for r in val} & {"train/NORMAL/n00.png", "train/NORMAL/twin.png"}
        if len(sides) == 1:
            break
    else:
        pytest.fail("no seed splits the twins")
    plain = get_dataset("kermany_cxr", "val", root=root, val_fraction=0.3, seed=seed)
    clean = get_dataset("kermany_cxr", "val", root=root, val_fraction=0.3, seed=seed,
                        dedup=True)
    assert clean.duplicates_removed == sorted(sides)
    assert set(clean.ids) == set(plain.ids) - sides


def test_hashes_are_cached(planted: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    root = planted["root"]
    first = get_dataset("kermany_cxr", "test", root=root, dedup=True).duplicates_removed

    def fail(path: Path) -> None:
        raise AssertionError(f"{path} decoded again")

    monkeypatch.setattr(dedup, "_describe", fail)
    assert get_dataset("kermany_cxr", "test", root=root, dedup=True).duplicates_removed == first


def test_changed_file_is_hashed_again(planted: dict) -> None:
    root, base = planted["root"], planted["base"]
    assert get_dataset("kermany_cxr", "test", root=root, dedup=True).duplicates_removed
    _save(_smooth(77), base / "test" / "NORMAL" / "exact.png")
    _save(_smooth(78), base / "test" / "NORMAL" / "near.png")
    assert get_dataset("kermany_cxr", "test", root=root, dedup=True).duplicates_removed == []


def test_hamming_and_pixel_rms_by_hand() -> None:
    assert hamming([0b1011], [0b0001, 0b1011, (1 << 64) - 1]).tolist() == [[2, 0, 61]]
    a = np.array([[0.0, 1.0, 2.0, 3.0]])
    b = np.array([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0], [5.0, 5.0, 5.0, 5.0]])
    za, zb = standardised(a), standardised(b)
    assert np.allclose(za.mean(), 0) and np.allclose(za.std(), 1)
    assert np.allclose(zb[2], 0)  # a flat image stays zero
    rms = pixel_rms(za, zb)[0]
    assert rms[0] == pytest.approx(0.0, abs=1e-7)
    assert rms[1] == pytest.approx(np.sqrt(np.mean((za[0] + za[0]) ** 2)))  # mirrored: 2*z
    assert rms[2] == pytest.approx(1.0)


def test_bad_thresholds_refused(planted: dict) -> None:
    records = get_dataset("kermany_cxr", "test", root=planted["root"]).records
    with pytest.raises(ValueError, match="max_distance"):
        find_duplicates(records, records, max_distance=65)
    with pytest.raises(ValueError, match="max_rms"):
        find_duplicates(records, records, max_rms=-1)
