"""AnoGAN (Schlegl et al., IPMI 2017): OCT patch sets, Table 1 rows, Figures 3 and 4.

§3 "Data": 64x64 patches at random positions of flattened retina B-scans (training: normal
scans only); a test patch is anomalous if at least one of its pixels is annotated. The clinical
data of the paper is not public: the default is the flattened-retina OCT phantom
(``phantom_oct_flat``, exact lesion masks); the ``paper`` profile uses Kermany OCT2017, which has
no masks, so its test patches take the label of their B-scan.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve
from torch.utils.data import Dataset

from reprolib import score_cache
from reprolib.cache import exclusive, fit_or_load
from reprolib.config import stable_hash
from reprolib.experiment import Evaluation, MethodSpec, floor_specs, is_floor, record
from reprolib.methods import AnomalyMethod
from reprolib.plots import save
from reprolib.results import ResultRecorder

PAPER = "anogan"
PROTOCOL = "oct_patch_fluid"
#: Table 1 rows in the paper's order and its columns (metric names of the results schema).
TABLE1_METHODS: tuple[str, ...] = ("acae", "p_d", "gan_r", "anogan")
TABLE1_METRICS: tuple[str, ...] = ("precision", "recall", "sen", "spe", "auroc")


# --- patches ----------------------------------------------------------------------------------

def retina_band(image: np.ndarray | torch.Tensor, fraction: float = 0.5) -> tuple[int, int]:
    """Rows (top, bottom) of the retina in a B-scan (C, H, W) or (H, W): the rows whose mean
    intensity (smoothed over 5 rows) exceeds ``fraction`` of the way from the darkest to the
    brightest row. A flattened retina is a horizontal band, so this finds it."""
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3:
        array = array.mean(0)
    if array.ndim != 2:
        raise ValueError(f"retina_band: expected an image (C, H, W) or (H, W), "
                         f"got shape {array.shape}")
    profile = np.convolve(array.mean(1), np.ones(5) / 5, mode="same")
    lo, hi = float(profile.min()), float(profile.max())
    rows = np.flatnonzero(profile >= lo + fraction * (hi - lo)) if hi > lo else np.arange(
        len(profile))
    return int(rows[0]), int(rows[-1])


class PatchDataset(Dataset):
    """Patches cut from a source dataset, with the item dict of docs/contracts.md.

    Pixels are stored as float16 (a million 64x64 patches fit in 8 GB) and returned as float32.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, labels: np.ndarray,
                 sublabels: list[str], ids: list[str], *, has_masks: bool, name: str,
                 fingerprint: dict[str, Any]) -> None:
        self.images = images.to(torch.float16)
        self.masks = masks.to(torch.bool)
        self.labels = np.asarray(labels, dtype=int)
        self.sublabels = list(sublabels)
        self.ids = list(ids)
        self.has_masks = has_masks
        self.channels = int(images.shape[1])
        self.img_size = int(images.shape[-1])
        self.name = name
        self.fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i].float(), "label": int(self.labels[i]),
                "mask": self.masks[i].float(), "has_mask": self.has_masks,
                "sublabel": self.sublabels[i], "id": self.ids[i]}

    def subset(self, indices: Sequence[int], tag: str) -> PatchDataset:
        """The patches at ``indices`` (a new fingerprint names ``tag`` and the indices)."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return PatchDataset(self.images[idx], self.masks[idx], self.labels[idx.numpy()],
                            [self.sublabels[i] for i in idx.tolist()],
                            [self.ids[i] for i in idx.tolist()], has_masks=self.has_masks,
                            name=self.name, fingerprint={
                                **self.fingerprint, "subset": tag, "count": len(idx),
                                "indices": stable_hash(idx.tolist())})


def extract_patches(source: Dataset, *, patch_size: int = 64, per_image: int = 8,
                    lesion_share: float = 0.0, seed: int = 0, split: str = "") -> PatchDataset:
    """``per_image`` patches of ``patch_size`` from every image of ``source`` (§3 "Data").

    Patch centres are drawn uniformly inside the retina band (:func:`retina_band`); for an
    image with a lesion mask, a ``lesion_share`` of its patches are centred on a random lesion
    pixel (jittered by up to a quarter patch) so that the test set holds enough anomalous
    patches. A patch is labelled anomalous if any of its mask pixels is set (§3); when the
    source has no masks (OCT2017) it takes the label of its image.
    """
    if not 0.0 <= lesion_share <= 1.0:
        raise ValueError(f"lesion_share: expected a value in [0, 1], got {lesion_share}")
    if per_image < 1:
        raise ValueError(f"per_image: expected >= 1, got {per_image}")
    size = int(getattr(source, "img_size", 0))
    if size and size < patch_size:
        raise ValueError(f"extract_patches: images of {size} px are smaller than "
                         f"patch_size {patch_size}")
    rng = np.random.default_rng([seed, sum(map(ord, split))])
    n = len(source)  # type: ignore[arg-type]
    has_masks = bool(getattr(source, "has_masks", False))
    half, jitter = patch_size // 2, max(patch_size // 4, 1)
    images, masks, labels, sublabels, ids = [], [], [], [], []
    for i in range(n):
        item = source[i]
        image, mask = torch.as_tensor(item["image"]), torch.as_tensor(item["mask"])
        _, h, w = image.shape
        if h < patch_size or w < patch_size:
            raise ValueError(f"extract_patches: image {item['id']} is {h}x{w}, smaller than "
                             f"patch_size {patch_size}")
        top, bottom = retina_band(image)
        lesion = np.argwhere(mask[0].numpy() > 0) if has_masks else np.zeros((0, 2))
        n_lesion = int(round(lesion_share * per_image)) if len(lesion) else 0
        for k in range(per_image):
            if k < n_lesion:
                cy, cx = lesion[rng.integers(len(lesion))] + rng.integers(-jitter, jitter + 1, 2)
            else:
                cy, cx = rng.integers(top, bottom + 1), rng.integers(0, w)
            y = int(np.clip(cy - half, 0, h - patch_size))
            x = int(np.clip(cx - half, 0, w - patch_size))
            patch_mask = mask[:, y:y + patch_size, x:x + patch_size]
            images.append(image[:, y:y + patch_size, x:x + patch_size])
            masks.append(patch_mask)
            labels.append(int(patch_mask.any()) if has_masks else int(item["label"]))
            sublabels.append(str(item.get("sublabel", "")))
            ids.append(f"{item['id']}@{y},{x}")
    if not images:
        raise ValueError("extract_patches: the source dataset is empty")
    name = str(getattr(source, "name", "patches"))
    fingerprint = {"patches_of": getattr(source, "fingerprint", name), "patch_size": patch_size,
                   "per_image": per_image, "lesion_share": lesion_share, "seed": seed,
                   "split": split, "count": len(images), "ids": stable_hash(ids)}
    return PatchDataset(torch.stack(images), torch.stack(masks), np.asarray(labels), sublabels,
                        ids, has_masks=has_masks, name=name, fingerprint=fingerprint)


@dataclasses.dataclass
class PatchSets:
    """The three patch sets of the experiment: training normals, test patches, and the
    subset of training patches that Figure 4 (c, d) scores."""

    dataset: str
    train: PatchDataset
    test: PatchDataset
    train_scored: PatchDataset

    def describe(self) -> str:
        t = self.test.labels
        return (f"{self.dataset}: {len(self.train)} training patches, {len(t)} test patches "
                f"({int((t == 0).sum())} normal, {int((t == 1).sum())} anomalous), "
                f"{len(self.train_scored)} training patches scored for Fig. 4c-d")


def load_patch_sets(dataset: str, *, root: str | None = None, img_size: int = 256,
                    dataset_options: dict[str, Any] | None = None, patch_size: int = 64,
                    train_per_image: int = 20, test_per_image: int = 8,
                    lesion_share: float = 0.5, n_train_scored: int = 64, seed: int = 0
                    ) -> PatchSets:
    """Load ``dataset``'s B-scans (grayscale, [-1, 1], ``img_size`` px) and cut the patch sets.
    The patches depend on ``seed`` only (not on a model's seed): every model sees the same."""
    from reprolib.data import get_dataset

    options = dict(dataset_options or {})
    kwargs = {"root": root, "img_size": img_size, "channels": 1, "normalize": "tanh", **options}
    train_src = get_dataset(dataset, "train", **kwargs)
    test_src = get_dataset(dataset, "test", **kwargs)
    train = extract_patches(train_src, patch_size=patch_size, per_image=train_per_image,
                            seed=seed, split="train")
    test = extract_patches(test_src, patch_size=patch_size, per_image=test_per_image,
                           lesion_share=lesion_share, seed=seed, split="test")
    pick = np.random.default_rng(seed).choice(len(train), min(n_train_scored, len(train)),
                                              replace=False)
    return PatchSets(dataset, train, test, train.subset(sorted(pick.tolist()), "train_scored"))


# --- fitting and scoring through the caches ---------------------------------------------------

def method_specs(gan: dict[str, Any], mapping: dict[str, Any], acae: dict[str, Any],
                 methods: Sequence[str] = TABLE1_METHODS) -> list[MethodSpec]:
    """Table 1's models from the notebook's parameter groups: the DCGAN settings ``gan`` are
    shared by all four; ``mapping`` is added for AnoGAN and GAN_R, ``acae`` for the aCAE."""
    extra = {"anogan": mapping, "gan_r": mapping, "acae": acae, "p_d": {}, "dcgan": {}}
    unknown = [m for m in methods if m not in extra]
    if unknown:
        raise ValueError(f"methods: expected some of {sorted(extra)}, got {unknown[0]!r}")
    return [MethodSpec(m, {**gan, **extra[m]}) for m in methods]


def model_lock_name(spec: MethodSpec, sets: PatchSets, seed: int) -> str:
    """The inter-process lock of one model and its scores: method, config, seed and training
    patches, so that two notebooks needing the same model map each patch once, and a model of
    another profile or config on the same patches does not wait for it."""
    identity = {"method": spec.method, "config": dict(spec.config), "seed": seed,
                "train": sets.train.fingerprint}
    return f"anogan_{stable_hash(identity, 16)}"


def evaluate_patches(spec: MethodSpec, sets: PatchSets, *, seed: int = 0,
                     device: str | torch.device = "auto") -> Evaluation:
    """Fit ``spec`` on the training patches (or load it from the model cache), score the test
    patches and the scored training subset (``val_scores``), both kept beside the model
    (:func:`reprolib.score_cache.scores_for`): the two AnoGAN notebooks map each patch once."""
    with exclusive(model_lock_name(spec, sets, seed)):
        method = fit_or_load(spec.method, spec.config, sets.train, seed=seed, device=device)
        scores, train_scores, seconds = score_cache.scores_for(method, sets.test,
                                                               sets.train_scored)
    return Evaluation(spec, sets.dataset, seed, method, sets.test, scores, train_scores, seconds)


def evaluate_all(specs: Sequence[MethodSpec], sets: PatchSets, *, seeds: Sequence[int],
                 device: str | torch.device = "auto") -> dict[tuple[str, int], Evaluation]:
    """:func:`evaluate_patches` for every (method, seed), keyed by (method name, seed)."""
    return {(spec.method, seed): evaluate_patches(spec, sets, seed=seed, device=device)
            for spec in specs for seed in seeds}


def evaluate_floors(floors: Sequence[str | dict[str, Any]], sets: PatchSets, *,
                    device: str | torch.device = "auto") -> dict[tuple[str, int], Evaluation]:
    """The label-free floors (``FLOORS`` entries, variant ``reference_floor``) fitted on the
    same training patches and scored on the same test patches, seed 0 (they are
    deterministic), keyed like :func:`evaluate_all`."""
    return {(spec.method, 0): evaluate_patches(spec, sets, seed=0, device=device)
            for spec in floor_specs(list(floors))}


def best_floor(floors: dict[tuple[str, int], Evaluation]) -> dict[tuple[str, int], Evaluation]:
    """The floor with the highest test AUC, keyed ``("floor: <name>", seed)``: added to the
    evaluations, it is drawn as a grey dashed reference curve in the ROC figures."""
    if not floors:
        return {}
    (name, seed), ev = max(floors.items(), key=lambda kv: roc_auc_score(kv[1].labels,
                                                                        kv[1].scores.image))
    return {(f"floor: {name}", seed): ev}


# --- Table 1 ----------------------------------------------------------------------------------

def record_table1(recorder: ResultRecorder, evaluations: dict[tuple[str, int], Evaluation]
                  ) -> None:
    """Table 1 rows: precision, recall, sensitivity, specificity at the Youden-index cut-off of
    the test ROC (the paper's protocol, labelled ``youden``) and the AUC."""
    for ev in evaluations.values():
        record(recorder, ev, policies=("youden",), pixel=False, protocol=PROTOCOL, table="t1")


def table1_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as printed in the paper: rows aCAE, P_D, GAN_R, AnoGAN (mean over seeds), then
    the label-free floors (``reference_floor`` rows, named ``<method> (floor)``)."""
    rows = frame[(frame["table"] == "t1") & frame["metric"].isin(TABLE1_METRICS)
                 & frame["threshold_policy"].isin(["youden", "none"])]
    rows = rows.assign(method=[f"{m} (floor)" if is_floor(v) else m
                               for m, v in zip(rows["method"], rows["variant"])])
    table = rows.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    order = [m for m in TABLE1_METHODS if m in table.index]
    order += sorted(m for m in table.index if m.endswith("(floor)"))
    return table.reindex(index=order, columns=[m for m in TABLE1_METRICS if m in table.columns])


# --- Figure 4 ---------------------------------------------------------------------------------

def component_scores(evaluations: dict[tuple[str, int], Evaluation], seed: int
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Figure 4b's scorers as {name: (labels, scores)}: A(x), R(x), D(x) of AnoGAN and the
    reference discrimination score D̂(x) of GAN_R."""
    out = {}
    if ("anogan", seed) in evaluations:
        ev = evaluations[("anogan", seed)]
        out["A(x)"] = (ev.labels, ev.scores.image)
        out["R(x)"] = (ev.labels, ev.scores.extra["residual"])
        out["D(x)"] = (ev.labels, ev.scores.extra["discrimination"])
    if ("gan_r", seed) in evaluations:
        ev = evaluations[("gan_r", seed)]
        out["D^(x)"] = (ev.labels, ev.scores.extra["discrimination_ref"])
    return out


#: Figure 4b rows: (label in the figure, method, extra score or None, variant in results).
COMPONENTS: tuple[tuple[str, str, str | None, str], ...] = (
    ("A(x)", "anogan", None, ""), ("R(x)", "anogan", "residual", "residual"),
    ("D(x)", "anogan", "discrimination", "discrimination"),
    ("D^(x)", "gan_r", "discrimination_ref", "discrimination_ref"),
)


def record_figure4(recorder: ResultRecorder, evaluations: dict[tuple[str, int], Evaluation]
                   ) -> None:
    """Figure 4 rows (table ``f4``): threshold-free metrics of the four models (a) and of the
    score components R(x), D(x) of AnoGAN and D̂(x) of GAN_R (b; ``variant`` names them)."""
    for (name, _seed), ev in evaluations.items():
        record(recorder, ev, policies=(), pixel=False, protocol=PROTOCOL, table="f4")
        for _label, method, extra, variant in COMPONENTS:
            if method == name and extra is not None:
                spec = dataclasses.replace(ev.spec, variant=variant)
                record(recorder, dataclasses.replace(ev, spec=spec), policies=(), pixel=False,
                       protocol=PROTOCOL, table="f4", score=extra)


def figure4_table(frame: pd.DataFrame) -> pd.DataFrame:
    """AUC (and mean scores of normal / anomalous patches) of every model and score component
    of Figure 4, mean over seeds; rows named as in the figure."""
    rows = frame[(frame["table"] == "f4") & (frame["threshold_policy"] == "none")]
    names = {("anogan", ""): "AnoGAN A(x)", ("anogan", "residual"): "AnoGAN R(x)",
             ("anogan", "discrimination"): "AnoGAN D(x)", ("gan_r", ""): "GAN_R Â(x)",
             ("gan_r", "residual"): "GAN_R R(x)", ("gan_r", "discrimination_ref"): "GAN_R D̂(x)",
             ("acae", ""): "aCAE A(x)", ("acae", "residual"): "aCAE R(x)",
             ("acae", "discrimination"): "aCAE D(x)", ("p_d", ""): "P_D"}
    rows = rows.assign(score=[f"{m} (floor)" if is_floor(v) else names.get((m, v), f"{m} {v}")
                              for m, v in zip(rows["method"], rows["variant"])])
    table = rows.pivot_table(index="score", columns="metric", values="value", aggfunc="mean")
    order = [n for n in names.values() if n in table.index]
    order += sorted(n for n in table.index if n.endswith("(floor)"))
    return table.reindex(index=order, columns=[c for c in ("auroc", "ap", "score_normal",
                                                           "score_abnormal") if c in table])


def figure4(evaluations: dict[tuple[str, int], Evaluation], *, seed: int = 0,
            path: str | os.PathLike[str] | None = None) -> Figure:
    """Figure 4: (a) ROC of aCAE, GAN_R, AnoGAN, P_D; (b) ROC of A, R, D, D̂; (c) residual and
    (d) discrimination score distributions of training normals, test normals, test anomalies."""
    fig, grid = plt.subplots(2, 2, figsize=(10, 7.6))  # legible at a notebook's width
    axes = grid.ravel()
    colours = {"acae": "tab:blue", "gan_r": "tab:red", "anogan": "black", "p_d": "tab:green",
               "A(x)": "black", "R(x)": "tab:green", "D(x)": "grey", "D^(x)": "tab:red"}
    curves_a = {name: (ev.labels, ev.scores.image) for (name, s), ev in evaluations.items()
                if s == seed}
    for ax, curves, title in ((axes[0], curves_a, "(a) models"),
                              (axes[1], component_scores(evaluations, seed),
                               "(b) score components")):
        for name, (labels, scores) in curves.items():
            fpr, tpr, _ = roc_curve(labels, scores)
            floor = name.startswith("floor")  # the best label-free floor: grey, dashed
            ax.plot(fpr, tpr, color="grey" if floor else colours.get(name),
                    ls="--" if floor else "-",
                    label=f"{name} ({roc_auc_score(labels, scores):.2f})")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
        ax.legend(fontsize=9, loc="lower right", title="score (AUROC)", title_fontsize=9)
    ev = evaluations.get(("anogan", seed))
    for ax, key, title in ((axes[2], "residual", "(c) residual score R(x)"),
                           (axes[3], "discrimination", "(d) discrimination score D(x)")):
        if ev is None:
            ax.axis("off")
            continue
        groups = {"train normal": ev.val_scores.extra[key] if ev.val_scores else np.zeros(0),
                  "test normal": ev.scores.extra[key][ev.labels == 0],
                  "test anomalous": ev.scores.extra[key][ev.labels == 1]}
        values = np.concatenate([v for v in groups.values() if len(v)])
        edges = np.linspace(values.min(), values.max() + 1e-9, 31)
        for (name, v), colour in zip(groups.items(), ("tab:blue", "tab:green", "tab:red")):
            ax.hist(v, bins=edges, density=True, alpha=0.45, color=colour,
                    label=f"{name} (n={len(v)})")
        ax.set(xlabel=key, ylabel="density", title=title)
        ax.legend(fontsize=9)
    fig.suptitle(f"AnoGAN Fig. 4 (seed {seed})", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


# --- Figure 3 ---------------------------------------------------------------------------------

def pick_examples(sets: PatchSets, per_group: int = 3, seed: int = 0) -> dict[str, list[int]]:
    """Indices of example patches: training normals, test normals and test anomalies (the
    anomalous ones with the largest lesion area first)."""
    rng = np.random.default_rng(seed)
    test_normal = np.flatnonzero(sets.test.labels == 0)
    anomalous = np.flatnonzero(sets.test.labels == 1)
    area = sets.test.masks[torch.as_tensor(anomalous, dtype=torch.long)].flatten(1).sum(1)
    order = anomalous[np.argsort(-area.numpy(), kind="stable")] if len(anomalous) else anomalous
    return {"train normal": sorted(rng.choice(len(sets.train), min(per_group, len(sets.train)),
                                              replace=False).tolist()),
            "test normal": sorted(rng.choice(test_normal, min(per_group, len(test_normal)),
                                             replace=False).tolist()),
            "test anomalous": order[:per_group].tolist()}


def figure3(method: AnomalyMethod, sets: PatchSets, examples: dict[str, list[int]], *,
            path: str | os.PathLike[str] | None = None) -> Figure:
    """Figure 3: per column a query patch, G(z_Γ) from the mapping, the residual overlay (red)
    and the ground-truth mask; R(x) and D(x) of each patch in its column title."""
    columns: list[tuple[str, dict[str, Any]]] = []
    for group, indices in examples.items():
        source = sets.train if group == "train normal" else sets.test
        columns += [(group, source[i]) for i in indices]
    if not columns:
        raise ValueError("figure3: no example patches to show")
    batch = torch.stack([item["image"] for _, item in columns])
    reconstruct = getattr(method, "reconstruct", None)
    if reconstruct is None:
        raise ValueError(f"figure3: expected a method with reconstruct() (anogan, gan_r), "
                         f"got {method.name}")
    tiny = PatchDataset(batch, torch.stack([item["mask"] for _, item in columns]),
                        np.zeros(len(columns)), [""] * len(columns), [""] * len(columns),
                        has_masks=True, name="figure3", fingerprint={})
    mapped = reconstruct(tiny)
    queries, generated = mapped["query"], mapped["generated"]
    fig, axes = plt.subplots(4, len(columns), figsize=(1.6 * len(columns), 6.8), squeeze=False)
    for j, (group, item) in enumerate(columns):
        query = (queries[j, 0] + 1) / 2
        residual = np.abs(queries[j, 0] - generated[j, 0]) / 2
        overlay = np.stack([query] * 3, -1)
        overlay[..., 0] = np.clip(query + 2 * residual, 0, 1)
        panels = (query, (generated[j, 0] + 1) / 2, overlay, item["mask"][0].numpy())
        for i, panel in enumerate(panels):
            axes[i, j].imshow(panel, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[0, j].set_title(f"{group}\nR={mapped['residual'][j]:.0f} "
                             f"D={mapped['discrimination'][j]:.1f}", fontsize=8)
    for i, name in enumerate(("query x", "G(z_Γ)", "residual overlay", "ground truth")):
        axes[i, 0].set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return save(fig, path)
