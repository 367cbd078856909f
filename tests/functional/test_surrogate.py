"""Surrogate gradients: the values of docs/METHOD.md §3.1, checked against finite differences."""

from __future__ import annotations

import pytest
import torch

from stablespike.functional import spike, surrogate_grads


def _relaxed(name: str, h: torch.Tensor, v: torch.Tensor, s0: torch.Tensor, z0: torch.Tensor):
    """The smooth function whose derivative the straight-through surrogate is (docs/METHOD.md §3.1).

    With the spike held at its forward value ``s0``, the rectangle of width 1 is the derivative
    of a clamp: TrSG differentiates ``Vthr * (s0 + clamp(H/Vthr - 1/2, 0, 1) - z0)``, RS-SG
    ``s0 + clamp(H/Vthr - 1/2, 0, 1) - z0`` and AS-SG ``s0 + clamp(H - Vthr + 1/2, 0, 1) - z0``.
    """
    if name == "as":
        return s0 + torch.clamp(h - v + 0.5, 0, 1) - z0
    z = torch.clamp(h / v - 0.5, 0, 1) - z0
    return v * (s0 + z) if name == "trsg" else s0 + z


def _window_distance(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Distance of each point to the nearest window edge (relative and absolute)."""
    r = h / v
    rel = torch.minimum((r - 0.5).abs(), (r - 1.5).abs())
    ab = torch.minimum((h - v + 0.5).abs(), (h - v - 0.5).abs())
    return torch.minimum(torch.minimum(rel, ab), (r - 1).abs())


@pytest.mark.parametrize("name", ["trsg", "as", "rs"])
@pytest.mark.parametrize("vth", [0.1, 0.5, 1.0, 2.0, 4.0])
def test_gradients_match_finite_differences_of_the_relaxation(name: str, vth: float) -> None:
    gen = torch.Generator().manual_seed(0)
    h = torch.rand(2000, generator=gen, dtype=torch.float64) * (3 * vth + 3) - 1.5
    v = torch.full_like(h, vth)
    keep = _window_distance(h, v) > 1e-3  # finite differences straddling an edge are meaningless
    h, v = h[keep], v[keep]
    hh = h.clone().requires_grad_()
    vv = v.clone().requires_grad_()
    out = spike(hh, vv, name)
    g_h, g_v = torch.autograd.grad(out.sum(), (hh, vv))

    s0 = (h >= v).to(h.dtype)
    z0 = torch.clamp(h - v + 0.5, 0, 1) if name == "as" else torch.clamp(h / v - 0.5, 0, 1)
    eps = 1e-6
    fd_h = (_relaxed(name, h + eps, v, s0, z0) - _relaxed(name, h - eps, v, s0, z0)) / (2 * eps)
    fd_v = (_relaxed(name, h, v + eps, s0, z0) - _relaxed(name, h, v - eps, s0, z0)) / (2 * eps)
    torch.testing.assert_close(g_h, fd_h, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(g_v, fd_v, atol=1e-6, rtol=1e-6)
    # the window is not empty in these samples (the test would be vacuous otherwise)
    assert (g_h != 0).any() and (g_h == 0).any()


def test_trsg_values_of_method_md() -> None:
    # r = H / Vthr = 0.25, 0.75, 1.25, 1.75 with Vthr = 2
    h = torch.tensor([0.5, 1.5, 2.5, 3.5], requires_grad=True)
    v = torch.tensor(2.0, requires_grad=True)
    out = spike(h, v, "trsg")
    assert out.tolist() == [0.0, 0.0, 2.0, 2.0]
    grad = torch.tensor([1.0, 10.0, 100.0, 1000.0])
    out.backward(grad)
    assert h.grad.tolist() == [0.0, 10.0, 100.0, 0.0]  # dO/dH = 1[1/2 < r < 3/2], no 1/Vthr
    # dO/dVthr = S - r * w  ->  0, -0.75, 1 - 1.25, 1
    expected = 10 * -0.75 + 100 * (1 - 1.25) + 1000 * 1.0
    assert v.grad.item() == pytest.approx(expected)


def test_rs_and_as_values() -> None:
    h = torch.tensor([1.5, 2.5, 3.2])
    v = torch.tensor(2.0)
    s = (h >= v).to(h.dtype)
    dh, dv = surrogate_grads(h, v, s, "rs")
    assert dh.tolist() == [0.5, 0.5, 0.0]  # w / Vthr
    assert dv.tolist() == pytest.approx([-1.5 / 4, -2.5 / 4, 0.0])  # -(H / Vthr^2) w
    dh, dv = surrogate_grads(h, v, s, "as")
    assert dh.tolist() == [0.0, 0.0, 0.0]  # |H - Vthr| < 1/2 nowhere here
    dh, dv = surrogate_grads(torch.tensor([1.6, 2.4]), v, s[:2], "as")
    assert dh.tolist() == [1.0, 1.0] and dv.tolist() == [-1.0, -1.0]


def test_window_edges_are_strict_and_spike_fires_at_equality() -> None:
    v = torch.tensor(1.0)
    h = torch.tensor([0.5, 1.0, 1.5])
    s = (h >= v).to(h.dtype)
    dh, _ = surrogate_grads(h, v, s, "trsg")
    assert dh.tolist() == [0.0, 1.0, 0.0]
    assert spike(h, v, "trsg").tolist() == [0.0, 1.0, 1.0]
    dh, _ = surrogate_grads(torch.tensor([0.5, 1.5]), v, torch.tensor([0.0, 1.0]), "as")
    assert dh.tolist() == [0.0, 0.0]


def test_threshold_gradient_reduces_to_per_channel_shape() -> None:
    h = torch.rand(2, 3, 4) * 2
    v = torch.tensor([0.5, 1.0, 1.5]).view(3, 1).requires_grad_()
    spike(h, v, "trsg").sum().backward()
    s = (h >= v.detach()).to(h.dtype)
    _, dv = surrogate_grads(h, v.detach(), s, "trsg")
    torch.testing.assert_close(v.grad, dv.sum(dim=(0, 2)).view(3, 1))


def test_unknown_surrogate_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown surrogate 'sigmoid'.*trsg, as, rs"):
        spike(torch.zeros(2), torch.tensor(1.0), "sigmoid")
