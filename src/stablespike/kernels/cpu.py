"""The CPU implementation of the fused ops: calls the C++ kernel (see :mod:`.cpu_build`).

Inputs arrive compacted (see :mod:`.layout`); ``float16``/``bfloat16`` inputs are computed in
``float32`` and the results cast back to the input's dtype. Gradients of the constants come back
from the kernel as per-row float64 sums or per-neuron values and are summed here with
:func:`~.layout.reduce_grad`.

Example:
    >>> import torch
    >>> from stablespike.kernels.cpu import forward
    >>> x = torch.tensor([[1.5], [1.5], [0.0]])
    >>> one = torch.tensor(1.0)
    >>> out, v_last, fired, stat = forward(
    ...     x, torch.tensor(0.5), one, torch.tensor(0.0), "trsg", True, "soft", stat_shape=()
    ... )
    >>> out.flatten().tolist(), fired.tolist(), stat.tolist()
    ([0.0, 1.0, 0.0], [True], [0.0625, 1.0, 0.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import cpu_build
from .layout import (
    SURROGATE_CODES,
    compute_dtype,
    kernel_params,
    param_grads,
    stacked_statistic,
    statistic_from_rows,
    statistic_split,
)


def forward(
    x: torch.Tensor,
    k: torch.Tensor,
    vth: torch.Tensor,
    v0: torch.Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    stat_shape: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outputs ``[T, ...]``, ``U[T]``, the fired mask and MP-Init's statistic (no autograd).

    The statistic (``[3, *stat_shape]`` float64: total, count, non-finite count; empty without
    ``stat_shape``) is summed inside the kernel when it is constant along the kernel's rows
    (per layer, or per channel of a ``[B, C, H, W]`` step), else computed from ``U[T]``.
    """
    step = x.shape[1:]
    cdt = compute_dtype(x.dtype)
    lay, (kf, vf, uf) = kernel_params(step, (k, vth, v0), cdt)
    split = None if stat_shape is None else statistic_split(lay, step, stat_shape)
    out, v_last, fired, rows = cpu_build.load().forward(
        x.detach().to(cdt).contiguous(),
        kf,
        vf,
        uf,
        *lay.kernel_args(),
        surrogate == "trsg",
        decay_input,
        reset == "soft",
        split is not None,
    )
    if stat_shape is None:
        stat = rows
    elif split is not None:
        stat = statistic_from_rows(rows, split, step, stat_shape)
    else:
        stat = stacked_statistic(v_last, fired, stat_shape)
    return out.to(x.dtype), v_last.to(x.dtype), fired, stat


def backward(
    grad_out: torch.Tensor,
    grad_v: torch.Tensor | None,
    x: torch.Tensor,
    k: torch.Tensor,
    vth: torch.Tensor,
    v0: torch.Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    detach_reset: bool,
    need_gx: bool,
    need_gv0: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients for ``x`` (empty if not ``need_gx``), ``k``, ``Vthr`` and ``U[0]``."""
    cdt = compute_dtype(x.dtype)
    lay, (kf, vf, uf) = kernel_params(x.shape[1:], (k, vth, v0), cdt)
    gv = None if grad_v is None else grad_v.detach().to(cdt).contiguous().view(-1)
    gx, *bufs = cpu_build.load().backward(
        grad_out.detach().to(cdt).contiguous(),
        gv,
        x.detach().to(cdt).contiguous(),
        kf,
        vf,
        uf,
        *lay.kernel_args(),
        SURROGATE_CODES[surrogate],
        decay_input,
        reset == "soft",
        detach_reset,
        need_gx,
        need_gv0,
    )
    gk, gvth, gv0 = param_grads(bufs, lay, (k, vth, v0), (True, True, need_gv0))
    return gx.to(x.dtype), gk, gvth, gv0
