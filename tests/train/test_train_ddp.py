"""DDP with torchrun on CPU (gloo, 127.0.0.1): 2 processes x B/2 == 1 process x B."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from train_helpers import TINY_ARGS, checkpoint_tensors, cli, cli_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_with_the_same_global_batch(
    tiny_npz: Path, tmp_path: Path
) -> None:
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}", "--sync-bn", "--ckpt-every", "3"]
    one = cli("train", *args, "--run-dir", "one", cwd=tmp_path)
    # 16 steps: the run says why its eval accuracy trails its training accuracy
    assert "warning: only 16 training steps: BatchNorm running statistics" in one.stdout
    proc = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run",
            "--nnodes", "1", "--nproc-per-node", "2",
            "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
            "-m", "stablespike.cli", "train", *args, "--run-dir", "two",
        ],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("epoch 2/2") == 1  # only rank 0 prints
    assert "cpu x2" in proc.stdout
    files = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert files == ["best.pt", "config.yaml", "last.pt", "metrics.csv", "summary.json"]

    one = checkpoint_tensors(tmp_path / "one" / "last.pt")
    two = checkpoint_tensors(tmp_path / "two" / "last.pt")
    assert one.keys() == two.keys()
    for name, ref in one.items():
        if isinstance(ref, torch.Tensor) and ref.is_floating_point():
            torch.testing.assert_close(two[name], ref, atol=2e-5, rtol=1e-4, msg=name)
    mp = [k for k in one if k.endswith("mp_mean")]
    assert mp and all(bool(one[k] != 0) for k in mp)
    ckpt = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and len(ckpt["ranks"]) == 2
