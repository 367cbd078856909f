"""Write a class-balanced Fashion-MNIST subset as an ``npz:`` dataset for short CPU runs.

The images are normalised with the Fashion-MNIST mean and std (as ``--dataset fashion-mnist``
does) and stored as float32, so ``--dataset npz:PATH`` trains on the same inputs. Used for the
CPU-scale transformer runs of docs/RESULTS.md.

Usage::

    python benchmarks/fmnist_subset.py OUT.npz --train 8000 --test 2000 --seed 0
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from stablespike.data.fashion_mnist import _resolve, load_fashion_mnist
from stablespike.data.presets import FASHION_MNIST_MEAN, FASHION_MNIST_STD


def balanced(y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices with (as nearly as possible) equal counts per class, in random order."""
    classes = int(y.max()) + 1
    per = [n // classes + (c < n % classes) for c in range(classes)]
    picks = []
    for c, k in enumerate(per):
        idx = torch.nonzero(y == c).flatten()
        picks.append(idx[torch.randperm(idx.numel(), generator=generator)[:k]])
    out = torch.cat(picks)
    return out[torch.randperm(out.numel(), generator=generator)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=8000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_fashion_mnist(_resolve(args.data_dir, False, None))
    g = torch.Generator().manual_seed(args.seed)
    mean, std = FASHION_MNIST_MEAN[0], FASHION_MNIST_STD[0]

    def prepare(x: torch.Tensor) -> np.ndarray:
        return ((x.float() / 255.0 - mean) / std).numpy().astype(np.float32)

    tr, te = balanced(y_train, args.train, g), balanced(y_test, args.test, g)
    np.savez(
        args.out,
        x_train=prepare(x_train[tr]),
        y_train=y_train[tr].numpy(),
        x_test=prepare(x_test[te]),
        y_test=y_test[te].numpy(),
    )
    print(f"wrote {args.out}: {tr.numel()} train, {te.numel()} test images")


if __name__ == "__main__":
    main()
