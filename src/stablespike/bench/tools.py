"""Measuring tools for ``stablespike bench``: time, saved-for-backward bytes, peak memory, bandwidth.

* :func:`median_times` — median time of several callables, run round-robin so that a noisy
  machine slows them alike (CUDA work is synchronised before each clock read); wall time, or
  the calling thread's CPU time after :func:`use_clock` ``("cpu")``;
* :func:`saved_bytes` — bytes of the distinct storages autograd saves for backward;
* :func:`peak_bytes` — peak of the memory allocated during a call above what was allocated
  before it (CPU: PyTorch's profiler memory events; CUDA: the caching allocator's statistics),
  independent of how glibc hands memory to the OS;
* :func:`copy_seconds`, :func:`copy_bandwidth` — a warm ``copy_``: its time for a given
  number of bytes moved, and the bytes read + written per second;
* :func:`reuse_freed_memory` — make glibc keep freed blocks for reuse instead of returning them
  to the OS (``mallopt``), so large tensors stop paying fresh page faults.

Example:
    >>> import torch
    >>> x = torch.randn(1000, requires_grad=True)
    >>> saved_bytes(lambda: (x * x).sum())        # x is saved (twice, one storage)
    4000
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import torch

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
"""``wall``: elapsed time; ``cpu``: CPU time of the calling thread (for single-threaded runs on a
shared machine, where other processes inflate wall time)."""
_clock = CLOCKS["wall"]


def use_clock(name: str) -> None:
    """Time :func:`median_times` with clock ``name`` (a key of :data:`CLOCKS`)."""
    global _clock
    if name not in CLOCKS:
        raise ValueError(f"unknown clock {name!r}; expected one of {', '.join(CLOCKS)}")
    _clock = CLOCKS[name]


def reuse_freed_memory() -> bool:
    """Ask glibc to never return freed memory to the OS nor ``mmap`` large blocks.

    Call it early (before large tensors exist). Returns ``False`` where ``mallopt`` is missing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok_mmap = libc.mallopt(_M_MMAP_MAX, 0)
    ok_trim = libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    return bool(ok_mmap and ok_trim)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_times(
    fns: Sequence[Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    device: torch.device | str = "cpu",
    inner: int = 1,
) -> list[float]:
    """Median seconds per call of each function, calling them round-robin ``repeats`` times.

    Each sample times ``inner`` back-to-back calls (between two device synchronisations) and
    divides by ``inner``, which hides launch latency for short GPU kernels.
    """
    if repeats < 1 or inner < 1:
        raise ValueError(f"repeats and inner must be >= 1, got {repeats} and {inner}")
    dev = torch.device(device)
    times: list[list[float]] = [[] for _ in fns]
    for i in range(warmup + repeats):
        for fn, acc in zip(fns, times, strict=True):
            _sync(dev)
            start = _clock()
            for _ in range(inner):
                fn()
            _sync(dev)
            if i >= warmup:
                acc.append((_clock() - start) / inner)
    return [statistics.median(t) for t in times]


def saved_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the distinct storages saved for backward while ``fn()`` builds its graph."""
    seen: dict[tuple[str, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[(str(t.device), storage.data_ptr())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def _cpu_peak_bytes(fn: Callable[[], object]) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    totals = [
        e["args"]["Total Allocated"]
        for e in events
        if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type") == 0
    ]
    return max([0, *totals])


def peak_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak bytes allocated by tensors during ``fn()`` above those allocated before it."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        fn()
        torch.cuda.synchronize(dev)
        return torch.cuda.max_memory_allocated(dev) - before
    return _cpu_peak_bytes(fn)


def copy_seconds(nbytes: int, device: torch.device | str = "cpu", repeats: int = 20) -> float:
    """Median seconds of a warm ``dst.copy_(src)`` that reads and writes ``nbytes`` in all."""
    dev = torch.device(device)
    src = torch.ones(max(1, nbytes // 8), device=dev)
    dst = torch.empty_like(src)
    inner = 10 if dev.type == "cuda" else 1
    (seconds,) = median_times(
        [lambda: dst.copy_(src)], repeats=repeats, warmup=3, device=dev, inner=inner
    )
    return seconds


def copy_bandwidth(nbytes: int, device: torch.device | str = "cpu", repeats: int = 20) -> float:
    """Bytes read + written per second by a warm copy of a tensor of ``nbytes``."""
    return 2 * nbytes / copy_seconds(2 * nbytes, device, repeats)
