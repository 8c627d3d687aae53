"""Run one notebook under one profile with papermill, as the Snakefile's jobs do (DESIGN §7).

    python tools/run_notebook.py STEM PROFILE [--params FILE] [--output FILE]

What the terminal shows, one line each, prefixed with the notebook's name so parallel jobs stay
readable: the start, the progress of every training loop (``reprolib.progress``: method,
dataset, epoch and step of total, time left), and the end (time taken, or the error and where
the executed notebook with the traceback is). Papermill's own per-cell bar is off (its carriage
returns garble parallel jobs), and so is the kernel's warning that its local TCP sockets are not
encrypted (``--IPKernelApp.log_level=ERROR``: the kernel still reports errors).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

ROOT = Path(__file__).resolve().parent.parent


class QuietKernelManager(AsyncKernelManager):
    """A kernel that logs errors only (no 'running over TCP without encryption' warning), and
    is not interrupted when papermill shuts it down after the last cell: jupyter_client sends
    SIGINT before every shutdown request, which an idle kernel logged as
    ``[IPKernelApp] ERROR | KeyboardInterrupt`` at the end of every job. The shutdown request
    (and, after a second, the kill) still ends a busy kernel."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return super().format_kernel_cmd(extra_arguments) + ["--IPKernelApp.log_level=ERROR"]

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()


def _say(stem: str, text: str) -> None:
    os.write(2, f"[{stem}] {text}\n".encode())


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stem", help="notebook name without .ipynb, e.g. reference_t0_conv_ae")
    parser.add_argument("profile", help="params profile, e.g. smoke, default, paper")
    parser.add_argument("--params", help="params file (default params/<stem>/<profile>.yaml)")
    parser.add_argument("--output", help="executed notebook "
                        "(default results/executed/<profile>/<stem>.ipynb)")
    args = parser.parse_args(argv)
    notebook = ROOT / "notebooks" / f"{args.stem}.ipynb"
    params = Path(args.params or ROOT / "params" / args.stem / f"{args.profile}.yaml")
    output = Path(args.output or ROOT / "results" / "executed" / args.profile
                  / f"{args.stem}.ipynb")
    for path, what in ((notebook, "notebook"), (params, "params file")):
        if not path.is_file():
            print(f"run_notebook: no {what} {path}", file=sys.stderr)
            return 2
    import papermill
    import yaml
    from papermill.exceptions import PapermillExecutionError

    parameters = {**(yaml.safe_load(params.read_text()) or {}), "PROFILE": args.profile}
    output.parent.mkdir(parents=True, exist_ok=True)
    os.environ["REPROLIB_JOB"] = args.stem
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.monotonic()
    _say(args.stem, f"started under profile '{args.profile}'")
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                                   progress_bar=False, log_output=False,
                                   kernel_manager_class=QuietKernelManager)
    except PapermillExecutionError as error:
        _say(args.stem, f"FAILED after {_clock(time.monotonic() - start)} in cell "
                        f"{error.exec_count}: {error.ename}: {str(error.evalue)[:300]} "
                        f"(traceback in {output})")
        return 1
    _say(args.stem, f"done in {_clock(time.monotonic() - start)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
