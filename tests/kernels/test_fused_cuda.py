"""The fused backend on CUDA (Triton kernels) against the reference on the same device.

Skipped without a CUDA device; ``benchmarks/gpu_check.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from kernel_cases import Case, cases, check_parity, make_inputs, run

from stablespike import TrLIF
from stablespike.functional import lif_sequence
from stablespike.kernels import resolve_backend
from stablespike.kernels.fused import lif_fused

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_cuda_fused_matches_reference(case: Case) -> None:
    check_parity(lif_fused, case, device="cuda")


@pytest.mark.parametrize("surrogate", ["trsg", "as", "rs"])
@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("t", [1, 4, 16, 40])
def test_cuda_every_option_on_a_conv_layer(
    surrogate: str, reset: str, detach_reset: bool, decay_input: bool, t: int
) -> None:
    case = Case(t, (3, 5, 33, 31), True, torch.float32, surrogate, decay_input, reset,
                detach_reset, "channel", 0.8, 2.5, False, 11)  # fmt: skip
    check_parity(lif_fused, case, device="cuda")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("per_channel", [False, True])
def test_cuda_half_inputs_compute_in_float32(dtype: torch.dtype, per_channel: bool) -> None:
    case = Case(6, (4, 8, 9, 7), per_channel, torch.float32, "trsg", True, "soft", False,
                "buffer", 1.0, 2.0, False, 5)  # fmt: skip
    inputs = make_inputs(case, "cuda", x_dtype=dtype)
    got, got_grads = run(lif_fused, case, inputs)
    assert got.output.dtype == dtype and got.v_last.dtype == dtype
    assert got_grads[0].dtype == dtype
    inputs32 = make_inputs(case, "cuda")
    inputs32.x = inputs.x.detach().float().requires_grad_()
    ref, ref_grads = run(lif_sequence, case, inputs32, grad_dtype=dtype)
    torch.testing.assert_close(got.output, ref.output.to(dtype), rtol=0, atol=0)
    assert torch.equal(got.fired, ref.fired)
    torch.testing.assert_close(got_grads[0], ref_grads[0].to(dtype))
    for g, r in zip(got_grads[1:], ref_grads[1:], strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_cuda_auto_is_fused_and_trlif_compiles_without_graph_breaks() -> None:
    assert resolve_backend("auto", "cuda") == "fused"
    torch._dynamo.reset()
    lif = TrLIF(per_channel=True, channels=8).cuda().eval()
    x = torch.randn(4, 2, 8, 16, 16, device="cuda", requires_grad=True)

    def step(x: torch.Tensor) -> torch.Tensor:
        return lif(torch.relu(x) * 2).sum()

    loss = torch.compile(step, fullgraph=True)(x)
    (gx,) = torch.autograd.grad(loss, [x])
    (gx_ref,) = torch.autograd.grad(step(x), [x])
    torch.testing.assert_close(gx, gx_ref)
