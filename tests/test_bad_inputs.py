"""Bad input never gives a raw traceback or a silently wrong number (issue 10).

Every case a new user may hit: each asserts the error type and that its one-line message names
what was expected and what was found. Cases where the right answer is to recover (a corrupt
model-cache entry, stray temporary files) assert the one-line report and the recovery. The
kill -9 test kills a subprocess in the middle of a model write and of a results write, reruns,
and checks that nothing is lost and nothing stray remains.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from tinydata import TinyDataset

from reprolib.atomic import STALE_SECONDS, sweep_stray_temps
from reprolib.cache import fit_or_load
from reprolib.config import ConfigError, build_config
from reprolib.data import (
    CorruptImageError,
    DataError,
    DataLayoutError,
    UnknownDatasetError,
    get_dataset,
)
from reprolib.data.io import read_image, set_max_image_pixels
from reprolib.experiment import MethodSpec
from reprolib.methods import UnknownMethodError, create_method, get_method_class
from reprolib.metrics import image_auroc
from reprolib.params import ParameterError, check_parameters, declared_parameters
from reprolib.results import COLUMNS, ResultRecorder, ResultsSchemaError, read_results

ROOT = Path(__file__).resolve().parents[1]
TINY = {"img_size": 32, "widths": [8, 16], "latent": 8, "epochs": 1, "batch_size": 4}


def expect(error: type[BaseException], call: Callable[[], object], *fragments: str) -> str:
    """``call()`` raises ``error`` with a one-line message containing every fragment (regular
    expressions): what was expected and what was found."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    for fragment in fragments:
        assert re.search(fragment, message), f"{fragment!r} not in {message!r}"
    return message


# --- files for the data cases -------------------------------------------------------------------

def write_image(path: Path, mode: str = "L", size: tuple[int, int] = (40, 30), seed: int = 0
                ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    if mode == "RGB":
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    elif mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16)).save(path)
    else:
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).convert(mode).save(path)
    return path


def make_tree(root: Path, tree: dict[str, int], ext: str = ".png") -> Path:
    for folder, n in tree.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            write_image(root / folder / f"img{i}{ext}", seed=i)
    return root


def kermany(root: Path, name: str = "kermany_chest_xray") -> Path:
    make_tree(root / name, {"train/NORMAL": 4, "test/NORMAL": 2, "test/PNEUMONIA": 2})
    return root


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    buffer = Path(str(path) + ".src")
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.read_bytes())
    buffer.unlink()
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def dirs(isolated_dirs: Path) -> Path:
    torch.set_num_threads(1)
    return isolated_dirs


# --- data: already clear errors -----------------------------------------------------------------

def test_missing_data_root(tmp_path: Path) -> None:
    expect(DataLayoutError, lambda: get_dataset("kermany_cxr", "train", root=tmp_path / "nope"),
           r"expected the folder .*kermany_chest_xray", r"nope does not exist")


def test_wrong_layout(tmp_path: Path) -> None:
    make_tree(tmp_path / "kermany_chest_xray", {"training/normal_xrays": 2})
    expect(DataLayoutError, lambda: get_dataset("kermany_cxr", "train", root=tmp_path),
           r"expected .*train", r"contains: training")


def test_empty_class_folder(tmp_path: Path) -> None:
    make_tree(tmp_path / "kermany_chest_xray", {"train/NORMAL": 0, "test/NORMAL": 1})
    expect(DataLayoutError, lambda: get_dataset("kermany_cxr", "train", root=tmp_path),
           r"train/NORMAL .* is empty", r"expected image files")


def test_unknown_class_folder(tmp_path: Path) -> None:
    kermany(tmp_path)
    make_tree(tmp_path / "kermany_chest_xray", {"test/COVID": 1})
    expect(DataLayoutError, lambda: get_dataset("kermany_cxr", "test", root=tmp_path),
           r"unknown class folder\(s\) \['COVID'\]", r"expected \['NORMAL', 'PNEUMONIA'\]")


def test_truncated_jpeg_names_the_file_and_is_skipped(tmp_path: Path) -> None:
    kermany(tmp_path)
    bad = write_image(tmp_path / "kermany_chest_xray/train/NORMAL/cut.jpeg", size=(64, 64))
    bad.write_bytes(bad.read_bytes()[:200])
    ds = get_dataset("kermany_cxr", "train", root=tmp_path, val_fraction=0.0)
    index = ds.ids.index("train/NORMAL/cut.jpeg")
    expect(CorruptImageError, lambda: ds[index], r"cannot decode image .*cut\.jpeg",
           r"expected a readable image file, found OSError: (?i:.*truncated)")
    kept = get_dataset("kermany_cxr", "train", root=tmp_path, val_fraction=0.0,
                       skip_corrupt=True)
    assert len(kept) == len(ds) - 1 and "cut.jpeg" in kept.skipped[0]


def test_text_file_with_image_extension(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    expect(CorruptImageError, lambda: read_image(path), r"cannot decode image .*notes\.png",
           r"expected a readable image file", r"found UnidentifiedImageError: cannot identify")


def test_missing_image_file(tmp_path: Path) -> None:
    expect(CorruptImageError, lambda: read_image(tmp_path / "gone.png"),
           r"image file not found: .*gone\.png", r"expected an image file there, found none")


def test_unknown_dataset_name(tmp_path: Path) -> None:
    expect(UnknownDatasetError, lambda: get_dataset("kermany", "train", root=tmp_path),
           r"unknown dataset 'kermany'", r"expected one of \[.*'kermany_cxr'")


def test_unknown_dataset_option(tmp_path: Path) -> None:
    kermany(tmp_path)
    expect(ValueError, lambda: get_dataset("kermany_cxr", "train", root=tmp_path, clases=["x"]),
           r"unknown option\(s\) \['clases'\]", r"expected some of \[.*'classes'")


@pytest.mark.parametrize(("kwargs", "fragments"), [
    ({"split": "training"}, [r"split: expected 'train', 'val' or 'test'", r"got 'training'"]),
    ({"normalize": "zscore"}, [r"normalize: expected one of", r"got 'zscore'"]),
    ({"channels": 2}, [r"channels: expected 1, 3 or None", r"got 2"]),
    ({"img_size": 4}, [r"img_size: expected an integer >= 8", r"got 4"]),
    ({"protocol": "mdfsc"}, [r"has no protocols", r"got protocol='mdfsc'"]),
    ({"classes": ["COVID"], "split": "test"}, [r"classes: expected some of \['PNEUMONIA'\]",
                                               r"got \['COVID'\]"]),
], ids=["split", "normalize", "channels", "img_size", "protocol", "classes"])
def test_bad_get_dataset_argument(tmp_path: Path, kwargs: dict, fragments: list[str]) -> None:
    kermany(tmp_path)
    kwargs = {"split": "train", **kwargs}
    expect(ValueError, lambda: get_dataset("kermany_cxr", root=tmp_path, **kwargs), *fragments)


def test_label_csv_unparseable_and_missing_column(tmp_path: Path) -> None:
    eyeq = tmp_path / "EyeQ"
    make_tree(eyeq, {"train": 2, "test": 2})
    (eyeq / "Label_EyeQ_train.csv").write_bytes(b"\xff\xfe\x00garbage")
    expect(DataLayoutError, lambda: get_dataset("eyeq", "train", root=tmp_path),
           r"cannot parse .*Label_EyeQ_train\.csv as CSV")
    (eyeq / "Label_EyeQ_train.csv").write_text("name,grade\nimg0.png,0\n")
    expect(DataLayoutError, lambda: get_dataset("eyeq", "train", root=tmp_path),
           r"lacks column\(s\)", r"expected \[", r"found \['name', 'grade'\]")


def test_mask_of_another_size(tmp_path: Path) -> None:
    make_tree(tmp_path, {"train/good": 2, "test/good": 1})
    write_image(tmp_path / "test/crack/img0.png", size=(40, 30))
    write_image(tmp_path / "ground_truth/crack/img0_mask.png", size=(20, 20))
    ds = get_dataset("folder", "test", root=tmp_path)
    index = ds.ids.index("test/crack/img0.png")
    expect(DataError, lambda: ds[index], r"mask .*img0_mask\.png is 20x20",
           r"its image .*img0\.png is 40x30")


def test_mixed_image_modes_load_to_the_requested_channels(tmp_path: Path) -> None:
    """Not an error: L, RGB, P, LA and 16-bit files in one class folder all load, scaled to
    [0, 1], with the channels asked for (no silently wrong pixel values)."""
    make_tree(tmp_path, {"test/good": 1, "test/bad": 1})
    folder = tmp_path / "train" / "good"
    for mode in ("L", "RGB", "P", "LA", "I;16"):
        write_image(folder / f"{mode.replace(';', '')}.png", mode=mode)
    for channels in (1, 3):
        ds = get_dataset("folder", "train", root=tmp_path, channels=channels, val_fraction=0.0,
                         img_size=16)
        images = torch.stack([ds[i]["image"] for i in range(len(ds))])
        assert images.shape == (5, channels, 16, 16)
        assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
        assert float(images.std()) > 0.1  # 16-bit scaled to the full range, not clipped
    sixteen = read_image(folder / "I16.png")
    raw = np.asarray(Image.open(folder / "I16.png")).astype(np.float64)
    assert np.abs(sixteen.astype(np.float64) - raw * 255 / 65535).max() <= 0.5 + 1e-9


# --- data: fixed by issue 10 ---------------------------------------------------------------------

def test_decompression_bomb_is_a_corrupt_image_naming_the_file(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1000
    expect(CorruptImageError, lambda: read_image(bomb), r"image .*bomb\.png is too large",
           r"expected at most \d+ pixels", r"found")


def test_decompression_bomb_is_skipped_by_skip_corrupt(tmp_path: Path) -> None:
    make_tree(tmp_path, {"train/good": 4, "test/good": 1, "test/bad": 1})
    bomb_png(tmp_path / "train/good/zz_bomb.png")
    ds = get_dataset("folder", "train", root=tmp_path, val_fraction=0.0, skip_corrupt=True)
    assert len(ds) == 4 and len(ds.skipped) == 1 and "zz_bomb.png" in ds.skipped[0]
    plain = get_dataset("folder", "train", root=tmp_path, val_fraction=0.0)
    index = plain.ids.index("train/good/zz_bomb.png")
    expect(CorruptImageError, lambda: plain[index], r"zz_bomb\.png is too large")


def test_pixel_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_image(tmp_path / "x.png", size=(40, 30))
    monkeypatch.setenv("REPROLIB_MAX_IMAGE_PIXELS", "1000")
    expect(CorruptImageError, lambda: read_image(path),
           r"expected at most 1000 pixels", r"found 40x30 = 1200 pixels")
    set_max_image_pixels(1200)
    try:
        assert read_image(path).shape == (30, 40)
    finally:
        set_max_image_pixels(None)
    monkeypatch.setenv("REPROLIB_MAX_IMAGE_PIXELS", "lots")
    expect(ValueError, lambda: read_image(path),
           r"REPROLIB_MAX_IMAGE_PIXELS: expected a positive number of pixels, got 'lots'")


def test_single_class_test_split_fails_when_loaded(tmp_path: Path) -> None:
    make_tree(tmp_path, {"train/good": 3, "test/good": 3})
    assert len(get_dataset("folder", "train", root=tmp_path)) > 0  # training part is fine
    expect(DataLayoutError, lambda: get_dataset("folder", "test", root=tmp_path),
           r"cannot be scored", r"expected normal and anomalous images",
           r"found only normal images \(3")
    only_bad = make_tree(tmp_path / "other", {"train/good": 2, "test/crack": 2})
    expect(DataLayoutError, lambda: get_dataset("folder", "test", root=only_bad),
           r"found only anomalous images \(2")


def test_dataset_folder_under_another_name(tmp_path: Path) -> None:
    kermany(tmp_path, name="chest_xray_v2")
    make_tree(tmp_path / "unrelated", {"stuff": 1})
    message = expect(DataLayoutError, lambda: get_dataset("kermany_cxr", "train", root=tmp_path),
                     r"expected the folder .*kermany_chest_xray",
                     r"contains: chest_xray_v2", r"rename it to 'kermany_chest_xray'",
                     r"or pass root='.*chest_xray_v2'")
    assert "unrelated' has" not in message
    ds = get_dataset("kermany_cxr", "test", root=tmp_path / "chest_xray_v2")  # the hint works
    assert sorted(set(ds.labels.tolist())) == [0, 1]


# --- methods and configs -------------------------------------------------------------------------

def test_unknown_method() -> None:
    expect(UnknownMethodError, lambda: get_method_class("autoencoder"),
           r"unknown method 'autoencoder'", r"known methods: .*\bae\b")


def test_unknown_config_key() -> None:
    cls = get_method_class("conv_ae").Config
    expect(ConfigError, lambda: build_config(cls, {"epochz": 3}),
           r"unknown config key 'epochz'", r"known keys: \[.*'epochs'")


def test_wrong_config_type() -> None:
    expect(ConfigError, lambda: create_method("conv_ae", {"epochs": "5"}),
           r"config key 'epochs': expected int", r"got str '5'")


def test_bad_method_entry() -> None:
    expect(ValueError, lambda: MethodSpec.from_param({"method": "ae", "cfg": {}}),
           r"unknown key 'cfg'", r"expected method, config, variant")
    expect(ValueError, lambda: MethodSpec.from_param(["ae"]),
           r"expected a name or a dict with key 'method'", r"got \['ae'\]")


# --- metrics -------------------------------------------------------------------------------------

def test_single_class_labels_at_scoring() -> None:
    expect(ValueError, lambda: image_auroc([0, 0, 0], [0.1, 0.2, 0.3]),
           r"need both classes", r"found only normal \(0\), 3 of")


def test_nan_scores() -> None:
    expect(ValueError, lambda: image_auroc([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4]),
           r"finite", r"1 non-finite values \(1 NaN, 0 inf\) of 4")


# --- results tables ------------------------------------------------------------------------------

def _rows(tmp_path: Path, values: dict[str, float], **fields) -> Path:
    rec = ResultRecorder(paper="reference", table="t0", notebook="nb", profile="smoke",
                         results=tmp_path)
    for method, value in values.items():
        rec.add(dataset="phantom_cxr", method=method, metric="auroc", value=value, **fields)
    return rec.write()


def test_results_csv_cut_mid_line_then_rerun(tmp_path: Path) -> None:
    path = _rows(tmp_path, {"ae": 0.55, "vae": 0.7, "conv_ae": 0.8})
    text = path.read_text()
    path.write_text(text[:text.rindex("\n", 0, len(text) - 1) + 30])  # last row cut
    damaged = path.read_bytes()
    for call in (lambda: _rows(tmp_path, {"ae": 0.9}), lambda: read_results("smoke", tmp_path)):
        expect(ResultsSchemaError, call, rf"{re.escape(str(path))} line 4",
               rf"expected {len(COLUMNS)} fields", r"found \d+", r"damaged")
    assert path.read_bytes() == damaged  # the rerun did not rewrite the other rows
    path.write_text(text[:text.rindex(",") + 1])  # cut right after the last comma
    expect(ResultsSchemaError, lambda: read_results("smoke", tmp_path),
           rf"{re.escape(str(path))} line 4", r"expected a value in column 'timestamp'",
           r"found an empty cell and no line end")


def test_results_csv_of_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "smoke" / "nb.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01garbage")
    expect(ResultsSchemaError, lambda: read_results("smoke", tmp_path),
           re.escape(str(path)), r"expected UTF-8 CSV text", r"found byte 0x89 at offset 0")
    expect(ResultsSchemaError, lambda: _rows(tmp_path, {"ae": 0.9}), re.escape(str(path)))


def test_results_csv_empty(tmp_path: Path) -> None:
    path = tmp_path / "smoke" / "nb.csv"
    path.parent.mkdir(parents=True)
    path.write_text("")
    expect(ResultsSchemaError, lambda: read_results("smoke", tmp_path),
           re.escape(str(path)), r"expected a header line with columns", r"found an empty file")
    expect(ResultsSchemaError, lambda: _rows(tmp_path, {"ae": 0.9}), re.escape(str(path)))


def test_results_duplicated_row(tmp_path: Path) -> None:
    path = _rows(tmp_path, {"ae": 0.55, "vae": 0.7})
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines, lines[1]]))
    expect(ResultsSchemaError, lambda: read_results("smoke", tmp_path),
           rf"{re.escape(str(path))} line 4", r"expected one row per key",
           r"found the key of line 2 again \(paper='reference'.*method='ae'")


@pytest.mark.parametrize(("column", "cell", "fragments"), [
    ("seed", "zero", [r"column 'seed': expected a whole number", r"found 'zero'"]),
    ("value", "", [r"column 'value': expected a number", r"found ''"]),
    ("value", "nan", [r"column 'value': expected a number", r"found 'nan'"]),
    ("runtime_s", "fast", [r"column 'runtime_s': expected a number", r"found 'fast'"]),
    ("timestamp", "2026-11-2", [r"column 'timestamp': expected a time stamp",
                                r"found '2026-11-2'"]),
    ("profile", "", [r"column 'profile': expected a value", r"found ''"]),
    ("metric", "", [r"column 'metric': expected a value", r"found ''"]),
], ids=["seed", "value-empty", "value-nan", "runtime", "timestamp", "profile", "metric"])
def test_results_bad_cell(tmp_path: Path, column: str, cell: str, fragments: list[str]) -> None:
    path = _rows(tmp_path, {"ae": 0.55, "vae": 0.7})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[1, column] = cell
    frame.to_csv(path, index=False)
    expect(ResultsSchemaError, lambda: read_results("smoke", tmp_path),
           rf"{re.escape(str(path))} line 3", *fragments)


def test_results_optional_cells_may_be_empty(tmp_path: Path) -> None:
    """Empty runtime / code version and (when the schema has them) confidence bounds are
    allowed: no false alarm on a whole file."""
    path = _rows(tmp_path, {"ae": 0.55})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("runtime_s", "code_version", "ci_low", "ci_high"):
        if column in COLUMNS:
            frame[column] = ""
    frame.to_csv(path, index=False)
    assert read_results("smoke", tmp_path)["value"].tolist() == [0.55]


def test_results_missing_column_unknown_metric_nan_value(tmp_path: Path) -> None:
    path = tmp_path / "smoke" / "nb.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"paper": ["x"], "value": [1.0]}).to_csv(path, index=False)
    expect(ResultsSchemaError, lambda: read_results("smoke", tmp_path),
           r"nb\.csv: missing column 'table'", r"expected columns \[")
    path.unlink()
    expect(ResultsSchemaError, lambda: _rows(tmp_path / "x", {"ae": float("nan")}),
           r"non-numeric or NaN value .*nan", r"for metric 'auroc'")
    rec = ResultRecorder(paper="reference", table="t0", notebook="nb", profile="smoke",
                         results=tmp_path)
    rec.add(dataset="d", method="ae", metric="aucroc", value=0.5)
    expect(ResultsSchemaError, rec.write, r"unknown metric name 'aucroc'", r"use one of \[")
    expect(ValueError, lambda: ResultRecorder(paper="anogann", table="t", notebook="n",
                                              profile="smoke"),
           r"paper: expected one of \[", r"got 'anogann'")


def test_committed_results_pass_the_checks() -> None:
    """The checks refuse damage, not the files this repository writes."""
    for path in sorted((ROOT / "results").glob("*/*.csv")):
        if path.name != "paper_reported.csv":
            frame = read_results(path.parent.name, ROOT / "results")
            assert len(frame) > 0


# --- the model cache -----------------------------------------------------------------------------

def _other_shape(pt: Path, js: Path) -> None:
    other = create_method("conv_ae", {**TINY, "widths": [4, 8]}, device="cpu")
    torch.save(other.state_dict(), pt)


CACHE_DAMAGE: dict[str, tuple[Callable[[Path, Path], object], str]] = {
    "pt-truncated": (lambda pt, js: pt.write_bytes(pt.read_bytes()[:len(pt.read_bytes()) // 2]),
                     "pt"),
    "pt-garbage": (lambda pt, js: pt.write_bytes(bytes(range(256)) * 8), "pt"),
    "pt-empty": (lambda pt, js: pt.write_bytes(b""), "pt"),
    "pt-other-shape": (_other_shape, "pt"),
    "json-corrupt": (lambda pt, js: js.write_text('{"fit_seconds": 1.5, '), "json"),
    "json-not-object": (lambda pt, js: js.write_text("[1, 2]"), "json"),
}


@pytest.mark.parametrize("case", list(CACHE_DAMAGE))
def test_corrupt_cache_entry_is_reported_moved_aside_and_retrained(
        dirs: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    train, test = TinyDataset(), TinyDataset(anomalous=3)
    first = fit_or_load("conv_ae", TINY, train, device="cpu")
    pt = first.cache_path
    js = pt.with_suffix(".json")
    damage, which = CACHE_DAMAGE[case]
    damage(pt, js)
    capsys.readouterr()
    second = fit_or_load("conv_ae", TINY, train, device="cpu")
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("model cache:")]
    assert len(lines) == 1, err
    bad = pt if which == "pt" else js
    assert f"cannot load {bad}:" in lines[0]
    assert "expected " in lines[0] and ", found " in lines[0]
    aside = pt.parent / "corrupt"
    assert f"aside to {aside}" in lines[0] and "retraining conv_ae" in lines[0]
    assert sorted(p.name.split(".")[1] for p in aside.iterdir()) == ["json", "pt"]
    assert not second.from_cache and pt.exists() and js.exists()
    # the retrained model is the model a clean run trains (fresh instance, same seed)
    assert np.allclose(second.score(test).image, first.score(test).image, atol=1e-6)
    third = fit_or_load("conv_ae", TINY, train, device="cpu")
    assert third.from_cache and capsys.readouterr().err == ""


def test_stray_temps_of_other_targets_are_swept_only_when_dead_and_stale(tmp_path: Path
                                                                         ) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    old = tmp_path / f"model.pt.tmp{pid}"
    young = tmp_path / f".nb.csv.tmp{pid}"
    live = tmp_path / f"other.pt.tmp{os.getpid()}"
    for path in (old, young, live):
        path.write_bytes(b"partial")
    phantom = tmp_path / f"0123abcd.tmp{pid}"  # a killed phantom generation (a folder)
    (phantom / "train").mkdir(parents=True)
    stale = time.time() - STALE_SECONDS - 10
    for path in (old, live, phantom):
        os.utime(path, (stale, stale))
    assert sorted(sweep_stray_temps(tmp_path)) == sorted([old, phantom])
    assert young.exists() and live.exists() and not phantom.exists()


# --- notebook parameters -------------------------------------------------------------------------

def _namespace(notebook: str, **changes) -> dict:
    return {**declared_parameters(notebook), **changes}


@pytest.mark.parametrize(("changes", "fragments"), [
    ({"EPOCHS": 5}, [r"unknown parameter 'EPOCHS' = 5", r"expected only the parameters",
                     r"SEEDS: list\[int\]"]),
    ({"SEEDS": 0}, [r"parameter 'SEEDS': expected list\[int\]", r"found int 0",
                    r"write a list: \[0\]"]),
    ({"DATASETS": "phantom_cxr"}, [r"parameter 'DATASETS': expected list\[str\]",
                                   r"found str 'phantom_cxr'"]),
    ({"SEEDS": [0, "1"]}, [r"'SEEDS': expected list\[int\]", r"found list \[0, '1'\]"]),
    ({"DATA_ROOT": 3}, [r"'DATA_ROOT': expected str or None", r"found int 3"]),
    ({"DATASET_OPTIONS": {"phantom_cxr": 5}}, [r"expected dict\[str, dict\]", r"found dict"]),
    ({"SEED": [1]}, [r"unknown parameter 'SEED'", r"did you mean SEEDS\?"]),
], ids=["unknown", "seeds-int", "datasets-str", "seeds-item", "root-int", "options", "close"])
def test_bad_notebook_parameter(changes: dict, fragments: list[str]) -> None:
    namespace = _namespace("heteroae_t1_sota", **changes)
    expect(ParameterError, lambda: check_parameters(namespace, "heteroae_t1_sota"), *fragments)


def test_parameter_injected_in_lower_case_is_caught() -> None:
    injected = "# Parameters\nPROFILE = \"smoke\"\nepochs = 5\n"
    namespace = _namespace("reference_t0_conv_ae", epochs=5, In=["", "PROFILE = 'x'", injected])
    expect(ParameterError, lambda: check_parameters(namespace, "reference_t0_conv_ae"),
           r"unknown parameter 'epochs' = 5", r"expected only the parameters")


def test_names_the_notebook_itself_binds_are_not_parameters() -> None:
    """Imported or assigned UPPER_CASE names (``STANDS_IN_FOR``, ``NOTEBOOK``) are no
    parameters, also when a cell is run again; the same name injected by papermill is."""
    from reprolib.data import STANDS_IN_FOR
    namespace = _namespace("00_datasets", STANDS_IN_FOR=STANDS_IN_FOR)
    assert check_parameters(namespace, "00_datasets")["SEED"] == 0
    namespace = _namespace("heteroae_t1_sota", NOTEBOOK="heteroae_t1_sota")
    check_parameters(namespace, "heteroae_t1_sota")
    namespace["In"] = ["# Parameters\nNOTEBOOK = 'x'\n"]
    expect(ParameterError, lambda: check_parameters(namespace, "heteroae_t1_sota"),
           r"unknown parameter 'NOTEBOOK' = 'heteroae_t1_sota'")


def test_every_params_file_passes_its_notebook_check() -> None:
    import yaml
    for notebook in sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")):
        for path in sorted((ROOT / "params" / notebook).glob("*.yaml")):
            values = yaml.safe_load(path.read_text()) or {}
            check_parameters(_namespace(notebook, **{**values, "PROFILE": path.stem}),
                             notebook)


def test_every_notebook_checks_its_parameters_first() -> None:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        index = next(i for i, c in enumerate(cells)
                     if "parameters" in c["metadata"].get("tags", []))
        first = "".join(cells[index + 1]["source"])
        work = [ln for ln in first.splitlines() if ln.strip() and not ln.startswith(
            ("from ", "import ", " "))]
        assert work[0] == f'check_parameters(globals(), notebook="{path.stem}")', path.name


@pytest.mark.notebooks
def test_papermill_run_with_unknown_parameter_stops(tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "99_comparison.ipynb"), str(tmp_path / "out.ipynb"),
            parameters={"PROFILE": "smoke", "EPOCHS": 5, "RESULTS_DIR": str(tmp_path)},
            cwd=str(ROOT), progress_bar=False, kernel_name="python3")
    assert info.value.ename == "ParameterError"
    assert "unknown parameter 'EPOCHS' = 5" in info.value.evalue
    assert "expected only the parameters" in info.value.evalue


# --- the Snakefile -------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["x; touch {marker}", "nope"])
def test_snakefile_validates_the_profile(tmp_path: Path, profile: str) -> None:
    if not (Path(sys.executable).parent / "snakemake").exists():
        pytest.skip("snakemake is not installed")
    marker = tmp_path / "pwned"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--cores", "1", "--config",
         f"profile={profile.format(marker=marker)}"], cwd=ROOT, capture_output=True, text=True,
        timeout=300)
    assert result.returncode != 0 and not marker.exists()
    assert "--config profile: expected one of [" in result.stderr
    assert "'smoke'" in result.stderr and f"got '{profile.format(marker=marker)}'" \
        in result.stderr


def test_snakefile_quotes_what_it_passes_to_the_shell() -> None:
    text = (ROOT / "Snakefile").read_text()
    commands = re.findall(r'"(python tools/run_notebook.py [^"]*)"', text)
    assert commands
    for command in commands:
        for field in re.findall(r"\{([^}]+)\}", command):
            # COLLECTOR is the Snakefile's own constant, not an input
            assert field.endswith(":q") or field == "COLLECTOR", \
                f"{{{field}}} unquoted in {command!r}"


# --- kill -9 during writes -----------------------------------------------------------------------

CHILD = textwrap.dedent('''
    import json, os, sys, time
    sys.path.insert(0, {tests!r})
    import pandas as pd
    import torch
    torch.set_num_threads(1)
    from tinydata import TinyDataset
    from reprolib.cache import fit_or_load
    from reprolib.metrics import image_auroc
    from reprolib.results import ResultRecorder

    TINY = {tiny!r}
    mode = sys.argv[1]

    def stall(write):
        """Write the temporary file, cut it to half (a write in progress), then wait."""
        def stalled(obj, target, *args, **kwargs):
            write(obj, target, *args, **kwargs)
            size = os.path.getsize(target)
            with open(target, "r+b") as handle:
                handle.truncate(size // 2)
            print("WRITING", target, flush=True)
            time.sleep(600)
        return stalled

    def model(seed):
        return fit_or_load("conv_ae", TINY, TinyDataset(), seed=seed, device="cpu")

    def rows(seed, method):
        test = TinyDataset(anomalous=3)
        auroc = image_auroc(test.labels, method.score(test).image)
        rec = ResultRecorder(paper="reference", table="t0", notebook="nb", profile="smoke")
        rec.add(dataset="tiny", method="conv_ae", metric="auroc", value=auroc, seed=seed)
        rec.write()

    if mode == "first":
        rows(0, model(0))
    elif mode == "kill-model":
        torch.save = stall(torch.save)
        model(1)
    elif mode == "kill-results":
        write = pd.DataFrame.to_csv
        pd.DataFrame.to_csv = lambda self, target=None, **kw: (
            write(self, target, **kw) if target is None  # to text, not a file write
            else stall(lambda obj, t, **k: write(obj, t, **k))(self, target, **kw))
        rows(1, model(0))
    else:
        zero, one = model(0), model(1)
        rows(1, one)
        print("FROM_CACHE", json.dumps([zero.from_cache, one.from_cache]), flush=True)
''')


def _run_child(script: Path, mode: str, env: dict, kill: bool) -> str:
    proc = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    if not kill:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        return out
    line = proc.stdout.readline()  # blocks until the write is under way
    assert line.startswith("WRITING"), proc.communicate(timeout=60)[1]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return line


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "locks" not in p.parts}


def test_kill_9_during_model_and_results_writes_then_rerun(tmp_path: Path) -> None:
    cache, results = tmp_path / "cache", tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REPROLIB_CACHE": str(cache),
           "REPROLIB_RESULTS": str(results), "OMP_NUM_THREADS": "1",
           "REPROLIB_OFFLINE": "1", "REPROLIB_PROGRESS": "0"}
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(ROOT / "tests"), tiny=TINY))
    csv = results / "smoke" / "nb.csv"

    _run_child(script, "first", env, kill=False)
    before_cache, before_csv = _files(cache), csv.read_bytes()

    line = _run_child(script, "kill-model", env, kill=True)
    stray = Path(line.split(maxsplit=1)[1].strip())
    assert re.fullmatch(r".+\.pt\.tmp\d+", stray.name) and stray.exists()
    after = _files(cache)
    assert {k: after[k] for k in before_cache} == before_cache  # nothing lost
    assert not [k for k in after if k.endswith(".pt") and k not in before_cache]

    line = _run_child(script, "kill-results", env, kill=True)
    stray_csv = Path(line.split(maxsplit=1)[1].strip())
    assert re.fullmatch(r"\.nb\.csv\.tmp\d+", stray_csv.name) and stray_csv.exists()
    assert csv.read_bytes() == before_csv  # nothing lost

    out = _run_child(script, "rerun", env, kill=False)
    assert "FROM_CACHE [true, false]" in out  # seed 0 reused, seed 1 trained again
    leftovers = [p for p in [*cache.rglob("*"), *results.rglob("*")] if ".tmp" in p.name]
    assert not leftovers, leftovers
    frame = read_results("smoke", results).sort_values("seed")
    assert frame["seed"].tolist() == [0, 1]
    first_row = pd.read_csv(pd.io.common.StringIO(before_csv.decode()))
    assert frame["value"].iloc[0] == first_row["value"].iloc[0]  # the other row untouched
    assert not (cache / "models" / "conv_ae" / "corrupt").exists()
