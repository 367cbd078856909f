"""The one exception type raised for missing or malformed datasets."""

from __future__ import annotations

import os

__all__ = ["DatasetError"]


class DatasetError(Exception):
    """A dataset is missing, incomplete or malformed.

    The message always names the offending ``path`` and, when known, the
    ``expected`` on-disk layout, so that a user can fix the problem without
    reading a stack trace from deep inside a file reader. Low-level errors
    (``OSError``, ``gzip.BadGzipFile``, ``pickle.UnpicklingError`` ...) are
    chained as ``__cause__``.

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
