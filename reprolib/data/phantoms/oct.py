"""Retinal OCT B-scan phantom (grayscale): stands in for Kermany's OCT2017, OCTID and the
clinical OCT of AnoGAN (§3, whose scans are flattened to the RPE).

Layers are stacked upwards from Bruch's membrane per column (RNFL, GCL, IPL, INL, OPL, ONL,
ellipsoid zone, subretinal space, interdigitation zone, RPE, sub-RPE space), following a smooth
curve with a foveal pit; choroid with dark vessels below; multiplicative speckle. Pathologies
with exact masks: intraretinal cysts and hyperreflective foci (DME / DR), drusen (RPE
elevations), CNV (subretinal hyperreflective mass with subretinal fluid), serous detachment
(CSR) and a full-thickness macular hole (MH).
"""

from __future__ import annotations

import cv2
import numpy as np

from reprolib.data.phantoms.common import (
    Rng,
    acquisition,
    difficulty_factors,
    smooth_noise,
    smoothstep,
    speckle,
    to_uint8,
)

KINDS: tuple[str, ...] = ("NORMAL", "DME", "DRUSEN", "CNV", "CSR", "MH", "DR", "AMRD")

# (name, reflectivity, thickness as a fraction of the image height) from Bruch upwards
LAYERS: tuple[tuple[str, float, float], ...] = (
    ("sub_rpe", 0.62, 0.0), ("rpe", 0.95, 0.022), ("iz", 0.42, 0.008), ("fluid", 0.03, 0.0),
    ("ez", 0.78, 0.012), ("onl", 0.2, 0.06), ("opl", 0.58, 0.02), ("inl", 0.3, 0.03),
    ("ipl", 0.6, 0.03), ("gcl", 0.46, 0.035), ("rnfl", 0.82, 0.03))
INDEX = {name: i for i, (name, _, _) in enumerate(LAYERS)}


def _bumps(rng: Rng, xs: np.ndarray, n: int, center: float, spread: float, width: tuple,
           height: tuple) -> np.ndarray:
    out = np.zeros_like(xs)
    for _ in range(n):
        c = center + rng.normal(0, spread)
        w, h = rng.uniform(*width), rng.uniform(*height)
        out = np.maximum(out, h * np.exp(-((xs - c) / w) ** 2))
    return out


def generate(rng: Rng, kind: str, size: int = 256, difficulty: float = 0.5, *,
             flat: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One B-scan (uint8, size x size) and its lesion mask (uint8 {0,1}). ``flat``: the
    retina is flattened to a horizontal Bruch's membrane (AnoGAN's pre-processing)."""
    if kind not in KINDS:
        raise ValueError(f"oct phantom: kind must be one of {KINDS}, got {kind!r}")
    if kind == "AMRD":
        kind = "DRUSEN" if rng.random() < 0.5 else "CNV"
    contrast, size_f, count_f = difficulty_factors(difficulty)
    h = w = size
    xs = np.linspace(-1, 1, w, dtype=np.float32)
    fx = float(rng.normal(0, 0.12))                       # fovea position
    pit = np.exp(-((xs - fx) / rng.uniform(0.16, 0.22)) ** 2)
    if flat:
        bruch = np.full(w, 0.66, np.float32)
    else:
        bruch = (0.62 + rng.uniform(0.0, 0.18) * xs ** 2 + rng.normal(0, 0.05) * xs
                 + 0.015 * np.interp(xs, np.linspace(-1, 1, 6), rng.standard_normal(6))
                 + rng.normal(0, 0.03)).astype(np.float32)
    thick = np.array([t for _, t, in [(n, t) for n, _, t in LAYERS]], np.float32)[:, None] * \
        np.ones((1, w), np.float32) * np.float32(rng.uniform(0.85, 1.15))
    nasal = 1 + 0.4 * np.clip(xs * rng.choice([-1, 1]), 0, 1)
    thick[INDEX["rnfl"]] *= nasal
    for name in ("rnfl", "gcl", "ipl", "inl", "opl"):
        thick[INDEX[name]] *= 1 - 0.92 * pit
    thick[INDEX["onl"]] *= 1 + 0.35 * pit
    cysts: list[tuple[float, float, float, float]] = []
    hole = np.zeros(w, np.float32)
    foci = 0
    if kind == "DRUSEN":
        n = max(1, int(round(rng.integers(2, 6) * count_f)))
        thick[INDEX["sub_rpe"]] = _bumps(rng, xs, n, fx, 0.25, (0.03 * size_f, 0.07 * size_f),
                                         (0.015 * size_f, 0.04 * size_f))
    elif kind in ("CNV", "CSR"):
        width = rng.uniform(0.12, 0.25) * size_f
        dome = np.exp(-((xs - fx - rng.normal(0, 0.05)) / width) ** 2)
        thick[INDEX["fluid"]] = dome * rng.uniform(0.03, 0.07) * size_f * (
            1.6 if kind == "CSR" else 1.0)
        if kind == "CNV":
            thick[INDEX["sub_rpe"]] = 0.6 * _bumps(rng, xs, 1, fx, 0.05, (0.05 * size_f,
                                                                          0.1 * size_f),
                                                   (0.02 * size_f, 0.04 * size_f))
    elif kind in ("DME", "DR"):
        n = max(1, int(round(rng.integers(3, 9) * count_f)))
        for _ in range(n):
            cx = float(fx + rng.normal(0, 0.22))
            cysts.append((cx, float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.02, 0.06) *
                                                                    size_f),
                          float(rng.uniform(0.012, 0.03) * size_f)))
        swell = sum(np.exp(-((xs - c[0]) / (2 * c[2])) ** 2) * c[3] for c in cysts)
        thick[INDEX["onl"]] += 0.6 * swell
        thick[INDEX["inl"]] += 0.6 * swell
        foci = int(rng.integers(3, 10) * count_f) if kind == "DR" or rng.random() < 0.5 else 0
    elif kind == "MH":
        hole = smoothstep((rng.uniform(0.05, 0.1) * size_f - np.abs(xs - fx)) / 0.02)
    bounds = bruch[None] - np.cumsum(thick, axis=0)        # top of each layer, (K, W)
    yy = (np.arange(h, dtype=np.float32) / h)[:, None]
    # a pixel is in layer j (0 = sub-RPE, counted upwards) when bounds[j] <= y < bounds[j-1];
    # ``len(LAYERS)`` is the vitreous above the inner limiting membrane, -1 below Bruch's
    refl = np.array([r for _, r, _ in LAYERS] + [0.0], np.float32)
    below = yy >= bruch[None]
    tops_above = (yy[None] >= bounds[:, None, :]).sum(axis=0)
    layer = np.where(below, -1, len(LAYERS) - tops_above)
    img = np.where(below, 0.0, refl[np.clip(layer, 0, len(LAYERS))]).astype(np.float32)
    # choroid and sclera below Bruch's membrane
    depth = (yy - bruch[None]) / 0.2
    vessels = smoothstep((smooth_noise(rng, (h, w), cells=18, octaves=2) - 0.2) / 0.6)
    choroid = (0.5 - 0.3 * vessels) * np.exp(-np.clip(depth, 0, None) * 2.5)
    img = np.where(below, choroid, img)
    img = img * (1 + 0.12 * smooth_noise(rng, (h, w), cells=24, octaves=1))
    mask = np.zeros((h, w), np.float32)
    if kind == "DRUSEN":
        mask = np.maximum(mask, (layer == INDEX["sub_rpe"]) & (thick[INDEX["sub_rpe"]][None]
                                                               > 2.0 / h))
    if kind in ("CNV", "CSR"):
        mask = np.maximum(mask, (layer == INDEX["fluid"]) & (thick[INDEX["fluid"]][None] > 1.0
                                                             / h))
        if kind == "CNV":
            mass = (layer == INDEX["sub_rpe"]) & (thick[INDEX["sub_rpe"]][None] > 1.5 / h)
            img = np.where(mass, 0.8, img)
            mask = np.maximum(mask, mass)
    if cysts:
        xx = xs[None]
        top, bottom = bounds[INDEX["opl"]][None] - 0.01, bounds[INDEX["onl"] - 1][None]
        for cx, frac, rx, ry in cysts:
            cy = bottom + (top - bottom) * frac
            field = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1.0
            field &= (layer >= INDEX["onl"]) & (layer <= INDEX["ipl"])
            img = np.where(field, 0.05 + 0.05 * (1 - min(contrast, 1.0)), img)
            mask = np.maximum(mask, field)
    for _ in range(foci):
        cx = float(fx + rng.normal(0, 0.3))
        col = int(np.clip((cx + 1) / 2 * (w - 1), 0, w - 1))
        cy = float(rng.uniform(bounds[INDEX["ipl"], col], bounds[INDEX["onl"], col]))
        r = float(rng.uniform(0.006, 0.012)) * size_f
        field = ((xs[None] - cx) / r) ** 2 + ((yy - cy) / r) ** 2 < 1.0
        img = np.where(field, 0.9, img)
        mask = np.maximum(mask, field)
    if kind == "MH":
        ez_top = bounds[INDEX["ez"]][None]
        ilm = bounds[-1][None]
        gone = (hole[None] > 0.5) & (yy >= ilm - 0.02) & (yy < ez_top + 0.002)
        img = np.where(gone, refl[-1], img)
        mask = np.maximum(mask, gone)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.5 * size / 256)
    img = speckle(rng, np.clip(img, 0, None) + 0.01, looks=float(rng.uniform(2.0, 4.0)))
    img = cv2.GaussianBlur(img, (0, 0), 0.7 * size / 256)
    img = np.clip(img, 0, None) ** 0.8
    img = acquisition(rng, img, gain_sd=0.1, gamma_sd=0.12, noise_sd=0.01)
    return to_uint8(img), mask.astype(np.uint8)
