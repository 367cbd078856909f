"""Gradient-stability metrics of docs/METHOD.md §5.2: AbsStr, RatioAG and GradCV.

For the gradients ``g_1..g_N`` of the loss w.r.t. a layer's pre-spike potentials ``H`` (every
neuron, sample and timestep is one entry), with ``A = {i : g_i != 0}``::

    AbsStr  = 1/N * sum_i |g_i|                       mean absolute gradient (all entries)
    RatioAG = |A| / N                                 share of entries with a non-zero gradient
    GradCV  = std_{i in A} |g_i| / mean_{i in A} |g_i|    (0 when A is empty)

GradCV is taken over the non-zero gradients: over all entries it could not fall below
``sqrt((1 - RatioAG) / RatioAG)`` (3.6 at the paper's 6.9 %), while the paper reports 0.73, so
the paper's figure can only be the spread of the gradients that exist. ``AbsStrActive``, the
mean over ``A`` only, is reported beside AbsStr. All sums are streamed in float64.

Example:
    >>> import torch
    >>> from stablespike.analysis.gradstats import GradStats
    >>> stats = GradStats()
    >>> stats.add(torch.tensor([0.0, 0.0, 1.0, 3.0]))
    >>> m = stats.summary()
    >>> m["abs_str"], m["ratio_ag"], m["grad_cv"]
    (1.0, 0.5, 0.5)
"""

from __future__ import annotations

import math

import torch


class GradStats:
    """Streaming ``N``, ``|A|``, ``sum |g|`` and ``sum g^2`` of gradients added batch by batch."""

    def __init__(self) -> None:
        self.count = 0
        self.nonzero = 0
        self.abs_sum = 0.0
        self.sq_sum = 0.0

    def add(self, grad: torch.Tensor) -> None:
        """Accumulate the entries of one gradient tensor (any shape)."""
        g = grad.detach().to(torch.float64).abs()
        self.count += g.numel()
        self.nonzero += int((g != 0).sum())
        self.abs_sum += float(g.sum())
        self.sq_sum += float((g * g).sum())

    def summary(self) -> dict[str, float]:
        """``abs_str``, ``abs_str_active``, ``ratio_ag``, ``grad_cv`` and the entry ``count``."""
        if self.count == 0:
            raise ValueError("no gradients were recorded (did a backward pass run?)")
        active_mean = self.abs_sum / self.nonzero if self.nonzero else 0.0
        if self.nonzero:
            var = max(self.sq_sum / self.nonzero - active_mean**2, 0.0)
            cv = math.sqrt(var) / active_mean
        else:
            cv = 0.0
        return {
            "abs_str": self.abs_sum / self.count,
            "abs_str_active": active_mean,
            "ratio_ag": self.nonzero / self.count,
            "grad_cv": cv,
            "count": float(self.count),
        }
