"""NeuronMonitor: firing rates, H histograms / TV and dL/dH metrics where the answer is known."""

import pytest
import torch
from torch import nn

from stablespike import TrLIF
from stablespike.analysis import NeuronMonitor

# With U[0] = 0, tau = 2 and decay_input, the first step has H[1] = X[1] / 2.
H1 = torch.tensor([0.2, 0.6, 1.0, 1.4, 1.6, 3.0])


def one_step_layer(surrogate: str, threshold: float) -> tuple[TrLIF, torch.Tensor]:
    lif = TrLIF(init_threshold=threshold, surrogate=surrogate, mp_init=False).eval()
    x = (2 * H1).view(1, 1, -1).requires_grad_(True)  # [T=1, B=1, 6]
    return lif, x


@pytest.mark.parametrize(
    ("surrogate", "threshold", "ratio", "abs_str"),
    [
        ("trsg", 1.0, 3 / 6, 3 / 6),  # window 0.5 < H < 1.5: 0.6, 1.0, 1.4; dO/dH = 1
        ("as", 2.0, 1 / 6, 1 / 6),  # window |H - 2| < 0.5: 1.6
        ("rs", 2.0, 2 / 6, 2 / 6 * 0.5),  # window 1 < H < 3: 1.4, 1.6; dS/dH = 1 / Vthr
        ("as", 5.0, 0.0, 0.0),  # nothing in the window: no gradient at all
    ],
)
def test_ratio_ag_of_a_known_window(
    surrogate: str, threshold: float, ratio: float, abs_str: float
) -> None:
    lif, x = one_step_layer(surrogate, threshold)
    with NeuronMonitor(lif) as mon:
        lif(x).sum().backward()
    grad = mon.summary()[""]["grad"]
    assert grad["ratio_ag"] == pytest.approx(ratio)
    assert grad["abs_str"] == pytest.approx(abs_str)
    assert grad["grad_cv"] == pytest.approx(0.0, abs=1e-9)


def test_firing_rate_and_tv_per_step() -> None:
    lif = TrLIF(mp_init=False).eval()
    # neuron a: H = 0.2 then 0.2 + (0.8 - 0.2)/2 = 0.5 ; neuron b: H = 1.5 (fires) then 0.5 + ...
    x = torch.tensor([[[0.4, 3.0]], [[0.8, 0.0]]])  # [T=2, B=1, 2]
    edges = torch.tensor([-10.0, 0.0, 0.3, 1.0, 10.0])
    with NeuronMonitor(lif, edges=edges) as mon:
        lif(x)
    layer = mon.summary()[""]
    assert layer["firing_rate"] == [0.5, 0.0]
    assert layer["mean_firing_rate"] == 0.25
    # H[1] = {0.2, 1.5} -> bins 1 and 3 ; H[2] = {0.5, 0.25} -> bins 2 and 1
    assert layer["hist_probs"][0] == [0.0, 0.5, 0.0, 0.5]
    assert layer["hist_probs"][1] == [0.0, 0.5, 0.5, 0.0]
    assert layer["tv_to_last"] == pytest.approx([0.5, 0.0])
    assert "grad" not in layer  # no backward pass


def test_grads_paused_and_detach() -> None:
    lif, x = one_step_layer("trsg", 1.0)
    mon = NeuronMonitor(lif).attach()
    with mon.grads_paused():
        lif(x).sum().backward()
    assert "grad" not in mon.summary()[""]
    lif(x).sum().backward()
    assert mon.summary()[""]["grad"]["count"] == 6
    mon.detach()
    lif(x).sum().backward()
    assert mon.summary()[""]["grad"]["count"] == 6
    assert not lif._monitors


def test_multilayer_names_and_per_step_grads() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), TrLIF(), nn.Linear(16, 8), TrLIF(surrogate="as"))
    with NeuronMonitor(model, bins=20) as mon:
        model(torch.randn(3, 4, 3)).sum().backward()
    summary = mon.summary()
    assert list(summary) == ["1", "3"]
    assert len(summary["3"]["grad_per_step"]) == 3
    assert len(summary["1"]["hist_edges"]) == 21


def test_errors() -> None:
    with pytest.raises(ValueError, match="no TrLIF"):
        NeuronMonitor(nn.Linear(2, 2))
    lif = TrLIF()
    mon = NeuronMonitor(lif)
    with pytest.raises(RuntimeError, match="no forward"):
        mon.summary()
    with mon:
        lif(torch.randn(2, 1, 3))
        with pytest.raises(ValueError, match="T = 2"):
            lif(torch.randn(3, 1, 3))


def test_recorded_grads_match_a_manual_recurrence() -> None:
    """dL/dH[t] seen by the monitor equals retain_grad on a hand-unrolled reference."""
    from stablespike.functional import lif_step

    torch.manual_seed(3)
    x = torch.randn(3, 2, 5) * 2
    w = torch.randn(3, 2, 5)
    lif = TrLIF(mp_init=False).eval()
    with NeuronMonitor(lif) as mon:
        (lif(x) * w).sum().backward()
    got = mon.summary()[""]["grad_per_step"]

    v, hs, outs = torch.zeros(2, 5), [], []
    xg = x.clone().requires_grad_(True)
    for t in range(3):
        step = lif_step(xg[t], v, lif.tau.detach(), lif.threshold.detach())
        step.h.retain_grad()
        hs.append(step.h)
        outs.append(step.output)
        v = step.v
    (torch.stack(outs) * w).sum().backward()
    for t in range(3):
        assert got[t]["abs_str"] == pytest.approx(float(hs[t].grad.abs().mean()), rel=1e-6)
        assert got[t]["ratio_ag"] == pytest.approx(float((hs[t].grad != 0).float().mean()))
