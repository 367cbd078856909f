"""snnTorch 1.0 Leaky -> TrLIF (beta = 1 - 1/tau), step-mode Sequential made multi-step."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import stablespike as ss
from stablespike import TrLIF
from stablespike.models.layers import TimeFolded

snn = pytest.importorskip("snntorch", reason="snntorch is not installed (see Makefile interop)")
from snntorch import utils as snn_utils  # noqa: E402


def snn_net(**leaky) -> nn.Sequential:
    def lif(**extra):
        return snn.Leaky(init_hidden=True, **leaky, **extra)

    net = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1), lif(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), lif(), nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10), lif(output=True),
    )  # fmt: skip
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.normal_(m.weight, std=3.0 / m.weight[0].numel() ** 0.5)
    return net  # float32: snnTorch's spikes are always float32


@pytest.fixture
def seq(seq: torch.Tensor) -> torch.Tensor:
    return seq.float()


def snn_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    snn_utils.reset(net)
    return torch.stack([net(xt)[0] for xt in x])  # output=True: (spikes, mem)


CASES = {
    "zero-delay": dict(beta=0.75, threshold=0.8, reset_mechanism="zero"),
    "zero-no-delay-learnable": dict(
        beta=0.5, reset_mechanism="zero", reset_delay=False, learn_beta=True, learn_threshold=True
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trlif_reproduces_the_forward(case: str, seq: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = snn_net(**CASES[case])
    ref = snn_forward(net, seq)
    conv = ss.convert(net, surrogate="as", mp_init=False)
    assert isinstance(conv[0], TimeFolded) and isinstance(conv[1], TrLIF)
    assert 0.02 < float(ref.detach().mean()) < 0.98
    torch.testing.assert_close(conv(seq), ref)


def test_constants_carry_over() -> None:
    leaky = snn.Leaky(beta=0.75, threshold=0.6, learn_beta=True, reset_mechanism="zero")
    lif = ss.convert(nn.Sequential(leaky), mp_init=False)[0]
    torch.testing.assert_close(lif.tau, torch.tensor(4.0))  # beta = 1 - 1/tau
    torch.testing.assert_close(lif.threshold, torch.tensor(0.6))
    assert lif.reset == "hard" and not lif.decay_input and lif.detach_reset
    assert lif.tau_raw.requires_grad and not lif.threshold_raw.requires_grad
    no_leak = ss.convert(nn.Sequential(snn.Leaky(beta=1.0, reset_mechanism="zero")))[0]
    assert float(torch.sigmoid(no_leak.tau_raw)) < 1e-20  # beta = 1: integrate and fire


@pytest.mark.parametrize("delay, why", [(True, "one step later"), (False, "once more")])
def test_subtraction_is_refused_unless_inexact_is_allowed(
    delay: bool, why: str, seq: torch.Tensor
) -> None:
    net = snn_net(beta=0.5, reset_delay=delay)  # snnTorch's default: subtract, reset_delay=True
    with pytest.raises(ss.ConversionError, match=f"{why}.*exact=False"):
        ss.convert(net)
    with pytest.warns(UserWarning, match=f"reset_delay={delay}"):
        conv = ss.convert(net, exact=False, surrogate="as", mp_init=False)
    assert conv(seq).shape == (4, 3, 10)


def test_subtraction_without_delay_agrees_while_h_stays_below_two_thresholds() -> None:
    x = torch.rand(20, 4, 16, generator=torch.Generator().manual_seed(1)) * 1.2  # H < 1.7
    leaky = snn.Leaky(beta=0.5, reset_delay=False, init_hidden=True)
    snn_utils.reset(leaky)
    ref = torch.stack([leaky(xt) for xt in x])
    with pytest.warns(UserWarning, match="H < 2 Vthr"):
        conv = ss.convert(nn.Sequential(leaky), exact=False, surrogate="as", mp_init=False)
    assert 0.1 < float(ref.mean()) < 0.9
    torch.testing.assert_close(conv(x), ref)


@pytest.mark.parametrize("case", ["subtract-delay", "zero-delay"])
def test_mp_init_keeps_leaky(case: str, seq: torch.Tensor) -> None:
    kwargs = dict(beta=0.5, reset_mechanism=case.split("-")[0])
    net = snn_net(**kwargs)
    ref = snn_forward(net, seq)
    wrapped = ss.convert(net, to="mp-init")
    layers = [m for m in wrapped.modules() if isinstance(m, ss.MPInitNeuron)]
    assert len(layers) == 3
    torch.testing.assert_close(wrapped(seq), ref)
    wrapped.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrapped(seq)
    assert float(layers[0].mp_mean) != 0.0


def test_mp_init_state_after_reset_matches_the_recurrence() -> None:
    """U[T] given to MP-Init is the potential after the last reset, for the delayed reset too."""
    x = torch.tensor([[1.5], [0.2], [1.4]], dtype=torch.float32)[:, :, None]  # [T, B=1, 1]
    leaky = snn.Leaky(beta=0.5, init_hidden=True)  # subtract, reset_delay=True
    wrapped = ss.convert(nn.Sequential(leaky), to="mp-init")[0].train()
    spikes = wrapped(x)
    # snnTorch: m1 = 1.5 fires; m2 = 0.75 + 0.2 - 1 (the delayed reset) = -0.05; m3 = 1.375 fires
    assert spikes.flatten().tolist() == [1.0, 0.0, 1.0]
    post = 1.375 - 1.0  # U[T] after the last spike's reset
    torch.testing.assert_close(wrapped.mp_mean, torch.tensor(0.1 * post))


def test_own_per_step_forward_is_refused() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.lif1 = nn.Linear(2, 2), snn.Leaky(beta=0.5)

        def forward(self, x, mem):
            return self.lif1(self.fc(x), mem)

    with pytest.raises(ss.ConversionError, match="lif1 \\(Leaky\\) is a step-mode neuron"):
        ss.convert(Net())


def test_unknown_snntorch_neuron_is_named() -> None:
    net = nn.Sequential(nn.Linear(2, 2), snn.Synaptic(alpha=0.5, beta=0.5, init_hidden=True))
    with pytest.raises(ss.ConversionError, match="Synaptic.*register_neuron\\(Synaptic"):
        ss.convert(net)
