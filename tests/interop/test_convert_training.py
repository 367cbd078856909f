"""Converted snnTorch and Norse models train with the Python API and run under torch.compile.

(The SpikingJelly case is in test_convert_spikingjelly.py.)
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

import stablespike as ss
from stablespike.models.layers import TimeFolded
from stablespike.train.losses import build_loss
from stablespike.train.step import StepRunner


def _snntorch() -> nn.Module:
    import snntorch as snn

    def lif() -> nn.Module:
        return snn.Leaky(beta=0.5, init_hidden=True, reset_mechanism="zero")

    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), lif(), nn.Flatten(), nn.Linear(512, 16),
                         lif(), nn.Linear(16, 4))  # fmt: skip


def _norse() -> nn.Module:
    import norse.torch as norse
    from norse.torch.functional.lif import LIFParameters

    p = LIFParameters(tau_syn_inv=torch.tensor(1000.0), tau_mem_inv=torch.tensor(500.0))
    return nn.Sequential(TimeFolded(nn.Conv2d(2, 8, 3, padding=1)), norse.LIF(p),
                         TimeFolded(nn.Flatten()), TimeFolded(nn.Linear(512, 16)), norse.LIF(p),
                         TimeFolded(nn.Linear(16, 4)))  # fmt: skip


@pytest.mark.parametrize("package, make", [("snntorch", _snntorch), ("norse", _norse)])
def test_converted_model_trains_and_compiles(package: str, make) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (see Makefile interop)")
    torch.manual_seed(0)
    model = ss.convert(make(), learn_threshold=True).train()
    x = torch.rand(4, 8, 2, 8, 8, generator=torch.Generator().manual_seed(0)) * 3
    y = torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    step = StepRunner(model, opt, sched, build_loss("ce"))
    losses = [step(x, y).loss for _ in range(15)]
    assert losses[-1] < losses[0]
    lifs = [m for m in model.modules() if isinstance(m, ss.TrLIF)]
    assert len(lifs) == 2 and float(lifs[0].mp_mean) != 0.0
    model.eval()
    compiled = torch.compile(model, backend="aot_eager")
    torch.testing.assert_close(compiled(x), model(x))
