"""One loader per public on-disk layout (DESIGN §4). Each validates the layout and fails with
a :class:`DataLayoutError` naming the expected folders/files and what it found.

A loader returns the :class:`Record` list of one *part*: ``"train"`` (normal training images:
``get_dataset`` splits them into train / val) or ``"test"``. It never requires folders that
training does not use (e.g. the pneumonia training images of Kermany's chest X-rays).

Optional pixel masks: class-folder layouts look for ``ground_truth/<split>/<class>/<stem>.png``
next to the split folders (the phantoms write them; the real sets have none). When that folder
exists, normal images get an all-zero mask and abnormal ones their file (or none if missing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from reprolib.data.base import Record, stable_fraction
from reprolib.data.errors import DataLayoutError
from reprolib.data.io import is_image_file, list_images

Loader = Callable[..., list[Record]]


# --- helpers ----------------------------------------------------------------------------------

def describe(folder: Path, limit: int = 8) -> str:
    """What ``folder`` holds, for error messages."""
    if not folder.exists():
        return f"{folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    if not names:
        return f"{folder} is empty"
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} entries)" if len(names) > limit
                                        else "")
    return f"{folder} contains: {shown}"


def child(folder: Path, name: str) -> Path | None:
    """``folder/name``, matched exactly, else case-insensitively (unique match), else None."""
    exact = folder / name
    if exact.is_dir():
        return exact
    if not folder.is_dir():
        return None
    matches = [folder / n for n in os.listdir(folder)
               if n.lower() == name.lower() and (folder / n).is_dir()]
    return matches[0] if len(matches) == 1 else None


def child_by_keywords(folder: Path, *keywords: str) -> Path | None:
    """The unique sub-folder whose lower-cased name contains every keyword (IDRiD's folder
    names carry numbering such as "A. Segmentation" or "1. Original Images")."""
    if not folder.is_dir():
        return None
    matches = [folder / n for n in sorted(os.listdir(folder))
               if (folder / n).is_dir() and all(k in n.lower() for k in keywords)]
    return matches[0] if len(matches) == 1 else None


def descend_to(directory: Path, required: Sequence[str], dataset: str) -> Path:
    """``directory`` if it holds one of ``required``; else its single sub-folder that does
    (archives often add a level, e.g. ``chest_xray/chest_xray/train``)."""
    if not directory.is_dir():
        raise DataLayoutError(f"{dataset}: expected a folder with {' or '.join(required)}; "
                              f"{describe(directory)}")
    if any(child(directory, r) for r in required):
        return directory
    subs = [directory / n for n in os.listdir(directory)
            if not n.startswith(".") and (directory / n).is_dir()]
    nested = [s for s in subs if any(child(s, r) for r in required)]
    if len(nested) == 1:
        return nested[0]
    raise DataLayoutError(f"{dataset}: expected {directory} to contain {' or '.join(required)}; "
                          f"{describe(directory)}")


def images_of(folder: Path, dataset: str, what: str) -> list[Path]:
    """Image files of a class folder that must exist and not be empty."""
    files = list_images(folder)
    if not files:
        raise DataLayoutError(f"{dataset}: class folder {what} ({folder}) is empty: expected "
                              "image files (.jpeg, .jpg, .png, .tif, ...)")
    return files


def mask_index(folder: Path | None) -> dict[str, Path]:
    """Mask files of a ground-truth folder by image stem (``x.png`` or ``x_mask.png``)."""
    if folder is None or not folder.is_dir():
        return {}
    index = {}
    for path in list_images(folder):
        stem = path.stem
        index[stem[:-5] if stem.endswith("_mask") else stem] = path
    return index


# --- class-folder layouts (Kermany CXR / OCT2017, Brain Tumor MRI, COVID-19) ------------------

def class_folder_records(directory: Path, part: str, *, dataset: str, splits: dict[str, str],
                         normal: str, abnormal: Sequence[str],
                         sublabel: Callable[[str, Path], str] | None = None,
                         classes: Sequence[str] | None = None) -> list[Record]:
    """``<split>/<class>/*`` layouts. Training uses ``<train>/<normal>`` only; testing needs
    ``<test>/<normal>`` and at least one abnormal class folder (all present ones are read).
    ``classes`` restricts the abnormal classes read at test time."""
    split_name = splits[part]
    expected = (f"{splits['train']}/{normal}" if part == "train" else
                f"{splits['test']}/{{{','.join([normal, *abnormal])}}}")
    directory = descend_to(directory, [split_name], dataset)
    split_dir = child(directory, split_name)
    if split_dir is None:
        raise DataLayoutError(f"{dataset}: expected {directory}/{expected}; "
                              f"{describe(directory)}")
    gt_root = child(directory, "ground_truth")
    gt_split = child(gt_root, split_name) if gt_root is not None else None
    wanted = [normal] if part == "train" else [normal, *abnormal]
    if part == "test" and classes is not None:
        unknown = [c for c in classes if c not in abnormal]
        if unknown:
            raise ValueError(f"{dataset}: classes: expected some of {list(abnormal)}, "
                             f"got {unknown}")
        wanted = [normal, *classes]
    if part == "test":
        known = {c.lower() for c in [normal, *abnormal]}
        extra = sorted(n for n in os.listdir(split_dir) if (split_dir / n).is_dir()
                       and not n.startswith(".") and n.lower() not in known)
        if extra:
            raise DataLayoutError(f"{dataset}: unknown class folder(s) {extra} in {split_dir}: "
                                  f"expected {[normal, *abnormal]}")
    records: list[Record] = []
    found_abnormal = 0
    for cls in wanted:
        folder = child(split_dir, cls)
        if folder is None:
            if cls == normal:
                raise DataLayoutError(f"{dataset}: expected {directory}/{expected}; "
                                      f"{describe(split_dir)}")
            continue
        masks = mask_index(child(gt_split, cls) if gt_split is not None else None) \
            if gt_root is not None else None
        label = int(cls != normal)
        found_abnormal += label
        for path in images_of(folder, dataset, f"{split_name}/{cls}"):
            if masks is None:
                mask = None
            elif label == 0:
                mask = masks.get(path.stem, ())
                mask = (mask,) if isinstance(mask, Path) else ()
            else:
                mask = (masks[path.stem],) if path.stem in masks else None
            records.append(Record(path, label, sublabel(cls, path) if sublabel else cls,
                                  f"{split_name}/{cls}/{path.name}", mask))
    if part == "test" and not found_abnormal:
        raise DataLayoutError(f"{dataset}: expected at least one abnormal class folder of "
                              f"{list(abnormal)} in {split_dir}; {describe(split_dir)}")
    return records


def _kermany_cxr_sublabel(cls: str, path: Path) -> str:
    """Kermany's pneumonia files are named ``personN_bacteria_M`` / ``personN_virus_M``."""
    if cls == "NORMAL":
        return "NORMAL"
    name = path.name.lower()
    return "bacteria" if "bacteria" in name else "virus" if "virus" in name else cls


def load_kermany_cxr(directory: Path, part: str, **options: Any) -> list[Record]:
    """Kermany chest X-ray: ``train/NORMAL``, ``test/{NORMAL,PNEUMONIA}``; sub-labels
    ``bacteria`` / ``virus`` from the file names."""
    return class_folder_records(directory, part, dataset="kermany_cxr",
                                splits={"train": "train", "test": "test"}, normal="NORMAL",
                                abnormal=["PNEUMONIA"], sublabel=_kermany_cxr_sublabel,
                                classes=options.get("classes"))


def load_oct2017(directory: Path, part: str, **options: Any) -> list[Record]:
    """Kermany OCT2017: ``train/NORMAL``, ``test/{NORMAL,CNV,DME,DRUSEN}``."""
    return class_folder_records(directory, part, dataset="oct2017",
                                splits={"train": "train", "test": "test"}, normal="NORMAL",
                                abnormal=["CNV", "DME", "DRUSEN"], classes=options.get("classes"))


def load_brain_tumor_mri(directory: Path, part: str, **options: Any) -> list[Record]:
    """Kaggle Brain Tumor MRI: ``Training/notumor``,
    ``Testing/{notumor,glioma,meningioma,pituitary}``."""
    return class_folder_records(directory, part, dataset="brain_tumor_mri",
                                splits={"train": "Training", "test": "Testing"},
                                normal="notumor", abnormal=["glioma", "meningioma", "pituitary"],
                                classes=options.get("classes"))


def load_covid19(directory: Path, part: str, **options: Any) -> list[Record]:
    """Kaggle COVID-19 image dataset: ``train/Normal``, ``test/{Normal,Covid,Viral Pneumonia}``."""
    return class_folder_records(directory, part, dataset="covid19",
                                splits={"train": "train", "test": "test"}, normal="Normal",
                                abnormal=["Covid", "Viral Pneumonia"],
                                classes=options.get("classes"))


def load_folder(directory: Path, part: str, **options: Any) -> list[Record]:
    """Generic layout: ``train/good``, ``test/<class>`` (``good`` = normal), optional
    ``ground_truth/<class>/<stem>[_mask].png`` (MVTec AD's convention)."""
    dataset = "folder"
    split_dir = child(directory, part)
    if split_dir is None:
        raise DataLayoutError(f"{dataset}: expected {directory}/train/good and "
                              f"{directory}/test/<class>; {describe(directory)}")
    gt_root = child(directory, "ground_truth")
    if part == "train":
        good = child(split_dir, "good")
        if good is None:
            raise DataLayoutError(f"{dataset}: expected {split_dir}/good; {describe(split_dir)}")
        return [Record(p, 0, "good", f"train/good/{p.name}", None if gt_root is None else ())
                for p in images_of(good, dataset, "train/good")]
    classes = sorted(n for n in os.listdir(split_dir)
                     if (split_dir / n).is_dir() and not n.startswith("."))
    if not classes:
        raise DataLayoutError(f"{dataset}: expected class folders in {split_dir}; "
                              f"{describe(split_dir)}")
    records = []
    for cls in classes:
        label = int(cls != "good")
        masks = mask_index(child(gt_root, cls)) if gt_root is not None else None
        for p in images_of(split_dir / cls, dataset, f"test/{cls}"):
            if masks is None:
                mask = None
            elif label == 0:
                mask = ()
            else:
                mask = (masks[p.stem],) if p.stem in masks else None
            records.append(Record(p, label, cls, f"test/{cls}/{p.name}", mask))
    return records


# --- OCTID: class folders, no split ------------------------------------------------------------

OCTID_CLASSES: tuple[str, ...] = ("NORMAL", "AMRD", "CSR", "DR", "MH")


def load_octid(directory: Path, part: str, *, test_normal_fraction: float = 0.3,
               **options: Any) -> list[Record]:
    """OCTID: ``{NORMAL,AMRD,CSR,DR,MH}/*`` with no train/test split. A fixed share
    ``test_normal_fraction`` of the normals (chosen by a hash of the file name, independent of
    any seed) goes to the test set with every diseased image; the rest is for training."""
    dataset = "octid"
    directory = descend_to(directory, ["NORMAL"], dataset)
    normal = child(directory, "NORMAL")
    assert normal is not None
    gt_root = child(directory, "ground_truth")
    normals = images_of(normal, dataset, "NORMAL")
    in_test = [stable_fraction(p.name) < test_normal_fraction for p in normals]
    zero = None if gt_root is None else ()
    if part == "train":
        return [Record(p, 0, "NORMAL", f"NORMAL/{p.name}", zero)
                for p, t in zip(normals, in_test) if not t]
    records = [Record(p, 0, "NORMAL", f"NORMAL/{p.name}", zero)
               for p, t in zip(normals, in_test) if t]
    found = 0
    for cls in OCTID_CLASSES[1:]:
        folder = child(directory, cls)
        if folder is None:
            continue
        found += 1
        masks = mask_index(child(gt_root, cls)) if gt_root is not None else None
        for p in images_of(folder, dataset, cls):
            mask = None if masks is None or p.stem not in masks else (masks[p.stem],)
            records.append(Record(p, 1, cls, f"{cls}/{p.name}", mask))
    if not found:
        raise DataLayoutError(f"{dataset}: expected at least one disease folder of "
                              f"{list(OCTID_CLASSES[1:])} in {directory}; {describe(directory)}")
    return records


# --- EyeQ: CSV labels + image folders -----------------------------------------------------------

EYEQ_QUALITY = {0: "good", 1: "usable", 2: "reject"}


def _quality(value: Any, where: str) -> int:
    text = str(value).strip().lower()
    for code, name in EYEQ_QUALITY.items():
        if text in (str(code), name, f"{code}.0"):
            return code
    raise DataLayoutError(f"eyeq: {where}: quality must be 0/1/2 or Good/Usable/Reject, "
                          f"got {value!r}")


def read_label_csv(path: Path, dataset: str, columns: Sequence[str]) -> pd.DataFrame:
    """A label CSV with the required ``columns`` (names stripped); clear errors otherwise."""
    if not path.is_file():
        raise DataLayoutError(f"{dataset}: expected the label file {path}; "
                              f"{describe(path.parent)}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataLayoutError(f"{dataset}: cannot parse {path} as CSV: "
                              f"{str(err).splitlines()[0]}") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataLayoutError(f"{dataset}: {path.name} lacks column(s) {missing}: expected "
                              f"{list(columns)}, found {list(frame.columns)}")
    return frame


def _image_index(folders: Sequence[Path]) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            with os.scandir(folder) as entries:
                for e in entries:
                    if e.is_file() and is_image_file(e.name):
                        index.setdefault(e.name, Path(e.path))
                        index.setdefault(Path(e.name).stem, Path(e.path))
    return index


def load_eyeq(directory: Path, part: str, *, protocol: str | None = None,
              grades: Sequence[int] | None = None, **options: Any) -> list[Record]:
    """EyeQ: ``Label_EyeQ_{train,test}.csv`` (columns image, quality, DR_grade) and the images
    in ``{train,test}/`` (or ``images/``, or next to the CSVs).

    Protocols: ``resynthdetect`` (default; quality "good" only, DR grade 0 normal, 1-4
    anomalous; ``grades=[k]`` keeps grade 0 and grade k for the 0-vs-k tables) and ``mdfsc``
    (quality Good and Usable normal, Reject anomalous, any grade). Sub-labels: ``grade<k>``
    (resynthdetect) or the quality class (mdfsc). Optional masks: ``ground_truth/<stem>.png``.
    """
    dataset = "eyeq"
    protocol = protocol or "resynthdetect"
    if protocol not in ("resynthdetect", "mdfsc"):
        raise ValueError(f"{dataset}: protocol: expected 'resynthdetect' or 'mdfsc', "
                         f"got {protocol!r}")
    if not directory.is_dir():
        raise DataLayoutError(f"{dataset}: expected a folder with Label_EyeQ_train.csv, "
                              f"Label_EyeQ_test.csv and train/, test/; {describe(directory)}")
    csv = directory / f"Label_EyeQ_{part}.csv"
    frame = read_label_csv(csv, dataset, ["image", "quality", "DR_grade"])
    folders = [directory / part, directory / part.capitalize(), directory / "images", directory]
    index = _image_index(folders)
    gt = mask_index(child(directory, "ground_truth"))
    has_gt = child(directory, "ground_truth") is not None
    records = []
    for row, (name, quality, grade) in enumerate(zip(frame["image"], frame["quality"],
                                                    frame["DR_grade"]), start=2):
        where = f"{csv.name} line {row}"
        q = _quality(quality, where)
        try:
            g = int(grade)
        except (TypeError, ValueError) as err:
            raise DataLayoutError(f"{dataset}: {where}: DR_grade must be 0-4, "
                                  f"got {grade!r}") from err
        if not 0 <= g <= 4:
            raise DataLayoutError(f"{dataset}: {where}: DR_grade must be 0-4, got {g}")
        if protocol == "resynthdetect":
            if q != 0 or (part == "train" and g != 0):
                continue
            if grades is not None and g != 0 and g not in grades:
                continue
            label, sub = int(g > 0), f"grade{g}"
        else:
            label, sub = int(q == 2), EYEQ_QUALITY[q]
            if part == "train" and label:
                continue
        path = index.get(str(name)) or index.get(Path(str(name)).stem)
        if path is None:
            raise DataLayoutError(f"{dataset}: {where} names image {name!r}, not found in "
                                  f"{', '.join(str(f) for f in folders[:3])} or {directory}")
        stem = Path(str(name)).stem
        mask = None if not has_gt else ((gt[stem],) if stem in gt else (() if g == 0 else None))
        records.append(Record(path, label, sub, f"{part}/{path.name}", mask,
                              meta={"quality": EYEQ_QUALITY[q], "grade": g}))
    if not records:
        raise DataLayoutError(f"{dataset}: no image of {csv.name} fits protocol {protocol!r} "
                              f"(part {part!r}, grades {grades})")
    return records


# --- IDRiD: segmentation part + grading part ------------------------------------------------------

IDRID_LESIONS: dict[str, tuple[str, str]] = {
    "MA": ("microaneurysm", "_MA"), "HE": ("haemorrhage", "_HE"), "EX": ("hard exudate", "_EX"),
    "SE": ("soft exudate", "_SE"), "OD": ("optic disc", "_OD")}
IDRID_EXPECTED = ("IDRiD/A. Segmentation/{1. Original Images,2. All Segmentation Groundtruths}/"
                  "{a. Training Set,b. Testing Set} and IDRiD/B. Disease Grading/"
                  "{1. Original Images/{a. Training Set,b. Testing Set},2. Groundtruths/*.csv}")


def _idrid_part(directory: Path, *path_keywords: Sequence[str]) -> Path:
    folder = directory
    for keywords in path_keywords:
        nxt = child_by_keywords(folder, *keywords)
        if nxt is None:
            raise DataLayoutError(f"idrid: expected a folder named like {' '.join(keywords)!r} "
                                  f"in {folder} (layout {IDRID_EXPECTED}); {describe(folder)}")
        folder = nxt
    return folder


def _idrid_grading(directory: Path, part: str) -> list[tuple[Path, int]]:
    """(image, retinopathy grade) of the grading part's training or testing set."""
    setname = "training" if part == "train" else "testing"
    images = _idrid_part(directory, ("grading",), ("original",), (setname,))
    gt = _idrid_part(directory, ("grading",), ("groundtruth",))
    csvs = [p for p in sorted(gt.iterdir()) if p.suffix.lower() == ".csv"
            and setname in p.name.lower()]
    if len(csvs) != 1:
        raise DataLayoutError(f"idrid: expected one CSV with {setname!r} in its name in {gt}; "
                              f"{describe(gt)}")
    frame = read_label_csv(csvs[0], "idrid", ["Image name", "Retinopathy grade"])
    index = _image_index([images])
    out = []
    for row, (name, grade) in enumerate(zip(frame["Image name"], frame["Retinopathy grade"]),
                                        start=2):
        if pd.isna(name):
            continue
        path = index.get(str(name).strip()) or index.get(Path(str(name).strip()).stem)
        if path is None:
            raise DataLayoutError(f"idrid: {csvs[0].name} line {row} names image {name!r}, "
                                  f"not found in {images}")
        try:
            out.append((path, int(grade)))
        except (TypeError, ValueError) as err:
            raise DataLayoutError(f"idrid: {csvs[0].name} line {row}: Retinopathy grade must "
                                  f"be 0-4, got {grade!r}") from err
    return out


def _idrid_segmentation(directory: Path, lesions: Sequence[str]
                        ) -> list[tuple[Path, tuple[Path, ...], str]]:
    """(image, its lesion mask files, set name) of both segmentation sets."""
    out = []
    for setname in ("training", "testing"):
        images = _idrid_part(directory, ("segmentation",), ("original",), (setname,))
        truth = _idrid_part(directory, ("segmentation",), ("groundtruth",), (setname,))
        lesion_dirs = {}
        for code in lesions:
            word = {"MA": "microaneurysm", "HE": "haemorrhage", "EX": "hard exudate",
                    "SE": "soft exudate", "OD": "optic disc"}[code]
            folder = child_by_keywords(truth, word) or child_by_keywords(truth, word.replace(
                "haem", "hem"))
            if folder is None:
                raise DataLayoutError(f"idrid: expected a {word} mask folder in {truth}; "
                                      f"{describe(truth)}")
            lesion_dirs[code] = {p.stem: p for p in list_images(folder)}
        for path in images_of(images, "idrid", str(images)):
            masks = tuple(found[f"{path.stem}_{code}"] for code, found in lesion_dirs.items()
                          if f"{path.stem}_{code}" in found)
            out.append((path, masks, setname))
    return out


def load_idrid(directory: Path, part: str, *, protocol: str | None = None,
               lesions: Sequence[str] = ("MA", "HE", "EX", "SE"), crops: int = 3,
               **options: Any) -> list[Record]:
    """IDRiD. Protocols:

    - ``resynthdetect`` (default): train = grading-part training images of grade 0 (134);
      test = grading-part testing images of grade 0 (normal, empty masks) + every
      segmentation image (81, anomalous, mask = union of ``lesions``).
    - ``proxyano``: the same images cut into ``crops`` x ``crops`` tiles (§IV-D); a test tile
      is anomalous when its mask has a lesion pixel; only segmentation images are tested.
    - ``mdfsc``: image level on the grading part: grade 0 normal, grades 1-4 anomalous.
    """
    protocol = protocol or "resynthdetect"
    if protocol not in ("resynthdetect", "proxyano", "mdfsc"):
        raise ValueError(f"idrid: protocol: expected 'resynthdetect', 'proxyano' or 'mdfsc', "
                         f"got {protocol!r}")
    bad = [c for c in lesions if c not in IDRID_LESIONS]
    if bad:
        raise ValueError(f"idrid: lesions: expected some of {list(IDRID_LESIONS)}, got {bad}")
    if not directory.is_dir():
        raise DataLayoutError(f"idrid: expected {IDRID_EXPECTED}; {describe(directory)}")
    directory = descend_to(directory, ["A. Segmentation", "B. Disease Grading"], "idrid") \
        if not (child_by_keywords(directory, "grading") or
                child_by_keywords(directory, "segmentation")) else directory
    has_masks = protocol != "mdfsc"
    records: list[Record] = []
    if part == "train":
        for path, grade in _idrid_grading(directory, "train"):
            if grade == 0:
                records.append(Record(path, 0, "grade0", f"grading/{path.name}",
                                      () if has_masks else None))
    elif protocol == "mdfsc":
        for path, grade in _idrid_grading(directory, "test"):
            records.append(Record(path, int(grade > 0), f"grade{grade}", f"grading/{path.name}"))
    else:
        if protocol == "resynthdetect":
            for path, grade in _idrid_grading(directory, "test"):
                if grade == 0:
                    records.append(Record(path, 0, "grade0", f"grading/{path.name}", ()))
        for path, masks, setname in _idrid_segmentation(directory, lesions):
            records.append(Record(path, 1, "lesion", f"segmentation/{setname}/{path.name}",
                                  masks))
    if protocol == "proxyano":
        records = _tiles(records, crops, test=part == "test")
    if not records:
        raise DataLayoutError(f"idrid: no {part} image found for protocol {protocol!r} in "
                              f"{directory}")
    return records


def _tiles(records: list[Record], crops: int, *, test: bool) -> list[Record]:
    """Cut every record into ``crops`` x ``crops`` tiles; test tile labels come from masks."""
    from reprolib.data.base import read_image_shape
    from reprolib.data.io import read_mask
    out = []
    for record in records:
        union = None
        if test and record.masks:
            for m in record.masks:
                part = read_mask(m)
                union = part if union is None else union | part
            shape = read_image_shape(record.path)
            if union is not None and union.shape != shape:
                raise DataLayoutError(f"idrid: mask {record.masks[0]} does not match the size "
                                      f"of {record.path}")
        for i in range(crops):
            for j in range(crops):
                box = (i / crops, j / crops, (i + 1) / crops, (j + 1) / crops)
                label = record.label
                if union is not None:
                    h, w = union.shape
                    tile = union[int(round(box[0] * h)):int(round(box[2] * h)),
                                 int(round(box[1] * w)):int(round(box[3] * w))]
                    label = int(tile.any())
                elif test and record.label:
                    label = 1
                sub = record.sublabel if label else "normal_tile"
                out.append(Record(record.path, label, sub, f"{record.id}#{i}{j}",
                                  record.masks, box))
    return out


LOADERS: dict[str, Loader] = {
    "kermany_cxr": load_kermany_cxr, "oct2017": load_oct2017,
    "brain_tumor_mri": load_brain_tumor_mri, "covid19": load_covid19, "eyeq": load_eyeq,
    "idrid": load_idrid, "octid": load_octid, "folder": load_folder}

