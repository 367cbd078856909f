"""``stablespike ablate``: the paper's ablation grid at a size this machine can train.

Trains every cell of :mod:`stablespike.analysis.ablation.grid` (components, learned
parameters, frozen-threshold sweep) for each seed on a fixed Fashion-MNIST subset with the
default model, skipping runs that already finished in ``--out``, then writes ``ablation.md``
(mean ± std over seeds beside the paper's numbers), ``results.json`` and plots.

Example::

    stablespike ablate --dry-run                            # list the cells
    stablespike ablate --seeds 0,1 --out runs/ablation      # train (resumable), then tables
    stablespike ablate --jobs 2 --threads 1                 # two runs at once
    stablespike ablate --groups threshold --thresholds 0.5,2.0 --epochs 2
    stablespike ablate --report-only                        # tables of what has finished
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..analysis.ablation.grid import DEFAULT_THRESHOLDS, GROUPS
from ..analysis.ablation.settings import GridSettings
from ..core import options as opt
from ..core.errors import ConfigError
from ..core.fileio import atomic_write_json, atomic_write_text
from . import run_reporting_errors

__all__ = ["AblateOptions", "add_arguments", "run"]


@dataclass
class AblateOptions:
    """What ``stablespike ablate`` runs and how (the grid's size is :class:`GridSettings`)."""

    device: str = opt.device_option()
    threads: int = opt.threads_option(
        "CPU threads per run (0 = torch's default, divided among the --jobs runs)"
    )
    data_dir: str = opt.data_dir_option("search the usual places for Fashion-MNIST")
    out: str = opt.out_option("the grid's folder (runs, tables, plots)", default="runs/ablation")
    json: str = opt.json_option()
    seeds: str = opt.option("0,1", "comma-separated seeds", group="selection", metavar="S,S,...")
    thresholds: str = opt.option(
        ",".join(f"{v:g}" for v in DEFAULT_THRESHOLDS),
        "frozen thresholds of the sweep",
        group="selection",
        metavar="V,V,...",
    )
    groups: tuple[str, ...] = opt.option(
        GROUPS, "tables to produce", group="selection", choices=GROUPS, many=True
    )
    jobs: int = opt.option(1, "runs trained at once", group="execution", metavar="N", minimum=1)
    dry_run: bool = opt.option(False, "list the cells and runs, train nothing", group="execution")
    report_only: bool = opt.option(
        False, "tables of finished runs, train nothing", group="execution"
    )
    plots: bool = opt.option(True, "write PNG plots", group="execution")

    def seed_list(self) -> tuple[int, ...]:
        """``seeds`` as distinct integers."""
        try:
            values = tuple(int(v) for v in self.seeds.split(",") if v.strip())
        except ValueError:
            raise ConfigError(
                f"--seeds: expected comma-separated integers, got {self.seeds!r}"
            ) from None
        if not values or len(set(values)) != len(values):
            raise ConfigError(f"--seeds: expected distinct integers, got {self.seeds!r}")
        return values

    def threshold_list(self) -> tuple[float, ...]:
        """``thresholds`` as numbers."""
        try:
            values = tuple(float(v) for v in self.thresholds.split(",") if v.strip())
        except ValueError:
            raise ConfigError(
                f"--thresholds: expected comma-separated numbers, got {self.thresholds!r}"
            ) from None
        if not values:
            raise ConfigError("--thresholds: expected at least one threshold")
        return values

    def run_threads(self) -> int:
        """Torch threads per run: ``threads``, or 0's share of the CPUs among the jobs."""
        if self.threads:
            return self.threads
        return max(1, (os.cpu_count() or 1) // self.jobs) if self.jobs > 1 else 0

    def validate(self) -> AblateOptions:
        opt.check_values(self, flags=True)
        self.seed_list()
        self.threshold_list()
        return self


_TITLES = {"grid": "grid size (pinned in OUT/grid.json)"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the grid-size, selection and execution options."""
    opt.add_options(parser, GridSettings, skip=("model", "subset_seed"), titles=_TITLES)
    opt.add_options(parser, AblateOptions, titles=_TITLES)


def _header(opts: AblateOptions, settings: GridSettings, results: dict, runs: int) -> str:
    finished = [r for rs in results.values() for r in rs]
    wall = sum(r.get("wall_time_s", 0.0) for r in finished)
    return "\n".join(
        [
            "# Ablation (stablespike ablate)",
            "",
            f"Grid: {json.dumps(settings.to_dict())}; seeds {list(opts.seed_list())}; "
            f"{len(finished)} of {runs} runs finished; summed run wall time {wall / 60:.1f} min "
            f"({os.cpu_count()} CPUs, {opts.jobs} job(s) x {opts.run_threads()} thread(s)).",
            "Accuracy: final test accuracy (%) on the test subset, mean ± sample std over seeds; "
            "'div' = stopped by a non-finite loss. Gradient metrics: one test batch of 64, "
            "eval mode, after training.",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; returns 0, or 1 when an option is bad or a run failed."""
    failures = 0

    def job() -> None:
        nonlocal failures
        from ..analysis.ablation.grid import ablation_rows, distinct_cells
        from ..analysis.ablation.runner import collect_results, run_grid
        from ..analysis.ablation.tables import ablation_markdown

        opts = opt.from_args(AblateOptions, args)
        settings = opt.from_args(GridSettings, args)
        seeds = opts.seed_list()
        try:
            rows = ablation_rows(opts.threshold_list(), opts.groups)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        cells = distinct_cells(rows)
        runs = len(cells) * len(seeds)
        if opts.dry_run:
            for cell in cells:
                print(cell.key())
            print(f"{len(cells)} cells x {len(seeds)} seeds = {runs} runs -> {opts.out}")
            return
        out = Path(opts.out)
        if not opts.report_only:
            from ..train.distributed import resolve_device

            started = time.perf_counter()
            try:
                failures = run_grid(
                    out, settings, cells, seeds, jobs=opts.jobs, threads=opts.run_threads(),
                    data_dir=opts.data_dir or None, device=resolve_device(opts.device).type,
                )  # fmt: skip
            except ValueError as err:
                raise ConfigError(str(err)) from None
            print(f"ablation: trained for {(time.perf_counter() - started) / 60:.1f} min")
        results = collect_results(out, cells, seeds)
        text = ablation_markdown(rows, results, _header(opts, settings, results, runs))
        atomic_write_text(out / "ablation.md", text)
        atomic_write_json(out / "results.json", results)
        if opts.json:
            atomic_write_json(opts.json, results)
        if opts.plots:
            from ..analysis.ablation.plots import save_ablation_plots

            save_ablation_plots(rows, results, out)
        print(text)
        print(f"wrote {out / 'ablation.md'}")

    code = run_reporting_errors("ablate", job)
    if code == 0 and failures:
        print(f"stablespike ablate: {failures} run(s) failed (see above); rerun to retry them")
        return 1
    return code
