"""Whole-model torch.compile (Inductor) with the fused neuron: shapes that change as in training.

The reproduction of a crash at the first changed batch size (Inductor could not order the strides
of a view with symbolic sizes at the fused op) runs batch sizes 64, 37, 20 and T = 4, 2, forward
and backward, with Inductor in float32 to the end. Outputs, gradients and MP-Init's buffers are
compared with eager through the same shapes, in training and eval, in float64 (where rounding
cannot flip a spike) with the ``aot_eager`` backend: Dynamo, AOT autograd, the fake kernels and
the symbolic shapes as with Inductor, without its code generation (minutes on this CPU).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from stablespike.models import build_model

pytestmark = pytest.mark.slow

SHAPES = [(64, None), (37, None), (20, 2), (37, 4)]  # (batch, T of a time-major input or None)


def _input(batch: int, steps: int | None, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(batch * 10 + (steps or 0))
    x = torch.randn(batch, 1, 28, 28, generator=gen, dtype=dtype)
    return x if steps is None else x.unsqueeze(0).repeat(steps, 1, 1, 1, 1)


def _step(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    out = model(x)
    labels = torch.arange(x.shape[-4]) % 10
    nn.functional.cross_entropy(out.mean(0), labels).backward()
    return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_compiled_model_survives_changing_shapes_and_matches_eager() -> None:
    torch.manual_seed(0)
    eager = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4).double()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, backend="aot_eager")
    for batch, steps in SHAPES:
        x = _input(batch, steps, torch.float64)
        out_e, grads_e = _step(eager, x)
        out_c, grads_c = _step(compiled, x)
        assert out_c.shape == (steps or 4, batch, 10)
        torch.testing.assert_close(out_c, out_e, rtol=1e-9, atol=1e-9)
        assert len(grads_c) == len(grads_e)
        for gc, ge in zip(grads_c, grads_e, strict=True):
            torch.testing.assert_close(gc, ge, rtol=1e-7, atol=1e-9)
    # MP-Init learned the same in both
    for (name, a), b in zip(eager.named_buffers(), compiled_model.buffers(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12, msg=name)
    eager.eval()
    compiled_model.eval()
    with torch.no_grad():
        for batch, steps in SHAPES[:2]:
            x = _input(batch, steps, torch.float64)
            torch.testing.assert_close(compiled(x), eager(x), rtol=1e-9, atol=1e-9)


def test_the_reported_reproduction_runs_to_the_end_in_float32() -> None:
    model = torch.compile(build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4))
    for batch, steps in SHAPES:
        x = _input(batch, steps, torch.float32)
        out, grads = _step(model, x)
        assert out.shape == (steps or 4, batch, 10) and torch.isfinite(out).all()
        assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_no_graph_breaks_in_the_model(training: bool) -> None:
    model = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4)
    model.train(training)
    explained = torch._dynamo.explain(model)(_input(8, None, torch.float32))
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1


@pytest.mark.parametrize("name", ["spikformer-tiny", "qkformer-tiny", "spikingresformer-tiny"])
def test_compiled_transformers_match_eager(name: str) -> None:
    """The transformers (attention products, DSSA's rate buffers) under torch.compile: outputs,
    gradients and buffers equal to eager in float64 (Spikformer through a changed batch size;
    one size for the others, to keep the suite short)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager = build_model(name, num_classes=10, in_channels=1, timesteps=2).double()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, backend="aot_eager")
    for batch in (4, 3) if name == "spikformer-tiny" else (4,):
        x = _input(batch, None, torch.float64)
        out_e, grads_e = _step(eager, x)
        out_c, grads_c = _step(compiled, x)
        torch.testing.assert_close(out_c, out_e, rtol=1e-9, atol=1e-9)
        for gc, ge in zip(grads_c, grads_e, strict=True):
            torch.testing.assert_close(gc, ge, rtol=1e-7, atol=1e-9)
    for a, b in zip(eager.buffers(), compiled_model.buffers(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)
