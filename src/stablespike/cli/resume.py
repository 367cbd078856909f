"""``stablespike resume RUN_DIR``: continue an interrupted run from ``RUN_DIR/last.pt``.

The run's own options (saved in the checkpoint) are used; only runtime options (device, threads,
data location, checkpoint interval, progress bar, ...) may be changed. On CPU with the same
setup the resumed run ends with exactly the parameters of an uninterrupted one.

Example::

    stablespike resume runs/fashion-mnist
    stablespike resume runs/cifar10 --data-dir /scratch/cifar --no-progress
"""

from __future__ import annotations

import argparse

from ..train.config import add_config_arguments, given_options, option_fields
from . import run_reporting_errors

__all__ = ["RESUME_OPTIONS", "add_arguments", "run"]

RESUME_OPTIONS = frozenset(
    f.name
    for f in option_fields()
    if f.metadata["runtime"] and f.name not in ("run_dir", "overwrite")
)
"""The options ``resume`` accepts (those that do not change the trained numbers)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``RUN_DIR`` and the runtime options."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="folder of the run to continue")
    add_config_arguments(parser, only=set(RESUME_OPTIONS), config_file=False)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""

    def job() -> object:
        from ..train.session import resume

        return resume(args.run_dir, given_options(args))

    return run_reporting_errors("resume", job)
