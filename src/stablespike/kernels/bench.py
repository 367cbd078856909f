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
    python -m stablespike.kernels.bench --device cuda --what kernel
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from .bench_impls import IMPLEMENTATIONS, NO_NEURON
from .bench_runs import bench_kernel, bench_layer, bench_network, layer_bytes
from .benchtools import CLOCKS, copy_bandwidth, reuse_freed_memory, use_clock

MiB = 2**20
WHAT = ("layer", "kernel", "network")
MALLOC_MODES = ("default", "reuse", "thp")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers T,B,C,H,W, got {text!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes T,B,..., got {text!r}")
    return shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``stablespike bench``."""
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--what", action="append", choices=WHAT, help="measurements to run (default: all)"
    )
    parser.add_argument(
        "--impl", action="append", choices=IMPLEMENTATIONS, help="implementations (default: all)"
    )
    parser.add_argument(
        "--shape",
        type=_shape,
        action="append",
        help="layer shape T,B,C,H,W (default 4,16,128,32,32)",
    )
    parser.add_argument("--batch", type=int, default=16, help="network batch size")
    parser.add_argument("--timesteps", type=int, default=4, help="network timesteps")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per layer/kernel")
    parser.add_argument("--net-repeats", type=int, default=3, help="timed training steps")
    parser.add_argument(
        "--malloc",
        choices=(*MALLOC_MODES, "both", "all"),
        default="both",
        help="CPU allocator setting(s): both = default + reuse, all = default + reuse + thp",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall time, or (single-threaded) the thread's CPU time, robust on a shared machine",
    )
    parser.add_argument("--json", type=Path, default=None, help="append the results as JSON lines")


def _child_argv(args: argparse.Namespace, malloc: str) -> list[str]:
    argv = [sys.executable, "-m", "stablespike.kernels.bench", "--device", args.device]
    for what in args.what or ():
        argv += ["--what", what]
    for impl in args.impl or ():
        argv += ["--impl", impl]
    for shape in args.shape or ():
        argv += ["--shape", ",".join(map(str, shape))]
    argv += ["--batch", str(args.batch), "--timesteps", str(args.timesteps)]
    argv += ["--repeats", str(args.repeats), "--net-repeats", str(args.net_repeats)]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    argv += ["--clock", args.clock]
    if args.json is not None:
        argv += ["--json", str(args.json)]
    return argv + ["--malloc", malloc]


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
    from . import cpu_build

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


def _run_here(args: argparse.Namespace) -> int:
    if args.device == "cpu" and args.malloc == "reuse" and not reuse_freed_memory():
        print("warning: mallopt is unavailable; freed memory is not kept", file=sys.stderr)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    if args.clock == "cpu" and args.device == "cpu":
        args.threads = 1  # the CPU time of the calling thread is all the work
    use_clock(args.clock if args.device == "cpu" else "wall")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    what = args.what or list(WHAT)
    impls = args.impl or list(IMPLEMENTATIONS)
    shapes = args.shape or [(4, 16, 128, 32, 32)]
    dev = args.device
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    malloc = args.malloc if dev == "cpu" else "n/a"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"== stablespike bench, {stamp}: {_machine(dev)}; torch {torch.__version__}; "
          f"malloc: {malloc}; clock: {args.clock}; load average {load:.1f}")  # fmt: skip
    if dev == "cpu":
        print(f"   {_fused_build()}")
    result: dict[str, Any] = {
        "date": stamp, "machine": _machine(dev), "malloc": malloc, "load": load,
        "clock": args.clock,
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
            rows = bench_layer(shape, impls, dev, args.repeats)
            _print_layer(rows, floor_s)
            result.setdefault("layer", []).append({"shape": list(shape), "rows": rows})
        if "kernel" in what:
            k = bench_kernel(shape, dev, args.repeats)
            print(
                f"  fused ops alone (fwd+bwd): {_ms(k['kernel_s'])}; copy of the same "
                f"{k['bytes'] / MiB:.0f} MiB: {_ms(k['copy_s'])}; "
                f"ratio {k['kernel_s'] / k['copy_s']:.2f}"
            )
            result.setdefault("kernel", []).append(k)
    if "network" in what:
        print(f"-- ResNet-19 training step: T={args.timesteps}, batch {args.batch}, 3x32x32")
        try:
            rows = bench_network(
                impls, dev, args.batch, args.timesteps, args.net_repeats, bound=True
            )
        except ImportError as err:
            print(f"  skipped: stablespike.models.build_model('resnet19') is unavailable ({err})")
        else:
            _print_network(rows)
            result["network"] = rows
    if args.json is not None:
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


def _in_fresh_process(args: argparse.Namespace, malloc: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if malloc == "thp":
        env["THP_MEM_ALLOC_ENABLE"] = "1"
    return subprocess.call(_child_argv(args, malloc), env=env)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; on the CPU each allocator setting runs in a fresh process."""
    if args.device != "cpu":
        return _run_here(args)
    modes = {"both": ("default", "reuse"), "all": MALLOC_MODES}.get(args.malloc, (args.malloc,))
    if len(modes) == 1 and (modes[0] != "thp" or os.environ.get("THP_MEM_ALLOC_ENABLE") == "1"):
        return _run_here(args)
    return max(_in_fresh_process(args, m) for m in modes)


def main(argv: list[str] | None = None) -> int:
    """``python -m stablespike.kernels.bench``: same options as ``stablespike bench``."""
    parser = argparse.ArgumentParser(prog="stablespike bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
