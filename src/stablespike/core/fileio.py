"""Atomic file and folder writes: temporary path in the same folder + fsync + ``os.replace``.

A reader (or a process restarted after a crash) sees either the previous complete file or the new
complete file, never a partial one; the temporary file is removed if writing fails.

A write that fails in the operating system raises :class:`~stablespike.core.errors.WriteError`
(an ``OSError`` too) whose message names the path and the cause: disk full (with the space left
and the bytes the write had got to), permission denied, read-only file system, quota. That holds
even where ``torch.save`` would only report a confusing ``RuntimeError`` of its zip writer: the
file object it writes to records the operating system's error.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write_text(path, "hello\\n")
    >>> path.read_text()
    'hello\\n'
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import WriteError

__all__ = [
    "TMP_MARK",
    "append_text",
    "atomic_path",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_text",
    "remove_stale_temporaries",
    "write_error",
]

TMP_MARK = ".tmp-"

_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EFBIG: "the file is larger than this process may write",
    errno.ENOENT: "a folder on the way does not exist",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EIO: "input/output error (failing disk or lost network file system)",
}


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _free_space(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            with contextlib.suppress(OSError):
                return shutil.disk_usage(folder).free
            return None
    return None


def write_error(
    path: str | os.PathLike[str], err: OSError, written: int | None = None, size: int | None = None
) -> WriteError:
    """A :class:`WriteError` naming ``path`` and the cause of the operating-system error ``err``.

    ``written``: the bytes that went in before the error; ``size``: the expected file size.

    Example:
        >>> print(write_error("/data/run/config.yaml", PermissionError(13, "Permission denied")))
        cannot write /data/run/config.yaml: permission denied (EACCES); check the permissions of /data/run
    """
    path = Path(path)
    code = err.errno
    name = errno.errorcode.get(code, "") if code is not None else ""
    cause = _CAUSES.get(code, err.strerror or str(err) or type(err).__name__)  # type: ignore[arg-type]
    text = f"cannot write {path}: {cause}" + (f" ({name})" if name else "")
    if code in (errno.ENOSPC, errno.EDQUOT):
        free = _free_space(path.parent)
        if size:
            needs = f"the file needs about {_size(size)}"
        else:
            needs = f"the file needs more than {_size(written)}" if written else ""
        left = f"{_size(free)} free on that file system" if free is not None else ""
        detail = ", ".join(x for x in (needs, left) if x)
        text += (f"; {detail}" if detail else "") + "; free some space or choose another --run-dir"
    elif code in (errno.EACCES, errno.EPERM):
        text += f"; check the permissions of {path.parent}"
    elif code == errno.EROFS:
        text += "; choose a --run-dir on a writable file system"
    if path.suffix == ".pt" or path.name.startswith("metrics"):
        text += f" (the previous {path.name}, if any, is unchanged)"
    out = WriteError(text)
    out.errno, out.path = code, path  # no strerror / filename: str(out) stays the message
    return out


class _RecordingFile:
    """A file that remembers the first ``OSError`` of its writes and how many bytes went in.

    ``torch.save`` turns an error of the file's ``write`` into its own ``RuntimeError``
    ("unexpected pos ..."); the recorded error says what really happened.
    """

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.error: OSError | None = None
        self.written = 0

    def write(self, data: Any) -> int:
        try:
            n = self._f.write(data)
        except OSError as err:
            self.error = self.error or err
            raise
        self.written += len(data) if n is None else n
        return n

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as err:
            self.error = self.error or err
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, tmp_name: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto ``path`` when the ``with`` block succeeds.

    The block writes a file or builds a folder at the yielded path (which does not exist yet);
    a file is fsync'd before the rename. If the block raises, what it wrote is removed and
    ``path`` is unchanged; an operating-system error of the rename becomes a
    :class:`~stablespike.core.errors.WriteError`. A folder can replace only a missing or empty
    folder. ``tmp_name`` overrides the temporary name (default ``.NAME.tmp-PID`` + the suffix
    of ``path``, so ``np.savez`` or a compiler see the extension they expect).

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "lib.so"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_bytes(b"built")
        >>> out.read_bytes(), sorted(p.name for p in out.parent.iterdir())
        (b'built', ['lib.so'])
    """
    path = Path(path)
    tmp = path.with_name(tmp_name or f".{path.name}{TMP_MARK}{os.getpid()}{path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise write_error(path, err) from None
    finally:
        _remove(tmp)
    _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[BinaryIO], object],
    *,
    size_hint: int | None = None,
) -> None:
    """Call ``write(file)`` on a temporary file, fsync it and rename it to ``path``.

    Raises :class:`~stablespike.core.errors.WriteError` when the operating system refuses the
    write; the previous file at ``path`` is then unchanged and the temporary file removed.
    ``size_hint`` (the expected size in bytes) is quoted when the disk is full.
    """
    path = Path(path)
    recording: _RecordingFile | None = None
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            recording = _RecordingFile(f)
            write(recording)  # type: ignore[arg-type]
            recording.flush()
    except WriteError:
        raise
    except BaseException as err:
        cause = recording.error if recording is not None else None
        if cause is None and isinstance(err, OSError):
            cause = err
        if cause is not None:
            written = recording.written if recording is not None else None
            raise write_error(path, cause, written, size_hint) from None
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data), size_hint=len(data))


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 1) -> None:
    """Write ``data`` as JSON (one trailing newline) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def append_text(path: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` (UTF-8) to ``path``; an operating-system error becomes a ``WriteError``."""
    try:
        with open(path, "a", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as err:
        raise write_error(path, err) from None


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
