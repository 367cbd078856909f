"""Exceptions raised by :mod:`stablespike.train`, each with a message a user can act on.

Example:
    >>> from stablespike.train.errors import ConfigError, TrainError
    >>> issubclass(ConfigError, TrainError)
    True
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "NonFiniteError", "RunDirError", "TrainError"]


class TrainError(Exception):
    """Base class of the training errors; the CLI prints the message and exits non-zero."""


class ConfigError(TrainError, ValueError):
    """An invalid option value, an unknown key in a config file or an unreadable config file."""


class CheckpointError(TrainError):
    """A checkpoint that is missing, unreadable, or from another model/config."""


class RunDirError(TrainError):
    """``RUN_DIR`` already holds a run (and ``--overwrite`` was not given) or holds none."""


class NonFiniteError(TrainError, FloatingPointError):
    """A non-finite loss or gradient stopped the run; the last good checkpoint is kept."""
