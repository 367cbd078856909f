"""The fused recurrence as ``torch.library`` custom ops, with fake (meta) kernels and autograd.

``torch.ops.stablespike.lif_forward(x, k, vth, v0, surrogate, decay_input, reset, detach_reset,
stat_shape=None)`` returns ``(output [T, ...], U[T], fired, stat)``, ``stat`` being MP-Init's
statistic of ``U[T]`` as ``[3, *stat_shape]`` float64 (total, count, non-finite count; empty
without ``stat_shape``); ``torch.ops.stablespike.lif_backward`` returns the
gradients for ``x``, ``k = 1 / tau``, ``Vthr`` and ``U[0]``. ``k``, ``vth`` and ``v0`` are
compacted constants (see :mod:`.layout`). The CPU kernels are C++ (:mod:`.cpu`), the CUDA ones
Triton (:mod:`.triton_lif`, imported on first CUDA call only). Being opaque custom ops with fake
implementations, they trace under ``torch.compile`` without graph breaks.

Saved for backward: ``x`` (the op's input, one ``T x N`` tensor, in its own dtype), the compact
constants and a copy of ``U[0]``'s compact values; the backward kernel recomputes ``H[t]``.

Example:
    >>> import torch
    >>> from stablespike.kernels import ops  # registers the ops
    >>> x = torch.tensor([[1.5], [1.5], [0.0]], requires_grad=True)
    >>> k, vth, v0 = torch.tensor(0.5), torch.tensor(1.0), torch.tensor(0.0)
    >>> out, v_last, fired, _ = torch.ops.stablespike.lif_forward(x, k, vth, v0, "trsg", True, "soft", False)
    >>> out.sum().backward()
    >>> x.grad.flatten().tolist()
    [0.5, 0.5, 0.0]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import cpu

# the implementations make their inputs contiguous themselves: Inductor need not keep the traced
# strides of the inputs (which fails on views with symbolic strides, e.g. a changed batch size)
_TAGS = (torch.Tag.flexible_layout,)


@torch.library.custom_op(
    "stablespike::lif_forward", mutates_args=(), device_types="cpu", tags=_TAGS
)
def lif_forward(
    x: Tensor,
    k: Tensor,
    vth: Tensor,
    v0: Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    stat_shape: list[int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fused forward (``detach_reset`` only matters to the backward)."""
    return cpu.forward(x, k, vth, v0, surrogate, decay_input, reset, stat_shape, detach_reset)


@lif_forward.register_fake
def _lif_forward_fake(
    x: Tensor,
    k: Tensor,
    vth: Tensor,
    v0: Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    stat_shape: list[int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    step = x.shape[1:]
    stat = x.new_empty((0,) if stat_shape is None else (3, *stat_shape), dtype=torch.float64)
    return x.new_empty(x.shape), x.new_empty(step), x.new_empty(step, dtype=torch.bool), stat


@lif_forward.register_kernel("cuda")
def _lif_forward_cuda(
    x: Tensor,
    k: Tensor,
    vth: Tensor,
    v0: Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    stat_shape: list[int] | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from . import triton_lif

    return triton_lif.forward(x, k, vth, v0, surrogate, decay_input, reset, stat_shape)


@torch.library.custom_op(
    "stablespike::lif_backward", mutates_args=(), device_types="cpu", tags=_TAGS
)
def lif_backward(
    grad_out: Tensor,
    grad_v: Tensor | None,
    x: Tensor,
    k: Tensor,
    vth: Tensor,
    v0: Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    need_gx: bool,
    need_gv0: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fused backward: ``(grad x or [0], grad k, grad vth, grad v0)``."""
    return cpu.backward(
        grad_out, grad_v, x, k, vth, v0, surrogate, decay_input, reset, detach_reset, need_gx,
        need_gv0,
    )  # fmt: skip


@lif_backward.register_fake
def _lif_backward_fake(
    grad_out: Tensor,
    grad_v: Tensor | None,
    x: Tensor,
    k: Tensor,
    vth: Tensor,
    v0: Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    need_gx: bool,
    need_gv0: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    gx = x.new_empty(x.shape if need_gx else (0,))
    return gx, k.new_empty(k.shape), vth.new_empty(vth.shape), v0.new_empty(v0.shape)


@lif_backward.register_kernel("cuda")
def _lif_backward_cuda(
    grad_out: Tensor,
    grad_v: Tensor | None,
    x: Tensor,
    k: Tensor,
    vth: Tensor,
    v0: Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    need_gx: bool,
    need_gv0: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from . import triton_lif

    return triton_lif.backward(
        grad_out, grad_v, x, k, vth, v0, surrogate, decay_input, reset, detach_reset, need_gx,
        need_gv0,
    )  # fmt: skip


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    x, k, vth, v0, surrogate, decay_input, reset, detach_reset, _stat_shape = inputs
    ctx.mark_non_differentiable(output[3])
    # U[0] is often a view of MP-Init's running mean, which is updated in place right after the
    # forward: keep its value (a compact tensor: one value, one per channel, or one per neuron)
    ctx.save_for_backward(x, k, vth, v0.detach().clone())
    ctx.flags = (surrogate, decay_input, reset, detach_reset)
    ctx.set_materialize_grads(False)


def _backward(
    ctx: Any,
    grad_out: Tensor | None,
    grad_v: Tensor | None,
    _grad_fired: Tensor | None,
    _grad_stat: Tensor | None,
) -> tuple[Tensor | None, ...]:
    x, k, vth, v0 = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(x)
    need = ctx.needs_input_grad
    gx, gk, gvth, gv0 = lif_backward(grad_out, grad_v, x, k, vth, v0, *ctx.flags, need[0], need[3])
    return (
        gx if need[0] else None,
        gk if need[1] else None,
        gvth if need[2] else None,
        gv0 if need[3] else None,
        None,
        None,
        None,
        None,
        None,
    )


lif_forward.register_autograd(_backward, setup_context=_setup_context)


@torch.library.custom_op("stablespike::snapshot", mutates_args=())
def snapshot(state: Tensor) -> Tensor:
    """A copy of ``state`` that torch.compile keeps as a value of its own.

    MP-Init starts each sequence from its ``mp_mean`` buffer and updates the buffer in place right
    after the forward. Inside a compiled training graph, a plain copy (or a view) of the buffer
    may be recomputed from the buffer for the backward pass, after the update, and the gradients
    then see the new ``U[0]``. An opaque op's output is saved, never recomputed.
    """
    return state.clone()


@snapshot.register_fake
def _snapshot_fake(state: Tensor) -> Tensor:
    return torch.empty_like(state)
