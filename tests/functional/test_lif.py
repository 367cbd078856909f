"""The per-step reference: hand-computed trajectories and properties of the recurrence."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stablespike.functional import lif_sequence, lif_step

X = torch.tensor([[1.5, 2.5], [1.5, -1.0], [0.0, 0.5], [3.0, 0.5]])  # [T=4, 2 neurons]


def _run(**kw):
    kw.setdefault("tau", torch.tensor(2.0))
    kw.setdefault("threshold", torch.tensor(1.0))
    x = kw.pop("x", X)
    return lif_sequence(x, return_h=True, **kw)


def test_soft_reset_decay_input_trajectory() -> None:
    res = _run()
    assert res.h[:, 0].tolist() == [0.75, 1.125, 0.0625, 1.53125]
    assert res.h[:, 1].tolist() == [1.25, -0.375, 0.0625, 0.28125]
    assert res.output[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert res.output[:, 1].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert res.v_last.tolist() == [0.53125, 0.28125]
    assert res.fired.tolist() == [True, True]


def test_hard_reset_trajectory() -> None:
    res = _run(reset="hard")
    assert res.h[:, 0].tolist() == [0.75, 1.125, 0.0, 1.5]
    assert res.output[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert res.v_last[0].item() == 0.0


def test_no_decay_input_trajectory() -> None:
    res = _run(decay_input=False)
    assert res.h[:, 0].tolist() == [1.5, 1.75, 0.375, 3.1875]
    assert res.output[:, 0].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert res.v_last[0].item() == 2.1875


def test_trsg_outputs_threshold_times_spike_and_others_output_spike() -> None:
    x = X * 2  # same trajectory at Vthr = 2
    trsg = _run(x=x, threshold=torch.tensor(2.0))
    assert trsg.output[:, 0].tolist() == [0.0, 2.0, 0.0, 2.0]
    for name in ("as", "rs"):
        res = _run(x=x, threshold=torch.tensor(2.0), surrogate=name)
        assert res.output[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
        torch.testing.assert_close(res.v_last, trsg.v_last)


def test_initial_potential_and_firing_at_equality() -> None:
    res = _run(v0=torch.tensor(0.5))
    assert res.h[:, 0].tolist() == [1.0, 0.75, 0.375, 1.6875]
    assert res.output[:, 0].tolist() == [1.0, 0.0, 0.0, 1.0]  # H == Vthr fires


def test_fired_mask_excludes_silent_neurons() -> None:
    res = _run(x=torch.tensor([[0.1, 5.0], [0.1, 0.0]]))
    assert res.fired.tolist() == [False, True]


def test_detach_reset_removes_only_the_spike_gradient() -> None:
    x = torch.tensor([[1.2], [0.3]], requires_grad=True)
    vth = torch.tensor(1.0, requires_grad=True)
    res = lif_sequence(x, torch.tensor(2.0), vth, detach_reset=True)
    res.output[1].sum().backward()
    # t=1: H=0.6 (no spike), t=2: H = 0.6 + (0.3-0.6)/2 = 0.45 -> r = 0.45, outside the window
    assert x.grad.tolist() == [[0.0], [0.0]]
    x2 = torch.tensor([[2.2], [1.6]], requires_grad=True)
    for detach in (False, True):
        x2.grad = None
        out = lif_sequence(x2, torch.tensor(2.0), torch.tensor(1.0), detach_reset=detach).output
        out[1].sum().backward()
        # t=1: H=1.1 -> spike (r in window), U = 0.1; t=2: H = 0.1 + 0.75 = 0.85 in window
        # dO2/dx1 = dH2/dU1 * dU1/dH1 * dH1/dx1 = 0.5 * (1 - w1 * (not detached)) * 0.5
        expected = 0.5 * (1.0 - (0.0 if detach else 1.0)) * 0.5
        assert x2.grad[0].item() == pytest.approx(expected)


def test_rejects_empty_sequence_and_bad_names() -> None:
    with pytest.raises(ValueError, match="T >= 1"):
        lif_sequence(torch.zeros(0, 3), torch.tensor(2.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="unknown reset 'zero'"):
        lif_sequence(X, torch.tensor(2.0), torch.tensor(1.0), reset="zero")


def _released_reference(x, v0, tau_raw, thr_raw, decay_input):
    """The authors' per-step formulation (docs/METHOD.md §3.3): round(clamp(r - 1/2, 0, 1)) with STE."""
    tau = 1.0 / torch.sigmoid(tau_raw)
    vth = torch.nn.functional.softplus(thr_raw)
    u, outs = v0, []
    for xt in x:
        h = u + (xt - u) / tau if decay_input else u * (1 - 1 / tau) + xt
        z = torch.clamp(h / vth - 0.5, 0, 1)
        o = vth * (z + (torch.round(z) - z).detach())
        u = h - o
        outs.append(o)
    return torch.stack(outs), u


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_released_reference_forward_and_all_gradients(decay_input, dtype) -> None:
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(6, 32, 17, generator=gen) * 1.5 + 0.8).to(dtype).requires_grad_()
    v0 = torch.tensor(0.3, dtype=dtype)
    grads = []
    for impl in ("released", "ours"):
        tau_raw = torch.tensor(0.4, dtype=dtype, requires_grad=True)
        thr_raw = torch.tensor(0.2, dtype=dtype, requires_grad=True)
        x.grad = None
        if impl == "released":
            out, v_last = _released_reference(x, v0, tau_raw, thr_raw, decay_input)
        else:
            tau = 1.0 / torch.sigmoid(tau_raw)
            vth = torch.nn.functional.softplus(thr_raw)
            res = lif_sequence(x, tau, vth, v0, decay_input=decay_input)
            out, v_last = res.output, res.v_last
        weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)
        ((out * weights).sum() + v_last.sum()).backward()
        grads.append((out.detach(), v_last.detach(), x.grad.clone(), tau_raw.grad, thr_raw.grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert grads[0][4].abs() > 1e-3  # the threshold gradient is exercised


@settings(max_examples=40, deadline=None)
@given(
    t=st.integers(1, 8),
    n=st.integers(1, 12),
    exp=st.integers(-3, 3),
    surrogate=st.sampled_from(["trsg", "as", "rs"]),
    reset=st.sampled_from(["soft", "hard"]),
    decay_input=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_step_by_step_equals_sequence(t, n, exp, surrogate, reset, decay_input, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(t, n, generator=gen, dtype=torch.float64) * 2
    tau, vth = torch.tensor(1.7, dtype=torch.float64), torch.tensor(2.0**exp, dtype=torch.float64)
    kw = dict(surrogate=surrogate, reset=reset, decay_input=decay_input)
    res = lif_sequence(x, tau, vth, **kw)
    v = torch.zeros(n, dtype=torch.float64)
    for i in range(t):
        step = lif_step(x[i], v, tau, vth, **kw)
        assert torch.equal(step.output, res.output[i])
        v = step.v
    assert torch.equal(v, res.v_last)


@settings(max_examples=40, deadline=None)
@given(
    t=st.integers(1, 8),
    exp=st.integers(-4, 2),
    scale_exp=st.integers(-3, 3),
    reset=st.sampled_from(["soft", "hard"]),
    decay_input=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_trsg_is_threshold_robust(t, exp, scale_exp, reset, decay_input, seed) -> None:
    """Scaling input, Vthr and U[0] by c scales TrSG's output by c and leaves dO/dX, dO/dVthr."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(t, 16, generator=gen, dtype=torch.float64) * 2.0**exp * 2
    weights = torch.randn(t, 16, generator=gen, dtype=torch.float64)
    c = 2.0**scale_exp  # a power of two: scaling is exact in floating point
    results = []
    for scale in (1.0, c):
        x = (base * scale).requires_grad_()
        vth = torch.tensor(2.0**exp * scale, dtype=torch.float64, requires_grad=True)
        v0 = torch.tensor(0.25 * 2.0**exp * scale, dtype=torch.float64)
        out = lif_sequence(x, torch.tensor(2.0), vth, v0, reset=reset, decay_input=decay_input)
        (out.output * weights).sum().backward()
        results.append((out.output.detach() / scale, x.grad, vth.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
