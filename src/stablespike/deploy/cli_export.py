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

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the checkpoint argument and the export options."""
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT",
        help="RUN_DIR/best.pt, RUN_DIR/last.pt, or RUN_DIR (= its best.pt)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=("nir", "torch"), default="nir",
        help="nir = NIR graph (.nir, HDF5); torch = torch.export program (.pt2) (default: nir)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write")
    parser.add_argument(
        "--dt", type=float, default=None, metavar="SECONDS",
        help="NIR: time step the tau values are given for (default: 1e-4)",
    )  # fmt: skip
    parser.add_argument(
        "--lif-hard-reset", action="store_true",
        help="NIR: soft-reset neurons as plain LIF with a hard reset (an approximation; its "
        "test accuracy is measured and printed) instead of the exact LI + Threshold + "
        "recurrent Scale form (default: exact)",
    )  # fmt: skip
    parser.add_argument(
        "--dynamic-batch", action="store_true",
        help="torch: any batch size (neurons run the per-step reference recurrence) "
        "(default: the batch size of --batch-size)",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", default=None, metavar="DIR",
        help="dataset location, for the example input and --lif-hard-reset's accuracy "
        "(default: the one the run used)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=int, default=None, metavar="N",
        help="batch size of the example input and of the accuracy run (default: the run's "
        "eval batch size)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N",
        help="CPU threads for torch (default: 0 = torch's default)",
    )  # fmt: skip


def _accuracy(model, batches) -> float:  # noqa: ANN001 - a model and (x, y) batches
    import torch

    correct = n = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).mean(0).argmax(-1) == y).sum())
            n += int(y.numel())
    return 100.0 * correct / n


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    from ..train.cli_common import run_reporting_errors

    def job() -> None:
        import torch

        from ..core.errors import ConfigError, FoldError
        from ..core.fileio import atomic_write
        from ..neurons import TrLIF
        from ..train.batches import TrainData
        from ..train.distributed import distributed_session
        from ..train.seeding import configure_determinism
        from ..train.trained_model import read_checkpoint, rebuild_model
        from .fold import fold_thresholds
        from .nir_export import DEFAULT_DT, NIRExportError, to_nir
        from .torch_export import export_folded

        path, ckpt, cfg = read_checkpoint(args.checkpoint)
        changes: dict = {"device": "cpu", "threads": args.threads}
        if args.data_dir:
            changes["data_dir"] = args.data_dir
        if args.batch_size:
            changes["eval_batch_size"] = args.batch_size
        cfg = cfg.replace(**changes).validate()
        configure_determinism(cfg.deterministic, cfg.threads)
        with distributed_session("cpu") as ctx:
            model = rebuild_model(ckpt, str(path)).eval()
            data = TrainData.build(cfg, ctx)
            example, _ = next(iter(data.test_batches()))
            try:
                if args.format == "torch":
                    program = export_folded(model, example, dynamic_batch=args.dynamic_batch)
                    atomic_write(args.output, lambda f: torch.export.save(program, f))
                    print(f"wrote {args.output}: torch.export program of the folded {cfg.model}")
                    return
                dt = DEFAULT_DT if args.dt is None else args.dt
                graph = to_nir(
                    model, example, dt=dt, lif_hard_reset=args.lif_hard_reset,
                    metadata={"model": cfg.model, "dataset": data.bundle.name,
                              "checkpoint": str(path)},
                )  # fmt: skip
            except (NIRExportError, FoldError, ValueError) as err:
                raise ConfigError(f"cannot export {path}: {err}") from None
            import io

            import nir

            buffer = io.BytesIO()  # h5py writes to a seekable, readable file; then atomically
            nir.write(buffer, graph)
            atomic_write(args.output, lambda f: f.write(buffer.getvalue()))
            kinds: dict[str, int] = {}
            for node in graph.nodes.values():
                kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
            summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            print(f"wrote {args.output}: NIR graph of the folded {cfg.model} ({summary}), dt={dt}")
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
            exact_acc = _accuracy(model, data.test_batches())
            approx_acc = _accuracy(hard, data.test_batches())
            print(
                f"test accuracy: {exact_acc:.2f}% exact (soft reset), {approx_acc:.2f}% with the "
                f"hard-reset approximation ({approx_acc - exact_acc:+.2f} points)"
            )

    return run_reporting_errors("export", job)
