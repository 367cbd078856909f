"""Parameterisation of the learnable LIF constants (docs/METHOD.md §1.1).

``tau = 1 / sigmoid(a)`` keeps ``tau > 1``; ``Vthr = softplus(b)`` keeps ``Vthr > 0``.

Example:
    >>> from stablespike.functional import tau_to_raw, tau_from_raw
    >>> float(tau_from_raw(tau_to_raw(2.0)))
    2.0
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def tau_to_raw(tau: float) -> torch.Tensor:
    """Raw parameter ``a = -log(tau - 1)`` with ``1 / sigmoid(a) = tau``; needs ``tau > 1``."""
    if not math.isfinite(tau) or tau <= 1.0:
        raise ValueError(
            f"init_tau must be a finite number > 1 (got {tau}); tau = 1/sigmoid(a) > 1"
        )
    return torch.tensor(-math.log(tau - 1.0))


def tau_from_raw(raw: torch.Tensor) -> torch.Tensor:
    """``tau = 1 / sigmoid(raw)``."""
    return 1.0 / torch.sigmoid(raw)


def threshold_to_raw(threshold: float) -> torch.Tensor:
    """Raw parameter ``b = log(exp(Vthr) - 1)`` with ``softplus(b) = Vthr``; needs ``Vthr > 0``."""
    if not math.isfinite(threshold) or threshold <= 0.0:
        raise ValueError(
            f"init_threshold must be a finite number > 0 (got {threshold}); Vthr = softplus(b) > 0"
        )
    return torch.tensor(math.log(math.expm1(threshold)))


def threshold_from_raw(raw: torch.Tensor) -> torch.Tensor:
    """``Vthr = softplus(raw)``."""
    return F.softplus(raw)
