"""SIGTERM / SIGINT to a real training process: last.pt written, exit 143 / 130, exact resume."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_ARGS, checkpoint_tensors, cli, make_tiny_npz, start_cli, wait_for

from stablespike.core.errors import StopNow
from stablespike.train.checkpoint import load_checkpoint
from stablespike.train.stopping import StopSignals

pytestmark = pytest.mark.slow

# the reference backend: no fused-kernel build can delay the first step of these processes
ARGS = ["--ckpt-every", "0", "--backend", "reference"]


@pytest.fixture(scope="module")
def longer_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 steps of 16 per epoch, so that a signal lands in the middle of training."""
    return make_tiny_npz(tmp_path_factory.mktemp("sig") / "longer.npz", n_train=512)


def _started_training(run: Path, before: int | None = None) -> object:
    """True once ``metrics.csv`` is (re)written: everything is built, steps are running."""
    path = run / "metrics.csv"
    return lambda: path.exists() and path.stat().st_mtime_ns != before


def _signal_and_wait(proc: object, signum: int) -> str:
    time.sleep(0.3)
    proc.send_signal(signum)  # type: ignore[attr-defined]
    out, _ = proc.communicate(timeout=600)  # type: ignore[attr-defined]
    return out


def test_sigterm_and_sigint_write_last_pt_and_the_resumed_run_is_exact(
    longer_npz: Path, tmp_path: Path
) -> None:
    args = [*TINY_ARGS, *ARGS, "--dataset", f"npz:{longer_npz}", "--epochs", "3"]
    cli("train", *args, "--run-dir", "straight", cwd=tmp_path)

    run = tmp_path / "stopped"
    proc = start_cli("train", *args, "--run-dir", str(run), cwd=tmp_path)
    wait_for(_started_training(run), proc)
    out = _signal_and_wait(proc, signal.SIGTERM)
    assert proc.returncode == 143, out
    assert "SIGTERM received: finishing the current step and writing last.pt" in out
    assert re.search(r"stopped by SIGTERM after epoch \d(, step \d+)?: ", out), out
    assert f"continue with: stablespike resume {run}" in out and "Traceback" not in out
    first = load_checkpoint(run / "last.pt")["progress"]["global_step"]
    assert 0 < first < 96
    assert not (run / "summary.json").exists() and not (run / ".lock").exists()

    # Ctrl-C while resuming: the same, with 130
    proc = start_cli("resume", str(run), cwd=tmp_path)
    wait_for(_started_training(run, (run / "metrics.csv").stat().st_mtime_ns), proc)
    out = _signal_and_wait(proc, signal.SIGINT)
    assert proc.returncode == 130, out
    assert "stopped by SIGINT after epoch" in out and "Traceback" not in out
    second = load_checkpoint(run / "last.pt")["progress"]["global_step"]
    assert first < second < 96

    done = cli("resume", str(run), cwd=tmp_path)
    assert "resuming at epoch" in done.stdout
    ref = checkpoint_tensors(tmp_path / "straight" / "last.pt")
    got = checkpoint_tensors(run / "last.pt")
    assert ref.keys() == got.keys()
    for name, value in ref.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, got[name]), name
    cut = lambda rows: [",".join(r.split(",")[:9]) for r in rows]  # noqa: E731 (drop timings)
    assert cut((run / "metrics.csv").read_text().splitlines()) == cut(
        (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    )


def test_a_second_signal_stops_at_once(longer_npz: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY_ARGS, *ARGS, "--dataset", f"npz:{longer_npz}", "--epochs", "50"]
    proc = start_cli("train", *args, "--run-dir", str(run), cwd=tmp_path)
    wait_for(_started_training(run), proc)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGTERM)  # two of one kind may merge into one while pending,
    os.kill(proc.pid, signal.SIGINT)  # so a scheduler's SIGTERM and a Ctrl-C
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode in (130, 143), out
    assert re.search(r"stopped at once by a second signal \(SIG(INT|TERM)\); the work since", out)
    assert not (run / ".lock").exists() and list(run.glob(".*tmp-*")) == []


def test_stop_signals_in_process() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with StopSignals(announce=False) as stop:
        assert stop.requested() == 0
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested() == signal.SIGTERM
        with pytest.raises(StopNow) as info:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler runs here at the latest
        assert info.value.exit_code == 130
    assert signal.getsignal(signal.SIGTERM) is previous


class _StopAtCall:
    """Stands in for :class:`StopSignals`: asks to stop (SIGTERM) at the ``n``-th question."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self, **_kwargs: object) -> _StopAtCall:
        return self

    def __enter__(self) -> _StopAtCall:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def requested(self, ctx: object = None) -> int:
        self.calls += 1
        return signal.SIGTERM if self.calls == self.n else 0


@pytest.mark.parametrize("question", [8, 9])  # the last step of epoch 1; the epoch's end
def test_a_stop_at_the_end_of_an_epoch_resumes_exactly(
    tiny_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, question: int
) -> None:
    from train_helpers import tiny_config

    from stablespike.core.errors import StopRequested
    from stablespike.train import session

    quiet = lambda _m: None  # noqa: E731
    cfg = dict(ckpt_every=0, backend="reference")
    session.train(tiny_config(tiny_npz, tmp_path / "straight", **cfg), log=quiet)
    run = tmp_path / "stopped"
    monkeypatch.setattr(session, "StopSignals", _StopAtCall(question))  # 8 steps per epoch
    with pytest.raises(StopRequested, match="stopped by SIGTERM after epoch 1") as info:
        session.train(tiny_config(tiny_npz, run, **cfg), log=quiet)
    assert info.value.exit_code == 143
    progress = load_checkpoint(run / "last.pt")["progress"]
    assert (progress["global_step"], progress["epoch"]) == (8, 0 if question == 8 else 1)
    monkeypatch.undo()
    session.resume(run, log=quiet)
    ref = checkpoint_tensors(tmp_path / "straight" / "last.pt")
    got = checkpoint_tensors(run / "last.pt")
    for name, value in ref.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, got[name]), name
