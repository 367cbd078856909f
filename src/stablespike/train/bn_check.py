"""A warning for runs too short for BatchNorm's running statistics to settle.

Evaluation uses BatchNorm's running mean and variance, updated once per training step with
momentum ``m``: after ``n`` steps they still hold ``(1 - m)^n`` of their initial values (mean
0, variance 1). In a run of a few dozen steps that share is large, and test accuracy can fall far
below training accuracy although the weights are fine.

Example:
    >>> from torch import nn
    >>> short_run_warning(nn.Sequential(nn.BatchNorm2d(4)), total_steps=16)[:33]
    'only 16 training steps: BatchNorm'
    >>> short_run_warning(nn.Sequential(nn.BatchNorm2d(4)), total_steps=1000) is None
    True
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

KEPT_LIMIT = 0.01
"""Warn while the running statistics keep at least this share of their initial values."""


def short_run_warning(model: nn.Module, total_steps: int) -> str | None:
    """The warning text if ``total_steps`` leave BatchNorm statistics near their init, else None."""
    momenta = [
        float(m.momentum)
        for m in model.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.momentum is not None
    ]
    if not momenta or total_steps < 0:
        return None
    momentum = min(momenta)
    if momentum >= 1.0:
        return None
    kept = (1.0 - momentum) ** total_steps
    if kept < KEPT_LIMIT:
        return None
    enough = math.ceil(math.log(KEPT_LIMIT) / math.log(1.0 - momentum))
    return (
        f"only {total_steps} training steps: BatchNorm running statistics (momentum {momentum:g})"
        f" still hold {kept:.0%} of their initial values, and evaluation uses them, so test "
        f"accuracy can be far below training accuracy; {enough} steps or more avoid this"
    )
