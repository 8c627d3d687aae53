"""Every real-layout loader on tiny fixtures in the exact public layout, and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from reprolib.data import CorruptImageError, DataLayoutError, UnknownDatasetError, get_dataset
from tests.data.conftest import make_class_layout, write_jpeg


def test_kermany_splits_items_and_sublabels(kermany_root: Path) -> None:
    train = get_dataset("kermany_cxr", "train", root=kermany_root, img_size=16, val_fraction=0.2)
    val = get_dataset("kermany_cxr", "val", root=kermany_root, img_size=16, val_fraction=0.2)
    test = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=16)
    assert len(train) == 4 and len(val) == 1 and not set(train.ids) & set(val.ids)
    assert (train.labels == 0).all()
    assert test.labels.tolist().count(1) == 3
    assert sorted(test.sublabels) == ["NORMAL", "NORMAL", "bacteria", "bacteria", "virus"]
    item = test[0]
    assert item["image"].shape == (1, 16, 16) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 16, 16) and item["has_mask"] is False
    assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0
    batch = torch.utils.data.default_collate([test[0], test[1]])
    assert batch["image"].shape == (2, 1, 16, 16)


def test_normalisations_and_channels(kermany_root: Path) -> None:
    tanh = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=8, normalize="tanh")
    unit = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=8)
    assert torch.allclose(tanh[0]["image"], unit[0]["image"] * 2 - 1)
    imnet = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=8, channels=3,
                        normalize="imagenet")
    x = imnet[0]["image"]
    assert x.shape == (3, 8, 8)
    assert torch.allclose(x[0] * 0.229 + 0.485, unit[0]["image"][0], atol=1e-5)
    with pytest.raises(ValueError, match="3 channels"):
        get_dataset("kermany_cxr", "test", root=kermany_root, normalize="imagenet")


def test_fingerprint_is_json_and_changes_with_split(kermany_root: Path) -> None:
    import json
    a = get_dataset("kermany_cxr", "train", root=kermany_root)
    b = get_dataset("kermany_cxr", "val", root=kermany_root)
    json.dumps(a.fingerprint)
    assert a.fingerprint != b.fingerprint


@pytest.mark.parametrize(("name", "folder", "tree"), [
    ("oct2017", "OCT2017", {"train/NORMAL": 3, "test/NORMAL": 2, "test/CNV": 1, "test/DME": 1,
                            "test/DRUSEN": 1}),
    ("brain_tumor_mri", "brain_tumor_mri", {"Training/notumor": 3, "Testing/notumor": 2,
                                            "Testing/glioma": 1, "Testing/meningioma": 1,
                                            "Testing/pituitary": 1}),
    ("covid19", "COVID19", {"train/Normal": 3, "test/Normal": 2, "test/Covid": 2,
                            "test/Viral Pneumonia": 1}),
])
def test_class_folder_layouts(tmp_path: Path, name: str, folder: str, tree: dict) -> None:
    make_class_layout(tmp_path / folder, tree)
    test = get_dataset(name, "test", root=tmp_path, img_size=8)
    n_test = sum(n for k, n in tree.items() if k.lower().startswith("test"))
    assert len(test) == n_test
    assert int(test.labels.sum()) == n_test - 2
    assert len(get_dataset(name, "train", root=tmp_path, val_fraction=0.0)) == 3


def test_folder_layout_with_masks(tmp_path: Path) -> None:
    make_class_layout(tmp_path, {"train/good": 3, "test/good": 1, "test/crack": 2})
    gt = tmp_path / "ground_truth" / "crack"
    gt.mkdir(parents=True)
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 10:30] = 255
    Image.fromarray(mask).save(gt / "img0_mask.png")
    test = get_dataset("folder", "test", root=tmp_path, img_size=20)
    by_id = {i: k for k, i in enumerate(test.ids)}
    item = test[by_id["test/crack/img0.jpeg"]]
    assert item["has_mask"] and item["mask"].sum() > 0 and item["label"] == 1
    assert test[by_id["test/crack/img1.jpeg"]]["has_mask"] is False
    assert test[by_id["test/good/img0.jpeg"]]["mask"].sum() == 0


def test_octid_fixed_split(tmp_path: Path) -> None:
    make_class_layout(tmp_path / "OCTID", {"NORMAL": 20, "MH": 2, "CSR": 1})
    train = get_dataset("octid", "train", root=tmp_path, val_fraction=0.0)
    test = get_dataset("octid", "test", root=tmp_path)
    assert len(train) + int((test.labels == 0).sum()) == 20
    assert int(test.labels.sum()) == 3 and not set(train.ids) & set(test.ids)


def _eyeq(root: Path, rows: list[tuple[str, int, int]], part: str = "train") -> None:
    for name, _, _ in rows:
        write_jpeg(root / "EyeQ" / part / name, rgb=True)
    pd.DataFrame(rows, columns=["image", "quality", "DR_grade"]).to_csv(
        root / "EyeQ" / f"Label_EyeQ_{part}.csv")


def test_eyeq_protocols(tmp_path: Path) -> None:
    _eyeq(tmp_path, [("1_left.jpeg", 0, 0), ("1_right.jpeg", 1, 0), ("2_left.jpeg", 2, 0),
                     ("2_right.jpeg", 0, 2)])
    _eyeq(tmp_path, [("3_left.jpeg", 0, 0), ("3_right.jpeg", 0, 3), ("4_left.jpeg", 1, 1),
                     ("4_right.jpeg", 2, 0), ("5_left.jpeg", 0, 1)], part="test")
    rs = get_dataset("eyeq", "test", root=tmp_path, img_size=8)
    assert sorted(rs.sublabels) == ["grade0", "grade1", "grade3"] and rs.labels.sum() == 2
    assert len(get_dataset("eyeq", "train", root=tmp_path, val_fraction=0)) == 1
    k3 = get_dataset("eyeq", "test", root=tmp_path, grades=[3])
    assert sorted(k3.sublabels) == ["grade0", "grade3"]
    md = get_dataset("eyeq", "test", root=tmp_path, protocol="mdfsc")
    assert len(md) == 5 and md.labels.sum() == 1
    assert len(get_dataset("eyeq", "train", root=tmp_path, protocol="mdfsc",
                           val_fraction=0)) == 3


def test_eyeq_bad_csv(tmp_path: Path) -> None:
    root = tmp_path / "EyeQ"
    write_jpeg(root / "train" / "1_left.jpeg")
    pd.DataFrame({"image": ["1_left.jpeg"], "quality": [0]}).to_csv(
        root / "Label_EyeQ_train.csv")
    with pytest.raises(DataLayoutError, match=r"lacks column.*DR_grade"):
        get_dataset("eyeq", "train", root=tmp_path)
    pd.DataFrame({"image": ["9_left.jpeg"], "quality": [0], "DR_grade": [0]}).to_csv(
        root / "Label_EyeQ_train.csv")
    with pytest.raises(DataLayoutError, match=r"names image '9_left.jpeg', not found"):
        get_dataset("eyeq", "train", root=tmp_path)


def _idrid(root: Path) -> Path:
    base = root / "IDRiD"
    seg, grad = base / "A. Segmentation", base / "B. Disease Grading"
    for setname, names in (("a. Training Set", ["IDRiD_01", "IDRiD_02"]),
                           ("b. Testing Set", ["IDRiD_55"])):
        for name in names:
            write_jpeg(seg / "1. Original Images" / setname / f"{name}.jpg", size=(60, 40),
                       rgb=True)
            for folder, code in (("1. Microaneurysms", "MA"), ("2. Haemorrhages", "HE"),
                                 ("3. Hard Exudates", "EX"), ("4. Soft Exudates", "SE"),
                                 ("5. Optic Disc", "OD")):
                d = seg / "2. All Segmentation Groundtruths" / setname / folder
                d.mkdir(parents=True, exist_ok=True)
                if code in ("MA", "EX"):
                    m = np.zeros((40, 60, 3), np.uint8)
                    m[2:6, 2:6, 0] = 255 if code == "MA" else 0
                    m[30:36, 50:56, 0] = 255 if code == "EX" else 0
                    Image.fromarray(m).save(d / f"{name}_{code}.tif")
    for setname, csv, grades in (("a. Training Set", "a. IDRiD_Disease Grading_Training "
                                  "Labels.csv", [0, 0, 2]),
                                 ("b. Testing Set", "b. IDRiD_Disease Grading_Testing "
                                  "Labels.csv", [0, 3])):
        rows = []
        for i, g in enumerate(grades):
            write_jpeg(grad / "1. Original Images" / setname / f"IDRiD_{i:03d}.jpg",
                       size=(60, 40), rgb=True)
            rows.append({"Image name": f"IDRiD_{i:03d}", "Retinopathy grade": g,
                         "Risk of macular edema ": 0})
        (grad / "2. Groundtruths").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(grad / "2. Groundtruths" / csv, index=False)
    return root


def test_idrid_protocols(tmp_path: Path) -> None:
    root = _idrid(tmp_path)
    train = get_dataset("idrid", "train", root=root, val_fraction=0)
    assert len(train) == 2
    test = get_dataset("idrid", "test", root=root, img_size=40, square="stretch")
    assert test.labels.tolist().count(0) == 1 and test.labels.sum() == 3
    lesion = [test[i] for i in range(len(test)) if test.labels[i] == 1][0]
    assert lesion["has_mask"] and lesion["mask"].sum() > 0
    tiles = get_dataset("idrid", "test", root=root, protocol="proxyano", img_size=8)
    assert len(tiles) == 27 and tiles.labels.sum() == 6  # MA top-left + EX bottom-right
    md = get_dataset("idrid", "test", root=root, protocol="mdfsc")
    assert md.labels.tolist() == [0, 1] and not md.has_masks


# --- bad inputs: each a clear error, never a deep traceback -------------------------------------

def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match=r"expected the folder .*kermany_chest_xray"):
        get_dataset("kermany_cxr", "train", root=tmp_path / "nowhere")


def test_wrong_layout(tmp_path: Path) -> None:
    make_class_layout(tmp_path / "kermany_chest_xray", {"training/normal_images": 2})
    with pytest.raises(DataLayoutError, match=r"expected .*train"):
        get_dataset("kermany_cxr", "train", root=tmp_path)
    make_class_layout(tmp_path / "OCT2017", {"test/NORMAL": 1, "test/CNV": 1, "test/XYZ": 1})
    with pytest.raises(DataLayoutError, match=r"unknown class folder.*XYZ"):
        get_dataset("oct2017", "test", root=tmp_path)


def test_empty_class_folder(kermany_root: Path) -> None:
    for p in (kermany_root / "kermany_chest_xray" / "test" / "NORMAL").iterdir():
        p.unlink()
    with pytest.raises(DataLayoutError, match=r"test/NORMAL .* is empty"):
        get_dataset("kermany_cxr", "test", root=kermany_root)


def test_truncated_jpeg_stops_with_path_or_is_skipped(kermany_root: Path) -> None:
    bad = kermany_root / "kermany_chest_xray" / "train" / "NORMAL" / "img0.jpeg"
    write_jpeg(bad, size=(64, 64))
    bad.write_bytes(bad.read_bytes()[:200])
    ds = get_dataset("kermany_cxr", "train", root=kermany_root, val_fraction=0)
    with pytest.raises(CorruptImageError, match="img0.jpeg"):
        for i in range(len(ds)):
            ds[i]
    skipping = get_dataset("kermany_cxr", "train", root=kermany_root, val_fraction=0,
                           skip_corrupt=True)
    assert len(skipping) == 4 and len(skipping.skipped) == 1
    assert "img0.jpeg" in skipping.skipped[0]


def test_unknown_name_and_options(kermany_root: Path) -> None:
    with pytest.raises(UnknownDatasetError, match="phantom_cxr"):
        get_dataset("no_such_set", "train")
    with pytest.raises(ValueError, match="split"):
        get_dataset("kermany_cxr", "training", root=kermany_root)
    with pytest.raises(ValueError, match="unknown option"):
        get_dataset("kermany_cxr", "train", root=kermany_root, colour=True)
    with pytest.raises(ValueError, match="phantom datasets only"):
        get_dataset("kermany_cxr", "train", root=kermany_root, n_train=4)


def test_odd_files(tmp_path: Path) -> None:
    """16-bit PNG, palette image, EXIF rotation, odd sizes, mixed gray/RGB in one folder."""
    from reprolib.data.io import read_image
    folder = tmp_path / "x"
    folder.mkdir()
    Image.fromarray((np.arange(35 * 17).reshape(17, 35) * 100).astype(np.uint16)).save(
        folder / "a16.png")
    arr = read_image(folder / "a16.png")
    assert arr.dtype == np.uint8 and arr.shape == (17, 35) and arr.max() > 200
    Image.fromarray(np.zeros((5, 7), np.uint8)).convert("P").save(folder / "p.png")
    assert read_image(folder / "p.png").shape == (5, 7, 3)
    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90
    img.save(folder / "r.jpg", exif=exif)
    assert read_image(folder / "r.jpg").shape == (20, 10, 3)
    (folder / "t.png").write_text("not an image")
    with pytest.raises(CorruptImageError, match="t.png"):
        read_image(folder / "t.png")


def test_preprocessing_options_change_tensors_and_fingerprint(kermany_root: Path) -> None:
    """``standardize`` and ``clahe`` are applied after resizing (uint8) and recorded."""
    from reprolib.data.transforms import CLAHE, Standardize

    plain = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=16)
    std = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=16, standardize=True)
    eq = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=16, clahe=True)
    both = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=16, clahe=True,
                       standardize=True)
    raw = plain.load_uint8(0)[0]
    assert np.array_equal(std.load_uint8(0)[0], Standardize()(raw))
    assert np.array_equal(eq.load_uint8(0)[0], CLAHE()(raw))
    assert np.array_equal(both.load_uint8(0)[0], Standardize()(CLAHE()(raw)))
    assert torch.allclose(std[0]["image"], torch.from_numpy(Standardize()(raw)[None] / 255.0)
                          .float())
    assert not torch.equal(std[0]["image"], plain[0]["image"])
    assert "standardize" not in plain.fingerprint and std.fingerprint["standardize"] is True
    assert eq.fingerprint["clahe"] is True and plain.fingerprint["clahe"] is False
    assert len({str(d.fingerprint) for d in (plain, std, eq, both)}) == 4
    off = get_dataset("kermany_cxr", "test", root=kermany_root, img_size=16, standardize=False,
                      dedup=False)
    assert off.fingerprint == plain.fingerprint
