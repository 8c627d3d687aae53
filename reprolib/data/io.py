"""Reading images and masks from disk into uint8 arrays, whatever their file format.

Handles EXIF orientation, palette / grey+alpha / RGBA / CMYK files, 16-bit and 32-bit integer
or float files, and stops with :class:`CorruptImageError` naming the file when it cannot be
decoded (a truncated JPEG, a text file with an image extension, a decompression bomb).

Pixel limit: an image of more than :func:`max_image_pixels` pixels (width x height) is refused
as a :class:`CorruptImageError` before it is decoded, so that a small file cannot claim gigabytes
of memory (a "decompression bomb"). The limit is PIL's default (``Image.MAX_IMAGE_PIXELS``,
about 89 million pixels, e.g. 9459 x 9459) unless ``$REPROLIB_MAX_IMAGE_PIXELS`` or
:func:`set_max_image_pixels` sets another; the largest images of the supported datasets
(IDRiD's 4288 x 2848 fundus photographs) are far below it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from reprolib.data.errors import CorruptImageError

#: PIL's own limit when this module was imported (the default pixel limit).
DEFAULT_MAX_IMAGE_PIXELS: int = int(Image.MAX_IMAGE_PIXELS or 89_478_485)
_max_pixels: int | None = None


def max_image_pixels() -> int:
    """The pixel limit: :func:`set_max_image_pixels`, else ``$REPROLIB_MAX_IMAGE_PIXELS``, else
    :data:`DEFAULT_MAX_IMAGE_PIXELS`."""
    if _max_pixels is not None:
        return _max_pixels
    env = os.environ.get("REPROLIB_MAX_IMAGE_PIXELS", "").strip()
    if env:
        try:
            value = int(float(env))
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"$REPROLIB_MAX_IMAGE_PIXELS: expected a positive number of pixels, "
                             f"got {env!r}")
        return value
    return DEFAULT_MAX_IMAGE_PIXELS


def set_max_image_pixels(pixels: int | None) -> None:
    """Set the pixel limit for this process (``None``: back to the environment / default)."""
    global _max_pixels
    if pixels is not None and (isinstance(pixels, bool) or int(pixels) <= 0):
        raise ValueError(f"pixels: expected a positive integer or None, got {pixels!r}")
    _max_pixels = None if pixels is None else int(pixels)


def _allow_pil(limit: int) -> None:
    """PIL refuses (``DecompressionBombError``) above twice its own limit; our limit decides,
    so PIL's is raised when ours is higher (never lowered)."""
    if Image.MAX_IMAGE_PIXELS is not None and limit > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit


#: File extensions read as images (lower case).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"})


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """An image by extension, not hidden (``.DS_Store``, ``._x.jpg`` of macOS are skipped)."""
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_file() and is_image_file(e.name))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale a 16/32-bit integer or float array to uint8 (full type range, or the data's range
    when the values exceed 8 bits in a 32-bit container)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        hi = float(np.nanmax(array)) if array.size else 1.0
        scale = 255.0 if hi <= 1.0 else 255.0 / max(hi, 1e-12)
        return np.clip(np.nan_to_num(array) * scale, 0, 255).round().astype(np.uint8)
    hi = int(array.max()) if array.size else 0
    if array.dtype == np.uint16 or hi > 255:
        top = 65535 if hi <= 65535 else hi
        return np.clip(array.astype(np.float64) * 255.0 / top, 0, 255).round().astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode ``path`` to uint8: (H, W) for grayscale files, (H, W, 3) for colour files.

    EXIF orientation is applied. Raises :class:`CorruptImageError` (with the path) for a
    missing, truncated or undecodable file, and for one above the pixel limit
    (:func:`max_image_pixels`).
    """
    path = Path(path)
    limit = max_image_pixels()
    _allow_pil(limit)
    try:
        with warnings.catch_warnings():
            # PIL warns between its limit and twice it; the check below refuses instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # EXIF notes
            with Image.open(path) as image:
                width, height = image.size
                if width * height > limit:
                    raise _TooLarge(f"{width}x{height} = {width * height} pixels")
                image.load()
                image = ImageOps.exif_transpose(image)
                mode = image.mode
                if mode in ("1", "L", "I;16", "I;16B", "I;16L", "I", "F"):
                    array = np.asarray(image)
                    if mode.startswith("I;16"):
                        array = array.astype(np.uint16)
                    return np.ascontiguousarray(_to_uint8(array))
                if mode in ("LA", "La"):
                    return np.ascontiguousarray(np.asarray(image.convert("L")))
                if mode == "P":
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                if image.mode != "RGB":
                    image = image.convert("RGB")
                return np.ascontiguousarray(np.asarray(image))
    except FileNotFoundError as err:
        raise CorruptImageError(f"image file not found: {path}: expected an image file there, "
                                f"found none") from err
    except (_TooLarge, Image.DecompressionBombError) as err:
        found = str(err) if isinstance(err, _TooLarge) else f"more ({err})"
        raise CorruptImageError(
            f"image {path} is too large: expected at most {limit} pixels (the pixel limit, "
            f"$REPROLIB_MAX_IMAGE_PIXELS), found {found}; a decompression bomb, or raise the "
            "limit") from err
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise CorruptImageError(f"cannot decode image {path}: expected a readable image file, "
                                f"found {type(err).__name__}: {err}") from err
    except MemoryError:
        raise
    except Exception as err:  # any other PIL refusal: never a raw traceback without the path
        raise CorruptImageError(f"cannot decode image {path}: expected a readable image file, "
                                f"found {type(err).__name__}: {err}") from err


class _TooLarge(Exception):
    """An image above the pixel limit (turned into CorruptImageError by read_image)."""


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A binary mask (H, W) uint8 in {0, 1}: any non-zero value in any channel is foreground
    (IDRiD's masks are red-on-black TIFFs, MVTec-style masks are 0/255 PNGs)."""
    array = read_image(path)
    if array.ndim == 3:
        array = array.max(axis=2)
    return (array > 0).astype(np.uint8)
