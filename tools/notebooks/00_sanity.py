"""Source of notebooks/00_sanity.ipynb: ``python tools/notebooks/00_sanity.py``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from nbbuild import build  # noqa: E402

CELLS = [
    ("md", """
# Sanity check: does every method find an obvious anomaly?

Not a table of the five papers. Every method registered in `reprolib.methods` (those added later
included) is trained, at the size the table notebooks' `default` profile gives it, on the normal
training images of a phantom, then tested on a **sanity set** (`reprolib.data.sanity`) built
from the phantom's normal test images only: half of them (seeded) get a square of side
`max(4, round(img_size * 5/32))` px (10 px at 64 px, 20 px at 128 px) pasted at a seeded
random place, its pixels set to 255 (`saturate`) or to 255 − value (`invert`), with its mask;
those are the anomalous images, the other half stay normal. The training split is the
phantom's own, so the models are the ones the tables use when their sizes agree (model cache).

**Protocol.** Threshold-free metrics only: image AUROC and AP; pixel AUROC and AUPR where the
method returns anomaly maps; each with a stratified bootstrap 95 % interval (1,000 resamples).
A method that works scores an image AUROC of at least 0.9 here; one that does not is named in
the README with the reason found. `epochs`, `steps` and `converged` (the rule of
`reprolib.convergence`) are shown beside each row. Rows: paper `reference`, table `sanity`.
"""),
    ("params", """
PROFILE = "default"
DATA_ROOT = None
RESULTS_DIR = None
DEVICE = "auto"
SEED = 0
DATASET = "phantom_cxr"
DATASET_OPTIONS = {"n_train": 150, "n_test": 300}
MODE = "saturate"
METHODS = []  # empty: every registered method
FALLBACK = {}  # size of a method SIZES does not list; empty: sanity.FALLBACK_CONFIG
SKIP = {}  # method -> why it is not run here (listed in the table with its reason)
SIZES = {
    "ae": {"img_size": 64, "epochs": 8},
    "vae": {"img_size": 64, "epochs": 8},
    "ganomaly": {"img_size": 64, "epochs": 4, "max_width": 256},
    "f_anogan": {"img_size": 64, "epochs": 3, "encoder_epochs": 3, "dim": 16},
    "salad": {"img_size": 64, "epochs": 4, "max_width": 256},
    "stfpm": {"img_size": 64, "epochs": 8},
    "mkd": {"img_size": 64, "epochs": 8},
    "rd4ad": {"img_size": 64, "epochs": 8, "backbone": "resnet18"},
    "hetero_ae": {"img_size": 64, "epochs": 8, "batch_size": 16, "lr": 0.0001},
    "conv_ae": {"img_size": 64, "epochs": 10},
    "dcgan": {"img_size": 64, "widths": [16, 32, 64, 128], "epochs": 8, "batch_size": 64},
    "p_d": {"img_size": 64, "widths": [16, 32, 64, 128], "epochs": 8, "batch_size": 64},
    "anogan": {"img_size": 64, "widths": [16, 32, 64, 128], "epochs": 8, "batch_size": 64,
               "map_steps": 100, "lam": 0.1, "map_lr": 0.01, "map_batch_size": 256},
    "gan_r": {"img_size": 64, "widths": [16, 32, 64, 128], "epochs": 8, "batch_size": 64,
              "map_steps": 100, "lam": 0.1, "map_lr": 0.01, "map_batch_size": 256},
    "acae": {"img_size": 64, "widths": [16, 32, 64, 128], "epochs": 8, "batch_size": 64,
             "rec_weight": 100.0, "lam": 0.1},
}
"""),
    ("code", """
from reprolib import experiment
from reprolib.papers import sanity
from reprolib.params import check_parameters
from reprolib.paths import figures_dir
from reprolib.results import ResultRecorder

check_parameters(globals(), notebook="00_sanity")
specs = sanity.method_specs(SIZES, METHODS, FALLBACK, SKIP)
recorder = ResultRecorder(paper="reference", table="sanity", notebook="00_sanity",
                          profile=PROFILE, results=RESULTS_DIR,
                          params_hash=experiment.params_hash(
                              dataset=DATASET, options=DATASET_OPTIONS, mode=MODE,
                              specs=[(s.method, s.config) for s in specs], seed=SEED))
[(s.method, s.config) for s in specs]
"""),
    ("code", """
evaluations = sanity.run(recorder, specs, DATASET, dataset_options=DATASET_OPTIONS, mode=MODE,
                         seed=SEED, root=DATA_ROOT, device=DEVICE)
sanity.examples(evaluations, path=figures_dir(PROFILE, RESULTS_DIR) / "00_sanity_examples.png");
"""),
    ("md", "## Image and pixel AUROC on the sanity set (95 % bootstrap intervals)"),
    ("code", "sanity.table(recorder.frame(), SKIP)"),
    ("code", """
sanity.figure(recorder.frame(), path=figures_dir(PROFILE, RESULTS_DIR) / "00_sanity_auroc.png");
"""),
    ("code", "recorder.write()"),
]

if __name__ == "__main__":
    print(build(CELLS, ROOT / "notebooks" / "00_sanity.ipynb"))
