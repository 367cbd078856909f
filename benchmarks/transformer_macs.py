"""Dense multiply-accumulates per image per timestep of the reference spiking transformers.

Every conv, linear and attention product is forced to MAC (``SynOpsCounter(kinds=...)``), so the
count is the dense work of one timestep, the basis of the GPU-hour estimates in docs/RESULTS.md.

Usage::

    python benchmarks/transformer_macs.py [NAME ...]
"""

from __future__ import annotations

import sys

import torch

from stablespike.analysis.synops import SynOpsCounter
from stablespike.models import build_model

REFERENCE = {
    "spikformer-4-384": (10, 32),
    "qkformer-hst-4-384": (10, 32),
    "spikingresformer-cifar": (10, 32),
    "spikformer-8-512": (1000, 224),
    "qkformer-hst-10-512": (1000, 224),
    "spikingresformer-s": (1000, 224),
    "spikformer-8-768": (1000, 224),
    "qkformer-hst-10-768": (1000, 224),
}


def dense_gmac(name: str, classes: int, size: int) -> float:
    """GMAC of one image, one timestep (eval mode, every operation counted as MAC)."""
    net = build_model(name, num_classes=classes, in_channels=3, timesteps=1).eval()
    probe = SynOpsCounter(net)
    kinds = {n: "mac" for n, _ in probe.modules}
    with SynOpsCounter(net, kinds=kinds) as ops, torch.no_grad():
        net(torch.randn(1, 3, size, size))
    return ops.summary(images=1)["total"]["mac"] / 1e9


def main() -> None:
    torch.set_num_threads(1)
    for name in sys.argv[1:] or REFERENCE:
        classes, size = REFERENCE[name]
        print(f"{name:24s} {size}x{size}  {dense_gmac(name, classes, size):7.2f} GMAC")


if __name__ == "__main__":
    main()
