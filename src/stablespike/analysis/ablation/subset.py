"""A fixed random subset of Fashion-MNIST as an ``.npz`` file (dataset ``npz:PATH``).

The ablation trains many small runs; on a CPU they use ``train`` training and ``test`` test
images drawn once (a permutation seeded by ``seed``), stored normalised exactly as the
``fashion-mnist`` dataset feeds them (``(x / 255 - 0.2860) / 0.3530``, float32), so every cell
and seed sees the same images and every ``stablespike`` command can read the run back.

Example::

    from stablespike.analysis.ablation.subset import write_fashion_mnist_subset
    path = write_fashion_mnist_subset("runs/ablation/fmnist-2000-1000.npz", train=2000, test=1000)
    # then: stablespike train --dataset npz:runs/ablation/fmnist-2000-1000.npz
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ...core.fileio import atomic_path


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
