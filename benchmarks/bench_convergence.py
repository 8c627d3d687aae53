"""Steps until the convergence rule says "yes", and seconds per optimiser step (issue 8).

Trains each named method once for a generous step budget on a phantom (one thread; CPU time
is reported beside wall time, as a shared machine inflates the latter), then replays
the recorded history: for every epoch-end, the rule of ``reprolib.convergence`` is applied to the
history up to there; the reported length is the first epoch-end from which the rule says
``yes`` at every later epoch-end too. Used to size the ``default`` profile.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_convergence.py \
        --methods ae hetero_ae ganomaly f_anogan --out /tmp/convergence.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from reprolib.convergence import CONVERGED, convergence_flag, loss_key
from reprolib.data import get_dataset
from reprolib.methods import create_method

#: The default profile's configs (params/heteroae_t1_sota/default.yaml) with a step budget.
CONFIGS = {
    "ae": {"img_size": 64, "steps": 1000},
    "vae": {"img_size": 64, "steps": 1500},
    "hetero_ae": {"img_size": 64, "batch_size": 16, "lr": 0.0001, "steps": 600},
    "ganomaly": {"img_size": 64, "max_width": 256, "steps": 500},
    "salad": {"img_size": 64, "max_width": 256, "steps": 600},
    "f_anogan": {"img_size": 64, "dim": 16, "steps": 200, "encoder_steps": 400},
    "stfpm": {"img_size": 64, "steps": 600},
    "mkd": {"img_size": 64, "steps": 600},
    "rd4ad": {"img_size": 64, "backbone": "resnet18", "steps": 600},
}


def steps_to_converge(history: list[dict], key: str | None) -> tuple[int | None, float | None]:
    """(steps, seconds) at the first epoch-end from which the rule says yes to the end."""
    first = None
    for end in range(1, len(history) + 1):
        flag = convergence_flag(history[:end], key)
        if flag == CONVERGED:
            if first is None:
                first = end
        else:
            first = None
    if first is None:
        return None, None
    return int(history[first - 1]["steps"]), float(history[first - 1]["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["ae", "hetero_ae", "ganomaly",
                                                         "f_anogan"])
    parser.add_argument("--dataset", default="phantom_cxr")
    parser.add_argument("--n-train", type=int, default=150)
    parser.add_argument("--out", default="convergence.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for name in args.methods:
        probe = create_method(name, CONFIGS[name], device="cpu")
        spec = probe.data_spec()
        train = get_dataset(args.dataset, "train", img_size=spec["img_size"],
                            channels=spec["channels"], normalize=spec["normalize"],
                            n_train=args.n_train, n_test=300)
        start, cpu = time.perf_counter(), time.process_time()
        probe.fit(train)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        key = type(probe).convergence_key
        history = probe.history
        watched = [r for r in history if loss_key(history, key) in r]
        steps, at = steps_to_converge(watched, key)
        total = int(history[-1]["steps"])
        results[name] = {"config": CONFIGS[name], "n_train": len(train), "key": key,
                         "total_steps": total, "fit_seconds": seconds, "fit_cpu_seconds": cpu,
                         "cpu_seconds_per_step": cpu / max(total, 1),
                         "steps_to_converge": steps, "seconds_to_converge": at,
                         "history": history}
        print(f"{name}: {total} steps in {seconds:.1f} s wall, {cpu:.1f} s CPU "
              f"({cpu / max(total, 1):.3f} CPU s/step); converged from {steps} steps",
              flush=True)
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
