"""The ipywidgets browser of 00_datasets (issue 16): one render per user change, the image
and caption of the selected item, fixed-size PNGs. The real-browser check is
tests/browser/test_datasets_browser.py (``make test-browser``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from tinydata import TinyDataset

from reprolib.data import gallery


@pytest.fixture(autouse=True)
def close_widgets() -> Iterator[None]:
    """Close the test's widgets (left to garbage collection, they complain at exit)."""
    yield
    import ipywidgets
    ipywidgets.Widget.close_all()


class Tiny(TinyDataset):
    """TinyDataset with the ``normalize`` attribute of an ImageDataset."""

    normalize = "unit"


def _datasets() -> dict[str, dict[str, Tiny]]:
    # "b" has a split "a" lacks and fewer test images, so a dataset change moves the split
    # options and the index range as well.
    return {"a": {"train": Tiny(n=6, seed=1), "test": Tiny(n=9, anomalous=3, seed=2)},
            "b": {"train": Tiny(n=4, seed=3), "val": Tiny(n=2, seed=4),
                  "test": Tiny(n=3, anomalous=1, seed=5)},
            "c": {"test": Tiny(n=0)}}


def _controls(box):  # noqa: ANN001, ANN202
    (name_w, split_w), (index_w, mask_w) = box.children[0].children, box.children[1].children
    return name_w, split_w, index_w, mask_w, box.children[2], box.children[3]


def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_render_png_size_and_mask() -> None:
    item = Tiny(n=2, anomalous=1)[1]
    with_mask = _decode(gallery.render_png(item, "unit", True, title="img1\nlabel 1"))
    without = _decode(gallery.render_png(item, "unit", False, title="img1\nlabel 1"))
    assert with_mask.shape == (gallery.BROWSER_PX, gallery.BROWSER_PX, 3)
    assert gallery.render_png(item, px=200)[:8] == b"\x89PNG\r\n\x1a\n"
    assert _decode(gallery.render_png(item, px=200)).shape == (200, 200, 3)
    # The red overlay only where the mask is: red dominates there with the mask on, not off.
    redness = lambda a: (a[..., 0].astype(int) - a[..., 1]).clip(0).sum()  # noqa: E731
    assert redness(with_mask) > 1000 and redness(without) == 0


def test_browser_one_render_per_change_and_right_item(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    calls: list[str] = []
    render = gallery.render_png

    def counting(item, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(item["id"])
        return render(item, *args, **kwargs)

    monkeypatch.setattr(gallery, "render_png", counting)
    data = _datasets()
    box = gallery.browser(data, show=False)
    name_w, split_w, index_w, mask_w, image, caption = _controls(box)
    assert calls == ["img0"] and image.value == render(data["a"]["train"][0], title=
                                                         "img0\nlabel 0  ")

    def expect(name: str, split: str, index: int, mask: bool) -> None:
        ds = data[name][split]
        item = ds[index]
        assert image.value == render(item, "unit", mask,
                                     title=f"{item['id']}\nlabel {item['label']}  ")
        assert caption.value == (f"{name} / {split} / #{index}: {item['id']}, label "
                                 f"{item['label']} (), mask {'on' if mask else 'off'}")
        assert (split_w.options, index_w.max) == (tuple(data[name]), len(ds) - 1)

    steps = [(split_w, "test", ("a", "test", 0, True)),
             (index_w, 8, ("a", "test", 8, True)),
             (mask_w, False, ("a", "test", 8, False)),
             # options change (val appears) and the index is clamped 8 -> 2: still one render
             (name_w, "b", ("b", "test", 2, False)),
             (split_w, "val", ("b", "val", 1, False)),
             (mask_w, True, ("b", "val", 1, True)),
             (name_w, "a", ("a", "train", 1, True)),  # "val" is not a split of "a"
             (index_w, 5, ("a", "train", 5, True))]
    for n, (widget, value, expected) in enumerate(steps, start=2):
        widget.value = value
        assert len(calls) == n, f"{widget.description}={value!r}: {len(calls) - n + 1} renders"
        expect(*expected)


def test_browser_empty_split_and_bad_input() -> None:
    box = gallery.browser(_datasets(), show=False)
    name_w, _, index_w, _, image, caption = _controls(box)
    name_w.value = "c"
    assert image.value == b"" and caption.value == "c / test: empty split"
    assert index_w.max == 0
    with pytest.raises(ValueError, match="expected at least one dataset"):
        gallery.browser({}, show=False)
    with pytest.raises(ValueError, match=r"found none for \['x'\]"):
        gallery.browser({"x": {}}, show=False)
