"""Cost of ProxyAno's proxies per image (one thread): SLIC with 800 segments + mean fill (the
SI), and the Table III proxies, at 256 px (the paper's size) and at smaller sizes.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_superpixel.py \
        --dataset brain_tumor_mri --root ../shared/data --images 20

Without ``--root`` the brain MRI phantom is used. The number is written in the docstring of
``reprolib/blocks/superpixel.py`` and in docs/proxyano.md.
"""

from __future__ import annotations

import argparse
import os
import time

from reprolib.blocks.superpixel import PROXY_KINDS, ProxySpec, compute_proxy
from reprolib.data import get_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="phantom_brain")
    parser.add_argument("--root", default=None, help="data root of a real dataset")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 64])
    parser.add_argument("--kinds", nargs="+", default=list(PROXY_KINDS))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    options = {} if args.root else {"n_train": args.images, "n_test": 4}
    for size in args.sizes:
        data = get_dataset(args.dataset, "train", root=args.root, img_size=size, **options)
        n = min(args.images, len(data))
        images = [data[i]["image"].numpy() for i in range(n)]
        for kind in args.kinds:
            spec = ProxySpec(kind=kind)  # type: ignore[arg-type]
            compute_proxy(images[0], spec)  # warm-up (imports)
            start, cpu = time.perf_counter(), time.process_time()
            for image in images:
                compute_proxy(image, spec)
            per = (time.perf_counter() - start) / n
            per_cpu = (time.process_time() - cpu) / n
            extra = f" ({spec.segments_at(size)} segments)" if kind == "si" else ""
            print(f"{args.dataset} {size} px {kind:12s}: {1000 * per:7.1f} ms wall, "
                  f"{1000 * per_cpu:7.1f} ms CPU per image over {n} images{extra}")


if __name__ == "__main__":
    main()
