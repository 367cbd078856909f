"""What the fused CPU kernel costs a new user: the first ``TrLIF()(x)`` in a fresh and a warm cache.

Each measurement is a fresh Python process (imports done before the clock starts) that times
its first and its second ``TrLIF()(x)`` call (the README's example size, T=4, B=8, 128 features,
training mode: the kernel, its one-time self-check and MP-Init's update). "fresh" uses an empty
kernel cache (``STABLESPIKE_KERNEL_CACHE`` pointing at a new folder), so the first call builds the
kernel; "warm" reuses that folder. Targets: fresh first call at most 3 s more than a warm first
call; warm first call at most 0.2 s more than the second.

    python benchmarks/first_call.py            # 3 fresh + 3 warm processes
    python benchmarks/first_call.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, time, torch
from stablespike import TrLIF
x = torch.randn(4, 8, 128)
lif = TrLIF()
t0 = time.perf_counter(); lif(x); t1 = time.perf_counter(); lif(x); t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "second": t2 - t1}))
"""


def measure(cache: str) -> dict[str, float]:
    """First and second call seconds in a new process using the kernel cache ``cache``."""
    env = dict(os.environ, STABLESPIKE_KERNEL_CACHE=cache)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="processes per setting")
    args = parser.parse_args()
    fresh, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            fresh.append(measure(cache))
            warm.append(measure(cache))
    med = {
        name: {k: statistics.median(r[k] for r in rows) for k in ("first", "second")}
        for name, rows in (("fresh", fresh), ("warm", warm))
    }
    for name in ("fresh", "warm"):
        firsts = ", ".join(f"{r['first']:.3f}" for r in (fresh if name == "fresh" else warm))
        print(
            f"{name:5s} cache: first call {med[name]['first']:.3f} s (runs: {firsts}), "
            f"second call {med[name]['second']:.3f} s"
        )
    build = med["fresh"]["first"] - med["warm"]["first"]
    load = med["warm"]["first"] - med["warm"]["second"]
    print(
        f"fresh first - warm first: {build:.3f} s (target <= 3 s: {'met' if build <= 3 else 'NOT met'})"
    )
    print(
        f"warm first - second:      {load:.3f} s (target <= 0.2 s: {'met' if load <= 0.2 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
