"""``stablespike analyze CHECKPOINT``: diagnostics and plots of a trained run.

Rebuilds the model of ``RUN_DIR/best.pt`` (or any checkpoint; a run directory means its
``best.pt``), runs :func:`~stablespike.analysis.analyze_model` over the first ``--batches`` test
batches and writes ``--out`` (default ``RUN_DIR/analysis/``: ``analysis.json``, ``report.txt``,
``synops.md`` and PNG plots); the text report is printed too.

Example::

    stablespike analyze runs/fashion-mnist --batches 8
    stablespike analyze runs/c10/best.pt --dataset cifar10 --out /tmp/c10-analysis --no-plots
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..core import options as opt
from ..core.fileio import atomic_write_json
from . import run_reporting_errors

__all__ = ["AnalyzeOptions", "add_arguments", "run"]


@dataclass
class AnalyzeOptions:
    """The options of ``stablespike analyze``."""

    device: str = opt.device_option()
    threads: int = opt.threads_option()
    data_dir: str = opt.data_dir_option("the one the run used")
    batch_size: int = opt.batch_size_option(128, "batch size of the analysed test batches")
    out: str = opt.out_option("output folder ('' = analysis/ in the checkpoint's run folder)")
    json: str = opt.json_option()
    dataset: str = opt.option(
        "", "dataset whose test split is analysed ('' = the run's)", group="analysis",
        metavar="NAME",
    )  # fmt: skip
    batches: int = opt.option(
        8, "test batches to analyse", group="analysis", metavar="N", minimum=1
    )
    grad_batches: int | None = opt.option(
        None,
        "of those, how many are differentiated for the gradient metrics (none = all)",
        group="analysis",
        type=int,
        metavar="N",
        minimum=0,
    )
    bins: int = opt.option(
        100, "membrane-potential histogram bins", group="analysis", metavar="N", minimum=1
    )
    plots: bool = opt.option(True, "write PNG plots (needs matplotlib)", group="analysis")

    def validate(self) -> AnalyzeOptions:
        return opt.check_values(self, flags=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the checkpoint argument and the analysis options."""
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="RUN_DIR or RUN_DIR/best.pt")
    opt.add_options(parser, AnalyzeOptions)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (1 on a bad checkpoint, data or option)."""

    def job() -> None:
        from ..analysis import analyze_model, format_report, save_analysis
        from ..train.trained_model import open_for_eval

        opts = opt.from_args(AnalyzeOptions, args)
        with open_for_eval(
            args.checkpoint,
            device=opts.device,
            data_dir=opts.data_dir or None,
            batch_size=opts.batch_size,
            threads=opts.threads,
            dataset=opts.dataset or None,
        ) as run:
            result = analyze_model(
                run.model,
                run.test_batches(),
                max_batches=opts.batches,
                grad_batches=opts.grad_batches,
                bins=opts.bins,
                device=str(run.device),
            )
            if not run.ctx.is_main:
                return
            result["checkpoint"] = str(run.path)
            result["dataset"] = run.config.dataset
            result["model"] = run.config.model
            out = Path(opts.out) if opts.out else run.path.parent / "analysis"
            paths = save_analysis(result, out, plots=opts.plots)
            if opts.json:
                atomic_write_json(opts.json, result)
            print(f"stablespike analyze: {run.config.model} from {run.path} on {result['dataset']}")
            print(format_report(result))
            print(f"wrote {len(paths)} files to {out}")

    return run_reporting_errors("analyze", job)
