"""Benchmark the neuron implementations: the same as ``stablespike bench`` (see its ``--help``).

Prints, for the standard layer shape (T=4, B=16, C=128, 32x32) and for a whole ResNet-19 training
step (T=4, batch 16, CIFAR-size input): median time per call, saved-for-backward bytes and peak
memory of stablespike fused, stablespike reference, SpikingJelly ParametricLIFNode and snnTorch
Leaky (the last two when installed), the memory-bandwidth floor of the layer and the ratio to it.
On the CPU it runs once with glibc's default allocator and once with freed memory kept for reuse.

    python benchmarks/bench_neuron.py                      # everything
    python benchmarks/bench_neuron.py --what layer --malloc all
    python benchmarks/bench_neuron.py --device cuda --what kernel
"""

from __future__ import annotations

import sys

from stablespike.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
