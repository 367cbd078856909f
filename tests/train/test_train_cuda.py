"""CUDA paths (skipped without a GPU): mixed precision with a GradScaler, exact resume on GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import tiny_config

from stablespike.train.checkpoint import load_checkpoint
from stablespike.train.checkpoint_eval import evaluate_checkpoint
from stablespike.train.session import train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_mixed_precision_training_and_eval(tiny_npz: Path, tmp_path: Path, amp: str) -> None:
    run = tmp_path / amp
    summary = train(tiny_config(tiny_npz, run, device="cuda", amp=amp, epochs=2, batch_size=8))
    assert summary["device"].startswith("cuda")
    ckpt = load_checkpoint(run / "last.pt")
    assert bool(ckpt["scaler"]) == (amp == "fp16")
    report = evaluate_checkpoint(run / "best.pt", device="cuda")
    assert report["accuracy"] == pytest.approx(report["recorded_accuracy"], abs=1e-9)
