"""Implementations of the multi-step LIF recurrence, chosen by name.

Every backend has the signature of :func:`stablespike.functional.lif_sequence` (without
``return_h``; with ``statistic_shape``, through which :class:`~stablespike.TrLIF` asks for
MP-Init's statistic of ``U[T]`` in training mode) and must match it numerically. ``"reference"`` is that readable per-step definition;
``"fused"`` (:mod:`.fused`) runs the whole recurrence in one kernel pass (C++/OpenMP on the CPU,
built at first use; Triton on CUDA). ``"auto"`` picks ``"fused"`` where it can run (CPU with a
C++ compiler on ``PATH``, CUDA with Triton installed) and ``"reference"`` elsewhere.

Safety net: the first use of the fused kernels on a device type in a process runs
:func:`self_check`, a small parity check against the reference (milliseconds). If it fails, or
the kernels cannot be built or launched, ``"auto"`` warns once, naming the error, and uses the
reference (same numbers, slower); ``"fused"`` raises ``RuntimeError``.

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

from ..core.errors import ConfigError
from ..core.registry import Registry
from ..functional.lif import LIFSequence, lif_sequence
from .cpu_build import toolchain_available
from .fused import lif_fused

Backend = Callable[..., LIFSequence]

_BACKENDS: Registry[Backend] = Registry("backend", separator="-")
_BACKENDS.add("reference", lif_sequence)
_BACKENDS.add("fused", lif_fused)


_log = logging.getLogger("stablespike.kernels")


def _requirement_missing(device_type: str) -> str | None:
    """What the fused kernels need on a device type and it lacks, or ``None``."""
    if device_type == "cpu":
        return None if toolchain_available() else "a C++ compiler (g++) on PATH"
    if device_type == "cuda":
        return None if importlib.util.find_spec("triton") is not None else "triton"
    return "a CPU or CUDA device"


@functools.cache
def self_check(device_type: str) -> str | None:
    """Run the fused kernels once on a small case against the reference; ``None`` if they agree.

    The case (T=3, 2 x 5 x 37 neurons, per-channel constants, MP-Init's ``U[0]`` and statistic,
    forward and backward) takes milliseconds once the kernels are built, and runs on the first
    use of the fused backend on a device type in a process. Otherwise returns what went wrong:
    the exception (a kernel that does not compile or launch) or the largest difference.
    """
    missing = _requirement_missing(device_type)
    if missing is not None:
        return f"the fused kernel needs {missing}"
    try:
        with torch.inference_mode(False), torch.enable_grad():
            with torch.autocast(device_type, enabled=False):
                worst = _largest_difference(device_type)
    except Exception as err:  # noqa: BLE001 - any failure of the kernels is the answer
        return f"{type(err).__name__}: {err}"
    if worst is None:
        return "outputs of other shapes than the reference's"
    if worst > 1e-4:
        return f"results differ from the reference by up to {worst:.3g}"
    return None


def _largest_difference(device_type: str) -> float | None:
    """The self-check's case: the largest difference of every output and gradient."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 2, 5, 37, generator=gen) * 1.5 + 0.4).to(device_type)
    tau = (torch.rand(5, 1, generator=gen) + 1.5).to(device_type)
    vth = (torch.rand(5, 1, generator=gen) + 0.5).to(device_type)
    v0 = (torch.rand(5, 1, generator=gen) * 0.3).to(device_type)
    weight = torch.randn(3, 2, 5, 37, generator=gen).to(device_type)
    results = []
    for fn in (lif_fused, lif_sequence):
        xg, tg, vg = (t.clone().requires_grad_() for t in (x, tau, vth))
        res = fn(xg, tg, vg, v0, statistic_shape=(5, 1))
        grads = torch.autograd.grad((res.output * weight).sum(), [xg, tg, vg])
        assert res.mp_stat is not None  # statistic_shape is given
        results.append((res.output, res.v_last, *res.mp_stat, *grads))
    worst = 0.0
    for got, want in zip(*results, strict=True):
        if got.shape != want.shape:
            return None
        worst = max(worst, float((got.detach().double() - want.detach().double()).abs().max()))
    return worst


@functools.cache
def _fused_runs_on(device_type: str) -> bool:
    """Whether ``"auto"`` uses the fused kernels on a device type; says once why not."""
    problem = self_check(device_type)
    if problem is not None:
        _log.warning(
            "backend 'auto' on %s uses the per-step reference (same numbers, slower): %s",
            device_type,
            problem,
        )
    return problem is None


def register_backend(name: str, fn: Backend, *, replace: bool = False) -> None:
    """Make ``fn`` selectable as ``TrLIF(backend=name)`` (a second one needs ``replace=True``)."""
    _BACKENDS.add(name, fn, replace=replace)


def available_backends() -> tuple[str, ...]:
    """Names accepted by :func:`get_backend` (besides ``"auto"``)."""
    return _BACKENDS.names()


@torch.compiler.assume_constant_result  # traced as its value: no graph break in the neuron
def resolve_backend(name: str, device_type: str) -> str:
    """The concrete backend name for ``name`` on a device type (``"auto"`` picks the default)."""
    if name == "auto":
        return "fused" if _fused_runs_on(device_type) else "reference"
    name = check_backend_name(name)
    if name == "fused":
        problem = self_check(device_type)
        if problem is not None:
            raise RuntimeError(
                f"backend 'fused' failed its check on {device_type}: {problem}; use "
                "backend='reference' (or 'auto', which falls back to it)"
            )
    return name


def check_backend_name(name: str) -> str:
    """``name`` as registered if it is ``"auto"`` or a backend, else ``ConfigError`` (a ``ValueError``)."""
    if name != "auto" and name not in _BACKENDS:
        raise ConfigError(_BACKENDS.unknown_message(name, "auto, " + ", ".join(_BACKENDS.names())))
    return name if name == "auto" else _BACKENDS.canonical(name)


def get_backend(name: str, device_type: str = "cpu") -> Backend:
    """The implementation registered under ``name`` (``"auto"`` resolves per device type)."""
    return _BACKENDS.get(resolve_backend(name, device_type))
