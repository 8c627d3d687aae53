"""00_datasets' widget browser in a real JupyterLab and a real headless Chromium (issue 16).

Starts JupyterLab 4 on 127.0.0.1 (a free port, no token, its runtime/config/data/settings/
workspace folders and the reprolib cache/results under a temporary folder), opens a copy of
``notebooks/00_datasets.ipynb`` with the smoke profile's parameters (plus ``BROWSER = True``
and a data root without real data), checks that it opens unmodified and without any dialog,
runs all cells, then makes 20 changes through the page (dataset and split drop-downs, index
slider by keyboard and by its readout, mask checkbox). After each change it waits for the
browser's image and caption to show the selected item and checks: exactly one image, of
``gallery.BROWSER_PX`` pixels square, whose bytes (SHA-256 of what the page shows) equal
``gallery.browser_png`` of that item computed here, no widget error on the page. At the end:
no error output, no console error. Screenshots of each step go to
``$REPROLIB_BROWSER_SHOTS`` (default ``.cache/test-browser/screenshots``), with the server log.

Run it with ``make test-browser`` (``pytest -m browser tests/browser``); it needs Debian's
``chromium`` and ``chromium-driver`` and the pinned ``selenium``. The plain ``pytest tests``
skips it.
"""

from __future__ import annotations

import ast
import hashlib
import http.cookiejar
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "00_datasets"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("REPROLIB_BROWSER_SHOTS",
                            ROOT / ".cache" / "test-browser" / "screenshots"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]
CHANGE_WAIT_S = 15.0  # per change; the manual check waited 12 s
STABLE_S = 1.0  # a shown image must still be there this much later
RUN_ALL_WAIT_S = 600.0

# (kind, value): dataset/split by the drop-down's option text, index by a key on the slider's
# handle (one step) or "type:N" into its readout, mask by a click on the checkbox.
CHANGES: list[tuple[str, Any]] = [
    ("split", "test"), ("index", "type:7"), ("mask", None), ("dataset", "phantom_brain"),
    ("mask", None), ("index", "ArrowLeft"), ("dataset", "phantom_oct"), ("mask", None),
    ("split", "train"), ("index", "type:0"), ("split", "test"), ("index", "type:5"),
    ("dataset", "phantom_eyeq"), ("mask", None), ("dataset", "phantom_idrid"),
    ("split", "train"), ("index", "ArrowLeft"), ("split", "test"), ("index", "ArrowRight"),
    ("mask", None),
]

# What the page shows inside the browser's widget box (the last VBox with a drop-down).
_PAGE_STATE_JS = """
const done = arguments[arguments.length - 1];
const boxes = [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox')]
    .filter(b => b.querySelector('.widget-dropdown'));
const box = boxes[boxes.length - 1];
const errors = [...document.querySelectorAll(
    '.jupyter-widgets-error-widget, .jp-OutputArea-output')]
    .filter(e => e.classList.contains('jupyter-widgets-error-widget')
              || /Error displaying widget|Error rendering|Failed to load model/
                   .test(e.textContent))
    .map(e => e.textContent.slice(0, 200));
if (!box) { done({found: false, errors}); return; }
const imgs = [...box.querySelectorAll('img')].filter(i => i.offsetParent !== null);
const last = box.children[box.children.length - 1];
const readout = box.querySelector('.widget-readout');
const out = {found: true, errors, n_img: imgs.length, caption: last ? last.textContent : '',
             slider: readout ? readout.textContent : null,
             sizes: imgs.map(i => [i.naturalWidth, i.naturalHeight]), sha: null};
if (imgs.length !== 1 || !imgs[0].src) { done(out); return; }
fetch(imgs[0].src).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest('SHA-256', b))
  .then(h => { out.sha = [...new Uint8Array(h)].map(x => x.toString(16).padStart(2, '0'))
                         .join(''); done(out); })
  .catch(e => { out.fetch_error = String(e); done(out); });
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    work: Path
    env: dict[str, str]
    log: Path


def _params(data_root: Path) -> dict[str, Any]:
    """The parameters cell's defaults, overridden by the smoke profile, the browser on and a
    data root without real data."""
    nb = nbformat.read(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    defaults = {t.id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body
                if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    values = yaml.safe_load((ROOT / "params" / NOTEBOOK / "smoke.yaml").read_text()) or {}
    return {**defaults, **values, "PROFILE": "smoke", "BROWSER": True,
            "DATA_ROOT": str(data_root)}


def _notebook_copy(dest: Path, params: dict[str, Any]) -> Path:
    """The committed notebook with a cell setting ``params`` after its parameters cell (as
    papermill injects them); the metadata stays as committed."""
    nb = nbformat.read(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=nbformat.NO_CONVERT)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    cell.id, cell.metadata["tags"] = "injected-parameters", ["injected-parameters"]
    nb.cells.insert(at + 1, cell)
    path = dest / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1, everything it writes under ``tmp_path``; stopped afterwards,
    also when the test fails."""
    port, home, work = _free_port(), tmp_path / "jupyter", tmp_path / "work"
    for sub in ("runtime", "data", "config", "ipython", "settings", "workspaces"):
        (home / sub).mkdir(parents=True)
    (work / "no-data").mkdir(parents=True)
    # No news feed, no update check, no "get notified about news?" toast over the screenshots:
    # the test stays offline and the page quiet.
    (home / "config" / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {
        "news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}))
    notify = home / "settings" / "@jupyterlab" / "apputils-extension"
    notify.mkdir(parents=True)
    (notify / "notification.jupyterlab-settings").write_text(json.dumps(
        {"fetchNews": "false", "checkForUpdates": False}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    env.update({
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"), "IPYTHONDIR": str(home / "ipython"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "REPROLIB_CACHE": str(tmp_path / "cache"), "REPROLIB_RESULTS": str(tmp_path / "results"),
        "REPROLIB_EXECUTED": str(tmp_path / "executed"), "REPROLIB_OFFLINE": "1",
        "REPROLIB_PROGRESS": "0", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
        # the kernel spec runs `python`: this environment's, importing this checkout
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    })
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--ServerApp.password=",
           f"--ServerApp.root_dir={work}"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on {url} within 120 s:\n"
                                f"{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield Lab(url, work, env, log)
    finally:
        _stop(proc, url)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, SHOTS / "server.log")


def _stop(proc: subprocess.Popen, url: str) -> None:
    """Shut the kernels down through the API, then the server (SIGTERM, then SIGKILL of the
    process group this test started)."""
    if proc.poll() is None:
        try:  # the server wants its XSRF cookie echoed in a header on DELETE
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            kernels = json.loads(opener.open(f"{url}/api/kernels", timeout=5).read())
            opener.open(f"{url}/lab", timeout=10).read()
            xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
            for k in kernels:
                opener.open(urllib.request.Request(
                    f"{url}/api/kernels/{k['id']}", method="DELETE",
                    headers={"X-XSRFToken": xsrf}), timeout=30).read()
        except OSError:
            pass  # SIGTERM below shuts the kernels down as well
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _driver(user_data: Path) -> Any:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: install the pinned dev extras (make setup)")
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            pytest.fail(f"{exe} not found: apt-get install -y chromium chromium-driver "
                        "(or set CHROMIUM / CHROMEDRIVER)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    return driver


def _wait(what: str, until: Callable[[], Any], timeout: float, shot: Callable[[str], None]
          ) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = until()
        if value:
            return value
        if time.monotonic() > deadline:
            shot(f"timeout_{what.replace(' ', '_')}")
            pytest.fail(f"waited {timeout:.0f} s for {what}; screenshots in {SHOTS}")
        time.sleep(0.25)


def test_datasets_browser_twenty_changes(lab: Lab, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    params = _params(lab.work / "no-data")
    nb_path = _notebook_copy(lab.work, params)
    committed = nbformat.read(nb_path, as_version=4).metadata.language_info.version
    d = _driver(tmp_path / "chromium-profile")
    console: list[dict[str, Any]] = []
    try:
        def shot(name: str) -> None:
            d.save_screenshot(str(SHOTS / f"{name}.png"))

        def js(script: str) -> Any:
            return d.execute_script(script)

        d.get(f"{lab.url}/lab/tree/{nb_path.name}?reset")
        _wait("the kernel to be idle", lambda: js(
            "return document.querySelector('.jp-Notebook-ExecutionIndicator')"
            "?.getAttribute('data-status') === 'idle'"), 120, shot)
        time.sleep(2)  # the kernel's info reaches the notebook model
        shot("00_opened")
        assert not d.find_elements(By.CSS_SELECTOR, ".jp-Dialog"), "a dialog opened with it"
        dirty = d.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
        if committed == platform.python_version():
            assert not dirty, ("JupyterLab marked the notebook modified on open: its metadata "
                               "differs from what JupyterLab writes (tools/nb_normalise.py)")

        menu = next(e for e in d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
                    if e.text == "Run")
        menu.click()
        next(e for e in d.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
             if e.text == "Run All Cells").click()
        start = time.monotonic()
        _wait("all cells to run", lambda: js(
            "const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
            "return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent))"
            " && document.querySelector('.jp-Notebook-ExecutionIndicator')"
            "?.getAttribute('data-status') === 'idle'"), RUN_ALL_WAIT_S, shot)
        run_all_s = time.monotonic() - start
        errors = js("return [...document.querySelectorAll("
                    "'[data-mime-type=\"application/vnd.jupyter.error\"]')]"
                    ".map(e => e.textContent.slice(0, 500))")
        assert not errors, f"Run All showed errors: {errors}"

        # The expected items, read here from the cache the notebook's kernel just wrote.
        monkeypatch.setenv("REPROLIB_CACHE", lab.env["REPROLIB_CACHE"])
        from reprolib.data import gallery
        data = gallery.load_phantoms(params["PHANTOMS"], img_size=params["IMG_SIZE"],
                                     seed=params["SEED"], **params["PHANTOM_OPTIONS"])
        state = {"dataset": params["PHANTOMS"][0], "split": "train", "index": 0, "mask": True}

        def expected() -> tuple[str, str]:
            ds = data[state["dataset"]][state["split"]]
            item = ds[state["index"]]
            png = gallery.browser_png(item, ds.normalize, state["mask"])
            caption = gallery.browser_caption(state["dataset"], state["split"], state["index"],
                                              item, state["mask"])
            return caption, hashlib.sha256(png).hexdigest()

        def observe() -> dict[str, Any]:
            return d.execute_async_script(_PAGE_STATE_JS)

        def matches(seen: dict[str, Any], want: tuple[str, str]) -> bool:
            px = gallery.BROWSER_PX
            return (seen.get("found") and not seen["errors"] and seen["n_img"] == 1
                    and seen["sizes"] == [[px, px]] and seen["sha"] == want[1]
                    and want[0] in seen["caption"])

        def settle(want: tuple[str, str]) -> tuple[dict[str, Any], float]:
            """The page once it shows ``want`` in two looks STABLE_S apart (a later update
            must not take the image away again), or as it is after CHANGE_WAIT_S."""
            t0, first = time.monotonic(), None
            while True:
                seen = observe()
                if not matches(seen, want):
                    first = None
                elif first is None:
                    first = time.monotonic() - t0
                elif time.monotonic() - t0 - first >= STABLE_S:
                    return seen, first
                if time.monotonic() - t0 > CHANGE_WAIT_S:
                    return seen, time.monotonic() - t0
                time.sleep(0.2)

        def control(kind: str) -> Any:
            box = ("//div[contains(@class,'widget-vbox')][.//div[contains(@class,"
                   "'widget-dropdown')]]")
            paths = {"dataset": f"({box}//div[contains(@class,'widget-dropdown')]"
                                "[.//label[text()='dataset']]//select)[last()]",
                     "split": f"({box}//div[contains(@class,'widget-dropdown')]"
                              "[.//label[text()='split']]//select)[last()]",
                     "handle": f"({box}//div[contains(@class,'noUi-handle')])[last()]",
                     "readout": f"({box}//div[contains(@class,'widget-readout')])[last()]",
                     "mask": f"({box}//div[contains(@class,'widget-checkbox')]//input)[last()]"}
            el = d.find_element(By.XPATH, paths[kind])
            js_scroll = "arguments[0].scrollIntoView({block: 'center'})"
            d.execute_script(js_scroll, el)
            return el

        def apply(kind: str, value: Any) -> None:
            n = {k: len(v) for k, v in data[state["dataset"]].items()}
            if kind in ("dataset", "split"):
                Select(control(kind)).select_by_visible_text(value)
                state[kind] = value
            elif kind == "mask":
                control("mask").click()
                state["mask"] = not state["mask"]
            elif str(value).startswith("type:"):
                readout = control("readout")
                readout.click()
                readout.send_keys(Keys.CONTROL, "a")
                readout.send_keys(value[5:], Keys.ENTER)
                state["index"] = int(value[5:])
            else:
                handle = control("handle")
                d.execute_script("arguments[0].focus()", handle)
                handle.send_keys({"ArrowLeft": Keys.ARROW_LEFT,
                                  "ArrowRight": Keys.ARROW_RIGHT}[value])
                step = 1 if value == "ArrowRight" else -1
                state["index"] = min(n[state["split"]] - 1, max(0, state["index"] + step))
            # the index range follows the dataset and split; the index is clamped to it
            state["index"] = min(state["index"], len(data[state["dataset"]][state["split"]]) - 1)

        rows = []
        seen, waited = settle(expected())
        rows.append(("run all", "", expected(), seen, waited))
        shot("01_first_image")
        for step, (kind, value) in enumerate(CHANGES, start=1):
            apply(kind, value)
            want = expected()
            seen, waited = settle(want)
            rows.append((kind, value, want, seen, waited))
            shot(f"{step + 1:02d}_{kind}_{str(value or state['mask']).replace(':', '')}")
        console = d.get_log("browser")
    finally:
        d.quit()

    report = ["step | change | expected caption | images | size | bytes | slider | seen caption"
              " | s"]
    bad = []
    for i, (kind, value, want, seen, waited) in enumerate(rows):
        ok = matches(seen, want)
        bad += [] if ok else [i]
        report.append(f"{i:2d} | {kind} {value or ''} | {want[0]} | {seen.get('n_img')} | "
                      f"{seen.get('sizes')} | {'ok' if seen.get('sha') == want[1] else 'DIFFER'}"
                      f" | {seen.get('slider')} | {seen.get('caption', '')[:60]!r} | {waited:.1f}"
                      + ("" if ok else f"  <-- FAIL {seen.get('errors') or ''}"))
    table = "\n".join(report)
    (SHOTS / "steps.txt").write_text(f"Run All: {run_all_s:.1f} s\n{table}\n")
    print(f"\nRun All {run_all_s:.1f} s; screenshots in {SHOTS}\n{table}")
    assert not bad, (f"{len(bad)} of {len(rows)} states did not show their image "
                     f"(steps {bad}); screenshots in {SHOTS}\n{table}")
    severe = [e for e in console if e.get("level") == "SEVERE"]
    assert not severe, f"browser console errors: {severe}"
