"""Training the ablation cells, resumably (a finished (cell, seed) is never run again), on a subset.

Layout of the output folder ``OUT``::

    OUT/grid.json                         the grid size (GridSettings), pinned on the first run
    OUT/data/fmnist-<n>-<m>-s<seed>.npz   the Fashion-MNIST subset every run uses
    OUT/runs/<cell key>/seed<k>/          the training run (config.yaml, metrics.csv, best.pt, ...)
    OUT/runs/<cell key>/seed<k>/cell.json its result: accuracy, timing, diagnostic snapshot

``cell.json`` is written last (atomically), so a run interrupted before it is simply trained
again from scratch. A run stopped by a non-finite loss is recorded as ``"diverged"``.

Example::

    from stablespike.analysis.ablation.grid import ablation_rows, distinct_cells
    from stablespike.analysis.ablation.runner import run_grid
    from stablespike.analysis.ablation.settings import GridSettings
    run_grid("runs/ablation", GridSettings(), distinct_cells(ablation_rows()), seeds=[0, 1])

**The data**: a fixed random subset of Fashion-MNIST as an ``.npz`` file (dataset ``npz:PATH``).

The ablation trains many small runs; on a CPU they use ``train`` training and ``test`` test
images drawn once (a permutation seeded by ``seed``), stored normalised exactly as the
``fashion-mnist`` dataset feeds them (``(x / 255 - 0.2860) / 0.3530``, float32), so every cell
and seed sees the same images and every ``stablespike`` command can read the run back.

Example::

    from stablespike.analysis.ablation.runner import write_fashion_mnist_subset
    path = write_fashion_mnist_subset("runs/ablation/fmnist-2000-1000.npz", train=2000, test=1000)
    # then: stablespike train --dataset npz:runs/ablation/fmnist-2000-1000.npz
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ...core.fileio import atomic_path, atomic_write_json
from .grid import Cell
from .settings import GridSettings, model_fingerprint, pin_settings

RESULT_FILE = "cell.json"


def cell_dir(out_dir: Path, cell: Cell, seed: int) -> Path:
    """Where the run of ``cell`` with ``seed`` lives."""
    return out_dir / "runs" / cell.key() / f"seed{seed}"


def load_result(out_dir: Path, cell: Cell, seed: int) -> dict[str, Any] | None:
    """The saved result of (cell, seed), or ``None`` when it has not finished."""
    path = cell_dir(out_dir, cell, seed) / RESULT_FILE
    return json.loads(path.read_text()) if path.exists() else None


def grid_fingerprint(settings: GridSettings) -> str:
    """``<model>/<defaults>``: :func:`model_fingerprint` of the grid's model as built now, and a
    hash of the training defaults the grid does not set (optimizer, weight decay, schedule, ...).

    Both can change between versions of stablespike; ``grid.json`` pins them.
    """
    import hashlib

    from ...models import build_model
    from ...train.config import TrainConfig, option_fields

    model = build_model(
        settings.model, num_classes=10, in_channels=1, timesteps=settings.timesteps, input_size=28
    )
    ours = set(settings.to_dict()) | set(Cell().overrides()) | {"seed", "dataset"}
    defaults = TrainConfig().to_dict()
    kept = sorted(
        (f.name, defaults[f.name])
        for f in option_fields()
        if not f.metadata["runtime"] and f.name not in ours
    )
    digest = hashlib.sha1(repr(kept).encode()).hexdigest()[:10]
    return f"{model_fingerprint(model)}/{digest}"


def collect_results(
    out_dir: str | os.PathLike[str], cells: Sequence[Cell], seeds: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """Cell key -> the finished results of ``seeds`` (unfinished runs are left out)."""
    out = Path(out_dir).resolve()
    found = {c.key(): [load_result(out, c, s) for s in seeds] for c in cells}
    return {k: [r for r in v if r is not None] for k, v in found.items()}


def train_cell(
    out_dir: str, settings: dict[str, Any], cell: dict[str, Any], seed: int, subset: str,
    threads: int, device: str = "cpu",
) -> dict[str, Any]:  # fmt: skip
    """Train one (cell, seed), measure it, write its ``cell.json``; returns the result.

    A top-level function of plain arguments so that worker processes can run it.
    """
    from ...train import NonFiniteError, train
    from .measure import measure_checkpoint

    grid, the_cell = GridSettings.from_dict(settings), Cell(**cell)
    run_dir = cell_dir(Path(out_dir), the_cell, seed)
    cfg = grid.train_config(
        dataset=f"npz:{subset}",
        seed=seed,
        threads=threads,
        device=device,
        run_dir=str(run_dir),
        overwrite=True,
        progress="off",
        tensorboard=False,
        **the_cell.overrides(),
    )
    started = time.perf_counter()
    result: dict[str, Any] = {
        "key": the_cell.key(),
        "cell": cell,
        "seed": seed,
        "grid": settings,
        "fingerprint": grid_fingerprint(grid),
    }
    try:
        summary = train(cfg, log=lambda _msg: None)
    except NonFiniteError as err:
        result.update(status="diverged", error=str(err), accuracy=None)
    else:
        result.update(
            status="ok",
            accuracy=summary["final"]["accuracy"],
            accuracy_per_timestep=summary["final"]["accuracy_per_timestep"],
            best_accuracy=summary["best"]["accuracy"],
            train_time_s=summary["train_time_s"],
        )
        result.update(measure_checkpoint(run_dir / "best.pt"))
        (run_dir / "last.pt").unlink(missing_ok=True)  # best.pt is kept for `analyze`
    result["wall_time_s"] = time.perf_counter() - started
    atomic_write_json(run_dir / RESULT_FILE, result)
    return result


def _describe(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return result["status"]
    return f"acc {result['accuracy']:.2f}%"


def run_grid(
    out_dir: str | os.PathLike[str],
    settings: GridSettings,
    cells: Sequence[Cell],
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    threads: int = 1,
    data_dir: str | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> int:
    """Train every unfinished (cell, seed); returns the number of runs that failed.

    ``jobs > 1`` trains that many runs at once in worker processes (each with ``threads``
    torch threads; 0 = torch's default). Failures other than divergence are logged and left
    unfinished.
    """
    if jobs < 1 or threads < 0:
        raise ValueError(f"jobs must be >= 1 and threads >= 0, got {jobs} and {threads}")
    out = Path(out_dir).resolve()
    settings.validate()
    pin_settings(out, settings, grid_fingerprint(settings))
    subset = write_fashion_mnist_subset(
        out / "data" / settings.subset_name(),
        train=settings.train_subset,
        test=settings.test_subset,
        seed=settings.subset_seed,
        data_dir=data_dir,
    )
    todo = [(c, s) for c in cells for s in seeds if load_result(out, c, s) is None]
    total = len(cells) * len(seeds)
    log(f"ablation: {total - len(todo)} of {total} runs done, {len(todo)} to go -> {out}")
    args = [
        (str(out), settings.to_dict(), asdict(c), s, str(subset), threads, device) for c, s in todo
    ]
    started, failed = time.perf_counter(), 0

    def report(i: int, label: str, outcome: str) -> None:
        spent = time.perf_counter() - started
        eta = spent / i * (len(todo) - i)
        log(f"[{i}/{len(todo)}] {label}: {outcome} ({spent:.0f} s so far, ~{eta:.0f} s left)")

    if jobs == 1:
        for i, a in enumerate(args, 1):
            label = f"{Cell(**a[2]).key()} seed {a[3]}"
            try:
                report(i, label, _describe(train_cell(*a)))
            except Exception as err:  # noqa: BLE001 - keep the grid going, report at the end
                failed += 1
                report(i, label, f"FAILED: {type(err).__name__}: {err}")
        return failed
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(train_cell, *a): f"{Cell(**a[2]).key()} seed {a[3]}" for a in args}
        for i, fut in enumerate(as_completed(futures), 1):
            try:
                report(i, futures[fut], _describe(fut.result()))
            except Exception as err:  # noqa: BLE001
                failed += 1
                report(i, futures[fut], f"FAILED: {type(err).__name__}: {err}")
    return failed


def _pick(n_total: int, n: int, seed: int) -> torch.Tensor:
    if not 1 <= n <= n_total:
        raise ValueError(f"subset size must be in 1..{n_total}, got {n}")
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=g)[:n].sort().values


def write_fashion_mnist_subset(
    path: str | os.PathLike[str],
    *,
    train: int,
    test: int,
    seed: int = 0,
    data_dir: str | None = None,
) -> Path:
    """Write ``x_train, y_train, x_test, y_test`` of the subset to ``path`` (kept if present)."""
    from ...data import TensorImageDataset, build_datasets

    path = Path(path)
    if path.exists():
        return path
    bundle = build_datasets("fashion-mnist", data_dir, augment=False)
    arrays: dict[str, Any] = {}
    for split_set, n, key in ((bundle.train, train, "train"), (bundle.test, test, "test")):
        split = cast(TensorImageDataset, split_set)  # Fashion-MNIST is held in memory
        idx = _pick(len(split), n, seed)
        x, y = split.get_batch(idx)  # the test pipeline: unit float, then Normalize
        arrays[f"x_{key}"] = x.numpy().astype(np.float32)
        arrays[f"y_{key}"] = y.numpy().astype(np.int64)
    with atomic_path(path) as tmp:  # a name ending in .npz: np.savez adds none
        np.savez(tmp, **arrays)
    return path
