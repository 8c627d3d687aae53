"""Source of the seven ProxyAno notebooks and their ``default`` params:
``python tools/notebooks/proxyano.py`` writes ``notebooks/proxyano_*.ipynb`` and
``params/proxyano_*/default.yaml`` (the parameters cell and default.yaml come from the same
values below, so they agree). ``smoke``, ``paper`` and ``real-cpu`` params are written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nbbuild import assignments, build  # noqa: E402

# --- default sizes (shared by the seven notebooks: equal configs = one trained model) --------

IMG = 64
#: ProxyAno-family rows (ProxyAno, its ablations, the AE with its encoder/decoder): half the
#: widths of our reading of Fig. 5 (32-256) and batch 8, to fit the CPU budget.
BASE_CONFIG = {"img_size": IMG, "widths": [16, 32, 64, 128], "d_width": 8, "steps": 100,
               "batch_size": 8}
N = {"n_train": 150, "n_test": 300}
DATASET_OPTIONS = {"phantom_brain": dict(N), "phantom_oct": dict(N),
                   "phantom_idrid": {"protocol": "proxyano", "n_train": 20, "n_test": 30}}
DATASET_CONFIGS = {"phantom_idrid": {"in_channels": 3}}
STEPS = {"steps": 100, "batch_size": 8}
#: The GAN baselines at 500 steps: at 100 their losses still fell 8-32 % over the last tenth; at
#: 500 (one thread, phantom_oct, 19-41 CPU s each) each meets the convergence rule.
GAN_STEPS = {"steps": 500, "batch_size": 8}
BASELINES = [
    {"method": "memae", "config": {"img_size": IMG, "widths": [16, 32, 64, 128], **STEPS}},
    {"method": "anogan", "config": {"img_size": IMG, "widths": [16, 32, 64, 128], **GAN_STEPS,
                                    "map_steps": 100, "lam": 0.1, "map_lr": 0.01,
                                    "map_batch_size": 256}},
    {"method": "ganomaly", "config": {"img_size": IMG, "base_width": 16, "max_width": 64,
                                      **GAN_STEPS}},
    {"method": "sparse_gan", "config": {"img_size": IMG, "widths": [16, 32, 64, 128],
                                        "ndf": 16, **GAN_STEPS}},
    {"method": "pix2pix", "config": {"img_size": IMG, "ngf": 16, "ndf": 16, **GAN_STEPS}},
    {"method": "cyclegan", "config": {"img_size": IMG, "proxy": "si", "ngf": 8, "ndf": 8,
                                      "n_blocks": 3, **STEPS}},
]
FLOORS = [
    {"method": "mean_intensity", "config": {"img_size": IMG}, "variant": "reference_floor"},
    {"method": "knn_pixels", "config": {"img_size": IMG}, "variant": "reference_floor"},
    {"method": "pca_recon", "config": {"img_size": IMG, "n_components": 20},
     "variant": "reference_floor"},
    {"method": "knn_features", "config": {"img_size": 224, "k": 5},
     "variant": "reference_floor_features"},
    {"method": "padim", "config": {"img_size": 224}, "variant": "reference_floor_features"},
]
COMMON = {"PROFILE": "default", "DATA_ROOT": None, "RESULTS_DIR": None, "DEVICE": "auto",
          "SEEDS": [0], "FLOORS": FLOORS}


def _sub(options: dict, names: list[str]) -> dict:
    return {k: v for k, v in options.items() if k in names}


PARAMS: dict[str, dict] = {
    "proxyano_t1_sota": {
        **COMMON, "DATASETS": ["phantom_brain", "phantom_oct", "phantom_idrid"],
        "DATASET_OPTIONS": DATASET_OPTIONS, "DATASET_CONFIGS": DATASET_CONFIGS,
        "DATA_VARIANTS": [{}], "BASE_CONFIG": BASE_CONFIG,
        "METHODS": ["encdec", *BASELINES[:2], *BASELINES[2:], "proxyano"],
        "QUALITATIVE_DATASET": "phantom_idrid", "QUALITATIVE_N": 4},
    "proxyano_t2_score_gap": {
        **COMMON, "DATASETS": ["phantom_oct"],
        "DATASET_OPTIONS": _sub(DATASET_OPTIONS, ["phantom_oct"]),
        "BASE_CONFIG": BASE_CONFIG,
        "METHODS": [b for b in BASELINES if b["method"] in ("f_anogan", "ganomaly", "sparse_gan")]},
    "proxyano_t3_proxy_selection": {
        **COMMON, "DATASETS": ["phantom_oct"],
        "DATASET_OPTIONS": _sub(DATASET_OPTIONS, ["phantom_oct"]), "BASE_CONFIG": BASE_CONFIG,
        "VARIANTS": ["encdec", "edge", "smooth", "smooth_patches", "edge_smooth",
                     "edge_smooth_patches", "si"]},
    "proxyano_t4_ablation": {
        **COMMON, "DATASETS": ["phantom_oct"],
        "DATASET_OPTIONS": _sub(DATASET_OPTIONS, ["phantom_oct"]), "BASE_CONFIG": BASE_CONFIG,
        "VARIANTS": ["encdec", "encdec_memae", "encdec_mem", "si", "si_mem", "si_rep",
                     "si_mem_rep", "full"]},
    "proxyano_t5_score_space": {
        **COMMON, "DATASETS": ["phantom_brain", "phantom_oct"],
        "DATASET_OPTIONS": _sub(DATASET_OPTIONS, ["phantom_brain", "phantom_oct"]),
        "DATA_VARIANTS": [{}], "BASE_CONFIG": BASE_CONFIG},
    "proxyano_f11_memory_size": {
        **COMMON, "DATASETS": ["phantom_oct"],
        "DATASET_OPTIONS": _sub(DATASET_OPTIONS, ["phantom_oct"]), "BASE_CONFIG": BASE_CONFIG,
        "MEMORY_SIZES": [0, 128, 2048]},
    "proxyano_f12_repair_weights": {
        **COMMON, "DATASETS": ["phantom_oct"],
        "DATASET_OPTIONS": _sub(DATASET_OPTIONS, ["phantom_oct"]), "BASE_CONFIG": BASE_CONFIG,
        "W_GLOBAL": [0.0, 0.25, 1.0], "W_LOCAL": [0.0, 0.5, 1.0]},
}

#: The comment heading each default.yaml (what was measured to size it).
DEFAULT_NOTE = """\
# GENERATED by tools/notebooks/proxyano.py (edit there; the notebook's parameters cell is
# generated from the same values). Phantom stand-ins (phantom_brain -> brain MRI, phantom_oct ->
# OCT2017, phantom_idrid 3x3 crops -> IDRiD), 64 px instead of 256, one seed, lengths in
# optimiser steps. Every ProxyAno-family row uses BASE_CONFIG, so the models shared by the
# seven notebooks (ProxyAno, its EncDec = Table I's AE, the ablation rows on the OCT phantom)
# train once (model cache).
{note}
"""

NOTES = {
    "proxyano_t1_sota": """\
# Table I: nine methods x three phantoms. f-AnoGAN is not in `default`: one WGAN-GP critic step
# takes seconds on this CPU (heteroae_t1_sota's params), so a converging run does not fit the
# 45-minute budget of `make reproduce`; it runs under `paper`. Baselines at batch 8 with their
# widths reduced (listed): the GANs (AnoGAN, GANomaly, Sparse-GAN, pix2pix) at 500 steps, where
# each meets the convergence rule on phantom_oct (at 100 their losses still fell 8-32 % per
# tenth); MemAE and CycleGAN at 100 (MemAE's loss still falls 9 % per tenth at 1000 steps: a
# power law the budget cannot outrun). CycleGAN between images and ProxyAno's SI (`proxy: si`)
# at ngf = ndf = 8, 3 blocks (at 16 it cost ~1 CPU s per step: 100 s per dataset).
# Measured (one thread, niced, on the shared 2-core machine): {measured}""",
    "proxyano_t2_score_gap": """\
# Table II on the OCT phantom: the models of Table I (same configs), scores divided by the mean
# score of the normal validation images (the paper does not say how it scaled its scores).""",
    "proxyano_t3_proxy_selection": """\
# Table III on the OCT phantom: the EncDec (= Table I's AE) and six proxies without memory or
# repairing loss (the SI row = Table IV row 4); image-space score.""",
    "proxyano_t4_ablation": """\
# Table IV on the OCT phantom; rows 7 and 8 are Table I's ProxyAno scored in the image and the
# latent space; row 1 is Table I's AE, row 4 Table III's SI row.""",
    "proxyano_t5_score_space": """\
# Table V: Table I's ProxyAno on the brain and OCT phantoms, scored in both spaces.""",
    "proxyano_f11_memory_size": """\
# Fig. 11 on the OCT phantom: k = 128 is Table I's model; 2 more trainings here (the paper's
# grid under `paper`).""",
    "proxyano_f12_repair_weights": """\
# Fig. 12 on the OCT phantom: (0.25, 0.5) is Table I's model; 4 more trainings here (the
# paper-profile grid is 5 x 5 values).""",
}

PROTOCOL_MD = """
**Protocol (all ProxyAno notebooks; §III-IV of the paper, docs/proxyano.md).** Training uses
normal training images only; the last step is kept (no model selection on test labels).
ProxyAno: proxy extraction module (encoder-decoder, memory of k = 128 items of d = 64, nearest
item by L2, EMA γ = 0.99, straight-through gradient) trained first with L2 to the SLIC
superpixel image (800 segments at 256 px, scaled with the area: 50 at 64 px; computed once per
dataset and cached), then the image reconstruction module with the first frozen: L2 +
0.01 × adversarial on the predicted proxy, plus the repairing losses (global 0.25, local 0.5)
on pseudo-abnormal proxies (a random-size patch of the image pasted onto its predicted proxy).
Adam 1e-3. Image score in the latent space (Eq. 13, ‖Enc_p(I) − Enc_p(Î)‖_F) or in the image
space (‖I − Î‖_F); pixel map |I − Î| (channel mean) on [0, 1] intensities.

**Reading of the paper (deviations; docs/proxyano.md).** Fig. 5's encoder/decoder is read as
4 stride-2 conv stages (32-64-128-256) + 1×1 conv to d = 64 and the mirror; SLIC compactness
0.1 on grey [0, 1] images (10 on Lab); ‖·‖² as each image's squared norm (`l2: sum`); one
DCGAN discriminator; PAPC patch sides uniform in [1/8, 1/2] of the side, pasted onto the
predicted proxy. The score space is chosen after training from the same model
(`Scores.extra`), so that rows that differ only in it share one model. The AE of Table I is
ProxyAno's EncDec trained image → image with L2 ("the same encoder and decoder as our
method", §IV-A3) and scored by its reconstruction error (image space). Baselines: registered
methods (docs/baselines_proxyano.md; Sparse-GAN is a re-implementation from its paper, no code
being public); CycleGAN translates image ↔ SI (`proxy: si`) and scores image → SI → image.

**Thresholds.** AUROC is threshold-free and carries a stratified bootstrap 95 % interval.
Image ACC/F1: the paper does not say how it thresholded; rows are given at the best-F1
threshold on the test set (`best_f1`, uses test labels) and at the 95th percentile of
normal validation scores (`normal_val`, no test labels). Pixel ACC/F1 (fundus): at the
paper's fixed threshold 0.5 on |I − Î| in [0, 1] units (`given`): maps of methods on [−1, 1]
images are halved, MemAE's squared-error maps square-rooted (`proxyano.pixel_units`); no
normalisation over the test set.

**Profiles.** `smoke`: a few phantom images, a few steps (CI only). `default`: phantom
stand-ins (`phantom_brain` → brain MRI, `phantom_oct` → OCT2017, `phantom_idrid` 3×3 crops →
IDRiD, with lesion masks), 64 px instead of 256, 150 training normals and 300 test images per
image-level phantom, far shorter training (steps in the parameters; `converged` says whether
the loss met the convergence rule), one seed; models shared across the seven notebooks
through the model cache. `paper`: the real datasets, 256 px, the paper's settings, 5 seeds
(a GPU job). `real-cpu` (Tables I and V): the real brain tumour MRI from `../shared/data` at
64 px, with and without test images that near-duplicate a training image (`image_level_dedup`)
and per tumour class (`image_level:glioma`...).
"""

HEAD = """
from reprolib import experiment
from reprolib.papers import proxyano
from reprolib.params import check_parameters
from reprolib.paths import figures_dir
from reprolib.results import ResultRecorder

check_parameters(globals(), notebook="{stem}")
NOTEBOOK = "{stem}"
params_hash = experiment.params_hash(**{{k: v for k, v in globals().items()
                                        if k.isupper() and k not in ("PROFILE", "DATA_ROOT",
                                                                     "RESULTS_DIR", "DEVICE",
                                                                     "NOTEBOOK")}})
recorder = ResultRecorder(paper="proxyano", table="{table}", notebook=NOTEBOOK,
                          profile=PROFILE, results=RESULTS_DIR, params_hash=params_hash)
figures = figures_dir(PROFILE, RESULTS_DIR)
"""

FLOORS_CELL = """
floor_run = proxyano.run_floors(recorder, FLOORS, DATASETS, root=DATA_ROOT,
                                dataset_options=DATASET_OPTIONS,
                                device=DEVICE{variants})
"""

CURVES = """
from reprolib import plots

plots.learning_curves(run.evaluations,
                      path=figures / "{stem}_learning_curves.png");
"""

WRITE = "recorder.write()"


def _cells(stem: str, values: dict) -> list[tuple[str, str]]:
    table = stem.split("_")[1]
    head = HEAD.format(stem=stem, table=table)
    variants = ", data_variants=DATA_VARIANTS" if "DATA_VARIANTS" in values else ""
    floors = FLOORS_CELL.format(variants=variants)
    curves = CURVES.format(stem=stem)
    md = TITLES[stem] + "\n" + PROTOCOL_MD
    body = BODIES[stem]
    return [("md", md), ("params", assignments(values, width=96)), ("code", head + body[0]),
            ("code", floors), *[("code", b) for b in body[1:]], ("code", curves),
            ("code", WRITE)]


TITLES = {
    "proxyano_t1_sota": """
# ProxyAno Table I and Fig. 7: comparison with the state of the art

Reproduces **Table I** of Zhou et al., *Proxy-bridged Image Reconstruction Network for Anomaly
Detection in Medical Images* (TMI 2022): image-level AUC, ACC and F1 on brain MRI and retinal
OCT and pixel-level AUC, ACC and F1 on retinal fundus (IDRiD crops) of Auto-Encoder, MemAE,
AnoGAN, f-AnoGAN, GANomaly, Sparse-GAN, pix2pix, CycleGAN and ProxyAno, and a qualitative
figure as the paper's **Fig. 7** (image, superpixel image, predicted SI, reconstruction, error
map, ground truth on lesion crops of the fundus set). The paper's numbers are beside ours in
`99_comparison`.
""",
    "proxyano_t2_score_gap": """
# ProxyAno Table II: average anomaly scores of normal and abnormal images and their gap

Reproduces **Table II**: on retinal OCT, the mean anomaly score of the normal and of the
abnormal test images and their gap for Auto-Encoder, f-AnoGAN, GANomaly, Sparse-GAN, "Our SI
approach" (SI between two plain encoder-decoders: no memory, no repairing loss) and the final
ProxyAno. Scores by Eq. 13 (latent space) for the AE (ProxyAno's encoder) and ProxyAno; the
baselines' own scores (GANomaly's and Sparse-GAN's are latent, f-AnoGAN's is its izi_f score).
**Scale**: the paper does not say how its scores were scaled (its values lie in 0.43-1.01);
here each row's scores are divided by the mean score of its normal validation images
(held-out training normals, no test label), so 1 = a typical normal image and the gaps of
different methods are in comparable units. The models are Table I's (model cache).
""",
    "proxyano_t3_proxy_selection": """
# ProxyAno Table III: selection of the proxy

Reproduces **Table III**: AUC on retinal OCT of the two-module network with six proxies —
Canny edges, Gaussian-blurred image, block-mean image ("image with smooth patches"), edges ⊕
each of the last two (concatenated channels), the superpixel image — and without proxy (the
Auto-Encoder). As the table's SI row equals Table IV's "2×EncDec + SI", the proxy rows have no
memory and no repairing loss and are scored in the image space (‖I − Î‖_F). Proxy sizes (not
given in the paper): Canny σ 1, Gaussian σ 3 px and 8-px blocks at 256 px, scaled with the
side (docs/proxyano.md).
""",
    "proxyano_t4_ablation": """
# ProxyAno Table IV: ablation of memory, SI proxy, repairing loss and latent score

Reproduces **Table IV** on retinal OCT: EncDec (the Auto-Encoder), EncDec + MemAE's memory
(mem*), EncDec + ProxyAno's memory, 2×EncDec + SI, + mem, + rep, + mem + rep (rows 1-7, image
-space score), and the final model (+ lat, latent score, Eq. 13). Row 2 uses MemAE's memory
(`reprolib.blocks.memae_memory`: cosine addressing, hard shrinkage, entropy loss 0.0002 with a
per-pixel MSE) at ProxyAno's size (k = 128, d = 64). Rows 7 and 8 are one model scored twice.
""",
    "proxyano_t5_score_space": """
# ProxyAno Table V: anomaly score in the image space vs in the latent feature space

Reproduces **Table V**: AUC of the final ProxyAno on brain MRI and retinal OCT with the score
computed in the image space (‖I − Î‖_F) and in the latent feature space (Eq. 13,
‖Enc_p(I) − Enc_p(Î)‖_F). One model per dataset (Table I's), scored both ways.
""",
    "proxyano_f11_memory_size": """
# ProxyAno Fig. 11: memory size

Reproduces **Fig. 11**: AUC on retinal OCT of ProxyAno against the size k of the proxy
extraction module's memory, and without memory (the text: k = 2048 gives 0.837, no memory
0.828, k = 128 is best). The paper's figure does not say which score it uses: the final model
(latent score) is varied here; the dataset is not stated either (OCT assumed, as the other
ablations). At 64 px the latent map is 4 × 4, so 150 training images give 2,160 latent vectors
per epoch: k = 2048 is near one item per training vector.
""",
    "proxyano_f12_repair_weights": """
# ProxyAno Fig. 12: repairing-loss weights

Reproduces **Fig. 12**: AUC of ProxyAno on retinal OCT when λ_global varies with λ_local
fixed at 0.5, and when λ_local varies with λ_global fixed at 0.25 (§IV-G2; the paper gives no
numbers in the text and not the grid: ours is listed in the parameters). Latent score.
""",
}

BODIES: dict[str, list[str]] = {
    "proxyano_t1_sota": ["""
rows = proxyano.t1_rows(METHODS, BASE_CONFIG)
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, dataset_configs=DATASET_CONFIGS,
                        device=DEVICE, data_variants=DATA_VARIANTS)
""", """
print("Image ACC/F1 at the best-F1 threshold on the test set; pixel ACC/F1 at 0.5 (given):")
proxyano.results_table(recorder.frame(), policy="best_f1")
""", """
print("Image ACC/F1 at the 95th percentile of normal validation scores (no test labels):")
proxyano.results_table(recorder.frame(), policy="normal_val")
""", """
proxyano.auroc_bars(recorder.frame(), [r.name for r in rows], labels=proxyano.ROW_LABELS,
                    title="Table I: image AUROC",
                    path=figures / "proxyano_t1_auroc.png");
""", """
ev = run.find(QUALITATIVE_DATASET, "proxyano", seed=SEEDS[0]) if QUALITATIVE_DATASET else None
if ev is not None:
    proxyano.qualitative_figure(ev, n=QUALITATIVE_N, path=figures / "proxyano_f7_fundus.png")
"""],
    "proxyano_t2_score_gap": ["""
rows = proxyano.t2_rows(proxyano.t1_rows(METHODS, BASE_CONFIG), BASE_CONFIG)
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, device=DEVICE,
                        transform=proxyano.t2_transform, record_score="t2")
""", """
print("Mean normalised score (1 = mean of the normal validation images) and gap:")
proxyano.score_gap_table(recorder.frame()).round(3)
"""],
    "proxyano_t3_proxy_selection": ["""
rows = proxyano.table_rows("t3", BASE_CONFIG, VARIANTS)
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, device=DEVICE)
""", """
proxyano.auroc_table(recorder.frame(), VARIANTS)
""", """
proxyano.auroc_bars(recorder.frame(), VARIANTS, title="Table III: proxies (image-space score)",
                    path=figures / "proxyano_t3_auroc.png");
"""],
    "proxyano_t4_ablation": ["""
rows = proxyano.table_rows("t4", BASE_CONFIG, VARIANTS)
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, device=DEVICE)
""", """
proxyano.auroc_table(recorder.frame(), VARIANTS)
""", """
proxyano.auroc_bars(recorder.frame(), VARIANTS, title="Table IV: ablation",
                    path=figures / "proxyano_t4_auroc.png");
"""],
    "proxyano_t5_score_space": ["""
rows = [proxyano.variant_row("full", BASE_CONFIG, score="image_space",
                             result_variant="image_space"),
        proxyano.variant_row("full", BASE_CONFIG, score="latent",
                             result_variant="latent_space")]
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, device=DEVICE,
                        data_variants=DATA_VARIANTS)
""", """
proxyano.auroc_table(recorder.frame(), ["image_space", "latent_space"])
""", """
proxyano.auroc_bars(recorder.frame(), ["image_space", "latent_space"],
                    title="Table V: score space", path=figures / "proxyano_t5_auroc.png");
"""],
    "proxyano_f11_memory_size": ["""
rows = proxyano.memory_rows(MEMORY_SIZES, BASE_CONFIG)
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, device=DEVICE)
""", """
proxyano.auroc_table(recorder.frame(), [r.spec.variant for r in rows])
""", """
proxyano.memory_size_figure(recorder.frame(), MEMORY_SIZES,
                            path=figures / "proxyano_f11_memory_size.png");
"""],
    "proxyano_f12_repair_weights": ["""
rows = proxyano.repair_rows(W_GLOBAL, W_LOCAL, BASE_CONFIG)
run = proxyano.run_rows(recorder, rows, DATASETS, seeds=SEEDS, root=DATA_ROOT,
                        dataset_options=DATASET_OPTIONS, device=DEVICE)
""", """
proxyano.auroc_table(recorder.frame(), [r.spec.variant for r in rows])
""", """
proxyano.repair_weights_figure(recorder.frame(), W_GLOBAL, W_LOCAL,
                               path=figures / "proxyano_f12_repair_weights.png");
"""],
}


#: Measured CPU seconds (filled in from the default run; see the closing report).
MEASURED = """ProxyAno at BASE_CONFIG on the OCT phantom:
# fit 20.6 CPU s (100 + 100 steps), scoring 300 images 1.8 CPU s. Notebooks' CPU (user + sys)
# from an empty model cache, in the order t1 (partial), t3, t4, f11: t3 180 s, t4 135 s, f11
# 103 s; t1 ~600 s with CycleGAN at ngf 16 (its 2 x 100 CPU s replaced by ~2 x 25 at ngf 8).
# The seven together are ~20 CPU min, twice the 10-minute target: nine methods x three
# phantoms and the 224-px feature floors dominate (see the report of the helper session)."""


def main() -> None:
    for stem, values in PARAMS.items():
        build(_cells(stem, values), ROOT / "notebooks" / f"{stem}.ipynb")
        directory = ROOT / "params" / stem
        directory.mkdir(parents=True, exist_ok=True)
        body = {k: v for k, v in values.items() if k != "PROFILE"}
        text = DEFAULT_NOTE.format(note=NOTES[stem].format(measured=MEASURED)) + yaml.safe_dump(
            body, sort_keys=False, default_flow_style=None, width=96)
        (directory / "default.yaml").write_text(text)


if __name__ == "__main__":
    main()
