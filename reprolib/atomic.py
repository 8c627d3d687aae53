"""Atomic writes leave a temporary file ``<name>.tmp<pid>`` (or ``.<name>.tmp<pid>``) next to
their target until the rename; a writer killed (kill -9, power loss) before the rename leaves it
behind. The next run that writes there removes such strays (DESIGN §6: writes are atomic).

Two rules keep a live writer's temporary file safe:

- :func:`remove_stray_temps` removes the strays of *one target*; callers hold the lock that
  serialises writers of that target (the model cache's per-model lock, the results file lock),
  so no live writer of that target exists.
- :func:`sweep_stray_temps` removes strays of *other targets* in the folder only when their
  writer process is gone on this machine and the file has not changed for
  :data:`STALE_SECONDS` (so a writer on another host of a shared filesystem is left alone).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from reprolib.paths import cache_dir

#: A temporary file of another target is removed only when unchanged for this long.
STALE_SECONDS = 3600.0

_TEMP = re.compile(r"^\.?(?P<target>.+)\.tmp(?P<pid>\d+)$")


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """An inter-process lock (``cache_dir()/locks/<name>.lock``): when two notebooks need the
    same model at once (parallel snakemake jobs), the second waits for the first to train it and
    then loads it from the cache instead of training it twice."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; at worst the work is done twice
        yield
        return
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def temp_path(path: Path, hidden: bool = False) -> Path:
    """Where an atomic write of ``path`` writes before renaming (this process's pid)."""
    return path.with_name(f"{'.' if hidden else ''}{path.name}.tmp{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stray_temps(path: Path) -> list[Path]:
    """Remove the temporary files of killed writes of ``path`` (other than this process's).

    Call it while holding the lock that serialises writers of ``path``. Returns what was
    removed.
    """
    removed = []
    if not path.parent.is_dir():
        return removed
    for candidate in path.parent.iterdir():
        match = _TEMP.match(candidate.name)
        if (match and match["target"] == path.name and int(match["pid"]) != os.getpid()
                and candidate.is_file()):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def sweep_stray_temps(folder: Path, stale_seconds: float = STALE_SECONDS) -> list[Path]:
    """Remove temporary files (and folders: phantoms are generated in ``<hash>.tmp<pid>/``) in
    ``folder`` whose writer is no longer running here and that have not changed for
    ``stale_seconds``. Returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for candidate in folder.iterdir():
        match = _TEMP.match(candidate.name)
        if not match or _pid_alive(int(match["pid"])):
            continue
        try:
            if now - candidate.stat().st_mtime < stale_seconds:
                continue
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()
        except FileNotFoundError:
            continue
        removed.append(candidate)
    return removed
