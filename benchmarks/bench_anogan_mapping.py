"""Speed of AnoGAN's latent mapping (§2.2): a whole batch at once vs one image at a time.

Each image's loss depends only on its own z and Adam is element-wise, so the batch gives the
same z_Γ as separate runs (checked here too); this measures what batching saves.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_anogan_mapping.py --widths 16 32 64 128 \
        --patches 64 --steps 20
"""

from __future__ import annotations

import argparse
import time

import torch

from reprolib.methods.anogan.model import Discriminator, Generator, map_to_latent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs=4, default=[64, 128, 256, 512],
                        help="D-side channel widths (paper: 64 128 256 512)")
    parser.add_argument("--patches", type=int, default=64, help="patches to map")
    parser.add_argument("--steps", type=int, default=20, help="mapping steps (paper: 500)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    generator = Generator(64, 1, tuple(args.widths)).to(device).eval()
    discriminator = Discriminator(64, 1, tuple(args.widths)).to(device).eval()
    x = (torch.rand(args.patches, 1, 64, 64) * 2 - 1).to(device)
    z0 = torch.rand(args.patches, 100) * 2 - 1

    def run(batch: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return map_to_latent(batch, generator, discriminator, steps=args.steps, z_init=z).score

    run(x[:2], z0[:2])  # warm-up
    start = time.perf_counter()
    batched = run(x, z0)
    t_batch = time.perf_counter() - start
    start = time.perf_counter()
    single = torch.cat([run(x[i:i + 1], z0[i:i + 1]) for i in range(args.patches)])
    t_single = time.perf_counter() - start
    diff = float(((batched - single).abs() / single.abs().clamp_min(1e-6)).max())
    per = 1e3 / (args.patches * args.steps)
    print(f"widths {args.widths}, {args.patches} patches x {args.steps} steps on {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"  one batch:          {t_batch:8.2f} s  ({t_batch * per:.2f} ms per patch-step)")
    print(f"  one at a time:      {t_single:8.2f} s  ({t_single * per:.2f} ms per patch-step)")
    print(f"  speed-up:           {t_single / t_batch:8.1f} x")
    print(f"  max relative score difference batch vs single: {diff:.2e}")
    print(f"  extrapolated 500-step mapping of 64 patches, batched: "
          f"{t_batch * per * 64 * 500 / 1e3:.0f} s")


if __name__ == "__main__":
    main()
