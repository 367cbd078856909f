"""stablespike: stable direct training of spiking neural networks (MP-Init + TrSG).

Example:
    >>> import torch
    >>> import stablespike as ss
    >>> lif = ss.TrLIF(init_tau=2.0, init_threshold=1.0)   # TrSG + MP-Init
    >>> lif(torch.randn(4, 2, 8)).shape                   # time-major [T, B, ...]
    torch.Size([4, 2, 8])
"""

import os as _os
import sys as _sys

# On a shared CPU, OpenMP threads that spin while waiting stall whenever another process holds a
# core. libgomp reads this at load, so
# it only takes effect when stablespike is imported before torch (as the `stablespike` command
# does); an explicit OMP_WAIT_POLICY always wins.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import functional  # noqa: E402
from .deploy import FoldError, check_fold, fold_thresholds, plan_fold
from .models.convert import ConversionError, MPInitNeuron, TrLIFParams, convert, register_neuron
from .mp_init import MPInitMixin
from .neurons import TrLIF, TrLIFState

__version__ = "0.1.0"

__all__ = [
    "ConversionError",
    "FoldError",
    "MPInitMixin",
    "MPInitNeuron",
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
