"""stablespike: stable direct training of spiking neural networks (MP-Init + TrSG).

The names below are imported on first use, so ``import stablespike`` is cheap and changes
nothing in the process (no environment variable, no thread setting).

Example:
    >>> import torch
    >>> import stablespike as ss
    >>> lif = ss.TrLIF(init_tau=2.0, init_threshold=1.0)   # TrSG + MP-Init
    >>> lif(torch.randn(4, 2, 8)).shape                   # time-major [T, B, ...]
    torch.Size([4, 2, 8])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core import __version__

_EXPORTS = {
    "ConfigError": "core.errors",
    "ConversionError": "core.errors",
    "DatasetError": "core.errors",
    "FoldError": "core.errors",
    "StableSpikeError": "core.errors",
    "MPInitMixin": "mp_init",
    "MPInitNeuron": "models.convert",
    "TrLIF": "neurons",
    "TrLIFParams": "models.convert",
    "TrLIFState": "neurons",
    "check_fold": "deploy",
    "convert": "models.convert",
    "fold_thresholds": "deploy",
    "functional": "",
    "plan_fold": "deploy",
    "register_neuron": "models.convert",
}

__all__ = [
    "ConfigError",
    "ConversionError",
    "DatasetError",
    "FoldError",
    "MPInitMixin",
    "MPInitNeuron",
    "StableSpikeError",
    "TrLIF",
    "TrLIFParams",
    "TrLIFState",
    "__version__",
    "check_fold",
    "convert",
    "fold_thresholds",
    "functional",
    "plan_fold",
    "register_neuron",
]

if TYPE_CHECKING:
    from . import functional
    from .core.errors import (
        ConfigError,
        ConversionError,
        DatasetError,
        FoldError,
        StableSpikeError,
    )
    from .deploy import check_fold, fold_thresholds, plan_fold
    from .models.convert import MPInitNeuron, TrLIFParams, convert, register_neuron
    from .mp_init import MPInitMixin
    from .neurons import TrLIF, TrLIFState


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _EXPORTS[name]
    if not module:
        return importlib.import_module(f".{name}", __name__)
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return __all__
