"""The ``stablespike`` command: one subcommand per module of this package.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``, and is imported
only when its command runs (``stablespike --help`` imports none of them). Every command takes
the shared options of :mod:`stablespike.core.options` (``--device``, ``--threads``, ...) where
they apply, spelled and defaulting the same; its own options come from a dataclass, like
``train``'s from :class:`~stablespike.train.config.TrainConfig`.

Before the first command module (and so torch) is imported, :func:`main` sets
``OMP_WAIT_POLICY=PASSIVE`` unless it is set: on a shared CPU, OpenMP threads that spin while
waiting stall whenever another process holds a core. Importing :mod:`stablespike` itself changes nothing in the process.

Example::

    stablespike train                      # the default main job (Fashion-MNIST, T=4)
    stablespike eval runs/fashion-mnist/best.pt
    python -m stablespike bench --what layer
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.errors import NonFiniteError, StableSpikeError, StopNow, StopRequested
from ..core.registry import Registry

__all__ = ["COMMANDS", "build_parser", "main", "register_command", "run_reporting_errors"]


@dataclass(frozen=True)
class Command:
    """A subcommand: the module implementing it and its one-line help."""

    module: str
    help: str


COMMANDS: Registry[Command] = Registry("command", separator="-")
"""The subcommands, by name."""


def register_command(name: str, module: str, help_text: str) -> None:
    """Add a subcommand implemented by ``module`` (``add_arguments`` + ``run``)."""
    COMMANDS.add(name, Command(module, help_text))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``command``, only that subcommand's module is imported.

    ``command=""`` imports none (the top-level ``--help``); ``None`` imports every one.
    """
    from ..core import __version__

    parser = argparse.ArgumentParser(
        prog="stablespike",
        description="Train, evaluate, analyse, export and benchmark spiking neural networks "
        "with MP-Init and TrSG.",
    )
    parser.add_argument("--version", action="version", version=f"stablespike {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        p = sub.add_parser(name, help=spec.help, description=spec.help)
        if command is None or name == command:
            importlib.import_module(spec.module).add_arguments(p)
        p.set_defaults(_module=spec.module)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stablespike`` command; returns the exit status."""
    if "torch" not in sys.modules:  # libgomp reads it when torch loads; an explicit value wins
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(argv) or "")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


def run_reporting_errors(command: str, job: Callable[[], object]) -> int:
    """Run ``job``; print a known error as one clear line on stderr and return the exit code.

    Exit codes: 0 success, 1 any :class:`~stablespike.core.errors.StableSpikeError` (a bad
    option, missing data, an unreadable checkpoint, a failed write, a lost DDP peer), 3 a
    non-finite loss, 143 / 130 stopped by SIGTERM / SIGINT (128 + the signal; after a graceful
    stop ``last.pt`` holds the last step), 130 also for an interrupt outside training (argparse
    uses 2 for bad flags).

    Example:
        >>> from stablespike.core.errors import ConfigError
        >>> def job():
        ...     raise ConfigError("lr must be > 0, got -1")
        >>> run_reporting_errors("train", job)
        1
    """
    try:
        job()
    except (StopRequested, StopNow) as err:
        print(f"stablespike {command}: {err}", file=sys.stderr)
        return err.exit_code
    except NonFiniteError as err:
        print(f"stablespike {command}: stopped: {err}", file=sys.stderr)
        return 3
    except StableSpikeError as err:
        print(f"stablespike {command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stablespike {command}: interrupted", file=sys.stderr)
        return 130
    return 0


for _name, _help in (
    ("train", "train a model (default: the main job)"),
    ("resume", "resume a run from RUN_DIR/last.pt"),
    ("eval", "evaluate a checkpoint, per timestep too"),
    ("export", "export a run: NIR graph or torch.export"),
    ("analyze", "diagnostics and plots of a run"),
    ("ablate", "the paper's ablation grid"),
    ("bench", "benchmark the neuron backends"),
):
    register_command(_name, f"{__name__}.{_name}", _help)
