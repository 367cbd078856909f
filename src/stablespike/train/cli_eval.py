"""``stablespike eval CHECKPOINT``: test accuracy overall and per timestep, as recorded in training.

The model is rebuilt from the configuration stored in the checkpoint (weights, BatchNorm
statistics and MP-Init means included), so ``stablespike eval RUN_DIR/best.pt`` reproduces the
accuracy recorded when that checkpoint was written.

Example::

    stablespike eval runs/fashion-mnist/best.pt
    stablespike eval runs/imagenet/best.pt --timesteps 4 --json eval-t4.json
    stablespike eval runs/fashion-mnist --anytime --anytime-target 0.5   # stop early, see DEPLOY.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli_common import run_reporting_errors

__all__ = ["add_arguments", "format_report", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the checkpoint argument and the evaluation options."""
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="RUN_DIR/best.pt, RUN_DIR/last.pt, or RUN_DIR (= its best.pt)",
    )
    parser.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help="dataset location (default: the one the run used)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=None, metavar="N",
        help="evaluation batch size (default: the run's eval batch size)",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"),
        help="device; auto = cuda if available (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--timesteps", type=int, default=None, metavar="T",
        help="evaluate with another T than in training (event data: T frames) (default: the run's T)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N",
        help="CPU threads for torch (default: 0 = torch's default)",
    )  # fmt: skip
    parser.add_argument(
        "--compile", action="store_true",
        help="run the model under torch.compile (reports the compile time)",
    )  # fmt: skip
    parser.add_argument(
        "--compile-backend", default="inductor", choices=("inductor", "aot_eager"),
        help="torch.compile backend (default: inductor)",
    )  # fmt: skip
    parser.add_argument(
        "--json", default=None, metavar="FILE", help="also write the report as JSON (default: no)"
    )
    anytime = parser.add_argument_group("anytime inference (stop each sample early)")
    anytime.add_argument(
        "--anytime", nargs="?", const="confidence", default=None,
        choices=("confidence", "margin", "stable"), metavar="POLICY",
        help="sweep an exit policy: confidence (default), margin or stable (default: off)",
    )  # fmt: skip
    anytime.add_argument(
        "--anytime-values", default=None, metavar="V,V,...",
        help="the policy's parameter values to sweep (default: a built-in list per policy)",
    )  # fmt: skip
    anytime.add_argument(
        "--anytime-target", type=float, default=None, metavar="DROP",
        help="choose the cheapest setting within DROP accuracy points of full T on training "
        "images and save it as CHECKPOINT's .anytime.json (default: no choice)",
    )  # fmt: skip
    anytime.add_argument(
        "--anytime-calibration", type=int, default=5000, metavar="N",
        help="training images (fixed random subset, no augmentation) the choice is made on "
        "(default: 5000)",
    )  # fmt: skip
    anytime.add_argument(
        "--anytime-plot", default=None, metavar="FILE",
        help="PNG of accuracy vs timesteps and energy (default: RUN_DIR/anytime-POLICY.png; "
        "'' = none)",
    )  # fmt: skip


def format_report(report: dict) -> str:
    """The printed report: accuracy, per-timestep read-out, recorded value, layer table."""
    from .summary import format_accuracy, format_layers

    lines = [
        f"checkpoint {report['checkpoint']}: {report['model']} on {report['dataset']}, "
        f"T={report['timesteps']}, epoch {report['epoch']}, {report['samples']} test samples",
        format_accuracy(report["accuracy"], report["accuracy_per_timestep"]),
    ]
    if report.get("recorded_accuracy") is not None:
        lines.append(f"recorded at training time: {report['recorded_accuracy']:.2f}%")
    lines.append(format_layers(report["layers"]))
    if report.get("compile_seconds") is not None:
        lines.append(f"torch.compile: {report['compile_seconds']:.1f} s of compiling")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""

    if args.anytime is not None:
        return run_reporting_errors("eval", lambda: _anytime_job(args))

    def job() -> None:
        from ..core.fileio import atomic_write_text
        from .checkpoint_eval import evaluate_checkpoint

        report = evaluate_checkpoint(
            args.checkpoint,
            data_dir=args.data_dir,
            batch_size=args.batch_size,
            device=args.device,
            timesteps=args.timesteps,
            threads=args.threads,
            compile=args.compile,
            compile_backend=args.compile_backend,
        )
        print(format_report(report))
        if args.json:
            atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")

    return run_reporting_errors("eval", job)


def _anytime_job(args: argparse.Namespace) -> None:
    """``--anytime``: the sweep table, its JSON and plot (stablespike.deploy.anytime_eval)."""
    from ..core.errors import ConfigError
    from ..core.fileio import atomic_write_text
    from ..deploy.anytime_eval import evaluate_anytime, format_anytime_report, plot_anytime

    try:
        values = (
            tuple(float(v) for v in args.anytime_values.split(",")) if args.anytime_values else None
        )
    except ValueError:
        raise ConfigError(
            f"--anytime-values: not a list of numbers: {args.anytime_values!r}"
        ) from None
    try:
        report = evaluate_anytime(
            args.checkpoint,
            kind=args.anytime,
            values=values,
            target_drop=args.anytime_target,
            calibration=args.anytime_calibration,
            data_dir=args.data_dir,
            batch_size=args.batch_size,
            device=args.device,
            timesteps=args.timesteps,
            threads=args.threads,
        )
    except ValueError as err:  # a bad policy value or calibration size
        raise ConfigError(str(err)) from None
    plot = args.anytime_plot
    if plot is None:
        plot = str(Path(report["checkpoint"]).parent / f"anytime-{args.anytime}.png")
    if plot:
        plot_anytime(report, plot)
        report["plot"] = plot
    print(format_anytime_report(report))
    if plot:
        print(f"plot: {plot}")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
