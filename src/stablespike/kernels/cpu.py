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
    >>> out, v_last, fired = forward(x, torch.tensor(0.5), one, torch.tensor(0.0), "trsg", True, "soft")
    >>> out.flatten().tolist(), fired.tolist()
    ([0.0, 1.0, 0.0], [True])
"""

from __future__ import annotations

import torch

from . import cpu_build
from .layout import Layout, plan_layout, reduce_grad

_SURROGATE_CODES = {"trsg": 0, "as": 1, "rs": 2}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """``float64`` for ``float64`` inputs, else ``float32`` (half precisions are upcast)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _layout(x: torch.Tensor, k: torch.Tensor, vth: torch.Tensor, v0: torch.Tensor) -> Layout:
    return plan_layout(x.shape[1:], [k.shape, vth.shape, v0.shape])


def _flat(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return p.detach().to(dtype).contiguous().view(-1)


def forward(
    x: torch.Tensor,
    k: torch.Tensor,
    vth: torch.Tensor,
    v0: torch.Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outputs ``[T, ...]``, ``U[T]`` and the fired mask of the recurrence (no autograd)."""
    cdt = compute_dtype(x.dtype)
    lay = _layout(x, k, vth, v0)
    xc = x.detach().to(cdt).contiguous()
    out, v_last, fired = cpu_build.load().forward(
        xc,
        _flat(k, cdt),
        _flat(vth, cdt),
        _flat(v0, cdt),
        lay.rows,
        lay.cols,
        lay.period,
        list(lay.modes),
        surrogate == "trsg",
        decay_input,
        reset == "soft",
    )
    return out.to(x.dtype), v_last.to(x.dtype), fired


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
    lay = _layout(x, k, vth, v0)
    xc = x.detach().to(cdt).contiguous()
    gv = None if grad_v is None else grad_v.detach().to(cdt).contiguous().view(-1)
    gx, *bufs = cpu_build.load().backward(
        grad_out.detach().to(cdt).contiguous(),
        gv,
        xc,
        _flat(k, cdt),
        _flat(vth, cdt),
        _flat(v0, cdt),
        lay.rows,
        lay.cols,
        lay.period,
        list(lay.modes),
        _SURROGATE_CODES[surrogate],
        decay_input,
        reset == "soft",
        detach_reset,
        need_gx,
        need_gv0,
    )
    gk, gvth = (
        reduce_grad(b, m, lay, p.shape).to(p.dtype)
        for b, m, p in zip(bufs[:2], lay.modes[:2], (k, vth), strict=True)
    )
    gv0 = reduce_grad(bufs[2], lay.modes[2], lay, v0.shape).to(v0.dtype) if need_gv0 else None
    return gx.to(x.dtype), gk, gvth, torch.zeros_like(v0) if gv0 is None else gv0
