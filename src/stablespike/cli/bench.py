"""``stablespike bench``: time and memory of the neuron implementations, printed as tables.

For the standard layer (``T=4, B=16, C=128, 32x32``, a ResNet-19 first-stage layer) and for a
whole ResNet-19 training step (``T=4``, batch 16, CIFAR-size input) it prints, per
implementation (stablespike fused, stablespike reference, SpikingJelly ``ParametricLIFNode`` and
snnTorch ``Leaky``, the last two when installed): median time per call, saved-for-backward
bytes and peak memory. It also prints the layer's memory-bandwidth floor (the bytes a fused
forward + backward must move over the measured copy bandwidth) and each time's ratio to it, and
the fused ops alone against a plain copy of the same bytes. The network table ends with the
step without any neuron (identity in their place): no neuron implementation can be faster.

On the CPU it runs twice by default, in fresh processes: with glibc's default allocator (large
freed blocks go back to the OS, so every large new tensor pays page faults: ``default``) and
with freed memory kept for reuse (``mallopt``: ``reuse``); ``thp`` adds a run with PyTorch's
``THP_MEM_ALLOC_ENABLE=1`` (large tensors on transparent huge pages, 512x fewer faults).
Compare implementations within one setting; the header prints the load average, since other
processes on the machine slow every figure.

Example::

    stablespike bench                         # everything, both allocator settings
    stablespike bench --what layer --malloc reuse --repeats 11
    python -m stablespike bench --device cuda --what kernel --json bench.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from ..core.fileio import atomic_write_json
from ..core.options import add_options, from_args

__all__ = ["add_arguments", "merge_results", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``stablespike bench`` (:class:`~stablespike.bench.suite.BenchOptions`)."""
    from ..bench.suite import BenchOptions

    add_options(parser, BenchOptions)


def _suite_in_child(values: dict[str, Any]) -> dict[str, Any]:
    """One allocator setting's measurements, in a fresh (spawned) process."""
    from ..bench.suite import BenchOptions, run_suite

    return run_suite(BenchOptions(**values))


def _in_fresh_process(values: dict[str, Any], malloc: str) -> dict[str, Any]:
    saved = os.environ.pop("THP_MEM_ALLOC_ENABLE", None)
    if malloc == "thp":  # read by PyTorch's allocator when the child imports torch
        os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            return pool.submit(_suite_in_child, {**values, "malloc": malloc}).result()
    finally:
        os.environ.pop("THP_MEM_ALLOC_ENABLE", None)
        if saved is not None:
            os.environ["THP_MEM_ALLOC_ENABLE"] = saved


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One document of several settings' results: every row says its ``malloc`` setting."""
    if len(results) == 1:
        return results[0]
    merged = {k: v for k, v in results[0].items() if k not in ("layer", "kernel", "network")}
    merged["malloc"] = [r["malloc"] for r in results]
    for r in results:
        for key in ("layer", "kernel", "network"):
            merged.setdefault(key, []).extend(
                {**row, "malloc": r["malloc"]} for row in r.get(key, [])
            )
    return merged


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; on the CPU each allocator setting runs in a fresh process."""
    from . import run_reporting_errors

    def job() -> None:
        from ..bench.suite import MALLOC_MODES, BenchOptions, run_suite
        from ..train.distributed import resolve_device

        opts = from_args(BenchOptions, args)
        on_cpu = resolve_device(opts.device).type == "cpu"
        modes = {"both": ("default", "reuse"), "all": MALLOC_MODES}.get(opts.malloc, (opts.malloc,))
        here = len(modes) == 1 and (
            modes[0] != "thp" or os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"
        )
        if not on_cpu or here:
            results = [run_suite(opts)]
        else:
            values = dataclasses.asdict(opts)
            results = [_in_fresh_process(values, m) for m in modes]
        if opts.json:
            atomic_write_json(opts.json, merge_results(results), indent=None)

    return run_reporting_errors("bench", job)
