"""``get_dataset``: one entry point for real datasets and phantoms (docs/contracts.md, Data)."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprolib.data.base import ImageDataset, split_train_val
from reprolib.data.errors import DataError, DataLayoutError, UnknownDatasetError
from reprolib.data.layouts import LOADERS, child, describe
from reprolib.data.transforms import NORMALIZATIONS
from reprolib.paths import data_root


@dataclass(frozen=True)
class RealSpec:
    """A real dataset: its public folder name below the data root, its loader, its native
    channels, how a non-square image is made square, and its protocols."""

    folder: str
    loader: str
    channels: int
    square: str = "stretch"
    protocols: tuple[str, ...] = ()
    layout: str = ""


REAL: dict[str, RealSpec] = {
    "kermany_cxr": RealSpec("kermany_chest_xray", "kermany_cxr", 1,
                            layout="train/NORMAL, test/{NORMAL,PNEUMONIA}"),
    "oct2017": RealSpec("OCT2017", "oct2017", 1,
                        layout="train/NORMAL, test/{NORMAL,CNV,DME,DRUSEN}"),
    "brain_tumor_mri": RealSpec("brain_tumor_mri", "brain_tumor_mri", 1,
                                layout="Training/notumor, "
                                       "Testing/{notumor,glioma,meningioma,pituitary}"),
    "covid19": RealSpec("COVID19", "covid19", 1,
                        layout="train/Normal, test/{Normal,Covid,Viral Pneumonia}"),
    "eyeq": RealSpec("EyeQ", "eyeq", 3, "crop", ("resynthdetect", "mdfsc"),
                     layout="Label_EyeQ_{train,test}.csv + {train,test}/<image>"),
    "idrid": RealSpec("IDRiD", "idrid", 3, "crop", ("resynthdetect", "proxyano", "mdfsc"),
                      layout="A. Segmentation/..., B. Disease Grading/..."),
    "octid": RealSpec("OCTID", "octid", 1, layout="{NORMAL,AMRD,CSR,DR,MH}/*"),
    "folder": RealSpec("", "folder", 3, layout="train/good, test/<class>, "
                                               "[ground_truth/<class>/<stem>_mask.png]"),
}

_COMMON = {"clahe", "standardize", "dedup", "skip_corrupt", "square"}
_PHANTOM = {"n_train", "n_test", "difficulty", "native_size"}


def _phantoms() -> dict[str, Any]:
    from reprolib.data.phantoms import PHANTOMS
    return PHANTOMS


def available_datasets() -> list[str]:
    """Every name ``get_dataset`` accepts: real layouts, then phantoms."""
    return [*REAL, *_phantoms()]


def stands_in_for() -> dict[str, str]:
    return {name: spec.stands_in_for for name, spec in _phantoms().items()}


def dataset_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of real dataset ``name``: ``<data root>/<public folder name>``; the data root
    itself is accepted when it already is that folder (``folder``: always the root)."""
    spec = REAL[name]
    base = data_root(root)
    if not spec.folder:
        return base
    candidate = child(base, spec.folder) or child(base, spec.folder.lower())
    if candidate is not None:
        return candidate
    if base.is_dir() and (base.name.lower() == spec.folder.lower() or _has_layout(spec, base)):
        return base  # root= is the dataset folder itself
    hint = ""
    if base.is_dir():
        alike = [base / n for n in sorted(os.listdir(base)) if not n.startswith(".")
                 and (base / n).is_dir() and _has_layout(spec, base / n)]
        if alike:
            hint = (f"; {alike[0]} has the {name} layout under another name: rename it to "
                    f"'{spec.folder}' or pass root='{alike[0]}'")
    raise DataLayoutError(f"{name}: expected the folder {base / spec.folder} (layout "
                          f"{spec.layout}); set root= or $REPROLIB_DATA to the folder that "
                          f"holds it; {describe(base)}{hint}")


def _has_layout(spec: RealSpec, folder: Path) -> bool:
    """Whether ``folder`` itself (not a folder below it) holds both parts of ``spec``'s layout,
    with normal and anomalous test images: then it is that dataset under another name."""
    try:
        for part in ("train", "test"):
            records = LOADERS[spec.loader](folder, part)
            if not records or any(len(r.path.relative_to(folder).parts) != len(r.id.split("/"))
                                  for r in records):
                return False  # empty, or found one level down (another folder's layout)
            if part == "test" and len({r.label for r in records}) < 2:
                return False
    except (DataError, OSError, ValueError):
        return False
    return True


def _check_scorable(dataset: ImageDataset, name: str, spec: RealSpec, directory: Path) -> None:
    """A test split needs both classes to be scored (AUROC, thresholds): fail at loading, not
    after training."""
    labels = dataset.labels
    if len(labels) and 0 < int(labels.sum()) < len(labels):
        return
    found = ("no images" if not len(labels) else
             f"only {'anomalous' if labels.all() else 'normal'} images ({len(labels)}: "
             f"{dataset.counts()})")
    skipped = f", {len(dataset.skipped)} undecodable skipped" if dataset.skipped else ""
    raise DataLayoutError(f"{name}: the test split in {directory} cannot be scored: expected "
                          f"normal and anomalous images (layout {spec.layout}), found "
                          f"{found}{skipped}")


def get_dataset(name: str, split: str, *, root: str | os.PathLike[str] | None = None,
                img_size: int = 256, channels: int | None = None, normalize: str = "unit",
                protocol: str | None = None, seed: int = 0, val_fraction: float = 0.1,
                cache_in_memory: bool = True, **options: Any) -> ImageDataset:
    """Split ``split`` ("train": normals only; "val": a deterministic held-out fraction of the
    training normals; "test") of dataset ``name`` (real or ``phantom_*``).

    Phantoms take ``n_train`` (normal training images on disk, before the val split),
    ``n_test``, ``difficulty`` in [0, 1] and ``native_size``; ``seed`` seeds both their
    generation and the val split. Every dataset takes ``clahe`` (OpenCV CLAHE, clip 2,
    8x8), ``standardize`` (per-image standardisation, :class:`~reprolib.data.transforms.
    Standardize`), ``dedup`` (``val`` / ``test`` without the near-duplicates of training
    images: :mod:`reprolib.data.dedup`; ``val`` against the ``train`` split, ``test`` against
    all training normals, ``train`` unchanged), ``skip_corrupt`` (drop and count undecodable
    files instead of stopping) and ``square`` ("stretch" or "crop"). None of these is on by
    default (no paper's protocol uses ``standardize`` or ``dedup``). Loader options:
    ``classes`` (class-folder sets),
    ``grades`` (eyeq), ``lesions``/``crops`` (idrid), ``test_normal_fraction`` (octid).
    ``sanity_square`` ("saturate", "invert" or True = "saturate") makes the test split the
    sanity set of :mod:`reprolib.data.sanity` (normal test images, half of them with a
    pasted square); train and val are unchanged.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split: expected 'train', 'val' or 'test', got {split!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize: expected one of {list(NORMALIZATIONS)}, got {normalize!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels: expected 1, 3 or None, got {channels!r}")
    sanity = options.pop("sanity_square", None)
    if sanity is not None and sanity is not False:
        from reprolib.data.sanity import check_mode
        sanity = check_mode(sanity)
    else:
        sanity = None
    phantoms = _phantoms()
    phantom_options: dict[str, Any] = {}
    if name in phantoms:
        pspec = phantoms[name]
        phantom_options = {k: options.pop(k) for k in list(options) if k in _PHANTOM}
        from reprolib.data.phantoms import ensure
        directory = ensure(name, seed=seed, **phantom_options)
        spec = REAL[pspec.layout]
        loader_name = pspec.layout
    elif name in REAL:
        spec = REAL[name]
        loader_name = spec.loader
        directory = dataset_dir(name, root)
        bad = sorted(set(options) & _PHANTOM)
        if bad:
            raise ValueError(f"{name}: options {bad} apply to phantom datasets only")
    else:
        raise UnknownDatasetError(f"unknown dataset {name!r}: expected one of "
                                  f"{available_datasets()}")
    common = {k: options.pop(k) for k in list(options) if k in _COMMON}
    loader = LOADERS[loader_name]
    accepted = {p for p in inspect.signature(loader).parameters
                if p not in ("directory", "part", "options")}
    accepted |= {"classes"} if loader_name in ("kermany_cxr", "oct2017", "brain_tumor_mri",
                                               "covid19") else set()
    unknown = sorted(set(options) - accepted)
    if unknown:
        allowed = accepted | _COMMON | {"sanity_square"} | (
            _PHANTOM if name in phantoms else set())
        raise ValueError(f"{name}: unknown option(s) {unknown}: expected some of "
                         f"{sorted(allowed)}")
    if protocol is not None and spec.protocols and protocol not in spec.protocols:
        raise ValueError(f"{name}: protocol: expected one of {list(spec.protocols)}, "
                         f"got {protocol!r}")
    if protocol is not None and not spec.protocols:
        raise ValueError(f"{name}: has no protocols, got protocol={protocol!r}")
    kwargs = dict(options)
    if "protocol" in accepted:
        kwargs["protocol"] = protocol
    part = "test" if split == "test" else "train"
    records = loader(directory, part, **kwargs)
    reference = records
    if part == "train":
        train, val = split_train_val(records, val_fraction, seed)
        records, reference = (train, []) if split == "train" else (val, train)
    dedup = bool(common.get("dedup", False))
    removed: list[str] = []
    if dedup and split != "train":
        from reprolib.data.dedup import drop_duplicates
        if split == "test":
            reference = loader(directory, "train", **kwargs)
        records, removed = drop_duplicates(records, reference,
                                           skip_corrupt=bool(common.get("skip_corrupt", False)))
    square = common.get("square", spec.square)
    if loader_name == "idrid" and protocol == "proxyano" and "square" not in common:
        square = "stretch"  # tiles are not centred on the eye
    # dedup leaves ``train`` as it is: its fingerprint (the model cache key) does not change
    fp_options = {"protocol": protocol, "seed": seed, "val_fraction": val_fraction,
                  **phantom_options, **options,
                  **{k: v for k, v in common.items() if k != "skip_corrupt"
                     and not (k in ("dedup", "standardize") and not v)
                     and not (k == "dedup" and split == "train")}}
    ds_kwargs = {"name": name, "split": split, "img_size": img_size,
                 "channels": channels or spec.channels, "normalize": normalize,
                 "square": square, "clahe": bool(common.get("clahe", False)),
                 "standardize": bool(common.get("standardize", False)),
                 "cache_in_memory": cache_in_memory, "options": fp_options,
                 "skip_corrupt": bool(common.get("skip_corrupt", False)), "root": directory}
    dataset: ImageDataset
    if sanity is not None and split == "test":
        from reprolib.data.sanity import SanityDataset, sanity_records
        fp_options["sanity_square"] = sanity
        dataset = SanityDataset(sanity_records(records, seed), mode=sanity, **ds_kwargs)
    else:
        dataset = ImageDataset(records, **ds_kwargs)
    if dedup and split != "train":
        from reprolib.data.dedup import DEFAULT_MAX_DISTANCE, DEFAULT_MAX_RMS, HASH_VERSION
        dataset.duplicates_removed = removed
        dataset.fingerprint["dedup"] = {"hash": HASH_VERSION,
                                        "max_distance": DEFAULT_MAX_DISTANCE,
                                        "max_rms": DEFAULT_MAX_RMS, "removed": len(removed)}
    if split == "test":
        _check_scorable(dataset, name, spec, directory)
    return dataset
