"""Deprecated: the errors moved to :mod:`stablespike.core.errors` (this alias goes in 0.3).

Example:
    >>> from stablespike.core.errors import ConfigError, TrainError
    >>> issubclass(ConfigError, TrainError)
    True
"""

from __future__ import annotations

import warnings

from ..core.errors import (  # noqa: F401 - re-exported
    CheckpointError,
    ConfigError,
    NonFiniteError,
    PeerError,
    RunDirError,
    StopNow,
    StopRequested,
    TrainError,
    WriteError,
)

warnings.warn(
    "stablespike.train.errors is deprecated (removed in 0.3); import the errors from "
    "stablespike.core.errors (the common ones also from stablespike)",
    DeprecationWarning,
    stacklevel=2,
)
