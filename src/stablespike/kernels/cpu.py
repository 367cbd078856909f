"""The CPU implementation of the fused ops: calls the C++ kernel (see :mod:`.cpu_build`).

Inputs arrive compacted (see :mod:`.layout`); ``float16``/``bfloat16`` inputs are computed in
``float32`` and the results cast back to the input's dtype. The outputs are allocated here and
the kernel, a plain shared library, writes them through raw pointers (``ctypes``). Gradients of
the constants come back from the kernel as per-row float64 sums or per-neuron values and are
summed here with :func:`~.layout.reduce_grad`. The kernel uses ``torch.get_num_threads()``
threads; its results do not depend on the number.

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

import ctypes
from collections.abc import Sequence

import torch

from . import cpu_build
from .layout import (
    COL,
    FULL,
    compute_dtype,
    kernel_params,
    param_grads,
    stacked_statistic,
    statistic_from_rows,
    statistic_split,
)

_EMPTY = torch.empty(0)


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None or t.numel() == 0 else t.data_ptr()


def _modes(modes: Sequence[int]) -> ctypes.Array[ctypes.c_int64]:
    return (ctypes.c_int64 * 3)(*modes)


def _library(
    cdt: torch.dtype, surrogate: str, decay_input: bool, reset: str, detach_reset: bool
) -> ctypes.CDLL:
    """The kernel library of one neuron configuration (forward and backward share it)."""
    variant = cpu_build.Variant(
        cdt, surrogate, bool(decay_input), reset == "soft", bool(detach_reset)
    )
    return cpu_build.library(variant)


def _check(code: int, what: str) -> None:
    if code != 0:
        raise RuntimeError(f"the fused CPU kernel's {what} refused its arguments (code {code})")


def forward(
    x: torch.Tensor,
    k: torch.Tensor,
    vth: torch.Tensor,
    v0: torch.Tensor,
    surrogate: str,
    decay_input: bool,
    reset: str,
    stat_shape: Sequence[int] | None = None,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outputs ``[T, ...]``, ``U[T]``, the fired mask and MP-Init's statistic (no autograd).

    The statistic (``[3, *stat_shape]`` float64: total, count, non-finite count; empty without
    ``stat_shape``) is summed inside the kernel when it is constant along the kernel's rows
    (per layer, or per channel of a ``[B, C, H, W]`` step), else computed from ``U[T]``.
    ``detach_reset`` only picks the library shared with the backward.
    """
    step = x.shape[1:]
    cdt = compute_dtype(x.dtype)
    lay, (kf, vf, uf) = kernel_params(step, (k, vth, v0), cdt)
    split = None if stat_shape is None else statistic_split(lay, step, stat_shape)
    lib = _library(cdt, surrogate, decay_input, reset, detach_reset)
    xc = x.detach().to(cdt).contiguous()
    out = torch.empty_like(xc)
    v_last = torch.empty(step, dtype=cdt)
    fired = torch.empty(step, dtype=torch.bool)
    rows = torch.empty((3, lay.rows) if split is not None else (0,), dtype=torch.float64)
    _check(
        lib.stablespike_lif_forward(
            _ptr(xc), _ptr(kf), _ptr(vf), _ptr(uf), _modes(lay.modes), x.shape[0],
            lay.rows, lay.cols, lay.period, _ptr(out), _ptr(v_last), _ptr(fired), _ptr(rows),
            torch.get_num_threads(),
        ),
        "forward",
    )  # fmt: skip
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
    lib = _library(cdt, surrogate, decay_input, reset, detach_reset)
    n = lay.rows * lay.cols
    xc = x.detach().to(cdt).contiguous()
    go = grad_out.detach().to(cdt).contiguous()
    gv = None if grad_v is None else grad_v.detach().to(cdt).contiguous().view(-1)
    if gv is not None and gv.numel() != n:
        raise ValueError(f"grad_v has {gv.numel()} values for {n} neurons")
    gx = torch.empty_like(xc) if need_gx else _EMPTY.to(cdt)
    # per constant: per-neuron values ([N], modes COL / FULL) or per-row float64 sums ([R])
    per_neuron = [m in (COL, FULL) for m in lay.modes]
    bufs = []
    for p, pn in enumerate(per_neuron):
        if not (p < 2 or need_gv0):  # U[0]'s gradient not wanted
            bufs.append(_EMPTY.to(torch.float64))
        elif pn:
            bufs.append(torch.empty(n, dtype=cdt))
        else:
            bufs.append(torch.empty(lay.rows, dtype=torch.float64))
    rowsum = (ctypes.c_void_p * 3)(
        *(None if pn else _ptr(b) for b, pn in zip(bufs, per_neuron, strict=True))
    )
    neuron = (ctypes.c_void_p * 3)(
        *(_ptr(b) if pn else None for b, pn in zip(bufs, per_neuron, strict=True))
    )
    _check(
        lib.stablespike_lif_backward(
            _ptr(go), _ptr(gv), _ptr(xc), _ptr(kf), _ptr(vf), _ptr(uf), _modes(lay.modes),
            x.shape[0], lay.rows, lay.cols, lay.period, int(need_gv0), _ptr(gx) if need_gx else None,
            rowsum, neuron, torch.get_num_threads(),
        ),
        "backward",
    )  # fmt: skip
    gk, gvth, gv0 = param_grads(bufs, lay, (k, vth, v0), (True, True, need_gv0))
    return gx.to(x.dtype), gk, gvth, gv0
