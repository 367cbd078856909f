"""Run directories: identity, refusing another run's files, a safe --overwrite, the lock."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
import yaml
from train_helpers import (
    TINY_ARGS,
    cli,
    make_tiny_npz,
    snapshot,
    start_cli,
    tiny_config,
    wait_for,
)

from stablespike.cli import main
from stablespike.core.errors import RunDirError
from stablespike.train import loop
from stablespike.train.rundir import RunDirectory
from stablespike.train.session import train

# the reference backend: no fused-kernel build can delay these runs
QUIET = ["--timesteps", "2", "--progress", "off", "--no-tensorboard", "--backend", "reference"]


def _run_id(run: Path) -> str:
    return yaml.safe_load((run / "config.yaml").read_text())["run_id"]


@pytest.fixture(scope="module")
def finished(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch run."""
    run = tmp_path_factory.mktemp("rundir") / "ref"
    train(tiny_config(tiny_npz, run, epochs=1, backend="reference"), log=lambda _m: None)
    return run


@pytest.fixture
def copy(finished: Path, tmp_path: Path) -> Path:
    run = tmp_path / "x"
    shutil.copytree(finished, run)
    return run


def test_a_run_id_is_in_config_yaml_and_every_checkpoint(finished: Path) -> None:
    run_id = _run_id(finished)
    assert len(run_id) == 12
    for name in ("last.pt", "best.pt"):
        assert torch.load(finished / name, weights_only=True)["run_id"] == run_id
    assert sorted(p.name for p in finished.iterdir()) == [
        "best.pt",
        "config.yaml",
        "last.pt",
        "metrics.csv",
        "summary.json",
    ]  # fmt: skip  (the lock file is gone)


def test_train_refuses_a_directory_holding_run_files_of_any_kind(
    copy: Path, tiny_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copy / "last.pt").unlink()  # deleted to save space, or its first write was killed
    before = snapshot(copy)
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}", "--epochs", "1", "--run-dir", str(copy)]
    proc = cli("train", *args, cwd=tmp_path, check=False)  # a real process
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        f"{copy} already holds a run (best.pt, metrics.csv, summary.json, config.yaml)"
        in proc.stderr
    )
    assert "--overwrite" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(copy) == before
    # any single run file is enough (in process)
    for leftover in ("metrics.csv", ".last.pt.tmp-4242", ".replaced-0123456789ab", "tb"):
        run = tmp_path / f"only-{leftover}"
        run.mkdir()
        target = run / leftover
        target.mkdir() if leftover.startswith(".replaced") or leftover == "tb" else target.touch()
        assert main(["train", *args[:-1], str(run)]) == 1
        assert f"already holds a run ({leftover})" in capsys.readouterr().err
        assert sorted(p.name for p in run.iterdir()) == [leftover]


def test_overwrite_checks_everything_before_touching_the_old_run(
    copy: Path,
    tiny_npz: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = snapshot(copy)
    base = ["--dataset", f"npz:{tiny_npz}", *QUIET, "--run-dir", str(copy), "--overwrite"]
    proc = cli("train", *base, "--backend", "bogus", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "unknown backend 'bogus'" in proc.stderr
    assert snapshot(copy) == before
    for typo, message in (
        (["--model", "resnet-19"], "unknown model 'resnet-19'"),
        (["--dataset", "npz:/no/such.npz"], "/no/such.npz"),
        (["--lr", "-1"], "lr must be > 0"),
    ):
        assert main(["train", *base, *typo]) == 1
        assert message in capsys.readouterr().err
        assert snapshot(copy) == before

    # a new run that fails before its first checkpoint puts the old run back
    def fail(self: loop.Trainer) -> None:
        assert not (copy / "best.pt").exists()  # set aside meanwhile
        assert any(p.name.startswith(".replaced-") for p in copy.iterdir())
        raise RuntimeError("boom")

    monkeypatch.setattr(loop.Trainer, "fit", fail)
    with pytest.raises(RuntimeError, match="boom"):
        train(
            tiny_config(tiny_npz, copy, epochs=1, overwrite=True, backend="reference"),
            log=lambda _m: None,
        )
    monkeypatch.undo()
    assert snapshot(copy) == before

    # a good --overwrite replaces it; the old run is deleted after the first checkpoint
    old_id = _run_id(copy)
    assert main(["train", *base, "--epochs", "1", "--batch-size", "32"]) == 0
    assert _run_id(copy) != old_id
    assert torch.load(copy / "last.pt", weights_only=True)["config"]["batch_size"] == 32
    assert sorted(p.name for p in copy.iterdir()) == [
        "best.pt", "config.yaml", "last.pt", "metrics.csv", "summary.json",
    ]  # fmt: skip


def test_resume_refuses_a_checkpoint_of_another_run_naming_both(
    copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_npz = make_tiny_npz(tmp_path / "other.npz", seed=1)
    other = tmp_path / "other"
    train(tiny_config(other_npz, other, epochs=1, backend="reference"), log=lambda _m: None)
    shutil.copy(other / "last.pt", copy / "last.pt")  # placed in the wrong directory
    before = snapshot(copy)
    proc = cli("resume", str(copy), cwd=tmp_path, check=False)  # a real process
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr
    assert f"{copy}/last.pt belongs to another run than {copy}" in err
    assert f"run {_run_id(other)} (model fmnist-cnn, dataset npz:{other_npz})" in err
    assert f"run {_run_id(copy)} (model fmnist-cnn, dataset npz:" in err
    assert "Traceback" not in err
    assert snapshot(copy) == before
    # train --resume X --run-dir Y would silently ignore Y
    assert main(["train", "--resume", str(other), "--run-dir", str(copy)]) == 1
    assert "a resumed run stays in its directory" in capsys.readouterr().err


def test_a_second_process_is_refused_while_a_run_holds_the_directory(
    tiny_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}", "--run-dir", str(run)]
    slow = ["--epochs", "200", "--ckpt-every", "2", "--backend", "reference"]
    first = start_cli("train", *args, *slow, cwd=tmp_path)
    try:
        wait_for(lambda: (run / "last.pt").exists(), first)
        holder = f"is in use by pid {first.pid} on "
        # train --overwrite with other options, from another process
        second = cli("train", *args, "--overwrite", "--seed", "1", cwd=tmp_path, check=False)
        assert second.returncode == 1, second.stdout + second.stderr
        assert holder in second.stderr and "(stablespike train" in second.stderr
        assert main(["resume", str(run), "--progress", "off"]) == 1  # resume, in this process
        assert holder in capsys.readouterr().err
        assert main(["train", *args]) == 1  # plain train: the lock comes first, too
        assert holder in capsys.readouterr().err
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    # kill -9 leaves the lock file; the OS lock died with its holder
    assert (run / ".lock").exists()
    owner = RunDirectory(run)
    owner.claim(overwrite=False, resuming=True)
    with pytest.raises(RunDirError, match=f"is in use by pid {os.getpid()}"):
        RunDirectory(run).claim(overwrite=False, resuming=True)
    owner.release()
    assert not (run / ".lock").exists()
