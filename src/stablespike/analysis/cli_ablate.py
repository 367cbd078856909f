"""``stablespike ablate``: the paper's ablation grid at a size this machine can train.

Trains every cell of :mod:`stablespike.analysis.ablation.grid` (components, learned
parameters, frozen-threshold sweep) for each seed on a fixed Fashion-MNIST subset with the
default model, skipping runs that already finished in ``--out``, then writes ``ablation.md``
(mean ± std over seeds beside the paper's numbers), ``results.json`` and plots.

Example::

    stablespike ablate --dry-run                            # list the cells
    stablespike ablate --seeds 0,1 --out runs/ablation      # train (resumable), then tables
    stablespike ablate --groups threshold --thresholds 0.5,2.0 --epochs 2
    stablespike ablate --report-only                        # tables of what has finished
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"expected distinct comma-separated integers, got {text!r}"
        )
    return values


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one threshold")
    return values


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the grid-size, selection and execution options."""
    from .ablation.grid import DEFAULT_THRESHOLDS, GROUPS
    from .ablation.settings import GridSettings

    d = GridSettings()
    size = parser.add_argument_group("grid size (pinned in OUT/grid.json)")
    size.add_argument(
        "--epochs", type=int, default=d.epochs, help=f"epochs per run (default: {d.epochs})"
    )
    size.add_argument(
        "--train-subset", type=int, default=d.train_subset, metavar="N",
        help=f"training images drawn from Fashion-MNIST (default: {d.train_subset})",
    )  # fmt: skip
    size.add_argument(
        "--test-subset", type=int, default=d.test_subset, metavar="N",
        help=f"test images drawn from Fashion-MNIST (default: {d.test_subset})",
    )  # fmt: skip
    size.add_argument(
        "--timesteps",
        type=int,
        default=d.timesteps,
        metavar="T",
        help=f"T (default: {d.timesteps})",
    )
    size.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        metavar="N",
        help=f"(default: {d.batch_size})",
    )
    size.add_argument(
        "--lr", type=float, default=d.lr, help=f"peak learning rate, AdamW (default: {d.lr})"
    )
    sel = parser.add_argument_group("selection")
    sel.add_argument(
        "--seeds", type=_ints, default=[0, 1], help="comma-separated seeds (default: 0,1)"
    )
    sel.add_argument(
        "--thresholds", type=_floats, default=list(DEFAULT_THRESHOLDS),
        help="frozen thresholds of the sweep (default: " + ",".join(f"{v:g}" for v in DEFAULT_THRESHOLDS) + ")",
    )  # fmt: skip
    sel.add_argument(
        "--groups", type=_names, default=list(GROUPS),
        help="tables to produce: " + ",".join(GROUPS) + " (default: all)",
    )  # fmt: skip
    ex = parser.add_argument_group("execution")
    ex.add_argument(
        "--out",
        default="runs/ablation",
        metavar="DIR",
        help="output folder (default: runs/ablation)",
    )
    ex.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="runs trained at once (default: 1)"
    )
    ex.add_argument(
        "--threads", type=int, default=1, metavar="N", help="torch threads per run (default: 1)"
    )
    ex.add_argument(
        "--data-dir", default=None, metavar="DIR", help="Fashion-MNIST location (default: search)"
    )
    ex.add_argument("--dry-run", action="store_true", help="list the cells and runs, train nothing")
    ex.add_argument(
        "--report-only", action="store_true", help="tables of finished runs, train nothing"
    )
    ex.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write PNG plots (default: on)",
    )


def _header(args: argparse.Namespace, settings: object, results: dict, runs: int) -> str:
    finished = [r for rs in results.values() for r in rs]
    wall = sum(r.get("wall_time_s", 0.0) for r in finished)
    return "\n".join(
        [
            "# Ablation (stablespike ablate)",
            "",
            f"Grid: {json.dumps(settings.to_dict())}; seeds {args.seeds}; "  # type: ignore[attr-defined]
            f"{len(finished)} of {runs} runs finished; summed run wall time {wall / 60:.1f} min "
            f"({os.cpu_count()} CPUs, {args.jobs} job(s) x {args.threads} thread(s)).",
            "Accuracy: final test accuracy (%) on the test subset, mean ± sample std over seeds; "
            "'div' = stopped by a non-finite loss. Gradient metrics: one test batch of 64, "
            "eval mode, after training.",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns 0, or 1 when an option is bad or a run failed."""
    from ..core.errors import ConfigError
    from ..train.cli_common import run_reporting_errors

    failures = 0

    def job() -> None:
        nonlocal failures
        from .ablation.grid import ablation_rows, distinct_cells
        from .ablation.runner import collect_results, run_grid
        from .ablation.settings import GridSettings
        from .ablation.tables import ablation_markdown

        try:
            settings = GridSettings(
                epochs=args.epochs,
                train_subset=args.train_subset,
                test_subset=args.test_subset,
                timesteps=args.timesteps,
                batch_size=args.batch_size,
                lr=args.lr,
            ).validate()
            rows = ablation_rows(args.thresholds, args.groups)
            if args.jobs < 1 or args.threads < 1:
                raise ValueError("--jobs and --threads must be >= 1")
        except ValueError as err:
            raise ConfigError(str(err)) from None
        cells = distinct_cells(rows)
        runs = len(cells) * len(args.seeds)
        if args.dry_run:
            for cell in cells:
                print(cell.key())
            print(f"{len(cells)} cells x {len(args.seeds)} seeds = {runs} runs -> {args.out}")
            return
        out = Path(args.out)
        if not args.report_only:
            started = time.perf_counter()
            try:
                failures = run_grid(
                    out, settings, cells, args.seeds,
                    jobs=args.jobs, threads=args.threads, data_dir=args.data_dir,
                )  # fmt: skip
            except ValueError as err:
                raise ConfigError(str(err)) from None
            print(f"ablation: trained for {(time.perf_counter() - started) / 60:.1f} min")
        results = collect_results(out, cells, args.seeds)
        text = ablation_markdown(rows, results, _header(args, settings, results, runs))
        out.mkdir(parents=True, exist_ok=True)
        (out / "ablation.md").write_text(text)
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        if args.plots:
            from .ablation.plots import save_ablation_plots

            save_ablation_plots(rows, results, out)
        print(text)
        print(f"wrote {out / 'ablation.md'}")

    code = run_reporting_errors("ablate", job)
    if code == 0 and failures:
        print(f"stablespike ablate: {failures} run(s) failed (see above); rerun to retry them")
        return 1
    return code
