"""``stablespike analyze CHECKPOINT``: diagnostics and plots of a trained run.

Rebuilds the model of ``RUN_DIR/best.pt`` (or any checkpoint), runs
:func:`~stablespike.analysis.analyze_model` over the first ``--batches`` test batches and writes
``RUN_DIR/analysis/`` (``analysis.json``, ``report.txt``, ``synops.md`` and PNG plots); the text
report is printed too.

Example::

    stablespike analyze runs/fashion-mnist/best.pt --batches 8
    stablespike analyze runs/c10/best.pt --dataset cifar10 --out /tmp/c10-analysis --no-plots
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the checkpoint argument and the analysis options."""
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="e.g. RUN_DIR/best.pt")
    parser.add_argument(
        "--dataset", default=None, metavar="NAME",
        help="dataset whose test split is analysed (default: the run's)",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", default=None, metavar="DIR", help="dataset location (default: the run's)"
    )
    parser.add_argument(
        "--batches", type=int, default=8, metavar="N", help="test batches to analyse (default: 8)"
    )
    parser.add_argument(
        "--grad-batches", type=int, default=None, metavar="N",
        help="of those, how many are differentiated for the gradient metrics (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=128, metavar="N", help="batch size (default: 128)"
    )
    parser.add_argument(
        "--bins", type=int, default=100, metavar="N",
        help="membrane-potential histogram bins (default: 100)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default=None, metavar="DIR",
        help="output folder (default: analysis/ next to the checkpoint)",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="cpu", choices=("auto", "cpu", "cuda"),
        help="device; auto = cuda if available (default: cpu)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N",
        help="CPU threads for torch (default: 0 = torch's default)",
    )  # fmt: skip
    parser.add_argument(
        "--plots", action=argparse.BooleanOptionalAction, default=True,
        help="write PNG plots (needs matplotlib; default: on)",
    )  # fmt: skip


def _check_args(args: argparse.Namespace) -> None:
    for name in ("batches", "batch_size", "bins"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.grad_batches is not None and args.grad_batches < 0:
        raise ValueError(f"--grad-batches must be >= 0, got {args.grad_batches}")
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status (1 on a bad checkpoint, data or option)."""
    from ..core.errors import ConfigError
    from ..train.cli_common import run_reporting_errors

    def job() -> None:
        import torch

        from .analyzer import analyze_model
        from .checkpoint_data import load_trained_model, test_batches
        from .report import format_report
        from .save import save_analysis

        try:
            _check_args(args)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if args.threads:
            torch.set_num_threads(args.threads)
        device = _device(args.device)
        model, cfg = load_trained_model(args.checkpoint)
        batches = test_batches(
            cfg,
            batch_size=args.batch_size,
            dataset=args.dataset,
            data_dir=args.data_dir,
            device=device,
        )
        result = analyze_model(
            model,
            batches,
            max_batches=args.batches,
            grad_batches=args.grad_batches,
            bins=args.bins,
            device=device,
        )
        result["checkpoint"] = str(args.checkpoint)
        result["dataset"] = args.dataset or cfg.dataset
        result["model"] = cfg.model
        out = Path(args.out) if args.out else Path(args.checkpoint).parent / "analysis"
        paths = save_analysis(result, out, plots=args.plots)
        print(f"stablespike analyze: {cfg.model} from {args.checkpoint} on {result['dataset']}")
        print(format_report(result))
        print(f"wrote {len(paths)} files to {out}")

    return run_reporting_errors("analyze", job)
