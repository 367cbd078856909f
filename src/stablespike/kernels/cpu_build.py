"""Build (once per machine, at first use) and load the fused CPU kernel through ``ctypes``.

The source, ``csrc/lif_cpu.cpp``, is plain C++ with OpenMP and no PyTorch headers. Each neuron
configuration (dtype, surrogate, decay_input, reset, detach_reset) is its own small shared
library, compiled by the system C++ compiler (``$CXX``, else ``c++``) in about a second the first
time a process needs it, then loaded from the cache in milliseconds.

Where: ``$STABLESPIKE_KERNEL_CACHE`` if set, else ``~/.cache/stablespike/kernels``. A build's file
name carries a hash of everything that changes the binary: the source, the flags, the compiler's
identity (path and ``--version``) and the instruction set, so two installs of stablespike on one
machine (two virtual environments, a checkout and a wheel) share builds of the same source and
never rebuild each other's. A build holds an exclusive lock (``fcntl.flock`` on a ``.lock`` file
beside it) and writes to a temporary name that it renames when done, so processes starting at
once (DDP ranks, parallel tests) build each library once and never load a half-written one.

The instruction set is the host's best that PyTorch reports (``AVX512``: ``-mavx512f/dq/bw/vl``;
``AVX2``: ``-mavx2 -mfma``; else SSE2); ``STABLESPIKE_KERNEL_ISA=sse2|avx2|avx512`` or
:func:`use_isa` choose another (tests check every build the host can run). The flags keep the
arithmetic IEEE and in the reference's order: ``-O3 -ffp-contract=off`` (no fused multiply-add),
no ``-ffast-math``; the results are the same for every instruction set.

The first build of a process is announced on the ``stablespike.kernels`` logger (a warning, so it
shows by default) before it starts, with the folder, and its duration after; later builds log at
INFO. :func:`build_info` reports what happened.

Example:
    >>> from stablespike.kernels.cpu_build import toolchain_available
    >>> isinstance(toolchain_available(), bool)
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ..core.fileio import atomic_path
from .layout import SURROGATE_CODES

log = logging.getLogger("stablespike.kernels")

SOURCE = Path(__file__).with_name("csrc") / "lif_cpu.cpp"

ISA_FLAGS: dict[str, list[str]] = {
    "avx512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma"],
    "avx2": ["-mavx2", "-mfma"],
    "sse2": [],
}
"""Compiler flags per instruction set (x86-64 always has SSE2)."""

BASE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC"]
"""Flags of every build (IEEE arithmetic in the reference's order, OpenMP)."""

_SCALARS = {torch.float32: ("float", "f32"), torch.float64: ("double", "f64")}


class Variant(NamedTuple):
    """One neuron configuration: a shared library of its own."""

    dtype: torch.dtype
    surrogate: str
    decay_input: bool
    soft_reset: bool
    detach_reset: bool

    def macros(self) -> list[str]:
        return [
            f"-DSS_SCALAR={_SCALARS[self.dtype][0]}",
            f"-DSS_SURROGATE={SURROGATE_CODES[self.surrogate]}",
            f"-DSS_DECAY={int(self.decay_input)}",
            f"-DSS_SOFT={int(self.soft_reset)}",
            f"-DSS_DETACH={int(self.detach_reset)}",
        ]

    def tag(self) -> str:
        reset = "soft" if self.soft_reset else "hard"
        return (
            f"{_SCALARS[self.dtype][1]}-{self.surrogate}-{reset}"
            f"{'-decay' if self.decay_input else ''}{'-detach' if self.detach_reset else ''}"
        )


_lock = threading.Lock()
_libraries: dict[tuple[str, Variant], ctypes.CDLL] = {}
_isa_override: str | None = None
_info: dict[str, Any] = {"builds": 0, "seconds": 0.0, "loads": 0}


def _compiler() -> str:
    return os.environ.get("CXX", "c++")


def toolchain_available() -> bool:
    """True if a C++ compiler is on ``PATH`` (the kernel can be built)."""
    return shutil.which(_compiler()) is not None


def host_isas() -> tuple[str, ...]:
    """The instruction sets this CPU runs, best first (from PyTorch's CPU capability)."""
    cap = torch.backends.cpu.get_cpu_capability().upper()
    if cap.startswith("AVX512"):
        return ("avx512", "avx2", "sse2")
    if cap.startswith("AVX2"):
        return ("avx2", "sse2")
    return ("sse2",)


def active_isa() -> str:
    """The instruction set builds are made for: :func:`use_isa`, ``STABLESPIKE_KERNEL_ISA``, or
    the host's best."""
    choice = _isa_override or os.environ.get("STABLESPIKE_KERNEL_ISA", "").strip().lower()
    if not choice:
        return host_isas()[0]
    if choice not in ISA_FLAGS:
        raise ValueError(f"STABLESPIKE_KERNEL_ISA={choice!r} is not one of {', '.join(ISA_FLAGS)}")
    if choice not in host_isas():
        raise RuntimeError(
            f"the kernel build for {choice} cannot run on this CPU (it runs "
            f"{', '.join(host_isas())})"
        )
    return choice


@contextlib.contextmanager
def use_isa(isa: str) -> Iterator[None]:
    """Use the builds for ``isa`` inside the block (e.g. to test each one on one machine)."""
    global _isa_override
    before = _isa_override
    _isa_override = isa
    try:
        active_isa()  # validates
        yield
    finally:
        _isa_override = before


def cache_root() -> Path:
    """The cache folder: ``$STABLESPIKE_KERNEL_CACHE`` or ``~/.cache/stablespike/kernels``."""
    root = os.environ.get("STABLESPIKE_KERNEL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "stablespike" / "kernels"


def _compiler_identity() -> str:
    cxx = shutil.which(_compiler()) or _compiler()
    try:
        version = subprocess.run(
            [cxx, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError as err:
        version = f"unavailable: {err}"
    return f"{os.path.realpath(cxx)}\n{version}"


_identity: str | None = None


def build_key(variant: Variant, isa: str) -> str:
    """The hash naming a build: source, flags, compiler and instruction set."""
    global _identity
    if _identity is None:
        _identity = _compiler_identity()
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(_flags(variant, isa)).encode(), _identity.encode()):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _flags(variant: Variant, isa: str) -> list[str]:
    return BASE_FLAGS + ISA_FLAGS[isa] + variant.macros()


def library_path(variant: Variant, isa: str) -> Path:
    """Where the build of ``variant`` for ``isa`` lives in the cache."""
    return cache_root() / f"lif_cpu-{isa}-{variant.tag()}-{build_key(variant, isa)}.so"


def _build(variant: Variant, isa: str, path: Path) -> None:
    """Compile ``variant`` into ``path`` under an exclusive lock (another process may be at it)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.is_file():  # built by another process while this one waited
                return
            first = _info["builds"] == 0
            level = logging.WARNING if first else logging.INFO
            log.log(
                level,
                "stablespike: building the fused CPU LIF kernel (%s, %s) in %s; about a second "
                "per neuron configuration, once per machine",
                isa,
                variant.tag(),
                path.parent,
            )
            tmp_name = f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp"
            with atomic_path(path, tmp_name=tmp_name) as tmp:
                cmd = [_compiler(), *_flags(variant, isa), str(SOURCE), "-o", str(tmp)]
                start = time.perf_counter()
                try:
                    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                except OSError as err:
                    raise RuntimeError(
                        f"could not run the C++ compiler {cmd[0]!r} for the fused CPU kernel "
                        f"({err}); install one (e.g. apt-get install g++) or use "
                        "TrLIF(backend='reference')"
                    ) from err
                seconds = time.perf_counter() - start
                if done.returncode != 0:
                    raise RuntimeError(
                        f"building the fused CPU kernel failed ({' '.join(cmd)}):\n"
                        f"{done.stderr.strip()[-2000:]}\nuse TrLIF(backend='reference')"
                    )
            _info["builds"] += 1
            _info["seconds"] += seconds
            log.log(level, "stablespike: built the fused CPU LIF kernel in %.1f s", seconds)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    ptr, i64, cint = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.stablespike_lif_forward.argtypes = [ptr] * 5 + [i64] * 4 + [ptr] * 4 + [cint]
    lib.stablespike_lif_forward.restype = cint
    lib.stablespike_lif_backward.argtypes = [ptr] * 7 + [i64] * 4 + [cint] + [ptr] * 3 + [cint]
    lib.stablespike_lif_backward.restype = cint
    lib.stablespike_lif_vector_bytes.restype = cint
    return lib


def library(variant: Variant, isa: str | None = None) -> ctypes.CDLL:
    """The loaded library of ``variant`` (built on first use); ``isa`` defaults to
    :func:`active_isa`."""
    isa = isa or active_isa()
    key = (isa, variant)
    lib = _libraries.get(key)
    if lib is not None:
        return lib
    if variant.dtype not in _SCALARS:
        raise TypeError(f"the fused CPU kernel computes in float32 or float64, not {variant.dtype}")
    if not SOURCE.is_file():
        raise RuntimeError(
            f"the fused CPU kernel source {SOURCE} is missing from this installation; "
            "use TrLIF(backend='reference')"
        )
    if not toolchain_available():
        raise RuntimeError(
            "the fused CPU kernel needs a C++ compiler (g++) on PATH to build once; install one "
            "(e.g. apt-get install g++) or use TrLIF(backend='reference')"
        )
    with _lock:
        lib = _libraries.get(key)
        if lib is None:
            path = library_path(variant, isa)
            if not path.is_file():
                _build(variant, isa, path)
            lib = _declare(ctypes.CDLL(str(path)))
            _libraries[key] = lib
            _info["loads"] += 1
            _info["folder"] = str(path.parent)
    return lib


def build_info() -> dict[str, Any]:
    """This process's builds: ``builds`` (compiled here), ``seconds`` (their total), ``loads``
    (libraries loaded), ``folder`` and ``isa``; loads the default configuration first."""
    library(Variant(torch.float32, "trsg", True, True, False))
    return dict(_info, isa=active_isa(), compiled=_info["builds"] > 0)
