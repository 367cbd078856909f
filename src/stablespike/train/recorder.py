"""The files of a run directory, written by rank 0 only.

* ``config.yaml`` - the run id and the resolved configuration (usable as ``--config`` for a new
  run, which gets its own run id);
* ``metrics.csv`` - one row per epoch (rewritten from the checkpoint's history on resume, so it
  never holds rows of work that was lost in a crash);
* TensorBoard event files under ``tb/`` when ``tensorboard`` is installed;
* ``summary.json`` - the final report.

Example:
    >>> import tempfile
    >>> rec = RunRecorder(tempfile.mkdtemp(), enabled=True, tensorboard=False)
    >>> rec.start(history=[])
    >>> rec.log_epoch({"epoch": 1, "test_acc": 88.5})
    >>> rec.metrics_path.read_text().splitlines()
    ['epoch,test_acc', '1,88.5']
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..core.fileio import append_text, atomic_write_text

__all__ = ["RunRecorder"]


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


class RunRecorder:
    """Writes a run directory's config, metrics, TensorBoard logs and summary (when enabled)."""

    def __init__(
        self, run_dir: str | os.PathLike[str], *, enabled: bool, tensorboard: bool
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.want_tensorboard = tensorboard
        self.rows: list[dict[str, Any]] = []
        self.writer: Any = None

    @property
    def metrics_path(self) -> Path:
        """``RUN_DIR/metrics.csv``."""
        return self.run_dir / "metrics.csv"

    def start(self, history: list[dict[str, Any]]) -> None:
        """Create the folder and rewrite ``metrics.csv`` from ``history`` (the completed epochs)."""
        if not self.enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rows = [dict(r) for r in history]
        atomic_write_text(self.metrics_path, _csv_text(self.rows))
        if self.want_tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                return
            purge = int(history[-1]["epoch"]) + 1 if history else None
            self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=purge)

    def write_config(self, config: Mapping[str, Any], run_id: str | None = None) -> None:
        """``config.yaml`` with the run id (ignored when the file is read as ``--config``) and the
        resolved options."""
        if self.enabled:
            head = {"run_id": run_id} if run_id else {}
            text = yaml.safe_dump({**head, **dict(config)}, sort_keys=False)
            atomic_write_text(self.run_dir / "config.yaml", text)

    def log_epoch(self, row: Mapping[str, Any]) -> None:
        """Append one epoch's row to ``metrics.csv`` (and TensorBoard)."""
        if not self.enabled:
            return
        row = dict(row)
        new_columns = bool(self.rows) and any(k not in self.rows[0] for k in row)
        self.rows.append(row)
        if not self.rows[1:] or new_columns:
            atomic_write_text(self.metrics_path, _csv_text(self.rows))
        else:
            buf = io.StringIO()
            csv.DictWriter(buf, fieldnames=list(self.rows[0]), lineterminator="\n").writerow(row)
            append_text(self.metrics_path, buf.getvalue())
        if self.writer is not None:
            step = int(row.get("epoch", len(self.rows)))
            for key, value in row.items():
                if key != "epoch" and isinstance(value, int | float):
                    self.writer.add_scalar(key.replace("_", "/", 1), value, step)
            self.writer.flush()

    def write_summary(self, summary: Mapping[str, Any], also: str = "") -> Path | None:
        """``summary.json`` (non-finite numbers become ``null``), and the same file at ``also``
        when given (``--json FILE``); returns the run directory's path."""
        if not self.enabled:
            return None
        path = self.run_dir / "summary.json"
        text = json.dumps(_json_safe(dict(summary)), indent=2) + "\n"
        for target in (path, also) if also else (path,):
            atomic_write_text(target, text)
        return path

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
