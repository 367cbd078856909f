"""Build (once, at first use) and load the fused CPU kernel, a C++/OpenMP extension.

The source is ``csrc/lif_cpu.cpp``; it is compiled with ``torch.utils.cpp_extension.load`` (g++
and ninja) into a cache folder, by default ``~/.cache/stablespike/kernels`` (set
``STABLESPIKE_KERNEL_CACHE`` to move it), one build per PyTorch version and CPU capability
(``-mavx2 -mfma`` or ``-mavx512*`` where PyTorch reports them). Later processes load the cached
build in well under a second; ninja rebuilds only when the source or the flags change. A compile
is announced on the ``stablespike.kernels`` logger (a warning, so it shows by default) with its
duration, which :func:`build_info` also returns.

The flags keep the arithmetic IEEE and in the reference's order: ``-O3 -ffp-contract=off``
(no fused multiply-add) and no ``-ffast-math``.

Example:
    >>> from stablespike.kernels.cpu_build import toolchain_available
    >>> isinstance(toolchain_available(), bool)
    True
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("stablespike.kernels")

SOURCE = Path(__file__).with_name("csrc") / "lif_cpu.cpp"

_ARCH_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}
_BASE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp"]

_loaded = False
_info: dict[str, Any] = {}


def toolchain_available() -> bool:
    """True if a C++ compiler and ninja are on ``PATH`` (the extension can be built)."""
    cxx = os.environ.get("CXX", "c++")
    return shutil.which(cxx) is not None and shutil.which("ninja") is not None


def cache_dir() -> Path:
    """The folder holding the compiled extension for this PyTorch version and CPU capability."""
    root = os.environ.get("STABLESPIKE_KERNEL_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "stablespike" / "kernels"
    tag = f"torch{torch.__version__}-{torch.backends.cpu.get_cpu_capability().lower()}"
    return base / tag.replace("+", "_")


def _extension_name() -> str:
    return f"stablespike_lif_cpu_{torch.backends.cpu.get_cpu_capability().lower()}"


def _built_library(folder: Path) -> Path | None:
    libs = sorted(folder.glob("*.so"), key=lambda p: p.stat().st_mtime)
    return libs[-1] if libs else None


def load() -> Any:
    """``torch.ops.stablespike_cpu`` (ops ``forward`` and ``backward``), built on first use."""
    global _loaded
    if _loaded:
        return torch.ops.stablespike_cpu
    if not SOURCE.is_file():
        raise RuntimeError(
            f"the fused CPU kernel source {SOURCE} is missing from this installation; "
            "use TrLIF(backend='reference')"
        )
    if not toolchain_available():
        raise RuntimeError(
            "the fused CPU kernel needs a C++ compiler (g++) and ninja on PATH to build once; "
            "install them (e.g. apt-get install g++ ninja-build) or use TrLIF(backend='reference')"
        )
    from torch.utils import cpp_extension

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    before = _built_library(folder)
    stamp = before.stat().st_mtime if before else None
    flags = _BASE_FLAGS + _ARCH_FLAGS.get(torch.backends.cpu.get_cpu_capability(), [])
    start = time.perf_counter()
    try:
        cpp_extension.load(
            name=_extension_name(),
            sources=[str(SOURCE)],
            extra_cflags=flags,
            extra_ldflags=["-fopenmp"],
            build_directory=str(folder),
            is_python_module=False,
            verbose=False,
        )
    except Exception as err:
        raise RuntimeError(
            f"building the fused CPU kernel failed ({err}); use TrLIF(backend='reference') or "
            f"remove {folder} and retry"
        ) from err
    seconds = time.perf_counter() - start
    after = _built_library(folder)
    compiled = after is not None and (stamp is None or after.stat().st_mtime != stamp)
    _info.update(compiled=compiled, seconds=seconds, folder=str(folder), flags=flags)
    if compiled:
        log.warning(
            "stablespike: compiled the fused CPU LIF kernel in %.1f s (cached in %s)",
            seconds,
            folder,
        )
    _loaded = True
    return torch.ops.stablespike_cpu


def build_info() -> dict[str, Any]:
    """How the extension was obtained in this process: ``compiled``, ``seconds``, ``folder``."""
    load()
    return dict(_info)
