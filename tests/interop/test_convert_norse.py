"""Norse 1.1 LIF / LIFCell / LIFBoxCell -> TrLIF (k = dt * tau_mem_inv), SequentialState kept."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stablespike as ss
from stablespike import TrLIF

norse = pytest.importorskip("norse.torch", reason="norse is not installed (see Makefile interop)")
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from norse.torch.functional.lif_box import LIFBoxParameters  # noqa: E402
from norse.torch.functional.reset import reset_subtract  # noqa: E402


def params(**kw) -> LIFParameters:
    base = dict(tau_syn_inv=torch.tensor(1000.0), tau_mem_inv=torch.tensor(500.0),
                v_th=torch.tensor(0.8))  # fmt: skip
    return LIFParameters(**{**base, **kw})


def _init(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.normal_(m.weight, std=3.0 / m.weight[0].numel() ** 0.5)
    return net.double()


def lift_net(p: LIFParameters) -> nn.Module:
    """Norse's multi-step style: Lift(layer) over time, LIF on [T, B, ...]."""
    return _init(norse.SequentialState(
        norse.Lift(nn.Conv2d(2, 8, 3, padding=1)), norse.LIF(p), norse.Lift(nn.MaxPool2d(2)),
        norse.Lift(nn.Conv2d(8, 8, 3, padding=1)), norse.LIF(p), norse.Lift(nn.Flatten()),
        norse.Lift(nn.Linear(8 * 4 * 4, 10)), norse.LIF(p),
    ))  # fmt: skip


def cell_net(make) -> nn.Module:
    """Norse's step style: a SequentialState of cells, called once per timestep with the state."""
    return _init(norse.SequentialState(
        nn.Conv2d(2, 8, 3, padding=1), make(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1),
        make(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10), make(),
    ))  # fmt: skip


def step_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    state, outs = None, []
    for xt in x:
        out, state = net(xt, state)
        outs.append(out)
    return torch.stack(outs)


def test_lif_module_reproduces_the_forward(seq: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = lift_net(params())
    ref, _ = net(seq)
    conv = ss.convert(net, surrogate="as", mp_init=False)
    assert sum(isinstance(m, TrLIF) for m in conv.modules()) == 3
    out, _ = conv(seq)  # still a SequentialState: (output, states)
    assert 0.02 < float(ref.detach().mean()) < 0.98
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize(
    "kind",
    ["lif-cell", "box-hard", "box-soft"],
)
def test_cells_are_made_multi_step(kind: str, seq: torch.Tensor) -> None:
    box = dict(tau_mem_inv=torch.tensor(500.0), v_th=torch.tensor(0.6))
    makers = {
        "lif-cell": lambda: norse.LIFCell(params()),
        "box-hard": lambda: norse.LIFBoxCell(LIFBoxParameters(**box)),
        "box-soft": lambda: norse.LIFBoxCell(LIFBoxParameters(**box, reset_method=reset_subtract)),
    }
    torch.manual_seed(0)
    net = cell_net(makers[kind])
    ref = step_forward(net, seq)
    conv = ss.convert(net, surrogate="as", mp_init=False)
    out, _ = conv(seq)
    assert 0.02 < float(ref.detach().mean()) < 0.98
    torch.testing.assert_close(out, ref)
    lif = conv[1]
    assert lif.reset == ("soft" if kind == "box-soft" else "hard") and lif.decay_input


def test_constants_carry_over() -> None:
    p = LIFParameters(tau_syn_inv=torch.tensor(1000.0), tau_mem_inv=nn.Parameter(torch.tensor(100.0)),
                      v_th=torch.tensor(0.5))  # fmt: skip
    lif = ss.convert(norse.LIF(p), mp_init=False)
    torch.testing.assert_close(lif.tau, torch.tensor(10.0))  # 1 / (dt * tau_mem_inv)
    torch.testing.assert_close(lif.threshold, torch.tensor(0.5))
    assert lif.tau_raw.requires_grad and not lif.threshold_raw.requires_grad


def test_synaptic_current_is_refused_unless_inexact_is_allowed(seq: torch.Tensor) -> None:
    net = lift_net(LIFParameters())  # Norse's defaults: dt * tau_syn_inv = 0.2
    with pytest.raises(
        ss.ConversionError, match="synaptic current keeps 0.8.*tau_syn_inv = 1 / dt"
    ):
        ss.convert(net)
    with pytest.warns(UserWarning, match="synaptic current"):
        conv = ss.convert(net, exact=False)
    assert conv(seq)[0].shape == (4, 3, 10)


def test_refusals() -> None:
    with pytest.raises(ss.ConversionError, match="v_leak"):
        ss.convert(norse.LIF(params(v_leak=torch.tensor(-0.1))))
    with pytest.raises(ss.ConversionError, match="LIFAdEx.*register_neuron"):
        ss.convert(norse.SequentialState(norse.Lift(nn.Linear(2, 2)), norse.LIFAdEx()))


def test_mp_init_keeps_norse_lif(seq: torch.Tensor) -> None:
    net = lift_net(LIFParameters(tau_mem_inv=torch.tensor(500.0), v_th=torch.tensor(0.8)))
    ref, _ = net(seq)
    wrapped = ss.convert(net, to="mp-init")
    layers = [m for m in wrapped.modules() if isinstance(m, ss.MPInitNeuron)]
    assert len(layers) == 3
    torch.testing.assert_close(wrapped(seq)[0], ref)  # synaptic current kept: their neuron runs
    wrapped.train()
    wrapped(seq)
    assert float(layers[0].mp_mean) != 0.0
