"""A run directory's ownership: its identity, an exclusive lock, and a safe ``--overwrite``.

* **Identity.** A run gets a random run id when it starts; ``config.yaml`` and every checkpoint
  carry it. ``resume`` refuses a ``last.pt`` whose run id, model or dataset differs from the
  directory's ``config.yaml`` (:func:`check_same_run`).
* **Ownership.** ``train`` refuses a directory that holds run files of any kind (checkpoints,
  metrics, summary, config, TensorBoard logs, temporaries of a killed write, a run set aside by
  ``--overwrite``) unless ``--overwrite`` is given (:meth:`RunDirectory.claim`).
* **Lock.** The process that trains (rank 0 under DDP) holds an exclusive OS file lock
  (``fcntl.flock``) on ``RUN_DIR/.lock`` for the whole run; it records pid, host and command so
  that a second process is told who holds it. The OS drops the lock when its holder dies (even
  by ``kill -9``), so a stale lock file never blocks a new run. The file is removed on release.
* **Overwrite.** ``--overwrite`` touches nothing until the new run's config, data, model and
  backend are built; then the old run's files are moved into ``RUN_DIR/.replaced-<run id>/`` and
  deleted only after the new run has written its first ``last.pt``. If the new run fails before
  that, the old files are moved back.

Example:
    >>> import tempfile, pathlib
    >>> run = RunDirectory(pathlib.Path(tempfile.mkdtemp()) / "run")
    >>> run.claim(overwrite=False, resuming=False)
    >>> (run.path / ".lock").exists(), run.existing
    (True, [])
    >>> run.release()
    >>> (run.path / ".lock").exists()
    False
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import CheckpointError, RunDirError
from ..core.fileio import TMP_MARK, write_error

try:  # POSIX; elsewhere the lock is advisory only (the pid file is still written)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ASIDE_PREFIX",
    "LOCK_NAME",
    "RUN_FILES",
    "RunDirectory",
    "check_same_run",
    "directory_identity",
    "new_run_id",
    "run_files_in",
]

RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "summary.json", "config.yaml", "tb")
"""The files and folders a run writes into its directory."""
LOCK_NAME = ".lock"
ASIDE_PREFIX = ".replaced-"


def new_run_id() -> str:
    """A fresh random run id (12 hex digits)."""
    return uuid.uuid4().hex[:12]


def run_files_in(folder: Path) -> list[str]:
    """Names of the run files in ``folder``: :data:`RUN_FILES`, write temporaries, set-aside runs."""
    if not folder.is_dir():
        return []
    found = [name for name in RUN_FILES if (folder / name).exists()]
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(ASIDE_PREFIX) or (
            entry.name.startswith(".") and TMP_MARK in entry.name
        ):
            found.append(entry.name)
    return found


def _holder_text(info: Mapping[str, Any]) -> str:
    if not info:
        return "another process (no details recorded)"
    since = info.get("started")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if since else ""
    command = f" ({info['command']})" if info.get("command") else ""
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}{command}{when}"


class RunDirectory:
    """The run directory of one process: claim (lock + checks), set aside, release."""

    def __init__(self, path: str | os.PathLike[str], *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled  # False on ranks > 0: they own nothing
        self.existing: list[str] = []
        self.aside: Path | None = None
        self._fd: int | None = None
        self._command = ""
        self._created = False
        self._checkpointed = False

    # ------------------------------------------------------------------ lock
    @property
    def lock_path(self) -> Path:
        """``RUN_DIR/.lock``."""
        return self.path / LOCK_NAME

    def _lock(self) -> None:
        path = self.lock_path
        for _ in range(20):  # the holder may remove the file between our open and flock
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise write_error(path, err) from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    info = self._read_holder(fd)
                    os.close(fd)
                    raise RunDirError(
                        f"{self.path} is in use by {_holder_text(info)}: two runs must not write "
                        "one directory; wait for it to end, stop it, or choose another --run-dir"
                    ) from None
                try:
                    same = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:  # locked a file its holder had just removed: try again
                    os.close(fd)
                    continue
            self._fd = fd
            holder = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": self._command,
                "started": time.time(),
            }
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(holder) + "\n").encode())
            return
        raise RunDirError(f"cannot lock {path}: it keeps being replaced by another process")

    @staticmethod
    def _read_holder(fd: int) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            os.lseek(fd, 0, os.SEEK_SET)
            data = json.loads(os.read(fd, 4096).decode() or "{}")
            if isinstance(data, dict):
                return data
        return {}

    # ------------------------------------------------------------------ claim
    def claim(self, *, overwrite: bool, resuming: bool) -> None:
        """Create the folder, take the lock, and refuse a directory that holds another run.

        Raises :class:`RunDirError` when another process holds the lock, or when the folder holds
        run files, this is a new run and ``overwrite`` is false. Nothing is removed here.
        """
        if not self.enabled:
            return
        self._command = "stablespike resume" if resuming else "stablespike train"
        self._created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(self.path, err) from None
        self._lock()
        try:
            self.existing = [] if resuming else run_files_in(self.path)
            if self.existing and not overwrite:
                hint = (
                    f"continue it with 'stablespike resume {self.path}', "
                    if "last.pt" in self.existing
                    else ""
                )
                raise RunDirError(
                    f"{self.path} already holds a run ({', '.join(self.existing)}); {hint}"
                    "start over with --overwrite (the old run is deleted once the new one has "
                    "written its first checkpoint), or choose another --run-dir"
                )
        except BaseException:
            self.release()
            raise

    def set_aside_old_run(self, run_id: str) -> None:
        """Move the old run's files into ``.replaced-<run_id>/`` (after everything validated)."""
        if not self.enabled or not self.existing:
            return
        aside = self.path / f"{ASIDE_PREFIX}{run_id}"
        try:
            aside.mkdir()
            for name in self.existing:
                os.replace(self.path / name, aside / name)
        except OSError as err:
            raise write_error(aside, err) from None
        self.aside = aside

    def checkpoint_written(self) -> None:
        """The new run wrote a checkpoint: the set-aside old run is no longer needed."""
        self._checkpointed = True
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None

    def abandon(self) -> None:
        """The run failed: put a set-aside old run back if the new one wrote no checkpoint."""
        if not self.enabled or self.aside is None or self._checkpointed:
            return
        with contextlib.suppress(OSError):
            for name in RUN_FILES:  # the new run's files (config.yaml, metrics.csv)
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
            for entry in self.aside.iterdir():
                os.replace(entry, self.path / entry.name)
            self.aside.rmdir()
            self.aside = None

    def release(self) -> None:
        """Remove the lock file and drop the lock; remove the folder if this run created it empty."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
            os.close(self._fd)
            self._fd = None
        if self._created:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only succeeds when empty
            self._created = False


# ---------------------------------------------------------------------- identity
def directory_identity(run_dir: Path) -> dict[str, Any] | None:
    """``{"run_id", "model", "dataset", "source"}`` of the run in ``run_dir`` from its config.yaml.

    None when there is no readable ``config.yaml``.
    """
    path = run_dir / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    return {
        "run_id": data.get("run_id"),
        "model": data.get("model"),
        "dataset": data.get("dataset"),
        "source": str(path),
    }


def _describe(ident: Mapping[str, Any]) -> str:
    run = ident.get("run_id") or "without a run id"
    run = f"run {run}" if ident.get("run_id") else run
    return f"{run} (model {ident.get('model')}, dataset {ident.get('dataset')})"


def check_same_run(run_dir: Path, ckpt: Mapping[str, Any], source: str) -> None:
    """Refuse ``ckpt`` (read from ``source``) when it belongs to another run than ``run_dir``."""
    here = directory_identity(run_dir)
    if here is None:
        return
    config = ckpt.get("config") or {}
    mine = {
        "run_id": ckpt.get("run_id"),
        "model": config.get("model"),
        "dataset": config.get("dataset"),
    }
    differs = [
        key
        for key in ("run_id", "model", "dataset")
        if here.get(key) is not None and mine.get(key) is not None and here[key] != mine[key]
    ]
    if differs:
        raise CheckpointError(
            f"{source} belongs to another run than {run_dir}: the checkpoint is "
            f"{_describe(mine)}, the directory's config.yaml is {_describe(here)}; "
            f"resume it from its own run directory, or start a new run here with "
            f"'stablespike train --run-dir {run_dir} --overwrite'"
        )
