"""Kill -9 a real training process at a step checkpoint, resume, and get bit-identical weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_ARGS, checkpoint_tensors, cli, cli_env

pytestmark = pytest.mark.slow


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stablespike.cli", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kill_after_new_checkpoint(proc: subprocess.Popen, ckpt: Path, timeout: float = 120) -> None:
    """SIGKILL ``proc`` as soon as ``ckpt`` is (re)written; fail if the run ended first."""
    before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ckpt.exists() and ckpt.stat().st_mtime_ns != before:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be killed:\n{proc.stdout.read()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("no checkpoint appeared in time")


def test_resume_after_kill_matches_an_uninterrupted_run(tiny_npz: Path, tmp_path: Path) -> None:
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}", "--epochs", "3", "--ckpt-every", "2"]
    cli("train", *args, "--run-dir", "straight", cwd=tmp_path)

    run = tmp_path / "killed"
    proc = _start(["train", *args, "--run-dir", str(run)], tmp_path)
    _kill_after_new_checkpoint(proc, run / "last.pt")  # the first step checkpoint
    assert not (run / "summary.json").exists()
    first_kill_step = torch.load(run / "last.pt", weights_only=True)["progress"]["global_step"]

    proc = _start(["resume", str(run)], tmp_path)  # killed again, later, while resuming
    _kill_after_new_checkpoint(proc, run / "last.pt")
    assert not (run / "summary.json").exists()
    second = torch.load(run / "last.pt", weights_only=True)["progress"]["global_step"]
    assert second > first_kill_step

    done = cli("resume", str(run), cwd=tmp_path)
    assert "resuming at epoch" in done.stdout
    assert list(run.glob(".*tmp-*")) == []

    ref = checkpoint_tensors(tmp_path / "straight" / "last.pt")
    got = checkpoint_tensors(run / "last.pt")
    assert ref.keys() == got.keys()
    for name in ref:
        if isinstance(ref[name], torch.Tensor):
            assert torch.equal(ref[name], got[name]), name
        else:
            assert ref[name] == got[name], name
    mp_means = [k for k in ref if k.endswith("mp_mean")]
    assert mp_means and any(bool(ref[k] != 0) for k in mp_means)
    # the metrics file has one row per epoch, identical to the uninterrupted run's
    straight_rows = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    killed_rows = (run / "metrics.csv").read_text().splitlines()
    assert len(killed_rows) == 4
    cut = lambda rows: [",".join(r.split(",")[:9]) for r in rows]  # noqa: E731 (drop timings)
    assert cut(killed_rows) == cut(straight_rows)
