"""``stablespike export RUN --format nir|torch -o FILE``: a trained run for deployment.

* ``--format nir``: the folded model as a NIR graph (:func:`~stablespike.deploy.to_nir`), exact
  by default; ``--lif-hard-reset`` writes soft-reset neurons as plain hard-reset ``LIF`` nodes,
  an approximation whose test accuracy the command measures and prints;
* ``--format torch``: ``torch.export`` of the folded model (:func:`export_folded`), a ``.pt2``.

Example::

    stablespike export runs/fashion-mnist --format nir -o model.nir
    stablespike export runs/fashion-mnist --format nir --lif-hard-reset -o model-hard.nir
    stablespike export runs/fashion-mnist --format torch -o model.pt2
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass

from ..core import options as opt
from ..core.errors import ConfigError
from . import run_reporting_errors

__all__ = ["ExportOptions", "add_arguments", "run"]


@dataclass
class ExportOptions:
    """The options of ``stablespike export``."""

    threads: int = opt.threads_option()
    data_dir: str = opt.data_dir_option(
        "the one the run used; read for the example input and --lif-hard-reset's accuracy"
    )
    batch_size: int | None = opt.batch_size_option(
        None,
        "batch size of the example input and of the accuracy run (none = the run's eval batch "
        "size)",
    )
    format: str = opt.option(
        "nir",
        "nir = NIR graph (.nir, HDF5); torch = torch.export program (.pt2)",
        group="export",
        choices=("nir", "torch"),
    )
    output: str = opt.option(
        "", "file to write (required)", group="export", metavar="FILE", aliases=("-o",)
    )
    dt: float | None = opt.option(
        None, "NIR: time step the tau values are given for (none = 1e-4)", group="export",
        type=float, metavar="SECONDS",
    )  # fmt: skip
    lif_hard_reset: bool = opt.option(
        False,
        "NIR: soft-reset neurons as plain LIF with a hard reset (an approximation; its test "
        "accuracy is measured and printed) instead of the exact LI + Threshold + recurrent "
        "Scale form",
        group="export",
    )
    dynamic_batch: bool = opt.option(
        False,
        "torch: any batch size (neurons run the per-step reference recurrence; off = the batch "
        "size of --batch-size)",
        group="export",
    )

    def validate(self) -> ExportOptions:
        opt.check_values(self, flags=True)
        if not self.output:
            raise ConfigError("--output FILE (-o FILE) is required")
        return self


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the checkpoint argument and the export options."""
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT",
        help="RUN_DIR/best.pt, RUN_DIR/last.pt, or RUN_DIR (= its best.pt)",
    )  # fmt: skip
    opt.add_options(parser, ExportOptions)


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""

    def job() -> None:
        import torch

        from ..core.errors import FoldError, NIRExportError
        from ..core.fileio import atomic_write
        from ..deploy.fold import fold_thresholds
        from ..deploy.nir_export import DEFAULT_DT, to_nir
        from ..deploy.torch_export import export_folded
        from ..neurons import TrLIF
        from ..train.evaluation import evaluate
        from ..train.trained_model import open_for_eval

        opts = opt.from_args(ExportOptions, args)
        with open_for_eval(
            args.checkpoint,
            device="cpu",
            data_dir=opts.data_dir or None,
            batch_size=opts.batch_size,
            threads=opts.threads,
        ) as run:
            model, cfg, path = run.model, run.config, run.path
            example, _ = next(iter(run.test_batches()))
            try:
                if opts.format == "torch":
                    program = export_folded(model, example, dynamic_batch=opts.dynamic_batch)
                    atomic_write(opts.output, lambda f: torch.export.save(program, f))
                    print(f"wrote {opts.output}: torch.export program of the folded {cfg.model}")
                    return
                dt = DEFAULT_DT if opts.dt is None else opts.dt
                graph = to_nir(
                    model, example, dt=dt, lif_hard_reset=opts.lif_hard_reset,
                    metadata={"model": cfg.model, "dataset": run.dataset,
                              "checkpoint": str(path)},
                )  # fmt: skip
            except (NIRExportError, FoldError, ValueError) as err:
                raise ConfigError(f"cannot export {path}: {err}") from None
            import io

            import nir

            buffer = io.BytesIO()  # h5py writes to a seekable, readable file; then atomically
            nir.write(buffer, graph)
            atomic_write(opts.output, lambda f: f.write(buffer.getvalue()))
            kinds: dict[str, int] = {}
            for node in graph.nodes.values():
                kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            print(f"wrote {opts.output}: NIR graph of the folded {cfg.model} ({summary}), dt={dt}")
            mp = sum(1 for m in model.modules() if isinstance(m, TrLIF) and m.mp_enabled)
            if mp:
                print(
                    f"MP-Init: the initial potential U0 of {mp} neurons is in their node metadata "
                    "('initial_potential'); a backend that ignores metadata starts from 0"
                )
            approx = list(graph.metadata["approximated_neurons"])
            if not approx:
                print("exact: the graph computes the folded model's spikes")
                return
            print(
                f"APPROXIMATION (--lif-hard-reset): {len(approx)} soft-reset neurons were "
                "written as hard-reset LIF nodes; measuring the test accuracy of that ..."
            )
            hard = copy.deepcopy(fold_thresholds(model, example))
            for m in hard.modules():
                if isinstance(m, TrLIF) and m.reset == "soft":
                    m.reset = "hard"
            exact_acc = evaluate(model, run.test_batches(), run.ctx).accuracy
            approx_acc = evaluate(hard, run.test_batches(), run.ctx).accuracy
            print(
                f"test accuracy: {exact_acc:.2f}% exact (soft reset), {approx_acc:.2f}% with the "
                f"hard-reset approximation ({approx_acc - exact_acc:+.2f} points)"
            )

    return run_reporting_errors("export", job)
