"""core: the Registry, the option system and atomic_path, on their own."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from stablespike.core import options as opt
from stablespike.core.errors import ConfigError, WriteError
from stablespike.core.fileio import atomic_path
from stablespike.core.registry import Registry


# ---------------------------------------------------------------- Registry
def test_registry_names_duplicates_and_unknown_names() -> None:
    loaded = []
    reg: Registry[int] = Registry("thing", separator="_", loader=lambda: loaded.append(1))
    reg.add("Fast-Path", 1)
    assert not loaded  # nothing loaded until a lookup
    assert reg.get("FAST_path") == 1 and "fast-path" in reg and reg.names() == ("fast_path",)
    assert loaded == [1]
    with pytest.raises(ValueError, match="a thing named 'fast_path' is already registered"):
        reg.add("fast_path", 2)
    reg.add("fast_path", 2, replace=True)
    assert reg.get("fast_path") == 2
    with pytest.raises(ConfigError, match=r"unknown thing 'fats_path' \(did you mean 'fast_path'"):
        reg.get("fats_path")
    assert reg.names() == ("fast_path",) and loaded == [1]  # the loader runs once


# ---------------------------------------------------------------- options
@dataclass
class _Opts:
    device: str = opt.device_option()
    threads: int = opt.threads_option()
    batch_size: int | None = opt.batch_size_option(None, "batch size", aliases=("--batch",))
    what: tuple[str, ...] = opt.option(("a", "b"), "parts", group="g", choices=("a", "b", "c"),
                                       many=True)  # fmt: skip
    shape: tuple[str, ...] = opt.option(("1,2",), "shapes", group="g", many=True, split=False)
    policy: str | None = opt.option(None, "policy", group="g", type=str, choices=("x", "y"),
                                    const="x")  # fmt: skip


def _parse(*argv: str) -> _Opts:
    parser = argparse.ArgumentParser()
    opt.add_options(parser, _Opts)
    return opt.from_args(_Opts, parser.parse_args(list(argv)))


def test_flags_defaults_aliases_const_and_lists() -> None:
    assert _parse() == _Opts()
    got = _parse("--batch", "8", "--what", "c", "--what", "a,b", "--shape", "4,5", "--policy")
    assert got.batch_size == 8 and got.what == ("c", "a", "b")
    assert got.shape == ("4,5",) and got.policy == "x"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--threads", "-1"], "threads must be >= 0, got -1"),
        (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
        (["--what", "a,z"], "what: 'z' not among a, b, c"),
    ],
)
def test_values_are_checked_with_a_message(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(*argv)


def test_flags_true_names_the_flag_and_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="--batch-size must be >= 1"):
        opt.check_values(_Opts(batch_size=0), flags=True)
    with pytest.raises(ConfigError, match="unknown option 'thread' .did you mean 'threads'"):
        opt.normalise_keys({"thread": 1}, _Opts, source="options")


def test_the_shared_options_have_their_own_group_title() -> None:
    parser = argparse.ArgumentParser()
    opt.add_options(parser, _Opts, titles={"g": "own"})
    titles = [g.title for g in parser._action_groups]
    assert "shared options (every command)" in titles and "own" in titles


# ---------------------------------------------------------------- atomic_path
def test_atomic_path_publishes_a_folder_or_nothing(tmp_path: Path) -> None:
    final = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="half-way"), atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "part").write_text("x")
        raise RuntimeError("half-way")
    assert list(tmp_path.iterdir()) == []  # no temporary left, nothing published
    with atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "done").write_text("y")
    assert (final / "done").read_text() == "y" and list(tmp_path.iterdir()) == [final]


def test_atomic_path_onto_a_full_folder_is_a_write_error(tmp_path: Path) -> None:
    final = tmp_path / "cache"
    (final / "old").mkdir(parents=True)
    with pytest.raises(WriteError, match=f"cannot write {final}"), atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("z")
    assert [p.name for p in tmp_path.iterdir()] == ["cache"] and (final / "old").is_dir()
