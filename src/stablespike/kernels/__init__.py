"""Implementations of the multi-step LIF recurrence, chosen by name.

Every backend has the signature of :func:`stablespike.functional.lif_sequence` (without
``return_h``) and must match it numerically. ``"reference"`` is that readable per-step definition.

Example:
    >>> from stablespike.kernels import available_backends
    >>> "reference" in available_backends()
    True
"""

from __future__ import annotations

from collections.abc import Callable

from ..functional.lif import LIFSequence, lif_sequence

Backend = Callable[..., LIFSequence]

_BACKENDS: dict[str, Backend] = {"reference": lif_sequence}


def register_backend(name: str, fn: Backend) -> None:
    """Make ``fn`` selectable as ``TrLIF(backend=name)``."""
    _BACKENDS[name] = fn


def available_backends() -> tuple[str, ...]:
    """Names accepted by :func:`get_backend` (besides ``"auto"``)."""
    return tuple(sorted(_BACKENDS))


def resolve_backend(name: str, device_type: str) -> str:
    """The concrete backend name for ``name`` on a device type (``"auto"`` picks the default)."""
    if name == "auto":
        return "reference"
    if name not in _BACKENDS:
        raise ValueError(
            f"unknown backend {name!r}; expected 'auto' or one of {', '.join(available_backends())}"
        )
    return name


def get_backend(name: str, device_type: str = "cpu") -> Backend:
    """The implementation registered under ``name`` (``"auto"`` resolves per device type)."""
    return _BACKENDS[resolve_backend(name, device_type)]
