"""Exceptions raised by :mod:`stablespike.train`, each with a message a user can act on.

Example:
    >>> from stablespike.train.errors import ConfigError, TrainError
    >>> issubclass(ConfigError, TrainError)
    True
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CheckpointError",
    "ConfigError",
    "NonFiniteError",
    "PeerError",
    "RunDirError",
    "StopNow",
    "StopRequested",
    "TrainError",
    "WriteError",
]


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


class WriteError(TrainError, OSError):
    """A file of the run could not be written (disk full, permission, read-only file system).

    The message names the path and the cause; ``errno`` is the operating system's error code
    and ``path`` the file.
    """

    path: Path


class StopRequested(TrainError):
    """SIGTERM / SIGINT stopped the run after a step; ``last.pt`` was written.

    ``exit_code`` is 128 + the signal number (143 for SIGTERM, 130 for SIGINT).
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StopNow(BaseException):
    """A second SIGTERM / SIGINT: the run stops at once, without writing a checkpoint.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that no ``except Exception`` swallows it.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class PeerError(TrainError):
    """Under ``torchrun``: another process died, was stopped or froze (collective timeout)."""
