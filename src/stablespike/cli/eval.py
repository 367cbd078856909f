"""``stablespike eval CHECKPOINT``: test accuracy overall and per timestep, as recorded in training.

The model is rebuilt from the configuration stored in the checkpoint (weights, BatchNorm
statistics and MP-Init means included), so ``stablespike eval RUN_DIR/best.pt`` reproduces the
accuracy recorded when that checkpoint was written.

Example::

    stablespike eval runs/fashion-mnist/best.pt
    stablespike eval runs/imagenet/best.pt --timesteps 4 --json eval-t4.json
    stablespike eval runs/fashion-mnist --device cpu --threads 1 --batch-size 1000
    stablespike eval runs/fashion-mnist --anytime --anytime-target 0.5   # stop early, see DEPLOY.md
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..core import options as opt
from ..core.errors import ConfigError
from ..core.fileio import atomic_write_json
from ..train.config import COMPILE_BACKENDS
from . import run_reporting_errors

__all__ = ["EvalOptions", "add_arguments", "format_report", "run"]

ANYTIME_POLICIES = ("confidence", "margin", "stable")


@dataclass
class EvalOptions:
    """The options of ``stablespike eval`` (flags: ``stablespike eval --help``)."""

    device: str = opt.device_option()
    threads: int = opt.threads_option()
    data_dir: str = opt.data_dir_option("the one the run used")
    batch_size: int | None = opt.batch_size_option(
        None, "evaluation batch size (none = the run's eval batch size)"
    )
    out: str = opt.out_option("folder of the --anytime plot ('' = the checkpoint's folder)")
    json: str = opt.json_option()
    timesteps: int | None = opt.option(
        None,
        "evaluate with another T than in training (event data: T frames; none = the run's T)",
        group="evaluation",
        type=int,
        metavar="T",
        minimum=1,
    )
    compile: bool = opt.option(
        False, "run the model under torch.compile (reports the compile time)", group="evaluation"
    )
    compile_backend: str = opt.option(
        "inductor", "torch.compile backend", group="evaluation", choices=COMPILE_BACKENDS
    )
    anytime: str | None = opt.option(
        None,
        "sweep an exit policy: confidence (the flag alone), margin or stable (none = off)",
        group="anytime",
        type=str,
        choices=ANYTIME_POLICIES,
        const="confidence",
        metavar="POLICY",
    )
    anytime_values: str = opt.option(
        "",
        "the policy's parameter values to sweep ('' = a built-in list per policy)",
        group="anytime",
        metavar="V,V,...",
    )
    anytime_target: float | None = opt.option(
        None,
        "choose the cheapest setting within DROP accuracy points of full T on training images "
        "and save it as CHECKPOINT's .anytime.json (none = no choice)",
        group="anytime",
        type=float,
        metavar="DROP",
    )
    anytime_calibration: int = opt.option(
        5000,
        "training images (fixed random subset, no augmentation) the choice is made on",
        group="anytime",
        metavar="N",
        minimum=1,
    )
    anytime_plot: str | None = opt.option(
        None,
        "PNG of accuracy vs timesteps and energy (none = OUT/anytime-POLICY.png; '' = no plot)",
        group="anytime",
        type=str,
        metavar="FILE",
    )

    def sweep_values(self) -> tuple[float, ...] | None:
        """``anytime_values`` as numbers (None: the built-in list)."""
        if not self.anytime_values:
            return None
        try:
            return tuple(float(v) for v in self.anytime_values.split(","))
        except ValueError:
            raise ConfigError(
                f"--anytime-values: not a list of numbers: {self.anytime_values!r}"
            ) from None


_TITLES = {
    "evaluation": "evaluation",
    "anytime": "anytime inference (stop each sample early)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the checkpoint argument and the evaluation options."""
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="RUN_DIR/best.pt, RUN_DIR/last.pt, or RUN_DIR (= its best.pt)",
    )
    opt.add_options(parser, EvalOptions, titles=_TITLES)


def format_report(report: dict) -> str:
    """The printed report: accuracy, per-timestep read-out, recorded value, layer table."""
    from ..train.summary import format_accuracy, format_layers

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

    def job() -> None:
        opts = opt.from_args(EvalOptions, args)
        if opts.anytime is not None:
            _anytime_job(args.checkpoint, opts, opts.anytime)
            return
        from ..train.checkpoint_eval import evaluate_checkpoint

        report = evaluate_checkpoint(
            args.checkpoint,
            data_dir=opts.data_dir or None,
            batch_size=opts.batch_size,
            device=opts.device,
            timesteps=opts.timesteps,
            threads=opts.threads,
            compile=opts.compile,
            compile_backend=opts.compile_backend,
        )
        print(format_report(report))
        if opts.json:
            atomic_write_json(opts.json, report, indent=2)

    return run_reporting_errors("eval", job)


def _anytime_job(checkpoint: str, opts: EvalOptions, kind: str) -> None:
    """``--anytime``: the sweep table, its JSON and plot (stablespike.deploy.anytime_eval)."""
    from ..deploy.anytime_eval import evaluate_anytime, format_anytime_report, plot_anytime

    try:
        report = evaluate_anytime(
            checkpoint,
            kind=kind,
            values=opts.sweep_values(),
            target_drop=opts.anytime_target,
            calibration=opts.anytime_calibration,
            data_dir=opts.data_dir or None,
            batch_size=opts.batch_size,
            device=opts.device,
            timesteps=opts.timesteps,
            threads=opts.threads,
        )
    except ValueError as err:  # a bad policy value or calibration size
        raise ConfigError(str(err)) from None
    plot = opts.anytime_plot
    if plot is None:
        folder = Path(opts.out) if opts.out else Path(report["checkpoint"]).parent
        plot = str(folder / f"anytime-{kind}.png")
    if plot:
        plot_anytime(report, plot)
        report["plot"] = plot
    print(format_anytime_report(report))
    if plot:
        print(f"plot: {plot}")
    if opts.json:
        atomic_write_json(opts.json, report, indent=2)
