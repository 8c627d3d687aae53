"""Write phantom sets in the on-disk layouts of the real datasets (plus an optional
``ground_truth/`` folder of masks that the real sets do not have)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np

Generator = Callable[..., tuple[np.ndarray, np.ndarray]]


def composition(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split ``n`` images over classes by ``shares`` (largest remainder); every class gets at
    least one image when ``n`` allows."""
    total = sum(shares.values())
    raw = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(np.floor(v)) for k, v in raw.items()}
    if n >= len(shares):
        for k in counts:
            if counts[k] == 0:
                counts[k] = 1
    while sum(counts.values()) > n:
        k = max(counts, key=lambda c: counts[c] - raw[c])
        counts[k] -= 1
    for k in sorted(raw, key=lambda c: raw[c] - counts[c], reverse=True):
        if sum(counts.values()) >= n:
            break
        counts[k] += 1
    return counts


def write_image(path: Path, image: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = image[..., ::-1] if image.ndim == 3 else image  # RGB -> BGR for OpenCV
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") \
        else []
    if not cv2.imwrite(str(path), np.ascontiguousarray(array), params):
        raise OSError(f"cannot write {path}")


def write_mask(path: Path, mask: np.ndarray) -> None:
    write_image(path, (mask > 0).astype(np.uint8) * 255)


def write_class_folders(root: Path, generate: Generator, *, splits: Mapping[str, str],
                        train_kind: str, train_class: str, test: Mapping[str, tuple[str, int]],
                        name_of: Callable[[str, str, int], str], n_train: int, seed: int,
                        difficulty: float, size: int) -> dict[str, int]:
    """``<train>/<train_class>/`` normals and ``<test>/<class>/`` images with masks under
    ``ground_truth/<split>/<class>/<stem>.png``. ``test`` maps a generator kind to
    (class folder, count)."""
    from reprolib.data.phantoms import rng_for
    counts: dict[str, int] = {}
    for i in range(n_train):
        image, _ = generate(rng_for(seed, "train", i), train_kind, size, difficulty)
        write_image(root / splits["train"] / train_class / name_of(train_kind, "train", i), image)
    counts[f"{splits['train']}/{train_class}"] = n_train
    index = 0
    for kind, (cls, n) in test.items():
        for _ in range(n):
            image, mask = generate(rng_for(seed, "test", index), kind, size, difficulty)
            name = name_of(kind, "test", index)
            write_image(root / splits["test"] / cls / name, image)
            write_mask(root / "ground_truth" / splits["test"] / cls / f"{Path(name).stem}.png",
                       mask)
            index += 1
        counts[f"{splits['test']}/{cls}"] = counts.get(f"{splits['test']}/{cls}", 0) + n
    return counts


# --- chest X-ray (Kermany) and COVID-19 -------------------------------------------------------

def write_kermany_cxr(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
                      size: int) -> dict[str, int]:
    """Kermany CXR test set: 234 normal / 390 pneumonia (242 bacterial + 148 viral by
    file name), scaled to ``n_test``."""
    from reprolib.data.phantoms import cxr
    c = composition(n_test, {"normal": 234, "bacteria": 242, "virus": 148})
    test = {"normal": ("NORMAL", c["normal"]), "bacteria": ("PNEUMONIA", c["bacteria"]),
            "virus": ("PNEUMONIA", c["virus"])}

    def name_of(kind: str, part: str, i: int) -> str:
        if kind == "normal":
            return f"IM-{i:04d}-0001.jpeg" if part == "train" else f"NORMAL2-IM-{i:04d}-0001.jpeg"
        return f"person{i}_{kind}_{i}.jpeg"

    return write_class_folders(root, cxr.generate, splits={"train": "train", "test": "test"},
                               train_kind="normal", train_class="NORMAL", test=test,
                               name_of=name_of, n_train=n_train, seed=seed,
                               difficulty=difficulty, size=size)


def write_covid19(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
                  size: int) -> dict[str, int]:
    """Kaggle COVID-19 image set test: 20 Normal / 26 Covid / 20 Viral Pneumonia (66)."""
    from reprolib.data.phantoms import cxr
    c = composition(n_test, {"normal": 20, "covid": 26, "virus": 20})
    test = {"normal": ("Normal", c["normal"]), "covid": ("Covid", c["covid"]),
            "virus": ("Viral Pneumonia", c["virus"])}
    return write_class_folders(root, cxr.generate, splits={"train": "train", "test": "test"},
                               train_kind="normal", train_class="Normal", test=test,
                               name_of=lambda k, p, i: f"{p}-{k}-{i:04d}.jpeg",
                               n_train=n_train, seed=seed, difficulty=difficulty, size=size)


# --- brain tumour MRI ---------------------------------------------------------------------------

def write_brain_tumor_mri(root: Path, *, n_train: int, n_test: int, seed: int,
                          difficulty: float, size: int) -> dict[str, int]:
    """Brain Tumor MRI test set: 405 notumor / 300 glioma / 306 meningioma / 300 pituitary."""
    from reprolib.data.phantoms import brain
    c = composition(n_test, {"notumor": 405, "glioma": 300, "meningioma": 306, "pituitary": 300})
    short = {"notumor": "no", "glioma": "gl", "meningioma": "me", "pituitary": "pi"}
    return write_class_folders(
        root, brain.generate, splits={"train": "Training", "test": "Testing"},
        train_kind="notumor", train_class="notumor", test={k: (k, n) for k, n in c.items()},
        name_of=lambda k, p, i: f"{'Tr' if p == 'train' else 'Te'}-{short[k]}_{i:04d}.jpg",
        n_train=n_train, seed=seed, difficulty=difficulty, size=size)


# --- OCT: OCT2017, AnoGAN's flattened scans, OCTID ---------------------------------------------

def _oct(flat: bool) -> Generator:
    from reprolib.data.phantoms import oct

    def generate(rng: np.random.Generator, kind: str, size: int, difficulty: float):
        return oct.generate(rng, kind, size, difficulty, flat=flat)
    return generate


def write_oct2017(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
                  size: int) -> dict[str, int]:
    """OCT2017 test set as Hetero-AE uses it: 250 normal / 750 abnormal (CNV, DME, DRUSEN in
    equal parts)."""
    c = composition(n_test, {"NORMAL": 250, "CNV": 250, "DME": 250, "DRUSEN": 250})
    return write_class_folders(root, _oct(False), splits={"train": "train", "test": "test"},
                               train_kind="NORMAL", train_class="NORMAL",
                               test={k: (k, n) for k, n in c.items()},
                               name_of=lambda k, p, i: f"{k}-{9000 + i}-{1 if p == 'train' else 2}"
                                                       ".jpeg",
                               n_train=n_train, seed=seed, difficulty=difficulty, size=size)


def write_oct_flat(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
                   size: int) -> dict[str, int]:
    """AnoGAN-like flattened B-scans (OCT2017 layout): half normal, half with intraretinal
    fluid and hyperreflective foci (``DME``), as AnoGAN's annotated test cases."""
    c = composition(n_test, {"NORMAL": 1, "DME": 1})
    return write_class_folders(root, _oct(True), splits={"train": "train", "test": "test"},
                               train_kind="NORMAL", train_class="NORMAL",
                               test={k: (k, n) for k, n in c.items()},
                               name_of=lambda k, p, i: f"{k}-{i:05d}.png",
                               n_train=n_train, seed=seed, difficulty=difficulty, size=size)


def write_octid(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
                size: int) -> dict[str, int]:
    """OCTID layout (class folders, no split): NORMAL 206, AMRD 55, CSR 102, DR 107, MH 102.
    The loader moves about 30 % of the normals (by file-name hash) to the test set, so the
    NORMAL folder holds ``n_train`` / 0.7 images."""
    from reprolib.data.base import stable_fraction
    from reprolib.data.phantoms import oct, rng_for
    want_test_normal = max(1, round(n_test * 206 / 572))
    c = composition(n_test - want_test_normal, {"AMRD": 55, "CSR": 102, "DR": 107, "MH": 102})
    counts: dict[str, int] = {}
    i = 0
    n_train_written = n_test_normal = 0
    while n_train_written < n_train or n_test_normal < want_test_normal:
        name = f"NORMAL{i + 1}.jpg"
        in_test = stable_fraction(name) < 0.3
        if (in_test and n_test_normal < want_test_normal) or (
                not in_test and n_train_written < n_train):
            image, _ = oct.generate(rng_for(seed, "normal", i), "NORMAL", size, difficulty)
            write_image(root / "NORMAL" / name, image)
            n_test_normal += in_test
            n_train_written += not in_test
        i += 1
    counts["NORMAL"] = n_train_written + n_test_normal
    for kind, n in c.items():
        for k in range(n):
            image, mask = oct.generate(rng_for(seed, kind, k), kind, size, difficulty)
            name = f"{kind}{k + 1}.jpg"
            write_image(root / kind / name, image)
            write_mask(root / "ground_truth" / kind / f"{Path(name).stem}.png", mask)
        counts[kind] = n
    return counts


# --- fundus: EyeQ and IDRiD -----------------------------------------------------------------------

#: DR grade shares of EyeQ's "good" test images (EyePACS distribution, approximately)
EYEQ_GRADES = {0: 0.735, 1: 0.07, 2: 0.15, 3: 0.025, 4: 0.02}


def write_eyeq(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
               size: int) -> dict[str, int]:
    """EyeQ layout: ``Label_EyeQ_{train,test}.csv`` (image, quality, DR_grade; quality
    0 good / 1 usable / 2 reject) and ``{train,test}/<id>_{left,right}.jpeg``.

    Train: ``n_train`` good grade-0 images (ReSynthDetect's training set) plus usable (0.5x)
    and reject (0.3x) images of any grade (MDFSC trains on good + usable). Test: ``n_test``
    good images with EyeQ's grade mix, plus usable (0.54x) and reject (0.38x) images, the
    ratios of EyeQ's test split (8470 / 4559 / 3220)."""
    import pandas as pd

    from reprolib.data.phantoms import fundus, rng_for
    counts: dict[str, int] = {}
    for part, n_good in (("train", n_train), ("test", n_test)):
        rows = []
        plan: list[tuple[int, int]] = []
        if part == "train":
            plan += [(0, 0)] * n_good
            extra = {1: round(0.5 * n_good), 2: round(0.3 * n_good)}
        else:
            for g, n in composition(n_good, EYEQ_GRADES).items():
                plan += [(0, g)] * n
            extra = {1: round(0.54 * n_good), 2: round(0.38 * n_good)}
        for q, n in extra.items():
            for g, k in composition(n, EYEQ_GRADES).items() if n else []:
                plan += [(q, g)] * k
        for i, (q, g) in enumerate(plan):
            rng = rng_for(seed, f"eyeq-{part}", i)
            image, masks = fundus.generate_layers(rng, g, size, difficulty,
                                                  quality=fundus.QUALITIES[q])
            name = f"{i // 2 + 1 + (0 if part == 'train' else 50000)}_" \
                   f"{'left' if i % 2 == 0 else 'right'}.jpeg"
            write_image(root / part / name, image)
            union = np.maximum.reduce([masks[k] for k in fundus.LESIONS])
            write_mask(root / "ground_truth" / f"{Path(name).stem}.png", union)
            rows.append({"image": name, "quality": q, "DR_grade": g})
        pd.DataFrame(rows).to_csv(root / f"Label_EyeQ_{part}.csv")
        counts[part] = len(rows)
    return counts


IDRID_SEG = "A. Segmentation"
IDRID_GRADING = "B. Disease Grading"
IDRID_LESION_DIRS = {"MA": "1. Microaneurysms", "HE": "2. Haemorrhages",
                     "EX": "3. Hard Exudates", "SE": "4. Soft Exudates", "OD": "5. Optic Disc"}


def write_idrid(root: Path, *, n_train: int, n_test: int, seed: int, difficulty: float,
                size: int) -> dict[str, int]:
    """IDRiD layout (3:2 images, as the 4288 x 2848 originals). ReSynthDetect's protocol
    uses 134 normal training images and 32 normal + 81 lesion images for testing: grading
    part = ``n_train`` grade-0 training images + the test normals (32/113 of ``n_test``) and
    some DR images; segmentation part = the lesion images (54 training / 27 testing split),
    with one TIFF mask per lesion type (absent when the image has none, as in IDRiD)."""
    import pandas as pd

    from reprolib.data.phantoms import fundus, rng_for
    n_normal_test = max(1, round(n_test * 32 / 113))
    n_lesion = max(1, n_test - n_normal_test)
    seg_train = max(1, round(n_lesion * 54 / 81)) if n_lesion > 1 else 1
    counts: dict[str, int] = {}
    grading = root / IDRID_GRADING
    for part, setname, csvname, n0, n_dr in (
            ("train", "a. Training Set", "a. IDRiD_Disease Grading_Training Labels.csv",
             n_train, max(1, n_train // 3)),
            ("test", "b. Testing Set", "b. IDRiD_Disease Grading_Testing Labels.csv",
             n_normal_test, max(1, n_normal_test // 2))):
        rows = []
        grades = [0] * n0 + [int(g) for g in rng_for(seed, f"idrid-g-{part}", 0).integers(
            1, 5, n_dr)]
        for i, g in enumerate(grades):
            image, _ = fundus.generate_layers(rng_for(seed, f"idrid-{part}", i), g, size,
                                              difficulty, aspect=1.5)
            name = f"IDRiD_{i + 1:03d}"
            write_image(grading / "1. Original Images" / setname / f"{name}.jpg", image)
            rows.append({"Image name": name, "Retinopathy grade": g,
                         "Risk of macular edema ": int(g >= 3)})
        (grading / "2. Groundtruths").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(grading / "2. Groundtruths" / csvname, index=False)
        counts[f"grading/{part}"] = len(rows)
    seg = root / IDRID_SEG
    for i in range(n_lesion):
        setname = "a. Training Set" if i < seg_train else "b. Testing Set"
        grade = int(rng_for(seed, "idrid-seg-grade", i).integers(2, 5))
        image, masks = fundus.generate_layers(rng_for(seed, "idrid-seg", i), grade, size,
                                              difficulty, aspect=1.5)
        name = f"IDRiD_{i + 1:02d}"
        write_image(seg / "1. Original Images" / setname / f"{name}.jpg", image)
        for code, folder in IDRID_LESION_DIRS.items():
            if masks[code].any():
                write_mask(seg / "2. All Segmentation Groundtruths" / setname / folder /
                           f"{name}_{code}.tif", masks[code])
            else:
                (seg / "2. All Segmentation Groundtruths" / setname / folder).mkdir(
                    parents=True, exist_ok=True)
        counts[f"segmentation/{setname}"] = counts.get(f"segmentation/{setname}", 0) + 1
    return counts
