"""Progress lines a person can follow in the terminal of ``make reproduce`` (DESIGN §7).

A notebook run by ``tools/run_notebook.py`` (the Snakefile's jobs) has ``REPROLIB_JOB`` set to
its name. Training loops (:func:`reprolib.training.run_epochs`, :func:`reprolib.training.progress`)
then also write, besides their ``tqdm`` bar (a widget in the executed notebook), one plain line
now and then to the terminal the job was started from::

    [heteroae_t1_sota] hetero_ae on phantom_cxr, seed 0: epoch 3/8, step 30/80, 0:42 elapsed,
        ~1:10 left   (one line)

Each line is written with one ``os.write`` (shorter than the pipe buffer), so lines of parallel
jobs never interleave within a line; no carriage returns. A line at the start and end of each
loop, and in between at most one every ``REPROLIB_PROGRESS_INTERVAL`` seconds (default 20).
Inside a Jupyter kernel the line goes to the kernel's original standard error (the terminal of
the process that started it), not into the notebook. ``REPROLIB_PROGRESS=0`` silences it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from collections.abc import Iterator

JOB_ENV = "REPROLIB_JOB"
INTERVAL_ENV = "REPROLIB_PROGRESS_INTERVAL"
_LABELS: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "reprolib_progress_labels", default=())


@contextlib.contextmanager
def labels(**values: object) -> Iterator[None]:
    """Name what is being trained (``dataset=..., seed=...``) for the lines inside the block."""
    token = _LABELS.set(_LABELS.get() + tuple((k, str(v)) for k, v in values.items()))
    try:
        yield
    finally:
        _LABELS.reset(token)


def job_name() -> str | None:
    """The job whose terminal gets progress lines (``$REPROLIB_JOB``), or None."""
    if os.environ.get("REPROLIB_PROGRESS", "1") == "0":
        return None
    return os.environ.get(JOB_ENV) or None


def _terminal_fd() -> int | None:
    stream = sys.stderr
    try:   # in a Jupyter kernel, the file descriptor of the original stderr (not the notebook)
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def emit(text: str) -> bool:
    """Write ``[job] text`` as one line to the terminal; False if there is no job or terminal."""
    job = job_name()
    fd = _terminal_fd() if job else None
    if fd is None:
        return False
    line = f"[{job}] {' '.join(text.split())}"[:1000] + "\n"
    try:
        os.write(fd, line.encode("utf-8", errors="replace"))
    except OSError:
        return False
    return True


def _clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _steps(n: int) -> str:
    return f"{n} step{'' if n == 1 else 's'}"


def subject(desc: str) -> str:
    """``desc`` with the labels of the enclosing :func:`labels` blocks: "ae on phantom_cxr,
    seed 0"."""
    found = dict(_LABELS.get())
    text = desc
    if "dataset" in found:
        text += f" on {found.pop('dataset')}"
    extra = ", ".join(f"{k} {v}" for k, v in found.items())
    return f"{text}, {extra}" if extra else text


class StepReporter:
    """Counts the steps of a loop and emits rate-limited progress lines (see module doc)."""

    def __init__(self, desc: str, total: int | None, *, epochs: int | None = None,
                 interval: float | None = None, lazy: bool = False) -> None:
        """``lazy``: no start line; lines only once the loop has run ``interval`` seconds (for
        short inner loops such as scoring chunks)."""
        self.job = job_name()
        self.what = subject(desc)
        self.total = total
        self.epochs = epochs
        self.done = 0
        self.epoch = 0
        self.start = self.last = time.monotonic()
        self.interval = float(os.environ.get(INTERVAL_ENV, 20.0)) if interval is None \
            else interval
        self.closed = False
        self.spoke = False
        if self.job and not lazy:
            self.spoke = True
            per_epoch = (total or 0) // max(epochs or 1, 1)
            size = (f"{epochs} epoch{'s' if epochs != 1 else ''} of {per_epoch} steps"
                    if epochs and total else _steps(total) if total else "")
            emit(f"{self.what}: started{', ' + size if size else ''}")

    def step(self, epoch: int | None = None, n: int = 1) -> None:
        """``n`` more steps done (in ``epoch``, 1-based, when the loop has epochs)."""
        self.done += n
        if epoch is not None:
            self.epoch = epoch
        if self.job and time.monotonic() - self.last >= self.interval:
            self.last = time.monotonic()
            self.spoke = True
            emit(self.line())

    def line(self) -> str:
        """``what: epoch e/E, step s/S, m:ss elapsed, ~m:ss left``."""
        elapsed = time.monotonic() - self.start
        parts = []
        if self.epochs:
            parts.append(f"epoch {self.epoch}/{self.epochs}")
        parts.append(f"step {self.done}/{self.total}" if self.total else f"step {self.done}")
        parts.append(f"{_clock(elapsed)} elapsed")
        if self.total and self.done:
            parts.append(f"~{_clock(elapsed / self.done * (self.total - self.done))} left")
        return f"{self.what}: " + ", ".join(parts)

    def close(self) -> None:
        """The closing line: finished (or stopped early) after how long."""
        if self.closed:
            return
        self.closed = True
        if not self.job or not self.spoke:
            return
        elapsed = _clock(time.monotonic() - self.start)
        if self.total is None or self.done >= self.total:
            emit(f"{self.what}: finished {_steps(self.done)} in {elapsed}")
        else:
            emit(f"{self.what}: stopped at step {self.done}/{self.total} after {elapsed}")
