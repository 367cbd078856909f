"""Accuracy of a trained run with BatchNorm's running statistics vs the batch's own statistics.

A large gap means the BN running statistics (momentum 0.1) do not describe the trained model,
e.g. after a short run. DSSA firing rates are kept fixed in the batch-statistics pass. Used for
the SpikingResformer reading of docs/RESULTS.md section 10.

Usage::

    python benchmarks/bn_eval_probe.py RUN_DIR DATA.npz [--images 256]
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch

from stablespike.models.transformers import DSSA
from stablespike.train import load_trained_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("npz", help="an npz dataset file (x_test [N, C, H, W], y_test)")
    parser.add_argument("--images", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = np.load(args.npz)
    x = torch.from_numpy(data["x_test"][: args.images]).float()
    y = torch.from_numpy(data["y_test"][: args.images])
    model, _ = load_trained_model(args.run_dir)
    with torch.no_grad():
        running = model.eval()(x).mean(0).argmax(1).eq(y).float().mean().item()
        batch_stats = copy.deepcopy(model).train()
        for m in batch_stats.modules():
            if isinstance(m, DSSA):
                m.momentum = 1.0  # keep the firing-rate buffers as trained
        own = batch_stats(x).mean(0).argmax(1).eq(y).float().mean().item()
    print(
        f"{args.run_dir}: running-statistics BN {100 * running:.2f} %, batch-statistics BN "
        f"{100 * own:.2f} % on {len(y)} test images"
    )


if __name__ == "__main__":
    main()
