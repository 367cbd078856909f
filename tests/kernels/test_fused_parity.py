"""The fused CPU backend against the per-step reference: exact forward, gradients within 1e-5."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from kernel_cases import Case, cases, check_parity, make_inputs, run

from stablespike.functional import lif_sequence
from stablespike.kernels.fused import lif_fused

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(case=cases())
def test_fused_matches_reference(case: Case) -> None:
    check_parity(lif_fused, case)


@pytest.mark.parametrize("surrogate", ["trsg", "as", "rs"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("decay_input", [True, False])
def test_every_option_on_a_conv_layer(
    surrogate: str, reset: str, detach_reset: bool, decay_input: bool
) -> None:
    """Per-channel constants and a per-channel U[0] on a [T, B, C, H, W] layer wider than a chunk."""
    case = Case(
        T=5,
        step=(2, 3, 17, 19),
        per_channel=True,
        dtype=torch.float32,
        surrogate=surrogate,
        decay_input=decay_input,
        reset=reset,
        detach_reset=detach_reset,
        v0="channel",
        threshold=0.7,
        tau=2.5,
        on_grid=False,
        seed=7,
    )
    check_parity(lif_fused, case)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(dtype: torch.dtype) -> None:
    """Half inputs: same as the reference on the upcast input, results in the input dtype."""
    case = Case(5, (3, 4, 6), True, torch.float32, "trsg", True, "soft", False, "buffer",
                1.0, 2.0, True, 3)  # fmt: skip
    inputs = make_inputs(case, x_dtype=dtype)
    got, got_grads = run(lif_fused, case, inputs)
    assert got.output.dtype == dtype and got_grads[0].dtype == dtype
    x32 = inputs.x.detach().float().requires_grad_()
    inputs32 = make_inputs(case)
    inputs32.x = x32
    ref, ref_grads = run(lif_sequence, case, inputs32, grad_dtype=dtype)
    torch.testing.assert_close(got.output, ref.output.to(dtype), rtol=0, atol=0)
    torch.testing.assert_close(got_grads[0], ref_grads[0].to(dtype))
    for g, r in zip(got_grads[1:], ref_grads[1:], strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_only_v_last_used_and_no_input_grad() -> None:
    """Backward with only dL/dU[T] (no output gradient), and with x not requiring grad."""
    x = torch.randn(6, 4, 5)
    tau = torch.tensor(2.0, requires_grad=True)
    vth = torch.tensor(0.8, requires_grad=True)
    grads = []
    for fn in (lif_sequence, lif_fused):
        res = fn(x, tau, vth)
        grads.append(torch.autograd.grad(res.v_last.sum(), [tau, vth]))
    for g, r in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_empty_batch() -> None:
    x = torch.zeros(3, 0, 4, requires_grad=True)
    res = lif_fused(x, torch.tensor(2.0), torch.tensor(1.0))
    assert res.output.shape == (3, 0, 4) and res.fired.shape == (0, 4)
    res.output.sum().backward()
    assert x.grad.shape == x.shape


def test_non_contiguous_input() -> None:
    """A channels-last / permuted input gives the same numbers as its contiguous copy."""
    x = (torch.randn(3, 2, 5, 4, 6) + 0.5).permute(0, 1, 4, 3, 2).requires_grad_()
    tau = torch.tensor(2.0, requires_grad=True)
    vth = torch.tensor(0.9, requires_grad=True)
    results = []
    for fn in (lif_sequence, lif_fused):
        res = fn(x, tau, vth)
        grads = torch.autograd.grad(
            (res.output * torch.arange(res.output.numel()).view_as(res.output)).sum(), [x, tau, vth]
        )
        results.append((res.output, grads))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=0)
    for g, r in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-4)
