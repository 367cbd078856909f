"""Argument checks shared by the model builders; each raises ``ValueError`` naming the argument.

Example:
    >>> from stablespike.models.checks import positive_int
    >>> positive_int("timesteps", 4)
    4
"""

from __future__ import annotations

import math
from typing import Any


def positive_int(what: str, value: Any) -> int:
    """Return ``value`` if it is an ``int >= 1`` (not a bool), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def probability(what: str, value: Any) -> float:
    """Return ``value`` as a float if it lies in ``[0, 1)``, else raise ``ValueError``."""
    ok = not isinstance(value, bool) and isinstance(value, int | float)
    if not ok or math.isnan(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1), got {value!r}")
    return float(value)
