"""``stablespike train``: train a model; with no flags, the main job (Fashion-MNIST, T=4).

Options come from the defaults, then ``--config FILE`` (YAML/TOML), then the flags; they are
all checked (the model and dataset names included) before any data is read. ``--resume RUN_DIR``
continues a run instead (same as ``stablespike resume RUN_DIR``); the other flags must then agree
with the run's options, except runtime ones such as ``--device``.

Example::

    stablespike train                                   # main job -> runs/fashion-mnist
    stablespike train --surrogate as --no-mp-init --out runs/ablation-as
    stablespike train --config my.yaml --epochs 2 --json summary.json
    torchrun --nproc-per-node 4 -m stablespike.cli train --config cifar10.yaml --sync-bn
"""

from __future__ import annotations

import argparse

from ..train.config import add_config_arguments, given_options, load_config_file, resolve_config
from . import run_reporting_errors

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``--resume``, ``--config`` and one flag per training option."""
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue the run in RUN_DIR from its last.pt (default: start a new run)",
    )
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""

    def job() -> object:
        from ..train.session import resume, train

        if args.resume:
            overrides = load_config_file(args.config) if args.config else {}
            overrides.update(given_options(args))
            return resume(args.resume, overrides)
        return train(resolve_config(args))

    return run_reporting_errors("train", job)
