"""``--compile`` in train (one process and torchrun) and eval: same run, same checkpoints."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from train_helpers import TINY_ARGS, checkpoint_tensors, cli, cli_env

pytestmark = pytest.mark.slow

# aot_eager: Dynamo, AOT autograd, the fake kernels and dynamic shapes as with Inductor, without
# its code generation (which takes a minute per graph on this CPU)
COMPILE = ["--compile", "--compile-backend", "aot_eager"]


def _assert_same_state(a: Path, b: Path) -> None:
    one, two = checkpoint_tensors(a), checkpoint_tensors(b)
    assert one.keys() == two.keys()  # plain module keys (no "_orig_mod.")
    for name, ref in one.items():
        if isinstance(ref, torch.Tensor) and ref.is_floating_point():
            torch.testing.assert_close(two[name], ref, atol=2e-5, rtol=1e-4, msg=name)


def test_compiled_training_writes_plain_checkpoints_and_evaluates(
    tiny_npz: Path, tmp_path: Path
) -> None:
    """(Equality with an eager run is checked by the torchrun test below.)"""
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}"]
    compiled = cli("train", *args, *COMPILE, "--run-dir", "compiled", cwd=tmp_path)
    assert "torch.compile (aot_eager): the first training and evaluation steps" in compiled.stdout
    assert "s of compiling" in compiled.stdout
    state = checkpoint_tensors(tmp_path / "compiled" / "last.pt")
    assert "stem_lif.mp_mean" in state and not any("_orig_mod" in k for k in state)
    report = cli("eval", "compiled", *COMPILE, cwd=tmp_path)
    assert "torch.compile:" in report.stdout and "recorded at training time" in report.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
def test_compiled_ddp_matches_one_process(tiny_npz: Path, tmp_path: Path) -> None:
    """Two compiled ranks (MP-Init's statistic all-reduced inside the compiled graph) end where
    one eager process with the same global batch ends."""
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}", "--sync-bn"]
    cli("train", *args, "--run-dir", "one", cwd=tmp_path)
    proc = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run",
            "--nnodes", "1", "--nproc-per-node", "2",
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
            "-m", "stablespike.cli", "train", *args, *COMPILE, "--run-dir", "two",
        ],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cpu x2" in proc.stdout and "s of compiling" in proc.stdout
    _assert_same_state(tmp_path / "one" / "last.pt", tmp_path / "two" / "last.pt")
