"""The measurements of ``stablespike bench``, printed as tables and returned as one dict.

:func:`run_suite` runs what a :class:`~stablespike.bench.suite.BenchOptions` asks for in this
process (one allocator setting); the ``bench`` command runs it once per setting, each in a
fresh process (:mod:`stablespike.cli.bench`).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core import options as opt
from ..core.errors import ConfigError
from .impls import IMPLEMENTATIONS, NO_NEURON
from .runs import bench_kernel, bench_layer, bench_network, layer_bytes
from .tools import CLOCKS, copy_bandwidth, reuse_freed_memory, use_clock

__all__ = ["MALLOC_MODES", "WHAT", "BenchOptions", "run_suite"]

MiB = 2**20
WHAT = ("layer", "kernel", "network")
MALLOC_MODES = ("default", "reuse", "thp")
MALLOC_CHOICES = (*MALLOC_MODES, "both", "all")


@dataclass
class BenchOptions:
    """The options of ``stablespike bench``."""

    device: str = opt.device_option()
    threads: int = opt.threads_option()
    batch_size: int = opt.batch_size_option(
        16, "batch size of the network step", runtime=False, aliases=("--batch",)
    )
    json: str = opt.json_option()
    what: tuple[str, ...] = opt.option(
        WHAT, "measurements to run", group="bench", choices=WHAT, many=True
    )
    impl: tuple[str, ...] = opt.option(
        IMPLEMENTATIONS, "implementations", group="bench", choices=IMPLEMENTATIONS, many=True
    )
    shape: tuple[str, ...] = opt.option(
        ("4,16,128,32,32",), "layer shape(s) T,B,C,H,W (repeat the flag for more)", group="bench",
        many=True, split=False, metavar="T,B,C,H,W",
    )  # fmt: skip
    timesteps: int = opt.option(4, "network timesteps", group="bench", minimum=1)
    repeats: int = opt.option(7, "timed runs per layer/kernel", group="bench", minimum=1)
    net_repeats: int = opt.option(3, "timed training steps", group="bench", minimum=1)
    malloc: str = opt.option(
        "both",
        "CPU allocator setting(s): both = default + reuse, all = default + reuse + thp",
        group="bench",
        choices=MALLOC_CHOICES,
    )
    clock: str = opt.option(
        "wall",
        "wall time, or (single-threaded) the thread's CPU time, robust on a shared machine",
        group="bench",
        choices=tuple(CLOCKS),
    )

    def shapes(self) -> list[tuple[int, ...]]:
        """``shape`` as integer tuples (``T,B`` then any sizes)."""
        out = []
        for text in self.shape:
            try:
                shape = tuple(int(s) for s in text.split(","))
            except ValueError:
                raise ConfigError(f"--shape: expected integers T,B,C,H,W, got {text!r}") from None
            if len(shape) < 2 or min(shape) < 1:
                raise ConfigError(f"--shape: expected positive sizes T,B,..., got {text!r}")
            out.append(shape)
        return out

    def validate(self) -> BenchOptions:
        opt.check_values(self, flags=True)
        self.shapes()
        return self


def _machine(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {torch.get_num_threads()} threads"


def _fused_build() -> str:
    from ..kernels import cpu_build

    if not cpu_build.toolchain_available():
        return "fused CPU kernel: no C++ toolchain"
    info = cpu_build.build_info()
    how = f"compiled now in {info['seconds']:.1f} s" if info["compiled"] else "loaded from cache"
    return f"fused CPU kernel ({info['isa']}): {how} ({info['folder']})"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms"


def _print_layer(rows: list[dict[str, Any]], floor_s: float) -> None:
    ref = next((r["fwd_bwd_s"] for r in rows if r.get("impl") == "reference"), None)
    print(f"  {'impl':<13}{'fwd+bwd':>12}{'fwd only':>12}{'vs ref':>8}{'/floor':>8}"
          f"{'saved':>12}{'peak':>12}")  # fmt: skip
    for r in rows:
        if "skipped" in r:
            print(f"  {r['impl']:<13} skipped: {r['skipped']}")
            continue
        speed = f"{ref / r['fwd_bwd_s']:7.1f}x" if ref else "       -"
        print(
            f"  {r['impl']:<13}{_ms(r['fwd_bwd_s']):>12}{_ms(r['fwd_s']):>12}{speed:>8}"
            f"{r['fwd_bwd_s'] / floor_s:7.1f}x{r['saved_bytes'] / MiB:8.1f} MiB"
            f"{r['peak_bytes'] / MiB:8.1f} MiB"
        )


def _print_network(rows: list[dict[str, Any]]) -> None:
    """One line per implementation; ``none`` (no neuron) is the ceiling of every speed-up."""
    ref = next((r["step_s"] for r in rows if r.get("impl") == "reference"), None)
    print(f"  {'impl':<13}{'step':>12}{'vs ref':>8}{'peak':>12}{'saved':>12}")
    for r in rows:
        if "skipped" in r:
            print(f"  {r['impl']:<13} skipped: {r['skipped']}")
            continue
        speed = f"{ref / r['step_s']:7.2f}x" if ref else "       -"
        name = "(no neuron)" if r["impl"] == NO_NEURON else r["impl"]
        print(
            f"  {name:<13}{_ms(r['step_s']):>12}{speed:>8}"
            f"{r['peak_bytes'] / MiB:8.1f} MiB{r['saved_bytes'] / MiB:8.1f} MiB"
        )


def run_suite(opts: BenchOptions) -> dict[str, Any]:
    """Run the measurements ``opts`` asks for (``opts.malloc``: one setting) and print them."""
    from ..train.distributed import resolve_device

    dev = resolve_device(opts.device).type
    if dev == "cpu" and opts.malloc == "reuse" and not reuse_freed_memory():
        print("warning: mallopt is unavailable; freed memory is not kept", file=sys.stderr)
    threads = 1 if opts.clock == "cpu" and dev == "cpu" else opts.threads  # CPU time: 1 thread
    use_clock(opts.clock if dev == "cpu" else "wall")
    if threads:
        torch.set_num_threads(threads)
    what, impls, shapes = opts.what, opts.impl, opts.shapes()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    malloc = opts.malloc if dev == "cpu" else "n/a"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"== stablespike bench, {stamp}: {_machine(dev)}; torch {torch.__version__}; "
          f"malloc: {malloc}; clock: {opts.clock}; load average {load:.1f}")  # fmt: skip
    if dev == "cpu":
        print(f"   {_fused_build()}")
    result: dict[str, Any] = {
        "date": stamp, "machine": _machine(dev), "malloc": malloc, "load": load,
        "clock": opts.clock,
    }  # fmt: skip
    for shape in shapes if {"layer", "kernel"} & set(what) else ():
        nbytes = layer_bytes(shape)
        bandwidth = copy_bandwidth(nbytes // 5, dev)
        floor_s = nbytes / bandwidth
        print(
            f"-- layer {'x'.join(map(str, shape))}: copy bandwidth {bandwidth / 1e9:.1f} GB/s; "
            f"floor = 5 x {nbytes / 5 / MiB:.0f} MiB / bandwidth = {floor_s * 1e3:.2f} ms"
        )
        if "layer" in what:
            rows = bench_layer(shape, impls, dev, opts.repeats)
            _print_layer(rows, floor_s)
            result.setdefault("layer", []).append({"shape": list(shape), "rows": rows})
        if "kernel" in what:
            k = bench_kernel(shape, dev, opts.repeats)
            print(
                f"  fused ops alone (fwd+bwd): {_ms(k['kernel_s'])}; copy of the same "
                f"{k['bytes'] / MiB:.0f} MiB: {_ms(k['copy_s'])}; "
                f"ratio {k['kernel_s'] / k['copy_s']:.2f}"
            )
            result.setdefault("kernel", []).append(k)
    if "network" in what:
        print(f"-- ResNet-19 training step: T={opts.timesteps}, batch {opts.batch_size}, 3x32x32")
        try:
            rows = bench_network(
                impls, dev, opts.batch_size, opts.timesteps, opts.net_repeats, bound=True
            )
        except ImportError as err:
            print(f"  skipped: stablespike.models.build_model('resnet19') is unavailable ({err})")
        else:
            _print_network(rows)
            result["network"] = rows
    return result
