"""A non-finite loss or gradient stops the run (last good checkpoint kept) or is skipped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import tiny_config

from stablespike.cli import main
from stablespike.core.errors import NonFiniteError
from stablespike.train.batches import global_batch_indices
from stablespike.train.checkpoint import load_checkpoint, nonfinite_entries
from stablespike.train.session import train

POISONED_STEP = 3  # 1-based step of epoch 1 whose batch holds the NaN image


@pytest.fixture(scope="module")
def poisoned_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    x = rng.random((64, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 4, 64)
    order = global_batch_indices(64, batch_size=16, seed=0, epoch=0)
    x[int(order[POISONED_STEP - 1, 0]), 0, 3, 3] = np.nan
    path = tmp_path_factory.mktemp("nan") / "poisoned.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:16] * 0 + 0.5, y_test=y[:16])
    return path


def test_a_nonfinite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    poisoned_npz: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    with pytest.raises(NonFiniteError) as info:
        train(tiny_config(poisoned_npz, run, ckpt_every=1), log=lambda _m: None)
    message = str(info.value)
    # the spike nonlinearity swallows a NaN input (NaN >= Vthr is False) but its gradient does not
    assert re.search(
        rf"non-finite (loss|gradient norm) \(nan\) at epoch 1, step {POISONED_STEP}:", message
    )
    assert "last good checkpoint" in message and "--skip-nonfinite" in message
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["progress"]["global_step"] == POISONED_STEP - 1
    assert nonfinite_entries(ckpt["model"]) == []
    assert not (run / "summary.json").exists()


def test_skip_nonfinite_skips_the_step_and_keeps_everything_finite(
    poisoned_npz: Path, tmp_path: Path
) -> None:
    summary = train(tiny_config(poisoned_npz, tmp_path / "run", skip_nonfinite=True), log=print)
    assert summary["skipped_steps"] >= 1
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert nonfinite_entries(ckpt["model"]) == []
    assert all(torch.isfinite(v).all() for k, v in ckpt["model"].items() if "running" in k)


def test_the_command_exits_with_3_and_a_clear_message(
    poisoned_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--dataset", f"npz:{poisoned_npz}", "--batch-size", "16", "--timesteps", "2"]
    args += ["--run-dir", str(tmp_path / "run"), "--progress", "off", "--no-tensorboard"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert "stablespike train: stopped: non-finite gradient norm (nan) at epoch 1, step 3" in err


def test_skip_nonfinite_stops_when_most_steps_of_an_epoch_are_skipped(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.random((64, 1, 8, 8), dtype=np.float32)
    x[::2, 0, 0, 0] = np.nan  # every batch of 16 holds NaN images
    y = rng.integers(0, 4, 64)
    path = tmp_path / "rotten.npz"
    np.savez(path, x_train=x, y_train=y, x_test=np.nan_to_num(x[:16]), y_test=y[:16])
    run = tmp_path / "run"
    with pytest.raises(NonFiniteError, match="4 of the 4 steps of epoch 1 were skipped"):
        train(tiny_config(path, run, skip_nonfinite=True), log=lambda _m: None)
    assert not (run / "summary.json").exists()
