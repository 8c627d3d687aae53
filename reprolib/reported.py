"""The five papers' own numbers (``results/paper_reported.csv``) and their vocabulary.

Every number of every table of AnoGAN (IPMI 2017), ProxyAno (TMI 2022), Hetero-AE (TIP 2024),
ReSynthDetect (BMVC 2023) and MDFSC (ISBI 2022) is transcribed once into
``results/paper_reported.csv`` with the keys of the results schema (DESIGN §6), so that
:mod:`reprolib.comparison` can put paper and reproduction side by side.

Conventions of the file:

- percentages are stored as fractions in [0, 1] (Hetero-AE prints percent); scores as printed;
- ``± x`` values are their own rows with metric ``<metric>_std`` (Hetero-AE Table I);
- ablation rows keep the table's own method and name the row in ``variant`` (words in
  :data:`VARIANTS`); the complete model of a component ablation is ``full``;
- model sizes (Hetero-AE Tables II/III) are metrics ``params_m`` (10^6 parameters) and
  ``flops_g`` (10^9 FLOPs) with an empty ``dataset`` and protocol ``model_size``;
- ``threshold_policy`` says how a thresholded metric was cut: ``youden`` (AnoGAN Table 1),
  ``best_f1`` (Hetero-AE Sec. IV-B-2), ``given`` (ProxyAno's fixed 0.5 on the pixel map,
  Sec. IV-D-2), ``unspecified`` (the paper does not say: ProxyAno's image-level ACC/F1,
  ReSynthDetect's pixel balanced accuracy), ``none`` (threshold-free metrics);
- ``source`` names table, row and column as printed.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd

from reprolib.paths import repo_root

REPORTED_COLUMNS: tuple[str, ...] = (
    "paper", "table", "dataset", "protocol", "method", "variant", "metric", "value",
    "threshold_policy", "source",
)
PAPERS: tuple[str, ...] = ("anogan", "proxyano", "heteroae", "resynthdetect", "mdfsc")

#: Metric names of the results schema (docs/contracts.md).
BASE_METRICS: tuple[str, ...] = (
    "auroc", "ap", "f1", "acc", "sen", "spe", "precision", "recall", "pix_auroc", "pix_aupr",
    "pix_bacc", "score_normal", "score_abnormal", "score_gap",
)
#: Names this file adds because a paper's table has them.
EXTRA_METRICS: dict[str, str] = {
    "pix_acc": "pixel accuracy at a fixed threshold (ProxyAno Table I, fundus, threshold 0.5)",
    "pix_f1": "pixel F1 at a fixed threshold (ProxyAno Table I, fundus, threshold 0.5)",
    "params_m": "model parameters in millions (Hetero-AE Tables II, III)",
    "flops_g": "model FLOPs in billions (Hetero-AE Table II)",
}
#: Metrics that belong to a model, not to a dataset (stored with ``dataset == ""``).
MODEL_SIZE_METRICS: frozenset[str] = frozenset({"params_m", "flops_g"})
#: Metrics stored as fractions in [0, 1].
FRACTION_METRICS: frozenset[str] = frozenset(
    {"auroc", "ap", "f1", "acc", "sen", "spe", "precision", "recall", "pix_auroc", "pix_aupr",
     "pix_bacc", "pix_acc", "pix_f1"})
KNOWN_METRICS: frozenset[str] = frozenset(
    set(BASE_METRICS) | set(EXTRA_METRICS) | {f"{m}_std" for m in BASE_METRICS})

THRESHOLD_POLICIES: dict[str, str] = {
    "none": "threshold-free metric",
    "youden": "cut-off at the Youden index of the test ROC (AnoGAN Sec. 3)",
    "best_f1": "threshold of maximal F1 on the test set (Hetero-AE Sec. IV-B-2)",
    "given": "a fixed threshold named by the paper (ProxyAno: 0.5 on the pixel map)",
    "normal_val": "a quantile of normal validation scores (ours; no test labels)",
    "unspecified": "thresholded, but the paper does not say how the threshold was chosen",
}

#: Datasets of the papers' tables, by registry name (docs/contracts.md).
DATASETS: dict[str, str] = {
    "anogan_clinical_oct": "AnoGAN's non-public clinical SD-OCT patches (270 + 20 volumes)",
    "oct2017": "Kermany retinal OCT (OCT2017): NORMAL vs CNV/DME/DRUSEN",
    "kermany_cxr": "Kermany pediatric chest X-ray: NORMAL vs PNEUMONIA",
    "brain_tumor_mri": "Kaggle brain tumor MRI (no tumor vs glioma/meningioma/pituitary); "
                       "ProxyAno's brain MRI set merges Rai et al. [28] and the Kaggle set [59] "
                       "(500 train normals, 500 + 500 test): mapped here to the same name",
    "covid19": "Kaggle COVID-19 image dataset (Cohen et al.): normal vs Covid-19/pneumonia",
    "eyeq": "EyeQ fundus (EyePACS subset)",
    "idrid": "IDRiD fundus",
    "octid": "OCTID: normal vs four retinal diseases",
}

#: Protocol ids used in the file.
PROTOCOLS: dict[str, str] = {
    "oct_patch_fluid": "AnoGAN: 64x64 OCT patches, anomalous if any pixel is annotated fluid",
    "image_level": "normal training images only; image labels normal vs any disease",
    "idrid_pixel_crops": "ProxyAno: IDRiD 134 normal training images, 69 lesion-annotated test "
                         "images, 3x3 crops per image; pixel-level metrics",
    "idrid_pixel": "ReSynthDetect: IDRiD 134 normal training images, 32 normal + 81 lesion "
                   "test images at 768 px; pixel-level metrics over the lesion masks",
    "eyeq_0_vs_1": "EyeQ 'good' quality, DR grade 0 normal vs grade 1",
    "eyeq_0_vs_2": "EyeQ 'good' quality, DR grade 0 normal vs grade 2",
    "eyeq_0_vs_3": "EyeQ 'good' quality, DR grade 0 normal vs grade 3",
    "eyeq_0_vs_4": "EyeQ 'good' quality, DR grade 0 normal vs grade 4",
    "eyeq_0_vs_all": "EyeQ 'good' quality, DR grade 0 normal vs grades 1-4",
    "eyeq_quality": "MDFSC: EyeQ quality 'Good' and 'Usable' normal vs 'Reject' anomalous",
    "model_size": "a property of the model (parameters, FLOPs), not of a dataset",
}

#: Method names in the file with the paper's words (registry-style names).
METHODS: dict[str, str] = {
    "ae": "Auto-Encoder", "vae": "VAE", "ganomaly": "GANomaly", "f_anogan": "f-AnoGAN",
    "salad": "SALAD", "stfpm": "STFPM", "mkd": "MKD", "rd4ad": "RD4AD", "hetero_ae": "Hetero-AE",
    "anogan": "AnoGAN", "gan_r": "GAN_R (reference score of Yeh et al.)",
    "acae": "aCAE (adversarial convolutional autoencoder)",
    "p_d": "P_D (discriminator output on the query)", "memae": "MemAE",
    "sparse_gan": "Sparse-GAN", "pix2pix": "pix2pix", "cyclegan": "Cycle-GAN",
    "proxyano": "ProxyAno", "draem": "DRAEM", "lesion2void": "Lesion2Void",
    "wdmt_net": "WDMT-Net (printed 'WNet' in ReSynthDetect Table 2)", "resad": "ReSAD",
    "resynthdetect": "ReSynthDetect", "mdfsc": "MDFSC", "spade": "SPADE", "deep_if": "Deep-IF",
    "deep_geo": "Deep-Geo",
}

#: Variant vocabulary per (paper, table): short snake name -> the paper's words.
VARIANTS: dict[tuple[str, str], dict[str, str]] = {
    ("proxyano", "t1"): {
        "encdec": "Auto-Encoder [14] (ProxyAno's encoder/decoder without proxy or memory; "
                  "image-space score)",
    },
    ("proxyano", "t2"): {
        "encdec": "Auto-Encoder [14] (ProxyAno's EncDec; Eq. 13 latent-space score)",
        "si": "Our SI approach (SI between two plain encoder-decoders; no memory, no "
              "repairing loss)",
    },
    ("proxyano", "t3"): {
        "encdec": "0: without proxy (Auto-Encoder [14])",
        "edge": "1: edge (Canny)",
        "smooth": "2: smooth image (Gaussian blur)",
        "smooth_patches": "3: image with smooth patches (block means)",
        "edge_smooth": "4: edge ⊕ smooth image",
        "edge_smooth_patches": "5: edge ⊕ image with smooth patches",
        "si": "6: proposed SI (superpixel image; 2×EncDec + SI)",
    },
    ("proxyano", "t4"): {
        "encdec": "1: EncDec (Auto-Encoder [14])",
        "encdec_memae": "2: EncDec + mem* (MemAE [50] memory)",
        "encdec_mem": "3: EncDec + mem (ProxyAno's nearest-item memory)",
        "si": "4: 2×EncDec + SI",
        "si_mem": "5: 2×EncDec + SI + mem",
        "si_rep": "6: 2×EncDec + SI + rep (repairing loss)",
        "si_mem_rep": "7: 2×EncDec + SI + mem + rep",
        "full": "8: 2×EncDec + SI + mem + rep + lat (final; latent-space score)",
    },
    ("proxyano", "t5"): {
        "image_space": "anomaly score ||I - I_hat||_F in image space",
        "latent_space": "anomaly score ||Enc_p(I) - Enc_p(I_hat)||_F in latent space (Eq. 13)",
    },
    ("proxyano", "f11"): {
        "mem_k2048": "Proxy Extraction Module with memory size k = 2048",
        "no_memory": "Encoder-Decoder without memory (baseline of Fig. 11)",
    },
    ("heteroae", "t2"): {
        "resnet_to_resnet": "homogeneous: ResNet encoder, ResNet (CNN) decoder",
        "efficientnet_to_efficientnet": "homogeneous: EfficientNet encoder and decoder",
        "cnntrans_to_cnntrans": "homogeneous: CNN+Trans encoder and decoder",
        "resnet_to_swin": "heterogeneous: ResNet encoder, Swin (Transformer) decoder",
        "resnet_to_pvt": "heterogeneous: ResNet encoder, PVT (Transformer) decoder",
        "resnet_to_cmt": "heterogeneous: ResNet encoder, CMT (hybrid) decoder",
        "full": "heterogeneous: ResNet encoder, our HCTN (hybrid) decoder",
    },
    ("heteroae", "t3"): {
        "cnn_cnn": "decoder CNN+CNN (only CNN blocks)",
        "trans_trans": "decoder Trans+Trans (only Transformer blocks)",
        "full": "decoder CNN+Trans (HCTN)",
    },
    ("heteroae", "t4"): {
        "resnet_pixel": "E-D (ResNet), pixel-wise comparison (no feature comparison)",
        "resnet_feature": "E-D (ResNet), with feature comparison",
        "transformer_pixel": "E-D (Transformer), pixel-wise comparison",
        "transformer_feature": "E-D (Transformer), with feature comparison",
        "hetero_pixel": "our Hetero-AE, pixel-wise comparison",
        "full": "our Hetero-AE, with feature comparison",
    },
    ("resynthdetect", "t3"): {
        "rec_only": "1: trained reconstruction network only (AE reconstruction error as score)",
        "loc_only": "2: localization network only (no reconstruction network)",
        "loc_random_rec_feature": "3: localization network + randomly initialised "
                                  "reconstruction encoder, feature concatenation",
        "loc_rec_image": "4: localization network + trained reconstruction network, "
                         "reconstructed-image concatenation (DRAEM-like)",
        "full": "5: localization network + trained reconstruction network, feature "
                "concatenation (proposed)",
    },
    ("resynthdetect", "t4"): {
        "texture_source": "source image from an external texture set (DTD), Self-Mix, mask P",
        "no_perlin_mask": "fundus source, Self-Mix, no Perlin mask P",
        "no_self_mix": "fundus source, no Self-Mix, Perlin mask P",
        "full": "fundus source, Self-Mix, Perlin mask P (proposed)",
    },
    ("mdfsc", "t2"): {
        "full": "our method: features of the trained autoencoder's encoder",
        "imagenet_features": "features of an ImageNet-trained VGG16",
    },
    ("mdfsc", "t3"): {
        "full": "our method (MDFSC on autoencoder features)",
        "ae_recon_loss": "autoencoder (linear layers removed) reconstruction MSE as score",
    },
}


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """One table (or figure) of a paper and the notebook that reproduces it."""

    paper: str
    table: str
    title: str
    shows: str
    notebook: str
    numbers_in_text: bool = True  # False: a figure whose numbers the text does not give


PAPER_TABLES: dict[tuple[str, str], PaperTable] = {(t.paper, t.table): t for t in [
    PaperTable("anogan", "t1", "Clinical performance statistics at the Youden index",
               "precision, recall, sensitivity, specificity (Youden cut-off) and AUC of aCAE, "
               "P_D, GAN_R and AnoGAN on clinical OCT patches", "anogan_t1_clinical_stats"),
    PaperTable("anogan", "f4", "Anomaly score components (Fig. 4)",
               "ROC curves of A(x), R(x), D(x), D_hat(x) and score distributions; the AUCs are "
               "printed only inside the figure", "anogan_f4_score_components",
               numbers_in_text=False),
    PaperTable("proxyano", "t1", "Comparison with the state of the art",
               "image-level AUC/ACC/F1 on brain MRI and retinal OCT, pixel-level AUC/ACC/F1 "
               "on IDRiD fundus crops, nine methods", "proxyano_t1_sota"),
    PaperTable("proxyano", "t2", "Average anomaly scores and their gap on retinal OCT",
               "mean latent-space score of normal and abnormal images and the gap",
               "proxyano_t2_score_gap"),
    PaperTable("proxyano", "t3", "Selection of the proxy",
               "AUC on retinal OCT for six proxy types and no proxy",
               "proxyano_t3_proxy_selection"),
    PaperTable("proxyano", "t4", "Ablation of memory, SI proxy, repairing loss and latent score",
               "AUC on retinal OCT of eight configurations", "proxyano_t4_ablation"),
    PaperTable("proxyano", "t5", "Image space vs latent feature space for the anomaly score",
               "AUC on brain MRI and retinal OCT", "proxyano_t5_score_space"),
    PaperTable("proxyano", "f11", "Memory size (Fig. 11)",
               "AUC against memory size; the text gives k = 2048 (0.837) and no memory (0.828)",
               "proxyano_f11_memory_size"),
    PaperTable("proxyano", "f12", "Repairing-loss weights (Fig. 12)",
               "AUC against lambda_global / lambda_local; no numbers in the text",
               "proxyano_f12_repair_weights", numbers_in_text=False),
    PaperTable("heteroae", "t1", "Comparison with the state of the art",
               "AUC/F1/ACC/SEN/SPE (best-F1 threshold) of nine methods on retinal OCT, chest "
               "X-ray, brain MRI and COVID-19; Hetero-AE as mean ± std", "heteroae_t1_sota"),
    PaperTable("heteroae", "t2", "Homogeneous vs heterogeneous encoder-decoder",
               "AUC/F1/ACC on chest X-ray and brain MRI, parameters and FLOPs, seven "
               "encoder/decoder pairs", "heteroae_t2_homo_vs_hetero"),
    PaperTable("heteroae", "t3", "Blocks of the hybrid CNN-Transformer decoder",
               "AUC/F1/ACC/SEN/SPE on chest X-ray and brain MRI and parameters of CNN+CNN, "
               "Trans+Trans and CNN+Trans decoders", "heteroae_t3_decoder_blocks"),
    PaperTable("heteroae", "t4", "Feature comparison vs pixel-wise comparison",
               "AUC/F1/ACC/SEN/SPE on chest X-ray and brain MRI of three auto-encoders with and "
               "without feature comparison", "heteroae_t4_feature_comparison"),
    PaperTable("resynthdetect", "t1", "Image-level anomaly detection on EyeQ",
               "AUROC for DR grade 0 vs 1, 2, 3, 4 and all, five methods",
               "resynthdetect_t1_eyeq"),
    PaperTable("resynthdetect", "t2", "Pixel-level anomaly localisation on IDRiD",
               "pixel AUROC, balanced accuracy and AUPR, six methods", "resynthdetect_t2_idrid"),
    PaperTable("resynthdetect", "t3", "Ablation on architecture and concatenation type",
               "IDRiD pixel AUROC/ACC/AUPR and EyeQ 0-vs-all AUROC of five configurations",
               "resynthdetect_t3_architecture"),
    PaperTable("resynthdetect", "t4", "Ablation on anomaly generation",
               "IDRiD pixel AUROC/ACC/AUPR and EyeQ 0-vs-all AUROC of four generators",
               "resynthdetect_t4_anomaly_generation"),
    PaperTable("mdfsc", "t1", "Comparison with the state of the art",
               "AP and AUC of five methods on EyeQ (quality), IDRiD and OCTID", "mdfsc_t1_sota"),
    PaperTable("mdfsc", "t2", "Autoencoder features vs ImageNet features",
               "AP and AUC on EyeQ, IDRiD and OCTID", "mdfsc_t2_features"),
    PaperTable("mdfsc", "t3", "MDFSC vs autoencoder reconstruction loss",
               "AP and AUC on EyeQ, IDRiD and OCTID", "mdfsc_t3_recon_loss"),
]}


class PaperReportedError(ValueError):
    """``paper_reported.csv`` does not follow its schema."""


def reported_path() -> Path:
    """``results/paper_reported.csv`` (in the repository: it is data, not a run output)."""
    return repo_root() / "results" / "paper_reported.csv"


def validate_paper_reported(frame: pd.DataFrame, source: str = "paper_reported") -> pd.DataFrame:
    """Check columns, names and values; return the frame with columns in schema order."""
    missing = [c for c in REPORTED_COLUMNS if c not in frame.columns]
    if missing:
        raise PaperReportedError(f"{source}: missing column '{missing[0]}'; expected columns "
                                 f"{list(REPORTED_COLUMNS)}, found {list(frame.columns)}")
    frame = frame.loc[:, list(REPORTED_COLUMNS)].copy()
    for column, known in [("paper", set(PAPERS)), ("metric", KNOWN_METRICS),
                          ("threshold_policy", set(THRESHOLD_POLICIES)),
                          ("protocol", set(PROTOCOLS))]:
        bad = sorted(set(frame[column].astype(str)) - known)
        if bad:
            raise PaperReportedError(f"{source}: unknown {column} '{bad[0]}'; expected one of "
                                     f"{sorted(known)}")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).all():
        row = int(np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))[0])
        raise PaperReportedError(f"{source}: row {row} has a non-finite value "
                                 f"{frame['value'].iloc[row]!r} (expected a number)")
    frame["value"] = values.astype(float)
    return frame


def load_paper_reported(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every number of the five papers' tables, one row each (see the module docstring)."""
    path = Path(path) if path is not None else reported_path()
    if not path.exists():
        raise FileNotFoundError(f"paper numbers: expected {path} (results/paper_reported.csv "
                                f"of the repository); it is missing")
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    return validate_paper_reported(frame, str(path))


def variant_words(paper: str, table: str, variant: str) -> str:
    """The paper's words for a variant name ('' -> 'as published')."""
    if not variant:
        return ""
    return VARIANTS.get((paper, table), {}).get(variant, variant)


__all__ = [
    "BASE_METRICS", "DATASETS", "EXTRA_METRICS", "FRACTION_METRICS", "KNOWN_METRICS", "METHODS",
    "MODEL_SIZE_METRICS", "PAPERS", "PAPER_TABLES", "PROTOCOLS", "PaperReportedError",
    "PaperTable", "REPORTED_COLUMNS", "THRESHOLD_POLICIES", "VARIANTS", "load_paper_reported",
    "reported_path", "validate_paper_reported", "variant_words",
]
