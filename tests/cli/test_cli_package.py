"""The command as a package: python -m, lazy imports, and the shared options spelled alike."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from stablespike.cli import COMMANDS, build_parser, main

SHARED = ("--device", "--threads", "--data-dir", "--batch-size", "--out", "--json")


def _run(*code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *code], capture_output=True, text=True, timeout=300)


def test_python_m_stablespike_runs_the_command() -> None:
    done = _run("-m", "stablespike", "--version")
    assert done.returncode == 0 and done.stdout.startswith("stablespike ")
    done = _run("-m", "stablespike", "--help")
    assert done.returncode == 0
    for name in COMMANDS:
        assert name in done.stdout


def test_importing_stablespike_or_the_top_level_help_loads_no_torch_and_sets_nothing() -> None:
    code = (
        "import os, sys, contextlib, io\n"
        "import stablespike\n"
        "assert 'torch' not in sys.modules, 'import stablespike loaded torch'\n"
        "assert 'OMP_WAIT_POLICY' not in os.environ, 'import stablespike set OMP_WAIT_POLICY'\n"
        "from stablespike.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'torch' not in sys.modules, '--help loaded torch'\n"
        "assert os.environ['OMP_WAIT_POLICY'] == 'PASSIVE'\n"
    )
    env_code = "import os; os.environ.pop('OMP_WAIT_POLICY', None)\n" + code
    done = _run("-c", env_code)
    assert done.returncode == 0, done.stderr


def _options(command: str) -> dict[str, argparse.Action]:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag: a for a in sub.choices[command]._actions for flag in a.option_strings}


@pytest.mark.parametrize("flag", SHARED)
def test_a_shared_option_is_the_same_in_every_command_that_has_it(flag: str) -> None:
    seen = {name: _options(name)[flag] for name in COMMANDS if flag in _options(name)}
    assert len(seen) >= 3, f"{flag} is in only {sorted(seen)}"
    kinds = {(type(a.type).__name__ if not callable(a.type) else a.type, a.choices, a.metavar)
             for a in seen.values()}  # fmt: skip
    assert len(kinds) == 1, f"{flag} differs between commands: {seen}"
    if flag in ("--device", "--threads"):
        helps = {a.help.rsplit("(default:", 1)[-1] for a in seen.values()}
        assert len(helps) == 1, f"{flag} defaults differ: {helps}"


def test_every_command_takes_device_threads_and_json_or_says_why_not() -> None:
    without = {name: [f for f in SHARED if f not in _options(name)] for name in COMMANDS}
    # export always runs on the CPU and writes its file with -o; bench reads no data
    assert without == {
        "train": [],
        "resume": ["--batch-size", "--out"],
        "eval": [],
        "export": ["--device", "--out", "--json"],
        "analyze": [],
        "ablate": [],
        "bench": ["--data-dir", "--out"],
    }


def test_an_unknown_name_fails_before_any_data_is_read(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the data folder does not exist: reading it would fail with another message
    missing = str(tmp_path / "no-data")
    assert main(["train", "--model", "resnet9000", "--data-dir", missing]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'resnet9000'" in err and "fmnist-cnn" in err
    assert main(["train", "--dataset", "cifar1O", "--data-dir", missing]) == 1
    assert "unknown dataset 'cifar1O' (did you mean 'cifar10'?)" in capsys.readouterr().err
    assert not (tmp_path / "no-data").exists() and not list(tmp_path.iterdir())
