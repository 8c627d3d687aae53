"""Source of notebooks/mdfsc_t1_sota.ipynb, mdfsc_t2_features.ipynb and
mdfsc_t3_recon_loss.ipynb: ``python tools/notebooks/mdfsc_tables.py``.

The ``parameters`` cells hold the values of ``params/<notebook>/default.yaml``."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nbbuild import assignments, build  # noqa: E402

PROTOCOL = """
**Protocol (all three MDFSC notebooks; §4.1-4.2).** Training uses normal training images only;
the last step is kept (no model selection on test labels). Metrics: image-level **AP** and
**AUROC** (threshold-free, the paper's), each with a stratified bootstrap 95 % interval (1,000
resamples); thresholded rows only at the 95th percentile of normal validation scores
(`normal_val`, no test labels). Datasets: EyeQ with MDFSC's labels (quality Good and Usable
normal, Reject anomalous; results protocol `eyeq_quality`), IDRiD image level (grading part:
grade 0 normal, grades 1-4 anomalous) and OCTID image level (normal vs macular hole, AMD, CSR,
DR; one extra AUROC row per disease, protocol `image_level:<disease>`). Label-free reference
floors (`reference_floor`: mean intensity, kNN on pixels, PCA reconstruction;
`reference_floor_features`: kNN and PaDiM on ImageNet EfficientNet-Lite0 features) run on the
same data: a row not above them does no better than a trivial baseline.

**MDFSC** (`reprolib.methods.mdfsc`, docs/mdfsc.md): VGG16 autoencoder (VGG16 `features`
encoder, FC to a 256 latent and back, mirrored decoder) trained with L2 on random 64×64 crops,
Adam 1e-4; multi-scale features = conv4_3 of the image, conv3_3 of the image /2, conv2_2 of the
image /4 before ReLU (MLF-SC's formula: 896 channels at 1/8), 2-pixel border crop, per-image
standardisation; 16×16 patches, stride 2; **one dictionary of 50 atoms per channel** (as
MLF-SC; per-scale dictionaries would need 131,072-long atoms), scikit-learn's `dict_learning`
algorithm batched in torch; codes: the exact Lasso of α = 1 (LARS's solution; our batched
solver, `benchmarks/bench_lasso.py`: 31.6× faster than `LassoLars`, codes within 7e-5); image
score = Σ over channels of the top-5 patch residuals (squared L2). The encoder starts from
ImageNet VGG16 where torchvision's weights are on the machine; here they are not, so it starts
from random initialisation (the `weights` column says so).

**Deviations** (also docs/mdfsc.md). The paper gives no AE epochs or batch size (config here);
the dictionary learns from `dict_patches` random training patches per channel, by the batch
algorithm (MLF-SC: mini-batch); the ImageNet networks of the baselines and of Table 2 are
replaced where not obtainable (below); the phantoms stand in for the real datasets under
`default`.

**Profiles.** `smoke`: a few tiny phantom images (CI only: 64 px, 2×2 feature patches, a few
atoms; numbers meaningless). `default`: the fundus and OCTID phantoms (`phantom_eyeq` for
EyeQ, `phantom_octid` for OCTID; IDRiD runs under `paper`: three datasets do not fit the
budget), **160 px** (the smallest input at which a 16×16 patch fits the 1/8 feature map after
the border crop: 20 − 4 = 16, so *one* patch per channel and the top-5 sum is that patch's
residual; at 512 px there are 23×23 = 529 patches), a step budget for the AE and 10
dictionary iterations on every training image's patch; one seed. Sizes, test-set sizes and
measured costs are in the params file's comments. `paper`: the real datasets at 512 px.
"""

PARAMETERS_HEAD = '''PROFILE = "default"
DATA_ROOT = None
RESULTS_DIR = None
DEVICE = "auto"
SEEDS = [0]
'''


def _params(stem: str, skip: tuple[str, ...] = ()) -> str:
    """The parameters cell: the profile-independent head, then default.yaml's values."""
    values = yaml.safe_load((ROOT / "params" / stem / "default.yaml").read_text())
    kept = {key: value for key, value in values.items() if key not in skip}
    return PARAMETERS_HEAD.rstrip("\n") + "\n" + assignments(kept, width=99).replace("'", '"')


def _setup(stem: str, table: str, hashed: str) -> str:
    return f'''from reprolib import experiment, plots
from reprolib.papers import mdfsc
from reprolib.params import check_parameters
from reprolib.paths import figures_dir
from reprolib.results import ResultRecorder

check_parameters(globals(), notebook="{stem}")
NOTEBOOK = "{stem}"
params_hash = experiment.params_hash({hashed})
recorder = ResultRecorder(paper="mdfsc", table="{table}", notebook=NOTEBOOK,
                          profile=PROFILE, results=RESULTS_DIR, params_hash=params_hash)
figures = figures_dir(PROFILE, RESULTS_DIR)'''


FLOORS_CELL = '''floor_evaluations = mdfsc.run_table_floors(recorder, FLOORS, DATASETS,
                                           root=DATA_ROOT, dataset_options=DATASET_OPTIONS,
                                           device=DEVICE)'''

TABLE_CELL = '''print(mdfsc.weights_note(recorder.frame()))
mdfsc.results_table(recorder.frame())'''


def _curves(stem: str) -> str:
    return f'''plots.learning_curves(evaluations,
                      path=figures / "{stem}_learning_curves.png");'''


def t1() -> list[tuple[str, str]]:
    stem = "mdfsc_t1_sota"
    return [
        ("md", """
# MDFSC Table 1: comparison with the state of the art

Reproduces **Table 1** of Rahul et al., *Multi-Scale Deep Feature Sparse Coding* (ISBI 2022):
AP and AUC of AnoGAN, Deep-Geo, Deep-IF, SPADE and MDFSC on EyeQ, IDRiD and OCTID. Every
baseline is its own registered method (docs/baselines_mdfsc.md): **AnoGAN** on whole images
(DCGAN, `patch_size: 0`, 500 mapping steps under `paper`); **Deep-Geo** (GEOM: 72
transformations, a Wide-ResNet classifier, the Dirichlet normality score); **Deep-IF** (pooled
ImageNet features + scikit-learn's IsolationForest: the paper's Inception-ResNet-v2 is not
obtainable, the packaged ImageNet **EfficientNet-Lite0** stands in, in every profile); **SPADE**
(kNN image score over K = 50 nearest training images on pooled features, K capped by the
training set; the paper's Wide-ResNet-50 where torchvision's weights exist (`paper`), the
packaged EfficientNet-Lite0 otherwise).
""" + PROTOCOL),
        ("params", _params(stem)),
        ("code", _setup(stem, "t1", "datasets=DATASETS, options=DATASET_OPTIONS,\n"
                        "                                     mdfsc=MDFSC_CONFIG, "
                        "baselines=BASELINES, seeds=SEEDS") + '''
methods = mdfsc.t1_methods(BASELINES, MDFSC_CONFIG)
evaluations = mdfsc.run_table(recorder, methods, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                              dataset_options=DATASET_OPTIONS, device=DEVICE)'''),
        ("code", FLOORS_CELL),
        ("code", TABLE_CELL),
        ("code", f'''mdfsc.metric_bars(recorder.frame(), list(mdfsc.T1_METHODS),
                  path=figures / "{stem}_auroc.png");'''),
        ("code", f'''mdfsc.score_histograms(evaluations, list(mdfsc.T1_METHODS),
                       path=figures / "{stem}_scores.png");'''),
        ("code", _curves(stem)),
        ("code", "recorder.write()"),
    ]


def t2() -> list[tuple[str, str]]:
    stem = "mdfsc_t2_features"
    return [
        ("md", """
# MDFSC Table 2: autoencoder features vs ImageNet features (and Fig. 3's maps)

Reproduces **Table 2** (§4.4, "Importance of training on medical datasets"): MDFSC on the
features of its trained autoencoder (`full`, the same model as Table 1's MDFSC row, shared
through the model cache) against the same pipeline on ImageNet features
(`imagenet_features`: no autoencoder training; taps, patches, dictionaries and score as
`full`). The paper's ImageNet network is **VGG16**; its torchvision weights are not obtainable
on this machine, so under `default` (and `smoke`) the row runs on the packaged ImageNet
**EfficientNet-Lite0** through the same formula (`IMAGENET_BACKBONE: efficientnet_lite0`: the
stride-8 stage end of the image, the stride-4 one of the image /2, the stride-2 one of the
image /4, all at 1/8 of the input: 40 + 24 + 16 = 80 channels, each a linear MBConv projection,
i.e. before any activation, as VGG's taps are taken before ReLU). `paper` sets `vgg16` and
stops at the start without its weights. Note that here the autoencoder's encoder starts from
random weights (no ImageNet VGG16), whereas the paper's presumably started from ImageNet
("transfer learning"), so `full` vs `imagenet_features` also compares random-init vs ImageNet
starting points.

**Figure (Fig. 3 with maps).** For the first normal and anomalous test images of each dataset
(by index, no choice by score), the patch-residual map of each row (residuals of the feature
patches summed over channels, averaged where patches overlap, on a shared colour scale per
row and dataset) and the image's anomaly score (L_A: autoencoder features, L_I: ImageNet
features). At `default`'s 160 px a single 16×16 patch covers the whole feature map, so each
map is uniform: its colour is the image's residual; the 512 px of `paper` gives 23×23
overlapping patches.
""" + PROTOCOL),
        ("params", _params(stem)),
        ("code", _setup(stem, "t2", "datasets=DATASETS, options=DATASET_OPTIONS,\n"
                        "                                     mdfsc=MDFSC_CONFIG, "
                        "variants=VARIANTS,\n"
                        "                                     imagenet=IMAGENET_BACKBONE, "
                        "seeds=SEEDS") + '''
methods = mdfsc.variant_specs("t2", MDFSC_CONFIG, VARIANTS, IMAGENET_BACKBONE)
evaluations = mdfsc.run_table(recorder, methods, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                              dataset_options=DATASET_OPTIONS, device=DEVICE)'''),
        ("code", FLOORS_CELL),
        ("code", TABLE_CELL),
        ("code", f'''mdfsc.metric_bars(recorder.frame(), VARIANTS,
                  path=figures / "{stem}_auroc.png");'''),
        ("code", f'''mdfsc.residual_map_figure(evaluations, DATASETS, VARIANTS,
                          per_class=FIGURE_PER_CLASS,
                          path=figures / "{stem}_residual_maps.png");'''),
        ("code", f'''mdfsc.score_histograms(evaluations, VARIANTS,
                       path=figures / "{stem}_scores.png");'''),
        ("code", _curves(stem)),
        ("code", "recorder.write()"),
    ]


def t3() -> list[tuple[str, str]]:
    stem = "mdfsc_t3_recon_loss"
    return [
        ("md", """
# MDFSC Table 3: MDFSC vs the autoencoder's reconstruction loss

Reproduces **Table 3** (§4.4, "Comparison with anomaly detection using reconstruction loss"):
MDFSC (`full`, the same model as Table 1's MDFSC row, shared through the model cache) against
an autoencoder **with its linear layers removed** (`ae_recon_loss`: the same VGG16 encoder and
mirrored decoder, fully convolutional, trained the same way on random 64×64 crops with the
same step budget), scored by the mean squared reconstruction error of the test image. The
paper does not say whether it scored crops or whole images: here the whole (resized) image
goes through the fully convolutional network.
""" + PROTOCOL),
        ("params", _params(stem)),
        ("code", _setup(stem, "t3", "datasets=DATASETS, options=DATASET_OPTIONS,\n"
                        "                                     mdfsc=MDFSC_CONFIG, "
                        "variants=VARIANTS, seeds=SEEDS") + '''
methods = mdfsc.variant_specs("t3", MDFSC_CONFIG, VARIANTS)
evaluations = mdfsc.run_table(recorder, methods, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                              dataset_options=DATASET_OPTIONS, device=DEVICE)'''),
        ("code", FLOORS_CELL),
        ("code", TABLE_CELL),
        ("code", f'''mdfsc.metric_bars(recorder.frame(), VARIANTS,
                  path=figures / "{stem}_auroc.png");'''),
        ("code", f'''mdfsc.score_histograms(evaluations, VARIANTS,
                       path=figures / "{stem}_scores.png");'''),
        ("code", _curves(stem)),
        ("code", "recorder.write()"),
    ]


if __name__ == "__main__":
    for name, cells in (("mdfsc_t1_sota", t1()), ("mdfsc_t2_features", t2()),
                        ("mdfsc_t3_recon_loss", t3())):
        print(build(cells, ROOT / "notebooks" / f"{name}.ipynb"))
