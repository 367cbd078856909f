"""Eager vs ``torch.compile`` (Inductor) for a whole training step, per model, on this machine.

One process per model and mode; each builds the model with the default neuron (fused backend),
runs SGD training steps (forward, cross-entropy on the time-mean output, backward, update) on
random data, and reports the first step (which compiles, for the compiled mode) and the median
of the following steps. Compilation is as ``stablespike train --compile`` does it:
``torch.compile(model, dynamic=True)``.

    python benchmarks/compile_speed.py                        # fmnist-cnn and resnet19
    python benchmarks/compile_speed.py --models fmnist-cnn --steps 20
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SHAPES = {  # model: (build options, batch, image)
    "fmnist-cnn": ({"in_channels": 1}, 64, (1, 28, 28)),
    "resnet19": ({"in_channels": 3}, 16, (3, 32, 32)),
}

CHILD = """
import json, statistics, sys, time, torch
from stablespike.models import build_model
name, mode, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
options, batch, image = json.loads(sys.argv[5])
if threads:
    torch.set_num_threads(threads)
torch.manual_seed(0)
model = build_model(name, num_classes=10, timesteps=4, **options)
run = torch.compile(model, dynamic=True) if mode == "compiled" else model
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x, y = torch.randn(batch, *image), torch.randint(0, 10, (batch,))
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(run(x).mean(0), y).backward()
    opt.step()
    times.append(time.perf_counter() - t0)
print(json.dumps({"first": times[0], "median": statistics.median(times[2:])}))
"""


def measure(name: str, mode: str, steps: int, threads: int) -> dict[str, float]:
    args = [
        sys.executable,
        "-c",
        CHILD,
        name,
        mode,
        str(steps),
        str(threads),
        json.dumps(SHAPES[name]),
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=12, help="training steps per process")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    print("model        batch  eager step  compiled step  speed-up  first compiled step (compile)")
    for name in args.models:
        eager = measure(name, "eager", args.steps, args.threads)
        comp = measure(name, "compiled", args.steps, args.threads)
        print(
            f"{name:12s} {SHAPES[name][1]:5d}  {eager['median'] * 1e3:8.1f} ms  "
            f"{comp['median'] * 1e3:10.1f} ms  {eager['median'] / comp['median']:7.2f}x  "
            f"{comp['first']:.1f} s"
        )


if __name__ == "__main__":
    main()
