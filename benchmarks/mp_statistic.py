"""MP-Init's statistic: separate PyTorch passes over U[T] against the fused forward's own sums.

For the standard layer (T=4, B=16, C=128, 32x32) this prints the median time of
``mp_batch_statistic`` on a ``U[T]`` / fired pair (what a backend without the fused statistic
pays per training call) and of the fused forward op with and without its in-kernel statistic.
Freed memory is kept for reuse (``mallopt``), so page faults do not blur the comparison.

    python benchmarks/mp_statistic.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from stablespike.bench.tools import reuse_freed_memory
from stablespike.functional import mp_batch_statistic
from stablespike.kernels import ops


def median_ms(fn: Callable[[], object], calls: int = 25, warmup: int = 3) -> float:
    times = []
    for _ in range(calls + warmup):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:]) * 1e3


def main() -> None:
    reuse_freed_memory()
    torch.manual_seed(0)
    x = torch.randn(4, 16, 128, 32, 32) + 0.5
    k, vth, v0 = (torch.tensor(v) for v in (0.5, 1.0, 0.0))
    flags = ("trsg", True, "soft", False)
    _, v_last, fired, _ = ops.lif_forward(x, k, vth, v0, *flags)
    plain = median_ms(lambda: ops.lif_forward(x, k, vth, v0, *flags))
    fused = median_ms(lambda: ops.lif_forward(x, k, vth, v0, *flags, []))
    separate = median_ms(lambda: mp_batch_statistic(v_last, fired))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"fused forward without the statistic: {plain:7.2f} ms")
    print(f"fused forward with its statistic:    {fused:7.2f} ms")
    print(f"mp_batch_statistic on U[T] alone:     {separate:7.2f} ms")


if __name__ == "__main__":
    main()
