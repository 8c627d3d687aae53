"""Protocol names of results rows when the data differ from a paper's protocol (issue 9).

A paper's protocol (``reprolib.reported.PROTOCOLS``, e.g. ``image_level``) is the name of the
rows measured as the paper measured them. Rows measured on changed data carry the paper's name
with tags, so that they are never compared with the paper's number as if they were its own:

- a data option that is on where the paper's preprocessing has it off (or off where on) adds
  ``_<tag>`` (``_no<tag>``), in the order of :data:`OPTION_TAGS`: ``image_level_dedup``
  (val/test near-duplicates of training images removed), ``image_level_std`` (per-image
  standardisation), ``image_level_clahe``, ``image_level_dedup_std``;
- a row restricted to the normals and one abnormal sub-class appends ``:<sub-class>``:
  ``image_level:glioma``, ``image_level_dedup:virus``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: get_dataset option -> tag in protocol names (order = order in names).
OPTION_TAGS: dict[str, str] = {"dedup": "dedup", "clahe": "clahe", "standardize": "std"}
_TAGS = set(OPTION_TAGS.values()) | {f"no{t}" for t in OPTION_TAGS.values()}


def protocol_name(base: str, options: Mapping[str, Any] | None = None,
                  paper_options: Mapping[str, Any] | None = None) -> str:
    """``base`` with a tag per data option of :data:`OPTION_TAGS` that differs between
    ``options`` (the dataset options used) and ``paper_options`` (the paper's own)."""
    if ":" in base:
        raise ValueError(f"protocol: expected a protocol without a sub-class, got {base!r}")
    options, paper_options = options or {}, paper_options or {}
    tags = []
    for key, tag in OPTION_TAGS.items():
        ours, paper = bool(options.get(key, False)), bool(paper_options.get(key, False))
        if ours != paper:
            tags.append(tag if ours else f"no{tag}")
    return "_".join([base, *tags]) if base else "_".join(tags)


def subclass_protocol(protocol: str, subclass: str) -> str:
    """The protocol of rows of the normals against the abnormal ``subclass`` only."""
    if not subclass or ":" in subclass:
        raise ValueError(f"subclass: expected a non-empty name without ':', got {subclass!r}")
    return f"{protocol}:{subclass}"


def parse_protocol(name: str) -> tuple[str, tuple[str, ...], str]:
    """``(paper protocol, data-option tags, sub-class)`` of a protocol name."""
    base, _, subclass = str(name).partition(":")
    parts = base.split("_")
    tags: list[str] = []
    while len(parts) > 1 and parts[-1] in _TAGS:
        tags.insert(0, parts.pop())
    return "_".join(parts), tuple(tags), subclass


def is_paper_protocol(name: str) -> bool:
    """True when ``name`` has neither data-option tags nor a sub-class."""
    _, tags, subclass = parse_protocol(name)
    return not tags and not subclass
