"""Source of the four ReSynthDetect notebooks (``notebooks/resynthdetect_t*.ipynb``):
``python tools/notebooks/resynthdetect.py``. Each parameters cell is written from the
notebook's ``params/<stem>/default.yaml``, so the two always agree."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nbbuild import assignments, build  # noqa: E402

COMMON_HEAD = {"PROFILE": "default", "DATA_ROOT": None, "RESULTS_DIR": None, "DEVICE": "auto",
               "SEEDS": [0]}


def params_cell(stem: str) -> str:
    values = {**COMMON_HEAD, **(yaml.safe_load((ROOT / "params" / stem / "default.yaml")
                                               .read_text()) or {})}
    return assignments(values)


PROTOCOL = """
**Protocol (all four ReSynthDetect notebooks, §4.1).** Every method is trained on normal
training images only and the last step is kept (no model selection on test labels; the paper
names none). CLAHE (OpenCV, clip limit 2, 8×8 tiles) is applied to every image of every method
(the data option `clahe`, the paper's preprocessing). EyeQ (Table 1, the EyeQ column of Tables
3-4): DR grade 0 normal, grades 1-4 anomalous, only "good" quality images; a model is trained
once and scored once; the 0-vs-k columns are the normal test images against grade k only, the
0-vs-all column against grades 1-4; threshold-free image AUROC with a stratified bootstrap
95 % interval. IDRiD (Table 2, the IDRiD columns): 32 normal + 81 lesion-annotated test images
in the paper; pixel AUROC and AUPR over all test pixels (bootstrap intervals over images) and
the pixel balanced accuracy (ACC) at the pixel Youden threshold, which maximises balanced
accuracy on the test masks (the paper does not say how it cut; rows labelled `youden`).
ReSynthDetect (`docs/resynthdetect.md`): stage-1 autoencoder (L2), frozen; stage-2 U-Net with
the autoencoder's encoder features concatenated at every level, focal loss (γ = 2) on the
consistent anomaly generator's synthetic lesions; image score = mean of the 10 highest pixel
probabilities. Baselines: `docs/baselines_resynthdetect.md` (ReSAD is a re-implementation from
its abstract; the others follow their official code).

**Data here.** EyeQ and IDRiD cannot be downloaded on this machine: under `default` the
EyeQ-like and IDRiD-like fundus phantoms (`reprolib.data`, lesions MA/HE/EX/SE whose number
grows with the DR grade, in the real datasets' file layouts, read by the real loaders) stand
in. `paper` reads the real datasets at the paper's 768 px.

**Rows.** Paper `resynthdetect`, protocols `eyeq_0_vs_k`, `eyeq_0_vs_all`, `idrid_pixel`:
`99_comparison` puts them beside the paper's numbers. The label-free reference floors
(`FLOORS`: mean intensity, k-NN on pixels, PCA reconstruction, and under `default` k-NN and
PaDiM on ImageNet EfficientNet-Lite0 features) run on the same data: a method not above them
does no better than a trivial baseline.
"""

DEFAULT_NOTE = """
**Deviations under `default`** (all said in `params/<stem>/default.yaml`): 64 px instead of
768; 150 EyeQ-like normal training images (135 train + 15 validation) instead of 6,324 and 300
"good" test images with EyeQ's grade mix (about 221 / 21 / 45 / 7 / 6 of grades 0-4: the 0-vs-3
and 0-vs-4 columns rest on a handful of images, see their intervals) instead of 8,470; the
IDRiD-like set has the paper's 134 training and 32 + 81 test images; training lengths in
optimiser steps (a few hundred) instead of hundreds of epochs; ReSynthDetect's networks
narrower (base width 8) and its learning rate 2e-3 → 2e-4 instead of 5e-5 → 2.5e-5 (at a few
hundred steps the paper's rate does not move the network); the baselines narrower and shorter
too; one seed. Tables 3-4 run on the IDRiD-like phantom only (the full model's EyeQ-phantom
AUROC is at chance at 64 px: the EyeQ column would add noise and 4-5 trainings; `paper` has
it). f-AnoGAN (Tables 1-2)
runs only under `paper`: one WGAN-GP critic step takes ~3.4 s here. DTD is not available: the
"texture" source is procedural (fractal Perlin noise, warped gratings, checkerboards).
"""


def _notebook(stem: str, title: str, intro: str, cells: list[tuple[str, str]]) -> Path:
    head = [("md", f"# {title}\n\n{intro.strip()}\n{PROTOCOL}\n{DEFAULT_NOTE}"),
            ("params", params_cell(stem))]
    return build(head + cells, ROOT / "notebooks" / f"{stem}.ipynb")


def _setup(stem: str, table: str, hashed: str) -> str:
    return f"""
from reprolib import experiment, plots
from reprolib.papers import resynthdetect as rsd
from reprolib.params import check_parameters
from reprolib.paths import figures_dir
from reprolib.results import ResultRecorder

check_parameters(globals(), notebook="{stem}")
NOTEBOOK = "{stem}"
params_hash = experiment.params_hash(
    {hashed},
    seeds=SEEDS)
recorder = ResultRecorder(paper=rsd.PAPER, table="{table}", notebook=NOTEBOOK, profile=PROFILE,
                          results=RESULTS_DIR, params_hash=params_hash)
figures = figures_dir(PROFILE, RESULTS_DIR)
"""


HASH_T12 = "dataset=DATASET, options=DATASET_OPTIONS, methods=METHODS,\n    floors=FLOORS"
HASH_T34 = ("eyeq=(EYEQ_DATASET, EYEQ_OPTIONS), idrid=(IDRID_DATASET, IDRID_OPTIONS),\n"
            "    base=BASE_CONFIG, variants=VARIANTS, floors=FLOORS")

LEARNING = """
plots.learning_curves(evaluations, path=figures / f"{NOTEBOOK}_learning_curves.png");
"""

T1 = [
    ("code", _setup("resynthdetect_t1_eyeq", "t1",
                    HASH_T12)),
    ("code", """
evaluations = rsd.run_eyeq(recorder, METHODS, DATASET, seeds=SEEDS, options=DATASET_OPTIONS,
                           root=DATA_ROOT, device=DEVICE)
floor_evaluations = rsd.run_floors(recorder, FLOORS, DATASET, level="eyeq",
                                   options=DATASET_OPTIONS, root=DATA_ROOT, device=DEVICE)
print("test images per grade:", evaluations[0].test.counts())
"""),
    ("md", "## Table 1: image-level AUROC on EyeQ [bootstrap 95 % interval]\n\n"
           "Ours (the phantom standing in), then the paper's numbers."),
    ("code", """
print("weights:", sorted(set(recorder.frame()["weights"])))
rsd.table1(recorder.frame(), DATASET_OPTIONS)
"""),
    ("code", 'rsd.paper_table("t1")'),
    ("code", LEARNING),
    ("code", "recorder.write()"),
]

T2 = [
    ("code", _setup("resynthdetect_t2_idrid", "t2",
                    HASH_T12)),
    ("code", """
evaluations = rsd.run_idrid(recorder, METHODS, DATASET, seeds=SEEDS, options=DATASET_OPTIONS,
                            root=DATA_ROOT, device=DEVICE)
floor_evaluations = rsd.run_floors(recorder, FLOORS, DATASET, level="idrid",
                                   options=DATASET_OPTIONS, root=DATA_ROOT, device=DEVICE)
print("test images:", evaluations[0].test.counts())
"""),
    ("md", "## Table 2: pixel-level results on IDRiD [bootstrap 95 % interval]\n\n"
           "ACC is the pixel balanced accuracy at the pixel Youden threshold (test masks)."),
    ("code", """
print("weights:", sorted(set(recorder.frame()["weights"])))
rsd.table2(recorder.frame(), DATASET_OPTIONS)
"""),
    ("code", 'rsd.paper_table("t2")'),
    ("md", "## Fig. 4: lesion localisation\n\nThe first lesion test images by index (no "
           "choice by score); each method's map cut at its own pixel Youden threshold."),
    ("code", """
rsd.localisation_figure(evaluations, FIG_METHODS, n=FIG_IMAGES,
                        path=figures / "resynthdetect_f4_localisation.png");
"""),
    ("code", LEARNING),
    ("code", "recorder.write()"),
]


def _ablation(stem: str, table: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        ("code", _setup(stem, table, HASH_T34)),
        ("code", f"""
methods = rsd.variant_specs("{table}", BASE_CONFIG, VARIANTS)
evaluations = rsd.run_idrid(recorder, methods, IDRID_DATASET, seeds=SEEDS,
                            options=IDRID_OPTIONS, root=DATA_ROOT, device=DEVICE)
if EYEQ_DATASET:
    evaluations += rsd.run_eyeq(recorder, methods, EYEQ_DATASET, seeds=SEEDS,
                                options=EYEQ_OPTIONS, root=DATA_ROOT, device=DEVICE)
floor_evaluations = rsd.run_floors(recorder, FLOORS, IDRID_DATASET, level="idrid",
                                   options=IDRID_OPTIONS, root=DATA_ROOT, device=DEVICE)
if EYEQ_DATASET:
    floor_evaluations += rsd.run_floors(recorder, FLOORS, EYEQ_DATASET, level="eyeq",
                                        options=EYEQ_OPTIONS, root=DATA_ROOT, device=DEVICE)
"""),
        ("md", f"## Table {table[1]}: ours [bootstrap 95 % interval], then the paper's"),
        ("code", """
rsd.ablation_table(recorder.frame(), VARIANTS, eyeq_options=EYEQ_OPTIONS,
                   idrid_options=IDRID_OPTIONS)
"""),
        ("code", f'rsd.paper_table("{table}")'),
        ("code", f"""
rsd.ablation_bars(recorder.frame(), VARIANTS, eyeq_options=EYEQ_OPTIONS,
                  idrid_options=IDRID_OPTIONS, path=figures / "resynthdetect_{table}_bars.png");
"""),
        *extra,
        ("code", LEARNING),
        ("code", "recorder.write()"),
    ]


T4_FIGURE = [
    ("md", "## Fig. 3: synthetic anomalies of each generator setting\n\n"
           "Source, target, mask and result on the IDRiD-like training images (as the method "
           "loads them: size, CLAHE); Table 4's rows top to bottom."),
    ("code", """
rsd.synthetic_anomalies_figure(IDRID_DATASET, BASE_CONFIG, options=IDRID_OPTIONS,
                               variants=VARIANTS, n=FIG_SAMPLES, root=DATA_ROOT,
                               path=figures / "resynthdetect_f3_synthetic_anomalies.png");
"""),
]

NOTEBOOKS = {
    "resynthdetect_t1_eyeq": (
        "ReSynthDetect Table 1: image-level anomaly detection on EyeQ",
        """Reproduces **Table 1** of Niu et al., *ReSynthDetect* (BMVC 2023): image-level AUROC
of f-AnoGAN, MKD, DRAEM, Lesion2Void and ReSynthDetect on EyeQ, DR grade 0 against each of
grades 1-4 and against all of them.""", T1),
    "resynthdetect_t2_idrid": (
        "ReSynthDetect Table 2 and Fig. 4: pixel-level lesion localisation on IDRiD",
        """Reproduces **Table 2** (pixel AUROC, balanced accuracy, AUPR of f-AnoGAN, MemAE,
WDMT-Net ("WNet"), DRAEM, ReSAD and ReSynthDetect on IDRiD) and **Fig. 4** (lesion localisation
maps: true positives, false positives, missed lesions).""", T2),
    "resynthdetect_t3_architecture": (
        "ReSynthDetect Table 3: architecture and concatenation type",
        """Reproduces **Table 3**: the reconstruction network alone (reconstruction error), the
localisation network alone, localisation + randomly initialised reconstruction features,
localisation + the reconstructed image (DRAEM-style), and the full model (localisation +
trained reconstruction features), on IDRiD (pixel level) and EyeQ (0 vs all). All rows are
`resynthdetect` with config switches (`reprolib.papers.resynthdetect.VARIANTS`); `full` is
Tables 1-2's model (model cache).""", _ablation("resynthdetect_t3_architecture", "t3", [])),
    "resynthdetect_t4_anomaly_generation": (
        "ReSynthDetect Table 4 and Fig. 3: anomaly generation",
        """Reproduces **Table 4**: the anomaly generator with a texture source instead of fundus
images (DRAEM's DTD; procedural textures here), without the Perlin mask P (a rectangle),
without self-mix (no distance-transform fade, W = 1), and the full generator, on IDRiD (pixel
level) and EyeQ (0 vs all); and **Fig. 3**'s synthetic anomalies (source, target, mask,
result). `full` is Tables 1-2's model (model cache).""",
        _ablation("resynthdetect_t4_anomaly_generation", "t4", T4_FIGURE)),
}


if __name__ == "__main__":
    for stem, (title, intro, cells) in NOTEBOOKS.items():
        print(_notebook(stem, title, intro, cells))
