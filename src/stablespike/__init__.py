"""stablespike: stable direct training of spiking neural networks (MP-Init + TrSG).

Example:
    >>> import torch
    >>> import stablespike as ss
    >>> lif = ss.TrLIF(init_tau=2.0, init_threshold=1.0)   # TrSG + MP-Init
    >>> lif(torch.randn(4, 2, 8)).shape                   # time-major [T, B, ...]
    torch.Size([4, 2, 8])
"""

from . import functional
from .deploy import FoldError, check_fold, fold_thresholds, plan_fold
from .mp_init import MPInitMixin
from .neurons import TrLIF, TrLIFState

__version__ = "0.1.0"

__all__ = [
    "FoldError",
    "MPInitMixin",
    "TrLIF",
    "TrLIFState",
    "__version__",
    "check_fold",
    "fold_thresholds",
    "functional",
    "plan_fold",
]
