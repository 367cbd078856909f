"""Where the time of one ResNet-19 training step goes: PyTorch profiler table by operator.

Builds ResNet-19 (T=4, batch 16, 3x32x32, 10 classes) with one neuron implementation, runs one
warm-up SGD step and profiles the next; prints the step's wall time and the operators sorted by
their own CPU time (convolutions, batch norm, the neuron kernels, ...).

    python benchmarks/profile_resnet19.py               # fused neurons
    python benchmarks/profile_resnet19.py reference     # or spikingjelly, snntorch, none
"""

from __future__ import annotations

import sys
import time

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from stablespike.bench.runs import resnet19_with
from stablespike.models import time_mean_logits


def main(name: str = "fused", rows: int = 15) -> None:
    torch.manual_seed(0)
    net = resnet19_with(name, "cpu", timesteps=4)
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(time_mean_logits(net(images)), labels).backward()
        opt.step()

    step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(f"{name}: one training step {time.perf_counter() - start:.2f} s (profiled)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


if __name__ == "__main__":
    main(*sys.argv[1:2])
