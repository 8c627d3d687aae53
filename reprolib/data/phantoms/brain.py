"""Brain MRI phantom (axial slice, grayscale): stands in for the Kaggle Brain Tumor MRI set
(Hetero-AE §IV-A, ProxyAno §IV-B).

Anatomy: scalp, skull, CSF rim, folded cortex (grey matter ribbon with sulci), white matter,
lateral ventricles, interhemispheric fissure, deep grey nuclei; T1-, T2- or FLAIR-like contrast
drawn per image; bias field and noise. Tumours with exact masks (tumour + oedema) and mass
effect (the anatomy is pushed away from the lesion): ``glioma`` (intra-axial, irregular,
necrotic core, large oedema), ``meningioma`` (extra-axial, round, near the skull),
``pituitary`` (small, midline, anterior).
"""

from __future__ import annotations

import cv2
import numpy as np

from reprolib.data.phantoms.common import (
    Rng,
    acquisition,
    blob,
    difficulty_factors,
    grid,
    smooth_noise,
    smoothstep,
    soft_ellipse,
    to_uint8,
)

KINDS: tuple[str, ...] = ("notumor", "glioma", "meningioma", "pituitary")

#: tissue intensities per contrast: background, scalp, skull, csf, grey, white, tumour, oedema
CONTRASTS: dict[str, dict[str, float]] = {
    "t1": {"scalp": 0.85, "skull": 0.06, "csf": 0.12, "gm": 0.5, "wm": 0.68, "tumour": 0.4,
           "oedema": 0.45, "core": 0.2},
    "t2": {"scalp": 0.55, "skull": 0.05, "csf": 0.92, "gm": 0.5, "wm": 0.36, "tumour": 0.72,
           "oedema": 0.68, "core": 0.9},
    "flair": {"scalp": 0.6, "skull": 0.05, "csf": 0.1, "gm": 0.5, "wm": 0.38, "tumour": 0.78,
              "oedema": 0.75, "core": 0.35},
}


def _tumour_site(rng: Rng, kind: str, ry: float, rx: float) -> tuple[float, float]:
    if kind == "glioma":
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.6)
    elif kind == "meningioma":
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0.72, 0.82)
    else:
        return float(rng.uniform(-0.55, -0.4)) * ry, float(rng.normal(0, 0.02))
    return float(np.sin(ang) * rad * ry), float(np.cos(ang) * rad * rx)


def generate(rng: Rng, kind: str, size: int = 256, difficulty: float = 0.5
             ) -> tuple[np.ndarray, np.ndarray]:
    """One axial brain slice (uint8, size x size) and its tumour mask (uint8 {0,1})."""
    if kind not in KINDS:
        raise ValueError(f"brain phantom: kind must be one of {KINDS}, got {kind!r}")
    contrast_f, size_f, _ = difficulty_factors(difficulty)
    work = max(64, size // 2)
    yy, xx = grid(work)
    tissue = CONTRASTS[str(rng.choice(["t1", "t2", "flair"], p=[0.4, 0.4, 0.2]))]
    ang = float(rng.normal(0, 0.1))
    c, s = np.cos(ang), np.sin(ang)
    cy, cx = float(rng.normal(0.02, 0.03)), float(rng.normal(0, 0.03))
    yy, xx = c * (yy - cy) - s * (xx - cx), s * (yy - cy) + c * (xx - cx)
    ry, rx = float(rng.uniform(0.8, 0.9)), float(rng.uniform(0.64, 0.74))
    # mass effect: sample the anatomy nearer the tumour centre (pushes structures outwards)
    lesion = np.zeros_like(yy)
    oedema = np.zeros_like(yy)
    core = np.zeros_like(yy)
    if kind != "notumor":
        ty, tx = _tumour_site(rng, kind, ry, rx)
        radius = {"glioma": (0.09, 0.17), "meningioma": (0.08, 0.14),
                  "pituitary": (0.05, 0.08)}[kind]
        r = float(rng.uniform(*radius)) * size_f
        push = {"glioma": 0.45, "meningioma": 0.55, "pituitary": 0.2}[kind]
        g = np.exp(-((yy - ty) ** 2 + (xx - tx) ** 2) / (2 * (1.6 * r) ** 2))
        yy, xx = yy - push * (yy - ty) * g, xx - push * (xx - tx) * g
        irr = {"glioma": 0.45, "meningioma": 0.12, "pituitary": 0.1}[kind]
        lesion = blob(rng, yy, xx, ty, tx, r * (1 - push * 0.6), irregularity=irr, edge=0.02,
                      aspect=float(rng.uniform(0.8, 1.25)), angle=float(rng.uniform(0, 3.14)))
        if kind == "glioma":
            core = blob(rng, yy, xx, ty, tx, 0.45 * r, irregularity=0.5, edge=0.02) * lesion
            oedema = blob(rng, yy, xx, ty, tx, r * float(rng.uniform(1.5, 2.1)),
                          irregularity=0.6, edge=0.04)
        elif kind == "meningioma":
            oedema = blob(rng, yy, xx, ty, tx, r * 1.3, irregularity=0.3, edge=0.03) * 0.6
    head = soft_ellipse(yy, xx, 0, 0, ry, rx, edge=0.015)
    skull_in = soft_ellipse(yy, xx, 0, 0, ry - 0.05, rx - 0.05, edge=0.012)
    brain_out = soft_ellipse(yy, xx, 0, 0, ry - 0.09, rx - 0.09, edge=0.012)
    d = np.sqrt((xx / (rx - 0.09)) ** 2 + (yy / (ry - 0.09)) ** 2)
    theta = np.arctan2(yy, xx)
    wobble = 0.6 * smooth_noise(rng, (work, work), cells=6, octaves=2)
    folds = np.sin(float(rng.integers(16, 22)) * theta + 2.5 * wobble)
    wm_edge = 0.8 + 0.06 * folds
    wm = smoothstep((wm_edge - d) / 0.03 + 0.5) * brain_out
    sulci = smoothstep((np.abs(folds) - 0.9) / 0.08) * smoothstep((d - 0.78) / 0.05) * brain_out
    fissure = smoothstep((0.012 - np.abs(xx)) / 0.006 + 0.5) * np.maximum(
        smoothstep((-yy - 0.35) / 0.05), smoothstep((yy - 0.55) / 0.05)) * brain_out
    vy, vr = float(rng.uniform(0.2, 0.3)), float(rng.uniform(0.035, 0.07))
    ventricles = np.maximum(
        blob(rng, yy, xx, -0.05, -0.09, vy, aspect=vr / vy, angle=-0.25,
             irregularity=0.1, edge=0.015),
        blob(rng, yy, xx, -0.05, 0.09, vy, aspect=vr / vy, angle=0.25,
             irregularity=0.1, edge=0.015))
    deep_gm = np.maximum(soft_ellipse(yy, xx, 0.1, -0.22, 0.12, 0.07, edge=0.04),
                         soft_ellipse(yy, xx, 0.1, 0.22, 0.12, 0.07, edge=0.04))
    csf = np.clip(np.maximum.reduce([sulci, fissure, ventricles, skull_in * (1 - brain_out)]),
                  0, 1)
    img = head * tissue["scalp"]
    img = img * (1 - skull_in) + skull_in * tissue["skull"] * (1 - brain_out)
    brain = tissue["gm"] + (tissue["wm"] - tissue["gm"]) * wm * (1 - 0.7 * deep_gm)
    img = img + brain_out * brain
    img = img * (1 - csf) + csf * tissue["csf"]
    if kind != "notumor":
        strength = min(1.0, 0.55 + 0.3 * contrast_f)
        oed = np.clip(oedema - lesion, 0, 1) * brain_out
        img = img + strength * oed * (tissue["oedema"] - img)
        tum = tissue["tumour"] + (tissue["core"] - tissue["tumour"]) * core
        img = img + strength * lesion * (tum - img)
    img = img * (1 + 0.03 * smooth_noise(rng, (work, work), cells=10, octaves=2) * brain_out)
    bias = 1 + 0.12 * smooth_noise(rng, (work, work), cells=2, octaves=1)
    img = cv2.resize((img * bias).astype(np.float32), (size, size),
                     interpolation=cv2.INTER_CUBIC)
    field = cv2.resize(np.maximum(lesion, np.clip(oedema, 0, 1) * (kind == "glioma")).astype(
        np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    mask = (field >= 0.5).astype(np.uint8)
    img = acquisition(rng, img, gain_sd=0.1, gamma_sd=0.15, noise_sd=0.02)
    return to_uint8(img), mask
