"""Deployment: fold TrSG thresholds into the next layers so neurons emit binary spikes.

* :func:`fold_thresholds` returns a folded inference copy (checked on ``example_input``);
* :func:`plan_fold` reports, per layer, what folding does (:class:`FoldPlan`), changing nothing;
* :func:`check_fold` compares a folded model with the original on an input;
* :class:`FoldError` is raised where folding is not exact; :class:`ChannelScale` is the explicit
  multiplication ``residual="scale"`` keeps at a mixed residual addition.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.deploy import fold_thresholds, plan_fold
    >>> model = nn.Sequential(TrLIF(init_threshold=0.5), nn.Linear(4, 2))
    >>> print(plan_fold(model))
    binary spikes: 0
      linear '1' <- Vthr of 0 (0.5)
    >>> folded = fold_thresholds(model, torch.randn(3, 2, 4))
"""

from .anytime import AnytimeNet, AnytimeOutput, anytime
from .channel_scale import ChannelScale
from .check import check_fold
from .errors import FoldError
from .fold import fold_thresholds, plan_fold
from .nir_export import NIRExportError, to_nir
from .plan import FoldPlan, FoldStep
from .policy import ExitPolicy, exit_steps
from .torch_export import export_folded

__all__ = [
    "AnytimeNet",
    "AnytimeOutput",
    "ExitPolicy",
    "anytime",
    "exit_steps",
    "export_folded",
    "ChannelScale",
    "FoldError",
    "FoldPlan",
    "FoldStep",
    "NIRExportError",
    "check_fold",
    "fold_thresholds",
    "plan_fold",
    "to_nir",
]
