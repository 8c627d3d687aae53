"""Errors of ``reprolib.data``: each says what was expected and what was found (DESIGN §4)."""

from __future__ import annotations


class DataError(ValueError):
    """Base class of every data error raised by ``reprolib.data``."""


class DataLayoutError(DataError):
    """A dataset folder does not have the expected layout (missing folder, empty class folder,
    bad CSV, unknown image name)."""


class CorruptImageError(DataError):
    """An image file cannot be decoded (truncated, not an image); the message names the path."""


class UnknownDatasetError(DataError, KeyError):
    """``get_dataset`` was given a name it does not know; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
