"""DDP with torchrun on CPU (gloo, 127.0.0.1): 2 processes x B/2 == 1 process x B."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
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


def _torchrun(*args: str) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "stablespike.cli", *args,
    ]  # fmt: skip


def _worker_pid(launcher: int, rank: int) -> int | None:
    """The pid of the torchrun worker of ``rank`` (a child of the launcher), if started."""
    try:
        children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    except OSError:
        return None
    for pid in children:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(pid)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_sigterm_to_one_rank_stops_every_rank_at_the_same_step(
    tiny_npz: Path, tmp_path: Path
) -> None:
    from train_helpers import make_tiny_npz, wait_for

    from stablespike.train.checkpoint import load_checkpoint

    npz = make_tiny_npz(tmp_path / "longer.npz", n_train=256)  # 16 steps per epoch
    run = tmp_path / "run"
    args = [*TINY_ARGS, "--dataset", f"npz:{npz}", "--ckpt-every", "0", "--backend", "reference"]
    proc = subprocess.Popen(
        _torchrun("train", *args, "--run-dir", str(run)),
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_for(lambda: (run / "metrics.csv").exists(), proc)
    rank1 = _worker_pid(proc.pid, 1)
    assert rank1 is not None
    time.sleep(0.3)
    os.kill(rank1, signal.SIGTERM)  # rank 0 is not told: it learns it in the step's all-reduce
    out, _ = proc.communicate(timeout=600)
    assert re.search(r"stopped by SIGTERM after epoch \d(, step \d+)?: ", out), out
    assert "another process" not in out  # no rank was left waiting for the other
    ckpt = load_checkpoint(run / "last.pt")
    assert 0 < ckpt["progress"]["global_step"] < 32 and len(ckpt["ranks"]) == 2

    done = subprocess.run(
        _torchrun("resume", str(run)), cwd=tmp_path, env=cli_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert len((run / "metrics.csv").read_text().splitlines()) == 3


_FROZEN = """
import sys, time
from stablespike.cli import run_reporting_errors
from stablespike.train.distributed import any_rank, distributed_session

def job():
    with distributed_session("cpu", timeout=2) as ctx:
        if ctx.rank == 1:
            time.sleep(120)  # a frozen process
        any_rank(True, ctx)

sys.exit(run_reporting_errors("train", job))
"""


def test_a_frozen_rank_ends_the_job_after_the_collective_timeout(tmp_path: Path) -> None:
    script = tmp_path / "frozen.py"
    script.write_text(_FROZEN)
    env = {**cli_env(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    env["WORLD_SIZE"] = "2"
    frozen = subprocess.Popen(
        [sys.executable, str(script)], env={**env, "RANK": "1", "LOCAL_RANK": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        alive = subprocess.run(
            [sys.executable, str(script)], env={**env, "RANK": "0", "LOCAL_RANK": "0"},
            capture_output=True, text=True, timeout=100,
        )  # fmt: skip
    finally:
        frozen.kill()
        frozen.wait()
    assert alive.returncode == 1, alive.stderr
    assert "stablespike train: error: another process of this job failed, was stopped or " in (
        alive.stderr
    )
    assert "Timed out waiting 2000ms" in alive.stderr and "Traceback" not in alive.stderr
