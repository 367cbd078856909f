"""The exceptions stablespike raises, each with a message a user can act on.

Every error a user can cause or fix derives from :class:`StableSpikeError`; the ``stablespike``
command prints its message as one line and exits 1 (:class:`NonFiniteError`: 3;
:class:`StopRequested`: 128 + the signal). Where an error is also a standard one (a bad value, a
failed write) it derives from that too, so ``except ValueError`` / ``except OSError`` still work.

Example:
    >>> from stablespike.core.errors import ConfigError, StableSpikeError
    >>> issubclass(ConfigError, StableSpikeError) and issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ConversionError",
    "DatasetError",
    "FoldError",
    "FoldRoundingWarning",
    "NIRExportError",
    "NonFiniteError",
    "PeerError",
    "RunDirError",
    "StableSpikeError",
    "StopNow",
    "StopRequested",
    "TrainError",
    "WriteError",
]


class StableSpikeError(Exception):
    """Base class of stablespike's errors; the CLI prints the message and exits non-zero."""


TrainError = StableSpikeError
"""The former name of :class:`StableSpikeError` (training errors); kept for compatibility."""


class ConfigError(StableSpikeError, ValueError):
    """An invalid option value, an unknown name (model, dataset, ...) or an unreadable config file."""


class DatasetError(StableSpikeError):
    """A dataset is missing, incomplete or malformed.

    The message always names the offending ``path`` and, when known, the ``expected`` on-disk
    layout, so that a user can fix the problem without reading a stack trace from deep inside a
    file reader. Low-level errors (``OSError``, ``gzip.BadGzipFile``, ``pickle.UnpicklingError``
    ...) are chained as ``__cause__``.

    Example:
        >>> err = DatasetError("no such directory", path="/data/cifar",
        ...                    expected="cifar-10-batches-py/data_batch_1..5")
        >>> str(err)
        'no such directory: /data/cifar (expected layout: cifar-10-batches-py/data_batch_1..5)'
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | os.PathLike[str] | None = None,
        expected: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.expected = expected
        message = problem
        if self.path is not None:
            message += f": {self.path}"
        if expected:
            message += f" (expected layout: {expected})"
        super().__init__(message)


class CheckpointError(StableSpikeError):
    """A checkpoint that is missing, unreadable, or from another model/config."""


class RunDirError(StableSpikeError):
    """``RUN_DIR`` already holds a run (and ``--overwrite`` was not given) or holds none."""


class NonFiniteError(StableSpikeError, FloatingPointError):
    """A non-finite loss or gradient stopped the run; the last good checkpoint is kept."""


class WriteError(StableSpikeError, OSError):
    """A file could not be written (disk full, permission, read-only file system).

    The message names the path and the cause; ``errno`` is the operating system's error code
    and ``path`` the file.
    """

    path: Path


class StopRequested(StableSpikeError):
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


class PeerError(StableSpikeError):
    """Under ``torchrun``: another process died, was stopped or froze (collective timeout)."""


class FoldError(StableSpikeError, ValueError):
    """The thresholds of a model cannot be folded exactly (or a folded model failed its check)."""


class ConversionError(StableSpikeError, ValueError):
    """A neuron of the model cannot be converted (unknown, or not representable exactly)."""


class NIRExportError(StableSpikeError, ValueError):
    """The model has a layer NIR cannot express (the message names it)."""


class FoldRoundingWarning(UserWarning):
    """A folded model's outputs differ only through spikes flipped by float rounding."""
