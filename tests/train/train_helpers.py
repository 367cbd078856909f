"""Helpers of the training tests: a tiny ``npz:`` dataset, CLI runners, checkpoint access."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from stablespike.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]

# tiny runs: 8x8 images, 4 classes, T=2; a few seconds each
TINY_ARGS = [
    "--batch-size", "16",
    "--timesteps", "2",
    "--epochs", "2",
    "--lr", "0.005",
    "--threads", "1",
    "--progress", "off",
    "--no-tensorboard",
]  # fmt: skip


def make_tiny_npz(path: Path, *, n_train: int = 128, n_test: int = 64, seed: int = 0) -> Path:
    """Learnable 4-class 8x8 images (a bright quadrant per class) in the ``npz:`` layout."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 4, n)
        x = rng.integers(0, 60, (n, 1, 8, 8)).astype(np.uint8)
        for i, c in enumerate(y):
            r, q = divmod(int(c), 2)
            x[i, 0, r * 4 : r * 4 + 4, q * 4 : q * 4 + 4] += 150
        return x, y

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m stablespike.cli ARGS`` to completion."""
    proc = subprocess.run(
        [sys.executable, "-m", "stablespike.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def checkpoint_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The model state (weights, BN statistics, MP-Init means) of a checkpoint."""
    return torch.load(path, weights_only=True)["model"]


def tiny_config(npz: Path, run_dir: Path, **changes: object) -> TrainConfig:
    """The config of ``TINY_ARGS`` for in-process runs (torch's thread count left alone)."""
    values = dict(
        dataset=f"npz:{npz}",
        run_dir=str(run_dir),
        batch_size=16,
        timesteps=2,
        epochs=2,
        lr=0.005,
        progress="off",
        tensorboard=False,
    )
    values.update(changes)
    return TrainConfig(**values).validate()  # type: ignore[arg-type]


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """Start ``python -m stablespike.cli ARGS`` in the background (stdout + stderr together)."""
    return subprocess.Popen(
        [sys.executable, "-m", "stablespike.cli", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: object, proc: subprocess.Popen | None = None, timeout: float = 600) -> None:
    """Poll ``condition()`` until true; fail if ``proc`` ends first or time runs out."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended early:\n{proc.stdout.read()}")  # type: ignore[union-attr]
        time.sleep(0.02)
    if proc is not None:
        proc.kill()
    raise AssertionError("timed out waiting")


def snapshot(folder: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
