"""Atomic, parameter-keyed on-disk caches of preprocessed data.

A cache lives in ``root/<key>/`` where ``key`` hashes every parameter that
affects its content (:func:`cache_key`). It is built in a hidden temporary
folder ``root/.<key>.<random>.tmp``; a completeness marker is written last
inside it, and the folder is then renamed to ``root/<key>`` with one
``os.replace``. So a reader either sees a complete cache or none: an
interrupted build (exception, Ctrl-C) removes its temporary folder, and a
folder ``root/<key>`` without a valid marker (e.g. copied by hand) is deleted
and rebuilt. A process killed with SIGKILL leaves its ``.tmp`` folder behind:
each temporary folder records its builder's host and process id, and the next
build of the same key deletes those whose builder no longer runs on this host.

Example:
    >>> key = cache_key({"T": 10, "version": 1})
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     path = build_cache(root, key, lambda tmp: (tmp / "a.txt").write_text("hi"))
    ...     (path / "a.txt").read_text(), is_complete(path, key)
    ('hi', True)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.fileio import atomic_path

__all__ = ["MARKER", "build_cache", "cache_key", "is_complete", "remove_abandoned_builds"]

MARKER = "COMPLETE.json"
BUILDER = "BUILDER.json"


def cache_key(params: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-serialisable ``params`` (order-independent).

    Example:
        >>> cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
        True
    """
    blob = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def is_complete(path: str | os.PathLike[str], key: str) -> bool:
    """Whether ``path`` holds a finished cache for ``key``.

    Example:
        >>> is_complete("/nonexistent", "abc")
        False
    """
    try:
        marker = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("key") == key


def build_cache(
    root: str | os.PathLike[str],
    key: str,
    build: Callable[[Path], object],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Return ``root/key``, calling ``build(tmp_dir)`` first if no complete cache exists.

    ``metadata`` is stored in the marker for humans (``key`` is added).

    Example:
        >>> build_cache("/tmp/c", "k", lambda tmp: None)  # doctest: +SKIP
        PosixPath('/tmp/c/k')
    """
    root = Path(root)
    final = root / key
    if is_complete(final, key):
        return final
    if final.exists():
        shutil.rmtree(final)
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned_builds(root, key)
    tmp_name = f".{key}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with atomic_path(final, tmp_name=tmp_name) as tmp:
            tmp.mkdir()
            who = {"host": socket.gethostname(), "pid": os.getpid()}
            (tmp / BUILDER).write_text(json.dumps(who))
            build(tmp)
            (tmp / BUILDER).unlink()
            marker = {**(metadata or {}), "key": key}
            (tmp / MARKER).write_text(json.dumps(marker, sort_keys=True, indent=1))
    except OSError:
        if not is_complete(final, key):  # lost a race against another complete build: fine
            raise
    return final


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_abandoned_builds(root: str | os.PathLike[str], key: str) -> list[Path]:
    """Delete ``root/.<key>.*.tmp`` folders whose builder process is gone; returns them.

    Folders built on another host, or whose builder record cannot be read yet (a build that
    has just started), are kept.
    """
    removed = []
    for tmp in Path(root).glob(f".{key}.*.tmp"):
        try:
            who = json.loads((tmp / BUILDER).read_text())
            host, pid = who["host"], int(who["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if host == socket.gethostname() and not _process_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed
