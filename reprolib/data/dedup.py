"""Near-duplicate control between a dataset's training normals and its validation / test
images (issue 9, item 2; the counts per dataset are in docs/datasets.md).

A test (or validation) image that is a copy, or a re-encoded or slightly altered copy, of a
training image rewards a detector that memorises its training set. ``get_dataset(...,
dedup=True)`` drops such images from ``val`` and ``test`` (never from ``train``).

Criterion (two stages). Candidates: the 64-bit perceptual hashes of ``imagehash.phash`` (DCT of
the 32x32 grey image, 8x8 low frequencies against their median) differ in at most
``max_distance`` bits. Confirmation: the per-pixel RMS difference of the two images, taken as
64x64 grey thumbnails each standardised to zero mean and unit standard deviation, is below
``max_rms``. A byte-identical file is always a duplicate. The hash alone is not specific
enough on chest X-rays (tens of distinct Kermany test normals lie within 8 bits of a training
normal; docs/datasets.md), the pixel check alone would be an all-pairs comparison.

Each file is decoded once: its SHA-256, hash and thumbnail are cached per folder under
``cache_dir()/image_hashes/`` and reused while the file's size and modification time are
unchanged. ``tools/dataset_audit.py`` measures the criterion against byte-identical files and
against the exhaustive pixel criterion.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reprolib.data.base import Record
from reprolib.data.errors import CorruptImageError
from reprolib.data.io import read_image
from reprolib.paths import cache_dir

#: Hamming distance (bits of 64) up to which two perceptual hashes are candidates.
DEFAULT_MAX_DISTANCE = 8
#: Per-pixel RMS (standardised 64 px grey) below which a candidate is a duplicate.
DEFAULT_MAX_RMS = 0.1
#: Side of the grey thumbnails of the pixel check.
THUMB = 64
#: Bump when the cached quantities change (invalidates the cache).
HASH_VERSION = "phash8-thumb64-v1"


@dataclass(frozen=True)
class FileHash:
    """A file's SHA-256, the 64-bit perceptual hash and the 64 px grey thumbnail of its image."""

    sha256: str
    phash: int
    thumb: np.ndarray


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def _describe(path: Path) -> tuple[str, int, np.ndarray]:
    import imagehash
    from PIL import Image

    image = read_image(path)
    bits = imagehash.phash(Image.fromarray(image)).hash.flatten()
    thumb = cv2.resize(_grey(image), (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, int("".join("1" if b else "0" for b in bits), 2), thumb


def _cache_file(folder: Path) -> Path:
    key = hashlib.sha256(f"{HASH_VERSION}:{folder}".encode()).hexdigest()[:16]
    return cache_dir() / "image_hashes" / f"{folder.name[:40]}-{key}.npz"


def _read_cache(path: Path) -> dict[str, tuple[int, int, str, int, np.ndarray]]:
    if not path.is_file():
        return {}
    try:
        with np.load(path) as data:
            return {str(n): (int(s), int(m), str(h), int(p), t) for n, s, m, h, p, t in zip(
                data["names"], data["sizes"], data["mtimes"], data["sha256"], data["phash"],
                data["thumbs"])}
    except (OSError, ValueError, KeyError):
        return {}


def _write_cache(path: Path, entries: dict[str, tuple[int, int, str, int, np.ndarray]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(entries)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        np.savez(handle, names=np.asarray(names, dtype=str),
                 sizes=np.asarray([entries[n][0] for n in names], dtype=np.int64),
                 mtimes=np.asarray([entries[n][1] for n in names], dtype=np.int64),
                 sha256=np.asarray([entries[n][2] for n in names], dtype=str),
                 phash=np.asarray([entries[n][3] for n in names], dtype=np.uint64),
                 thumbs=np.stack([entries[n][4] for n in names]) if names else
                 np.zeros((0, THUMB, THUMB), np.uint8))
    os.replace(tmp, path)


def file_hashes(paths: Iterable[str | os.PathLike[str]], *, skip_corrupt: bool = False
                ) -> dict[Path, FileHash]:
    """:class:`FileHash` of every file (keys: resolved paths), from the per-folder cache where
    the file's size and modification time match, else computed and cached. An undecodable
    file raises :class:`CorruptImageError`, or is left out with ``skip_corrupt``."""
    by_folder: dict[Path, list[Path]] = {}
    for p in paths:
        path = Path(p).resolve()
        by_folder.setdefault(path.parent, []).append(path)
    out: dict[Path, FileHash] = {}
    for folder, files in by_folder.items():
        cache_path = _cache_file(folder)
        cached = _read_cache(cache_path)
        changed = False
        for path in dict.fromkeys(files):
            stat = path.stat()
            entry = cached.get(path.name)
            if not (entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns):
                try:
                    entry = (stat.st_size, stat.st_mtime_ns, *_describe(path))
                except CorruptImageError:
                    if skip_corrupt:
                        continue
                    raise
                cached[path.name] = entry
                changed = True
            out[path] = FileHash(entry[2], entry[3], entry[4])
        if changed:
            _write_cache(cache_path, cached)
    return out


def hamming(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> np.ndarray:
    """Bit distances between every 64-bit hash of ``a`` (rows) and of ``b`` (columns)."""
    x = np.asarray(a, dtype=np.uint64).reshape(-1, 1)
    y = np.asarray(b, dtype=np.uint64).reshape(1, -1)
    return np.bitwise_count(np.bitwise_xor(x, y)).astype(np.int64)


def standardised(thumbs: np.ndarray) -> np.ndarray:
    """Rows of flattened thumbnails, each to zero mean and unit standard deviation (a flat
    image stays all zero)."""
    x = np.asarray(thumbs, dtype=np.float64).reshape(len(thumbs), -1)
    x = x - x.mean(axis=1, keepdims=True)
    std = x.std(axis=1, keepdims=True)
    return np.divide(x, std, out=np.zeros_like(x), where=std > 0)


def pixel_rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel RMS difference between every standardised row of ``a`` and of ``b``."""
    d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0) / a.shape[1])


@dataclass(frozen=True)
class DuplicateReport:
    """Per query record: the smallest hash distance to a reference record, the smallest pixel
    RMS among the hash candidates (inf when none), whether a reference file has the same
    bytes, and the reference id of the nearest hash."""

    ids: tuple[str, ...]
    distance: np.ndarray
    rms: np.ndarray
    identical: np.ndarray
    nearest: tuple[str, ...]
    max_distance: int
    max_rms: float

    @property
    def duplicate(self) -> np.ndarray:
        return (self.rms < self.max_rms) | self.identical

    @property
    def hash_only(self) -> np.ndarray:
        """Duplicates by the hash stage alone (no pixel check)."""
        return (self.distance <= self.max_distance) | self.identical


def find_duplicates(query: Sequence[Record], reference: Sequence[Record], *,
                    max_distance: int = DEFAULT_MAX_DISTANCE, max_rms: float = DEFAULT_MAX_RMS,
                    skip_corrupt: bool = False) -> DuplicateReport:
    """Which ``query`` records (val or test) duplicate one of the ``reference`` (training)
    records (module docstring: hash distance <= ``max_distance`` bits and pixel RMS <
    ``max_rms``, or byte-identical files)."""
    if not 0 <= int(max_distance) <= 64:
        raise ValueError(f"max_distance: expected an integer in [0, 64], got {max_distance!r}")
    if not float(max_rms) >= 0:
        raise ValueError(f"max_rms: expected a number >= 0, got {max_rms!r}")
    hashes = file_hashes([r.path for r in [*query, *reference]], skip_corrupt=skip_corrupt)
    ref_records = [r for r in reference if Path(r.path).resolve() in hashes]
    ref = [hashes[Path(r.path).resolve()] for r in ref_records]
    n = len(query)
    distance = np.full(n, 65, dtype=np.int64)
    rms = np.full(n, np.inf)
    identical = np.zeros(n, dtype=bool)
    nearest = [""] * n
    known = [i for i, r in enumerate(query) if Path(r.path).resolve() in hashes]
    if ref and known:
        q = [hashes[Path(query[i].path).resolve()] for i in known]
        dist = hamming([h.phash for h in q], [h.phash for h in ref])
        shas = {h.sha256 for h in ref}
        ref_std = standardised(np.stack([h.thumb for h in ref]))
        q_std = standardised(np.stack([h.thumb for h in q]))
        for row, i in enumerate(known):
            distance[i] = dist[row].min()
            nearest[i] = ref_records[int(dist[row].argmin())].id
            identical[i] = q[row].sha256 in shas
            candidates = np.flatnonzero(dist[row] <= max_distance)
            if candidates.size:
                rms[i] = pixel_rms(q_std[row:row + 1], ref_std[candidates]).min()
    return DuplicateReport(tuple(r.id for r in query), distance, rms, identical, tuple(nearest),
                           int(max_distance), float(max_rms))


def drop_duplicates(query: list[Record], reference: Sequence[Record], *,
                    max_distance: int = DEFAULT_MAX_DISTANCE, max_rms: float = DEFAULT_MAX_RMS,
                    skip_corrupt: bool = False) -> tuple[list[Record], list[str]]:
    """``query`` without its duplicates of ``reference``, and the ids dropped."""
    report = find_duplicates(query, reference, max_distance=max_distance, max_rms=max_rms,
                             skip_corrupt=skip_corrupt)
    dup = report.duplicate
    return ([r for r, d in zip(query, dup) if not d], [r.id for r, d in zip(query, dup) if d])
