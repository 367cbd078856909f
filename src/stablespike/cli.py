"""The ``stablespike`` command: one subcommand per job.

Each subcommand lives in its own module, imported only when that subcommand runs, which exposes
``add_arguments(parser: argparse.ArgumentParser) -> None`` and ``run(args) -> int``.

Example::

    stablespike train                      # the default main job (Fashion-MNIST, T=4)
    stablespike eval runs/fmnist/best.pt
    stablespike bench
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {}


def register_command(name: str, module: str, help_text: str) -> None:
    """Add a subcommand implemented by ``module`` (``add_arguments`` + ``run``)."""
    COMMANDS[name] = (module, help_text)


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand whose module is installed."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="stablespike",
        description="Train, evaluate, analyse and benchmark spiking neural networks "
        "with MP-Init and TrSG.",
    )
    parser.add_argument("--version", action="version", version=f"stablespike {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if not _module_exists(module):
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stablespike`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


register_command("train", "stablespike.train.cli_train", "train a model (default: the main job)")
register_command("resume", "stablespike.train.cli_resume", "resume a run from RUN_DIR/last.pt")
register_command("eval", "stablespike.train.cli_eval", "evaluate a checkpoint, per timestep too")
register_command(
    "export", "stablespike.deploy.cli_export", "export a run: NIR graph or torch.export"
)
register_command("bench", "stablespike.kernels.bench", "benchmark the neuron backends")
register_command("analyze", "stablespike.analysis.cli_analyze", "diagnostics and plots of a run")
register_command("ablate", "stablespike.analysis.cli_ablate", "the paper's ablation grid")

if __name__ == "__main__":
    sys.exit(main())
