"""Audit of a real dataset's splits (issue 9, items 2 and 4): near-duplicates between training
and validation / test images, colour modes per class, and what label-free distance scores
find. Prints markdown tables (docs/datasets.md, "Duplicates and collection differences").

    PYTHONPATH=. python tools/dataset_audit.py --root ../shared/data \\
        --datasets brain_tumor_mri kermany_cxr

Every number comes from ``reprolib.data`` (``get_dataset`` with ``dedup`` / ``standardize`` /
``clahe``, ``reprolib.data.dedup``). Label-free scores use the training normals only (no
labels choose anything); the test labels only compute the AUROC:

- ``mean intensity``: |mean grey value of the image − mean over the training normals|;
- ``1-NN pixels``: Euclidean distance of the 64 px grey image to its nearest training normal.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from reprolib.data import get_dataset
from reprolib.data.dedup import file_hashes, find_duplicates, pixel_rms, standardised
from reprolib.metrics import image_auroc

SIZE = 64
SEED = 0
VAL_FRACTION = 0.1


def _records(name: str, split: str, root: str, **options) -> list:
    return get_dataset(name, split, root=root, val_fraction=VAL_FRACTION, seed=SEED,
                       cache_in_memory=False, **options).records


def duplicate_table(name: str, root: str) -> list[str]:
    """Per split and class: images, duplicates (hash + pixel check), byte-identical, removed by
    ``dedup=True``; beside them the hash stage alone and the exhaustive pixel criterion."""
    train = _records(name, "train", root)
    full_train = get_dataset(name, "train", root=root, val_fraction=0.0,
                             cache_in_memory=False).records
    lines = ["| split | class | images | duplicates (hash ≤ 8 bits and RMS < 0.1) | "
             "byte-identical | removed by `dedup=True` | hash ≤ 8 bits alone | "
             "RMS < 0.1, all pairs |", "|---|---|---|---|---|---|---|---|"]
    for split, reference in (("val", train), ("test", full_train)):
        query = _records(name, split, root)
        kept = get_dataset(name, split, root=root, val_fraction=VAL_FRACTION, seed=SEED,
                           cache_in_memory=False, dedup=True)
        report = find_duplicates(query, reference)
        hashes = file_hashes([r.path for r in [*query, *reference]])
        q = standardised(np.stack([hashes[Path(r.path).resolve()].thumb for r in query]))
        ref = standardised(np.stack([hashes[Path(r.path).resolve()].thumb for r in reference]))
        exhaustive = pixel_rms(q, ref).min(axis=1) < report.max_rms
        removed = set(kept.duplicates_removed)
        subs = np.asarray([r.sublabel for r in query], dtype=object)
        for sub in sorted(set(subs)):
            m = subs == sub
            n_removed = sum(r.id in removed for r, keep in zip(query, m) if keep)
            lines.append(
                f"| {split} | {sub} | {int(m.sum())} | {int(report.duplicate[m].sum())} "
                f"({100 * report.duplicate[m].mean():.0f} %) | {int(report.identical[m].sum())}"
                f" | {n_removed} | {int(report.hash_only[m].sum())} | "
                f"{int(exhaustive[m].sum())} |")
    lines.append(f"\ntrain split: {len(train)} normals (of {len(full_train)}; val fraction "
                 f"{VAL_FRACTION}, seed {SEED}); val compared with the train split, test with "
                 "all training normals.")
    return lines


def mode_table(name: str, root: str) -> list[str]:
    """PIL colour mode of the files, per split and class."""
    lines = ["| split | class | files | RGB | grey (L) | other |", "|---|---|---|---|---|---|"]
    grey, labels, subs = [], [], []
    for split in ("train", "test"):
        records = get_dataset(name, split, root=root, val_fraction=0.0,
                              cache_in_memory=False).records
        by_class: dict[str, Counter] = {}
        for r in records:
            with Image.open(r.path) as image:
                by_class.setdefault(r.sublabel, Counter())[image.mode] += 1
                if split == "test":
                    grey.append(float(image.mode == "L"))
                    labels.append(r.label)
                    subs.append(r.sublabel)
        for sub, modes in sorted(by_class.items()):
            other = sum(v for k, v in modes.items() if k not in ("RGB", "L"))
            lines.append(f"| {split} | {sub} | {sum(modes.values())} | {modes['RGB']} | "
                         f"{modes['L']} | {other} |")
    y, g, s = np.asarray(labels), np.asarray(grey), np.asarray(subs, dtype=object)
    if 0 < y.sum() < len(y):
        parts = [f"all {image_auroc(y, g):.3f}"]
        for sub in sorted(set(s[y == 1])):
            keep = (y == 0) | (s == sub)
            parts.append(f"{sub} {image_auroc(y[keep], g[keep]):.3f}")
        lines.append("\nAUROC of the file's colour mode alone (score 1 for a grey-mode file, 0 "
                     "otherwise) on the test set: " + ", ".join(parts) + ".")
    return lines


def _pixels(name: str, split: str, root: str, **options) -> tuple[np.ndarray, list, np.ndarray]:
    ds = get_dataset(name, split, root=root, img_size=SIZE, channels=1, normalize="unit",
                     val_fraction=VAL_FRACTION, seed=SEED, cache_in_memory=False, **options)
    x = np.stack([ds[i]["image"].numpy().ravel() for i in range(len(ds))]).astype(np.float64)
    return x, list(ds.sublabels), np.asarray(ds.labels)


def _nn_distance(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    d2 = (query ** 2).sum(1)[:, None] + (reference ** 2).sum(1)[None] - 2 * query @ reference.T
    return np.sqrt(np.maximum(d2, 0.0)).min(axis=1)


SETTINGS: dict[str, dict] = {
    "paper's preprocessing": {},
    "dedup": {"dedup": True},
    "standardize": {"standardize": True},
    "dedup + standardize": {"dedup": True, "standardize": True},
    "clahe": {"clahe": True},
    "dedup + clahe": {"dedup": True, "clahe": True},
}


def score_table(name: str, root: str, settings: Sequence[str] = tuple(SETTINGS)) -> list[str]:
    """AUROC of the label-free scores, all abnormal and per sub-class, per data setting; last
    column: held-out training normals (0) against test normals (1), 1-NN score."""
    rows: list[tuple[str, str, dict[str, float]]] = []
    classes: list[str] = []
    for setting in settings:
        options = SETTINGS[setting]
        train, _, _ = _pixels(name, "train", root, **options)
        test, subs, labels = _pixels(name, "test", root, **options)
        val, _, _ = _pixels(name, "val", root, **options)
        subs_a = np.asarray(subs, dtype=object)
        classes = sorted({s for s, lab in zip(subs, labels) if lab == 1})
        center = train.mean()
        scores = {"mean intensity": lambda x, c=center: np.abs(x.mean(axis=1) - c),
                  "1-NN pixels": lambda x, t=train: _nn_distance(x, t)}
        for score_name, fn in scores.items():
            s_test = fn(test)
            cells = {"all": image_auroc(labels, s_test)}
            for sub in classes:
                keep = (labels == 0) | (subs_a == sub)
                cells[sub] = image_auroc(labels[keep], s_test[keep])
            s_val = fn(val)
            normal = s_test[labels == 0]
            cells["test vs val normals"] = image_auroc(
                np.r_[np.zeros(len(s_val)), np.ones(len(normal))], np.r_[s_val, normal])
            cells["n"] = f"{int((labels == 0).sum())}/{int(labels.sum())}"
            rows.append((setting, score_name, cells))
    head = ["data setting", "score", "normal/abnormal", "AUROC all", *[f"vs {c}" for c in classes],
            "test vs val normals"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for setting, score_name, cells in rows:
        values = [f"{cells[k]:.3f}" for k in ("all", *classes, "test vs val normals")]
        lines.append(f"| {setting} | {score_name} | {cells['n']} | " + " | ".join(values) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data", help="data root")
    parser.add_argument("--datasets", nargs="+", default=["brain_tumor_mri", "kermany_cxr"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args(argv)
    for name in args.datasets:
        print(f"\n### {name}\n\nDuplicates of training normals:\n")
        print("\n".join(duplicate_table(name, args.root)))
        print("\nColour modes of the files:\n")
        print("\n".join(mode_table(name, args.root)))
        print(f"\nLabel-free scores at {SIZE} px (AUROC):\n")
        print("\n".join(score_table(name, args.root, args.settings)), flush=True)


if __name__ == "__main__":
    main()
