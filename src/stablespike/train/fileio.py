"""Atomic file writes: temporary file in the same folder + fsync + ``os.replace``.

A reader (or a process restarted after a crash) sees either the previous complete file or the new
complete file, never a partial one; the temporary file is removed if writing fails.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write_text(path, "hello\\n")
    >>> path.read_text()
    'hello\\n'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["TMP_MARK", "atomic_write", "atomic_write_text", "remove_stale_temporaries"]

TMP_MARK = ".tmp-"


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file, fsync it and rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible everywhere (e.g. Windows)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> None:
    """Delete the temporary files a killed writer left in ``folder``."""
    for tmp in Path(folder).glob(f".*{TMP_MARK}*"):
        with contextlib.suppress(OSError):
            tmp.unlink()
