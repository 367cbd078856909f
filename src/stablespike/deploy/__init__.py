"""Deployment: binary-spike (folded) models, anytime inference, NIR and torch.export.

* :func:`fold_thresholds` returns a folded inference copy (checked on ``example_input``);
* :func:`plan_fold` reports, per layer, what folding does (:class:`FoldPlan`), changing nothing;
* :func:`check_fold` compares a folded model with the original on an input, telling rounding
  from real errors (:func:`verify_fold` returns the evidence as a :class:`FoldReport`);
* :class:`FoldError` is raised where folding is not exact; :class:`ChannelScale` is the explicit
  multiplication ``residual="scale"`` keeps at a mixed residual addition;
* :func:`anytime` runs a model step by step and stops each sample by an :class:`ExitPolicy`
  (:mod:`.anytime_eval`: the ``stablespike eval --anytime`` sweep);
* :func:`to_nir` writes the folded model as a NIR graph; :func:`export_folded` as a
  ``torch.export`` program (docs/DEPLOY.md: the three ways out).

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

from ..core.errors import FoldError
from .anytime import AnytimeNet, AnytimeOutput, anytime
from .apply import ChannelScale
from .check import FoldReport, FoldRoundingWarning, check_fold, verify_fold
from .fold import fold_thresholds, plan_fold
from .nir_export import NIRExportError, to_nir
from .plan import FoldPlan, FoldStep
from .policy import ExitPolicy, exit_steps
from .torch_export import export_folded

__all__ = [
    "AnytimeNet",
    "AnytimeOutput",
    "ChannelScale",
    "ExitPolicy",
    "FoldError",
    "FoldPlan",
    "FoldReport",
    "FoldRoundingWarning",
    "FoldStep",
    "NIRExportError",
    "anytime",
    "check_fold",
    "exit_steps",
    "export_folded",
    "fold_thresholds",
    "plan_fold",
    "to_nir",
    "verify_fold",
]
