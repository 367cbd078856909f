"""Implementations of the multi-step LIF recurrence, chosen by name.

Every backend has the signature of :func:`stablespike.functional.lif_sequence` (without
``return_h``; with ``statistic_shape``, through which :class:`~stablespike.TrLIF` asks for
MP-Init's statistic of ``U[T]`` in training mode) and must match it numerically. ``"reference"`` is that readable per-step definition;
``"fused"`` (:mod:`.fused`) runs the whole recurrence in one kernel pass (C++/OpenMP on the CPU,
built at first use; Triton on CUDA). ``"auto"`` picks ``"fused"`` where it can run (CPU with a
C++ compiler on ``PATH``, CUDA with Triton installed) and ``"reference"`` elsewhere.

Example:
    >>> from stablespike.kernels import available_backends
    >>> "reference" in available_backends()
    True
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable

import torch

from ..functional.lif import LIFSequence, lif_sequence
from .cpu_build import toolchain_available
from .fused import lif_fused

Backend = Callable[..., LIFSequence]

_BACKENDS: dict[str, Backend] = {"reference": lif_sequence, "fused": lif_fused}


@functools.cache
def _fused_runs_on(device_type: str) -> bool:
    """Whether the fused kernels can run on a device type; says once why not (same numbers)."""
    if device_type == "cpu":
        ok, needs = toolchain_available(), "a C++ compiler (g++) on PATH"
    elif device_type == "cuda":
        ok, needs = importlib.util.find_spec("triton") is not None, "triton"
    else:
        ok, needs = False, "a CPU or CUDA device"
    if not ok:
        logging.getLogger("stablespike.kernels").warning(
            "backend 'auto' on %s uses the per-step reference (same numbers, slower): the fused "
            "kernel needs %s",
            device_type,
            needs,
        )
    return ok


def register_backend(name: str, fn: Backend) -> None:
    """Make ``fn`` selectable as ``TrLIF(backend=name)``."""
    _BACKENDS[name] = fn


def available_backends() -> tuple[str, ...]:
    """Names accepted by :func:`get_backend` (besides ``"auto"``)."""
    return tuple(sorted(_BACKENDS))


@torch.compiler.assume_constant_result  # traced as its value: no graph break in the neuron
def resolve_backend(name: str, device_type: str) -> str:
    """The concrete backend name for ``name`` on a device type (``"auto"`` picks the default)."""
    if name == "auto":
        return "fused" if _fused_runs_on(device_type) else "reference"
    if name not in _BACKENDS:
        raise ValueError(
            f"unknown backend {name!r}; expected 'auto' or one of {', '.join(available_backends())}"
        )
    return name


def get_backend(name: str, device_type: str = "cpu") -> Backend:
    """The implementation registered under ``name`` (``"auto"`` resolves per device type)."""
    return _BACKENDS[resolve_backend(name, device_type)]
