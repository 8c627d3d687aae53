"""Colour fundus photograph phantom (RGB): stands in for EyeQ and IDRiD (ReSynthDetect, MDFSC,
ProxyAno).

Anatomy: circular field of view on black, orange-red background with uneven illumination and
choroidal texture, optic disc with cup, darker macula with foveal reflex, and a vessel tree
grown from the disc (four arcades, branching, tapering, arteries lighter than veins, crossings).
Lesions with one mask per type, as IDRiD: microaneurysms (MA), haemorrhages (HE: dot, blot,
flame), hard exudates (EX, clustered around the macula), soft exudates (SE, cotton-wool spots
near the arcades). The DR grade 0-4 sets which lesions appear and how many. Image quality
"good" / "usable" / "reject" (EyeQ) adds blur, exposure faults and artefacts.
"""

from __future__ import annotations

import cv2
import numpy as np

from reprolib.data.phantoms.common import (
    Rng,
    blob,
    difficulty_factors,
    smooth_noise,
    smoothstep,
    to_uint8,
)

LESIONS: tuple[str, ...] = ("MA", "HE", "EX", "SE")
QUALITIES: tuple[str, ...] = ("good", "usable", "reject")
#: (MA, HE, EX, SE) count ranges per DR grade
GRADE_COUNTS: dict[int, tuple[tuple[int, int], ...]] = {
    0: ((0, 0), (0, 0), (0, 0), (0, 0)),
    1: ((2, 6), (0, 0), (0, 0), (0, 0)),
    2: ((4, 12), (2, 6), (0, 3), (0, 1)),
    3: ((8, 20), (8, 18), (1, 4), (1, 3)),
    4: ((8, 20), (10, 22), (1, 5), (1, 4)),
}


def _grow_vessels(rng: Rng, canvas: np.ndarray, start: tuple[float, float], angle: float,
                  width: float, bend: float, step: float, radius: float,
                  centre: tuple[float, float], depth: int = 0) -> None:
    """Grow one vessel as a tapering polyline with random branches, drawn into ``canvas``."""
    y, x = float(start[0]), float(start[1])   # Python floats: cheap scalar maths and round()
    while width > 0.45:
        angle += bend + rng.normal(0, 0.12)
        ny, nx = y + step * float(np.sin(angle)), x + step * float(np.cos(angle))
        if np.hypot(ny - centre[0], nx - centre[1]) > radius:
            return
        cv2.line(canvas, (round(x * 4), round(y * 4)), (round(nx * 4), round(ny * 4)), 1.0,
                 max(1, round(width * 4)), cv2.LINE_AA, shift=2)
        y, x = ny, nx
        width *= 0.975
        if depth < 4 and rng.random() < 0.09:
            side = (-1.0, 1.0)[int(rng.integers(0, 2))]   # = rng.choice([-1.0, 1.0]), faster
            _grow_vessels(rng, canvas, (y, x), angle + side * rng.uniform(0.5, 1.1),
                          width * 0.7, bend * 0.5 + side * 0.01, step, radius, centre, depth + 1)
            width *= 0.88
            angle -= side * 0.15


def _window(shape: tuple[int, ...], y: float, x: float, reach: float
            ) -> tuple[slice, slice] | None:
    """Slices of the square of half-size ``reach`` around (y, x), clipped to ``shape``."""
    h, w = shape[:2]
    y0, y1 = max(0, int(y - reach)), min(h, int(y + reach) + 2)
    x0, x1 = max(0, int(x - reach)), min(w, int(x + reach) + 2)
    if y0 >= y1 or x0 >= x1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _local_blob(rng: Rng, yy: np.ndarray, xx: np.ndarray, y: float, x: float, radius: float,
                **kw: float) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """A blob computed only in its bounding window (it is exactly 0 outside): the window and
    the values there, or None (drawing nothing) when the window misses the image."""
    reach = radius * 1.6 * max(1.0, float(kw.get("aspect", 1.0))) + 3 * float(kw.get("edge", 1))
    win = _window(yy.shape, y, x, reach)
    if win is None:
        return None
    return win, blob(rng, yy[win], xx[win], y, x, radius, **kw)


def _stamp(rng: Rng, field: np.ndarray, yy: np.ndarray, xx: np.ndarray, y: float, x: float,
           radius: float, scale: float = 1.0, **kw: float) -> None:
    """Draw a blob into ``field`` (in place, max), computing it only in its bounding window."""
    drawn = _local_blob(rng, yy, xx, y, x, radius, **kw)
    if drawn is not None:
        win, local = drawn
        np.maximum(field[win], local * scale, out=field[win])


def _support(field: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of the non-zero pixels of ``field`` (None when it is all zero)."""
    rows, cols = np.flatnonzero(field.any(axis=1)), np.flatnonzero(field.any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _place(rng: Rng, centre: tuple[float, float], radius: float, avoid: tuple[float, float],
           avoid_r: float, near: tuple[float, float] | None = None, spread: float = 0.0
           ) -> tuple[float, float]:
    for _ in range(50):
        if near is not None:
            y, x = near[0] + rng.normal(0, spread), near[1] + rng.normal(0, spread)
        else:
            r, a = radius * np.sqrt(rng.uniform(0, 0.8)), rng.uniform(0, 2 * np.pi)
            y, x = centre[0] + r * np.sin(a), centre[1] + r * np.cos(a)
        if np.hypot(y - centre[0], x - centre[1]) < 0.9 * radius and \
                np.hypot(y - avoid[0], x - avoid[1]) > avoid_r:
            return float(y), float(x)
    return float(centre[0]), float(centre[1])


def generate_layers(rng: Rng, grade: int, size: int = 256, difficulty: float = 0.5, *,
                    quality: str = "good", aspect: float = 1.0
                    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One fundus image (uint8 H x W x 3, W = ``aspect`` * H) and its masks per lesion type
    (MA, HE, EX, SE) plus the optic disc (OD)."""
    if grade not in GRADE_COUNTS:
        raise ValueError(f"fundus phantom: grade must be 0-4, got {grade!r}")
    if quality not in QUALITIES:
        raise ValueError(f"fundus phantom: quality must be one of {QUALITIES}, got {quality!r}")
    contrast, size_f, count_f = difficulty_factors(difficulty)
    h, w = size, int(round(size * aspect))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h / 2 + rng.normal(0, 0.01 * h), w / 2 + rng.normal(0, 0.01 * h)
    radius = 0.47 * h if aspect <= 1.05 else 0.53 * h
    r = np.hypot(yy - cy, xx - cx)
    fov = smoothstep((radius - r) / 1.5)
    side = float(rng.choice([-1.0, 1.0]))                 # right / left eye
    disc = (cy + rng.normal(0, 0.03 * radius), cx + side * 0.4 * radius)
    fovea = (cy + rng.normal(0, 0.03 * radius), cx - side * 0.35 * radius)
    rd = float(rng.uniform(0.11, 0.13)) * radius
    # background: pigment, illumination, choroidal texture
    pigment = np.array([0.82, 0.36, 0.14], np.float32) * rng.uniform(0.8, 1.1, 3).astype(
        np.float32)
    work = (max(32, h // 4), max(32, w // 4))
    illum = 1.0 - 0.35 * (r / radius) ** 2 + cv2.resize(
        0.06 * smooth_noise(rng, work, cells=3, octaves=2), (w, h))
    tex = cv2.resize(smooth_noise(rng, (h // 2, w // 2), cells=24, octaves=2), (w, h))
    img = pigment[None, None] * (illum * (1 + 0.05 * tex))[..., None]
    # macula / fovea
    mac = np.exp(-((yy - fovea[0]) ** 2 + (xx - fovea[1]) ** 2) / (2 * (0.16 * radius) ** 2))
    img *= (1 - mac[..., None] * np.array([0.25, 0.4, 0.45], np.float32))
    reflex = np.exp(-((yy - fovea[0]) ** 2 + (xx - fovea[1]) ** 2) / (2 * (0.012 * radius) ** 2))
    img += 0.12 * reflex[..., None]
    # vessels: arteries and veins, four arcades each
    canvases = {"vein": np.zeros((h, w), np.float32), "artery": np.zeros((h, w), np.float32)}
    step = 0.035 * radius
    for kind, width0 in (("vein", 0.018 * radius), ("artery", 0.013 * radius)):
        for vertical in (-1.0, 1.0):
            temporal = np.arctan2(vertical * 0.9, -side * 0.6)
            _grow_vessels(rng, canvases[kind], (disc[0] + vertical * rd * 0.3, disc[1]),
                          temporal + rng.normal(0, 0.1), width0, -vertical * side * 0.035
                          * -1.0, step, radius, (cy, cx))
            nasal = np.arctan2(vertical * 0.8, side * 0.7)
            _grow_vessels(rng, canvases[kind], (disc[0] + vertical * rd * 0.3, disc[1]),
                          nasal + rng.normal(0, 0.1), width0 * 0.75, 0.0, step, radius,
                          (cy, cx))
    vein = cv2.GaussianBlur(np.clip(canvases["vein"], 0, 1), (0, 0), 0.6)
    artery = cv2.GaussianBlur(np.clip(canvases["artery"], 0, 1), (0, 0), 0.6)
    img *= 1 - 0.55 * vein[..., None] * np.array([0.6, 0.85, 0.8], np.float32)
    img *= 1 - 0.4 * artery[..., None] * np.array([0.35, 0.75, 0.7], np.float32)
    # optic disc with cup (drawn over the vessel origins)
    # (blobs and blends only in their windows: both blobs are exactly 0 outside)
    od_win, od_local = _local_blob(rng, yy, xx, disc[0], disc[1], rd, irregularity=0.05,
                                   aspect=0.9, edge=2.0)
    cup_win, cup_local = _local_blob(rng, yy, xx, disc[0], disc[1] + side * 0.15 * rd,
                                     rd * rng.uniform(0.3, 0.5), irregularity=0.05, edge=3.0)
    # blob() returns float64, so the image is float64 from here on (as when it was blended
    # over the full frame)
    img = img.astype(np.float64)
    od = np.zeros((h, w), np.float64)
    od[od_win] = od_local
    disc_col = np.array([1.0, 0.85, 0.55], np.float32)
    o = od_local[..., None]
    img[od_win] = img[od_win] * (1 - 0.85 * o) + 0.85 * o * disc_col * (
        1 - 0.5 * vein[od_win][..., None])
    img[cup_win] = img[cup_win] + 0.2 * cup_local[..., None] * np.array([0.1, 0.2, 0.25],
                                                                         np.float32)
    # lesions
    fields = {k: np.zeros((h, w), np.float32) for k in LESIONS}
    counts = GRADE_COUNTS[grade]
    opacity = min(1.0, 0.55 * contrast)
    colours = {"MA": (0.42, 0.06, 0.04), "HE": (0.42, 0.05, 0.03), "EX": (0.98, 0.85, 0.35),
               "SE": (0.92, 0.8, 0.66)}
    unit = radius / 120.0
    for li, kind in enumerate(LESIONS):
        lo, hi = counts[li]
        n = int(round(rng.integers(lo, hi + 1) * count_f)) if hi else 0
        if hi and n == 0 and (kind == "MA" or grade >= 3):
            n = 1
        cluster = _place(rng, (cy, cx), radius, disc, 2 * rd, fovea, 0.25 * radius)
        for _ in range(n):
            f = fields[kind]
            if kind == "MA":
                y, x = _place(rng, (cy, cx), radius, disc, 1.5 * rd, fovea, 0.35 * radius)
                _stamp(rng, f, yy, xx, y, x, rng.uniform(1.2, 2.2) * unit * size_f,
                       irregularity=0.05, edge=0.8)
            elif kind == "HE":
                y, x = _place(rng, (cy, cx), radius, disc, 1.5 * rd)
                if rng.random() < 0.35:   # flame: along the nerve fibres (radial from disc)
                    ang = float(np.arctan2(y - disc[0], x - disc[1]))
                    _stamp(rng, f, yy, xx, y, x, rng.uniform(4, 8) * unit * size_f,
                           aspect=3.0, angle=ang, irregularity=0.2, edge=1.5)
                else:                     # dot / blot
                    _stamp(rng, f, yy, xx, y, x, rng.uniform(2.5, 7) * unit * size_f,
                           irregularity=0.3, edge=1.2)
            elif kind == "EX":
                for _ in range(int(rng.integers(4, 12))):
                    y, x = cluster[0] + rng.normal(0, 6 * unit), cluster[1] + rng.normal(
                        0, 6 * unit)
                    _stamp(rng, f, yy, xx, y, x, rng.uniform(1.2, 3.0) * unit * size_f,
                           irregularity=0.3, edge=0.7)
                cluster = _place(rng, (cy, cx), radius, disc, 2 * rd, fovea, 0.3 * radius)
            else:
                y, x = _place(rng, (cy, cx), radius, disc, 1.3 * rd, disc, 0.35 * radius)
                _stamp(rng, f, yy, xx, y, x, rng.uniform(5, 9) * unit * size_f, scale=0.8,
                       irregularity=0.35, edge=3.0)
    for kind in LESIONS:
        fields[kind] *= fov
    for kind in ("SE", "EX", "HE", "MA"):      # blended only where the field is non-zero
        win = _support(fields[kind])
        if win is None:
            continue
        a = (opacity * fields[kind][win])[..., None]
        col = np.array(colours[kind], np.float32) * (illum[win][..., None] * 0.5 + 0.5)
        img[win] = img[win] * (1 - a) + a * col
    # quality faults (EyeQ)
    if quality != "good":
        severe = quality == "reject"
        blur = rng.uniform(2.5, 5.0) if severe else rng.uniform(0.6, 1.6)
        if severe or rng.random() < 0.7:
            img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), blur * h / 256)
        exposure = rng.choice([0.35, 1.9]) * rng.uniform(0.85, 1.15) if severe and \
            rng.random() < 0.6 else rng.uniform(0.7, 1.35)
        img = img * exposure
        if severe and rng.random() < 0.5:   # dark crescent / eyelash shadow
            ang = rng.uniform(0, 2 * np.pi)
            shade = smoothstep(((xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang) -
                                radius * rng.uniform(0.1, 0.5)) / (0.2 * radius))
            img = img * (1 - 0.85 * shade[..., None])
        if rng.random() < (0.6 if severe else 0.3):  # lens flare / haze
            haze = np.exp(-((yy - cy - rng.normal(0, 0.4 * radius)) ** 2 +
                            (xx - cx - rng.normal(0, 0.4 * radius)) ** 2) /
                          (2 * (0.35 * radius) ** 2))
            img = img + (0.5 if severe else 0.2) * haze[..., None] * np.array(
                [0.8, 0.8, 0.9], np.float32)
    img = img * fov[..., None]                 # a new array: the rest works in place
    gain = rng.lognormal(0, 0.08) * rng.lognormal(0, 0.04, 3)
    img *= gain.astype(np.float32)
    np.clip(img, 0, 1, out=img)
    grain = rng.normal(0, 0.01, img.shape).astype(np.float32)
    grain *= fov[..., None]
    img += grain
    masks = {k: (fields[k] >= 0.5).astype(np.uint8) for k in LESIONS}
    masks["OD"] = (od >= 0.5).astype(np.uint8)
    return to_uint8(img), masks


def generate(rng: Rng, kind: str | int, size: int = 256, difficulty: float = 0.5
             ) -> tuple[np.ndarray, np.ndarray]:
    """``kind`` = DR grade (int or "grade<k>"); returns the image and the union lesion mask."""
    grade = int(str(kind).removeprefix("grade"))
    image, masks = generate_layers(rng, grade, size, difficulty)
    return image, np.maximum.reduce([masks[k] for k in LESIONS])
