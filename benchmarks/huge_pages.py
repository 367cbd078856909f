"""The fused layer with and without the kernel's huge-page hint, each in a fresh process.

The fused CPU kernel asks Linux to back its large outputs with transparent huge pages
(``madvise``); ``STABLESPIKE_HUGE_PAGES=0`` turns that off. This script times ``TrLIF()``
forward + backward on the standard layer (T=4, B=16, C=128, 32x32) in a plain loop (median of
37 calls after 3 warm-up calls, glibc's default allocator), once each way, and prints both.

    python benchmarks/huge_pages.py            # both settings, one process each
    python benchmarks/huge_pages.py --runs 3   # three processes per setting
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def measure(calls: int = 40, warmup: int = 3) -> tuple[float, float]:
    """Median forward and forward + backward seconds of the standard fused layer."""
    import torch

    from stablespike import TrLIF

    torch.manual_seed(0)
    shape = (4, 16, 128, 32, 32)
    x, grad = torch.randn(shape) + 0.5, torch.randn(shape)
    lif = TrLIF(backend="fused").train()
    fwd, both = [], []
    for _ in range(calls):
        xi = x.detach().requires_grad_()
        t0 = time.perf_counter()
        y = lif(xi)
        t1 = time.perf_counter()
        y.backward(grad)
        t2 = time.perf_counter()
        fwd.append(t1 - t0)
        both.append(t2 - t0)
    return statistics.median(fwd[warmup:]), statistics.median(both[warmup:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="processes per setting")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fwd, both = measure()
        print(f"{fwd * 1e3:.2f} {both * 1e3:.2f}")
        return 0
    for setting in ("1", "0"):
        env = dict(os.environ, STABLESPIKE_HUGE_PAGES=setting)
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
            )
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            fwd, both = out.stdout.split()[-2:]
            hint = "on " if setting == "1" else "off"
            print(f"huge-page hint {hint}: forward {fwd} ms, forward + backward {both} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
