"""Failed writes name their cause; checkpoints carry a checksum; malformed ones get one line."""

from __future__ import annotations

import errno
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import REPO, TINY_ARGS, cli_env, tiny_config

from stablespike.cli import main
from stablespike.core import fileio
from stablespike.core.errors import CheckpointError, WriteError
from stablespike.train import checkpoint as ck
from stablespike.train.session import train


@pytest.fixture(scope="module")
def finished(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("writes") / "ref"
    train(tiny_config(tiny_npz, run, epochs=1), log=lambda _m: None)
    return run


def _unshare() -> list[str] | None:
    """A command prefix that runs a shell in a private mount namespace, or None."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-r", "-m"]):
        probe = "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d"
        try:
            ok = subprocess.run([*prefix, "sh", "-c", probe], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok.returncode == 0:
            return prefix
    return None


@pytest.mark.slow
def test_a_full_disk_and_a_read_only_disk_name_the_cause_and_keep_the_checkpoints(
    finished: Path, tiny_npz: Path, tmp_path: Path
) -> None:
    prefix = _unshare()
    if prefix is None:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    size = (finished / "last.pt").stat().st_size
    # room for two checkpoints and a half: the third simultaneous one (the temporary of
    # last.pt at the end of epoch 1, next to best.pt and the previous last.pt) fills the disk
    limit = (int(2.5 * size) // 4096 + 1) * 4096
    args = [*TINY_ARGS, "--dataset", f"npz:{tiny_npz}", "--epochs", "1", "--ckpt-every", "2"]
    args += ["--backend", "reference"]
    train_cmd = " ".join([sys.executable, "-m", "stablespike.cli", "train", *args])
    script = f"""
        full=$(mktemp -d); ro=$(mktemp -d)
        mount -t tmpfs -o size={limit} tmpfs $full || exit 90
        mount -t tmpfs -o ro,size=64k tmpfs $ro || exit 91
        {train_cmd} --run-dir $full/run > {tmp_path}/full.txt 2>&1; echo $? > {tmp_path}/full.rc
        cp -a $full/run {tmp_path}/run
        {train_cmd} --run-dir $ro/run > {tmp_path}/ro.txt 2>&1; echo $? > {tmp_path}/ro.rc
    """
    proc = subprocess.run(
        [*prefix, "sh", "-c", script], cwd=REPO, env=cli_env(), capture_output=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    out = (tmp_path / "full.txt").read_text()
    assert (tmp_path / "full.rc").read_text().strip() == "1", out
    assert "stablespike train: error: cannot write " in out
    assert "/run/last.pt: the disk is full (ENOSPC); the file needs about " in out
    assert "free on that file system" in out and "the previous last.pt" in out
    assert "Traceback" not in out and "inline_container" not in out
    run = tmp_path / "run"
    assert ck.load_checkpoint(run / "last.pt")["progress"]["global_step"] == 6  # intact
    assert ck.load_checkpoint(run / "best.pt")["progress"]["epoch"] == 1
    assert list(run.glob(".*tmp-*")) == []

    out = (tmp_path / "ro.txt").read_text()
    assert (tmp_path / "ro.rc").read_text().strip() == "1", out
    assert "/run: the file system is read-only (EROFS); choose a --run-dir on a writable" in out
    assert "Traceback" not in out


class _FailingFile(io.BytesIO):
    """Accepts ``room`` bytes, then fails as the operating system would."""

    def __init__(self, room: int, code: int) -> None:
        super().__init__()
        self.room, self.code = room, code

    def write(self, data: object) -> int:
        n = memoryview(data).nbytes  # type: ignore[arg-type]
        if self.tell() + n > self.room:
            raise OSError(self.code, "simulated")
        return super().write(data)  # type: ignore[arg-type]

    def fileno(self) -> int:  # pragma: no cover - never reached
        raise OSError(self.code, "simulated")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full (ENOSPC); the file needs about "),
        (errno.EACCES, "permission denied (EACCES); check the permissions of"),
        (errno.EROFS, "the file system is read-only (EROFS)"),
    ],
)
def test_torch_save_failing_midway_reports_the_os_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    path = tmp_path / "last.pt"
    ck.save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(3)}})
    monkeypatch.setattr(fileio, "open", lambda *a, **k: _FailingFile(1024, code), raising=False)
    with pytest.raises(WriteError) as info:
        ck.save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(10_000)}})
    monkeypatch.undo()
    assert f"cannot write {path}: {words}" in str(info.value)
    assert info.value.errno == code and isinstance(info.value, OSError)
    assert ck.load_checkpoint(path)["epoch"] == 1


def test_a_flipped_byte_in_tensor_data_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    weights = torch.arange(64, dtype=torch.float32) + 0.5
    ck.save_checkpoint(path, {"model": {"w": weights}})
    data = bytearray(path.read_bytes())
    at = bytes(data).find(weights.numpy().tobytes())
    assert at > 0
    data[at + 100] ^= 0x10
    path.write_bytes(bytes(data))
    assert not torch.equal(torch.load(path, weights_only=True)["model"]["w"], weights)  # torch: ok
    with pytest.raises(CheckpointError, match="corrupted checkpoint: checksum mismatch in"):
        ck.load_checkpoint(path)


def test_malformed_checkpoints_get_one_line(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = torch.load(finished / "last.pt", weights_only=True)

    def resume_with(ckpt: object | None, text: str | None = None) -> str:
        run = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        run.mkdir()
        if text is not None:
            (run / "last.pt").write_text(text)
        else:
            ck.save_checkpoint(run / "last.pt", ckpt)  # type: ignore[arg-type]
        assert main(["resume", str(run), "--progress", "off"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        return err

    assert "the file is not a checkpoint (not a zip archive as torch.save writes)" in resume_with(
        None, "epoch: 3\n"
    )
    without = lambda key: {k: v for k, v in good.items() if k not in (key, "checksum")}  # noqa: E731
    assert "cannot be resumed: it has no 'config' entry" in resume_with(without("config"))
    assert "cannot be resumed: it has no 'optimizer' entry" in resume_with(without("optimizer"))
    assert "its 'config' entry is a str, expected a mapping" in resume_with(
        {**without("config"), "config": "fmnist-cnn"}
    )
    broken = {**without("optimizer"), "optimizer": {"state": {}, "param_groups": []}}
    assert "cannot restore the optimizer" in resume_with(broken)
    # eval: the same one line
    eval_path = tmp_path / "no-config.pt"
    ck.save_checkpoint(eval_path, without("config"))
    assert main(["eval", str(eval_path)]) == 1
    assert "cannot be used: it has no 'config' entry" in capsys.readouterr().err


def test_unsafe_pickles_are_refused_without_advice_to_load_them_unsafely(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "version": ck.VERSION, "x": _Arbitrary()}, path)
    with pytest.raises(CheckpointError) as info:
        ck.load_checkpoint(path)
    text = str(info.value)
    assert "refused for safety" in text and "_Arbitrary" in text
    assert "likely succeed" not in text and "\n" not in text


class _Arbitrary:
    """Unpickling an arbitrary class could run code."""


def test_resume_accepts_another_backend(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert main(["resume", str(run), "--backend", "reference", "--progress", "off"]) == 0
    assert "test accuracy" in capsys.readouterr().out
