"""Chest X-ray phantom (PA view, grayscale): stands in for Kermany's chest X-rays and the
COVID-19 image set (Hetero-AE §IV-A).

Anatomy: body outline with shoulders, two lung fields bounded by the diaphragm domes and the
mediastinum, heart shadow, spine, posterior and anterior ribs, clavicles, vascular markings
fading from the hila. Pathology with exact masks: lobar consolidation ("bacteria"), patchy
bronchopneumonia ("virus"), and COVID-like bilateral peripheral ground-glass ("covid").
"""

from __future__ import annotations

import cv2
import numpy as np

from reprolib.data.phantoms.common import (
    Rng,
    acquisition,
    band,
    blob,
    difficulty_factors,
    grid,
    mask_of,
    smooth_noise,
    smoothstep,
    soft_ellipse,
    to_uint8,
)

KINDS: tuple[str, ...] = ("normal", "bacteria", "virus", "covid")


def _anatomy(rng: Rng, size: int) -> dict[str, np.ndarray]:
    yy, xx = grid(size)
    cx = float(rng.normal(0.0, 0.03))
    sc = float(rng.uniform(0.92, 1.05))
    tilt = float(rng.normal(0.0, 0.03))
    xx = xx + tilt * yy
    u = np.abs(xx - cx)
    # body: thorax ellipse + shoulders + neck; arms cut off at the sides
    body = np.maximum(soft_ellipse(yy, xx, 0.15, cx, 1.25 * sc, 0.9 * sc, edge=0.1),
                      soft_ellipse(yy, xx, -1.0, cx, 0.35, 0.2, edge=0.05))
    # diaphragm domes (image left = patient right, a little higher)
    dome_l = 0.6 * sc + 0.02 - 0.2 * (1 - ((xx - cx + 0.36 * sc) / (0.42 * sc)) ** 2)
    dome_r = 0.6 * sc + 0.06 - 0.18 * (1 - ((xx - cx - 0.36 * sc) / (0.42 * sc)) ** 2)
    dome = np.where(xx < cx, dome_l, dome_r)
    above_dome = smoothstep((dome - yy) / 0.04 + 0.5)
    heart = soft_ellipse(yy, xx, 0.28 * sc, cx + 0.12 * sc, 0.22 * sc,
                         float(rng.uniform(0.22, 0.3)) * sc, angle=-0.35, edge=0.05)
    mediastinum = smoothstep((0.11 * sc - u) / 0.04 + 0.5) * smoothstep((yy + 0.9) / 0.1)
    lungs = []
    for side in (-1.0, 1.0):
        lung = soft_ellipse(yy, xx, 0.0, cx + side * 0.4 * sc, 0.8 * sc, 0.3 * sc,
                            angle=side * 0.1, edge=0.05)
        lungs.append(lung * above_dome * (1 - mediastinum) * (1 - 0.95 * heart))
    lung = np.clip(lungs[0] + lungs[1], 0, 1)
    # ribs: posterior (brighter, curving laterally down) and anterior (fainter)
    ribs = np.zeros_like(yy)
    rib_gap = 0.135 * sc
    fade = smoothstep((dome + 0.1 - yy) / 0.15)
    for k in range(10):
        y0 = -0.78 * sc + k * rib_gap + float(rng.normal(0, 0.008))
        curve = y0 - 0.08 * u + 0.55 * u ** 2
        ribs += band(yy - curve, 0.028 * sc) * smoothstep((0.85 * sc - u) / 0.1) * fade
        ant = y0 + 0.32 * sc - 0.35 * (u - 0.1)
        ribs += 0.45 * band(yy - ant, 0.022 * sc) * smoothstep((u - 0.12) / 0.1) * \
            smoothstep((0.75 * sc - u) / 0.1)
    clav = np.zeros_like(yy)
    for side in (-1.0, 1.0):
        x0, y0, x1, y1 = cx + side * 0.07, -0.68 * sc, cx + side * 0.58 * sc, -0.8 * sc
        t = np.clip(((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) /
                    ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
        dist = np.hypot(xx - (x0 + t * (x1 - x0)), yy - (y0 + t * (y1 - y0)))
        clav += band(dist, 0.03 * sc)
    spine = smoothstep((0.06 * sc - u) / 0.02 + 0.5) * (
        0.8 + 0.2 * np.cos(yy / rib_gap * 2 * np.pi) ** 2)
    hila = sum(np.exp(-((yy + 0.05) ** 2 + (xx - cx - s * 0.16 * sc) ** 2) / 0.09)
               for s in (-1.0, 1.0))
    markings = np.maximum(smooth_noise(rng, (size, size), cells=16, octaves=2), 0) * (
        0.3 + 0.7 * hila)
    return {"yy": yy, "xx": xx, "cx": np.float32(cx), "sc": np.float32(sc), "body": body,
            "lung": lung, "lung_l": lungs[0], "lung_r": lungs[1], "heart": heart,
            "mediastinum": mediastinum, "below": (1 - above_dome) * body, "ribs": ribs,
            "clav": clav, "spine": spine, "markings": markings}


def _render(rng: Rng, a: dict[str, np.ndarray], opacity: np.ndarray) -> np.ndarray:
    size = a["yy"].shape[0]
    tissue = 0.5 + 0.04 * smooth_noise(rng, (size, size), cells=3, octaves=2)
    img = 0.06 + a["body"] * (tissue - 0.06)
    img = img - a["lung"] * float(rng.uniform(0.26, 0.34))
    img = img + 0.1 * a["below"] + 0.05 * a["heart"] * (1 - a["lung"]) + 0.06 * a[
        "mediastinum"] * a["body"] + 0.05 * a["spine"] * a["body"]
    img = img + a["body"] * (0.075 * a["ribs"] + 0.12 * a["clav"])
    img = img + 0.05 * a["lung"] * a["markings"]
    img = img + opacity
    return img.astype(np.float32)


def _lobar(rng: Rng, a: dict[str, np.ndarray], contrast: float, size_f: float) -> np.ndarray:
    side = "lung_l" if rng.random() < 0.5 else "lung_r"
    lung = a[side]
    ys, xs = np.nonzero(lung > 0.9)
    i = rng.integers(len(ys))
    n = lung.shape[0]
    cy, cx = a["yy"][ys[i], xs[i]], a["xx"][ys[i], xs[i]]
    r = float(rng.uniform(0.12, 0.22)) * size_f
    field = blob(rng, a["yy"], a["xx"], cy, cx, r, irregularity=0.35,
                 aspect=float(rng.uniform(0.7, 1.4)), angle=float(rng.uniform(0, np.pi)),
                 edge=0.06)
    texture = 0.75 + 0.25 * smooth_noise(rng, (n, n), cells=12, octaves=2)
    return field * lung * texture * 0.22 * contrast


def _patchy(rng: Rng, a: dict[str, np.ndarray], contrast: float, size_f: float,
            count_f: float) -> np.ndarray:
    ys, xs = np.nonzero(a["lung"] > 0.9)
    field = np.zeros_like(a["yy"])
    for _ in range(max(2, int(round(rng.integers(3, 8) * count_f)))):
        i = rng.integers(len(ys))
        r = float(rng.uniform(0.04, 0.09)) * size_f
        field = np.maximum(field, blob(rng, a["yy"], a["xx"], a["yy"][ys[i], xs[i]],
                                       a["xx"][ys[i], xs[i]], r, irregularity=0.45, edge=0.035))
    n = field.shape[0]
    texture = 0.7 + 0.3 * smooth_noise(rng, (n, n), cells=20, octaves=2)
    return field * a["lung"] * texture * 0.16 * contrast


def _ground_glass(rng: Rng, a: dict[str, np.ndarray], contrast: float, size_f: float
                  ) -> np.ndarray:
    """Bilateral, peripheral, lower-zone predominant hazy opacities (COVID-19 pattern)."""
    n = a["yy"].shape[0]
    binary = (a["lung"] > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 3) / n * 2.0
    peripheral = np.exp(-dist / (0.09 * size_f)) * binary
    lower = smoothstep((a["yy"] + 0.35) / 0.5)
    patches = smoothstep((smooth_noise(rng, (n, n), cells=5, octaves=2) + 0.4) / 0.8)
    field = peripheral * (0.35 + 0.65 * lower) * patches
    return field * 0.17 * contrast


def generate(rng: Rng, kind: str, size: int = 256, difficulty: float = 0.5
             ) -> tuple[np.ndarray, np.ndarray]:
    """One chest X-ray (uint8, size x size) and its lesion mask (uint8 {0,1})."""
    if kind not in KINDS:
        raise ValueError(f"cxr phantom: kind must be one of {KINDS}, got {kind!r}")
    contrast, size_f, count_f = difficulty_factors(difficulty)
    work = max(64, size // 2)  # smooth anatomy is drawn at half size, then upsampled
    a = _anatomy(rng, work)
    opacity = np.zeros_like(a["yy"])
    if kind == "bacteria":
        opacity = _lobar(rng, a, contrast, size_f)
    elif kind == "virus":
        opacity = _patchy(rng, a, contrast, size_f, count_f)
    elif kind == "covid":
        opacity = _ground_glass(rng, a, contrast, size_f)
    img = _render(rng, a, np.zeros_like(opacity))
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    opacity = np.clip(cv2.resize(opacity, (size, size), interpolation=cv2.INTER_LINEAR), 0, None)
    peak = float(opacity.max())
    mask = mask_of(opacity, 0.35 * peak) if peak > 0 else np.zeros((size, size), np.uint8)
    img = acquisition(rng, img + opacity, gain_sd=0.1, gamma_sd=0.15, noise_sd=0.012, blur=0.6)
    return to_uint8(img), mask
