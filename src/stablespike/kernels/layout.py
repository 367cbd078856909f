"""Where the per-neuron constants of the fused kernels live, and how their gradients are summed.

The fused kernels see one step of the input, ``x[t]`` of shape ``S = x.shape[1:]``, as a
row-major matrix ``[R, L]`` of ``N = R * L`` neurons. Each constant ``p`` (``k = 1 / tau``,
``Vthr`` and ``U[0]``) broadcasts to ``S`` and is read in one of four modes:

==========  ====================  ==========================================================
mode        ``p`` for row r, col  typical use
==========  ====================  ==========================================================
``SCALAR``  ``p[0]``              per-layer constants (0-d tensors), ``U[0] = 0``
``ROW``     ``p[r % P]``          per-channel ``[C, 1, 1]`` with ``R = B * C``, ``L = H * W``
``COL``     ``p[col]``            per-feature ``[F]`` of a ``[B, F]`` layer (``L = F``)
``FULL``    ``p[r * L + col]``    one value per neuron
==========  ====================  ==========================================================

A constant that varies over the dims ``d0..d1`` of ``S`` (and is broadcast elsewhere) gives
``outer = prod(S[:d0])``, ``P = prod(S[d0:d1+1])``, ``inner = prod(S[d1+1:])``; then
``R = outer * P, L = inner`` (``ROW``) or, when ``inner == 1``, ``R = outer, L = P`` (``COL``).
Constants varying over other dims than the first such constant are materialised to ``FULL``
(exact, it costs ``N`` values). The gradient of ``p`` is ``sum`` over the neurons that read each
value: :func:`reduce_grad` turns the kernels' per-row sums or per-neuron values into it.

Example:
    >>> import torch
    >>> lay = plan_layout((16, 128, 32, 32), [(128, 1, 1), (), (1, 128, 1, 1)])
    >>> (lay.rows, lay.cols, lay.period, lay.modes)
    (2048, 1024, 128, (1, 0, 1))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..functional.mp_statistic import grouped_statistic

SCALAR, ROW, COL, FULL = 0, 1, 2, 3
"""Modes in which a kernel reads one constant (see the module docs)."""

SURROGATE_CODES = {"trsg": 0, "as": 1, "rs": 2}
"""The kernels' integer code of each surrogate name."""


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """``float64`` for ``float64`` inputs, else ``float32`` (half precisions are upcast)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class Layout(NamedTuple):
    """The ``[R, L]`` view of one step and the read mode of each constant."""

    rows: int
    cols: int
    period: int
    modes: tuple[int, ...]

    def kernel_args(self) -> tuple[int, int, int, list[int]]:
        """``rows, cols, period, modes`` as the C++ kernels take them."""
        return self.rows, self.cols, self.period, list(self.modes)


def padded(shape: Sequence[int], ndim: int) -> tuple[int, ...]:
    """``shape`` with leading 1s up to ``ndim`` dims (as broadcasting aligns it)."""
    return (1,) * (ndim - len(shape)) + tuple(shape)


def check_broadcastable(name: str, shape: Sequence[int], step_shape: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``shape`` broadcasts to ``step_shape`` (one step ``x[t]``)."""
    # (s != 1 and s != d), not `s not in (1, d)`: Dynamo misjudges `in` with symbolic sizes
    if len(shape) > len(step_shape) or any(
        s != 1 and s != d for s, d in zip(reversed(shape), reversed(step_shape), strict=False)
    ):
        raise ValueError(
            f"{name} of shape {tuple(shape)} does not broadcast to one step of the input "
            f"{tuple(step_shape)} (expected a 0-d tensor, a per-channel view like [C, 1, 1], "
            "or the step's shape)"
        )


def compact(p: torch.Tensor, step_shape: Sequence[int]) -> torch.Tensor:
    """View ``p`` with ``len(step_shape)`` dims and size 1 wherever it is broadcast.

    Expanded views (stride 0, e.g. ``r.expand_as(x[0])``) become their size-1 origin, so no
    memory is materialised; the result is differentiable with respect to ``p``.
    """
    q = p.reshape(padded(p.shape, len(step_shape)))
    for d in range(q.dim()):
        if q.shape[d] > 1 and q.stride(d) == 0:
            q = q.narrow(d, 0, 1)
    return q


def _span(shape: Sequence[int], step_shape: Sequence[int]) -> tuple[int, int] | None:
    """First and last dim over which a compacted constant varies; ``None`` if it does not."""
    varying = [d for d, s in enumerate(shape) if s != 1]
    if not varying:
        return None
    return varying[0], varying[-1]


def _is_block(shape: Sequence[int], step_shape: Sequence[int], span: tuple[int, int]) -> bool:
    """True if ``shape`` equals ``step_shape`` on ``span`` and is 1 outside it."""
    d0, d1 = span
    return all(
        (shape[d] == step_shape[d]) if d0 <= d <= d1 else (shape[d] == 1)
        for d in range(len(step_shape))
    )


def plan_layout(step_shape: Sequence[int], shapes: Sequence[Sequence[int]]) -> Layout:
    """Choose ``[R, L]`` and a mode for each constant's (compacted) shape."""
    step_shape = tuple(int(s) for s in step_shape)
    n = math.prod(step_shape)
    aligned = [padded(s, len(step_shape)) for s in shapes]
    spans = [_span(s, step_shape) for s in aligned]
    # the channel block: the first constant that is neither scalar nor one value per neuron
    block = next(
        (
            sp
            for s, sp in zip(aligned, spans, strict=True)
            if sp is not None and math.prod(s) != n and _is_block(s, step_shape, sp)
        ),
        None,
    )
    if block is None:
        rows, cols, period, channel_mode = 1, n, 1, FULL
    else:
        d0, d1 = block
        outer = math.prod(step_shape[:d0])
        period = math.prod(step_shape[d0 : d1 + 1])
        inner = math.prod(step_shape[d1 + 1 :])
        if inner == 1:
            rows, cols, channel_mode = outer, period, COL
        else:
            rows, cols, channel_mode = outer * period, inner, ROW
    modes = []
    for s, sp in zip(aligned, spans, strict=True):
        if sp is None:
            modes.append(SCALAR)
        elif block is not None and math.prod(s) != n and _is_block(s, step_shape, block):
            modes.append(channel_mode)
        else:
            modes.append(FULL)
    return Layout(rows, cols, period, tuple(modes))


def as_kernel_param(q: torch.Tensor, mode: int, step_shape: Sequence[int]) -> torch.Tensor:
    """The tensor a kernel reads for a compacted constant ``q`` in ``mode`` (differentiable).

    ``FULL`` constants that are not already one value per neuron are expanded and materialised.
    """
    if mode == FULL and tuple(q.shape) != tuple(step_shape):
        return q.expand(tuple(step_shape)).contiguous()
    return q


def kernel_params(
    step_shape: Sequence[int], params: Sequence[torch.Tensor], dtype: torch.dtype
) -> tuple[Layout, list[torch.Tensor]]:
    """The layout of compacted constants and their values as flat contiguous ``dtype`` tensors."""
    layout = plan_layout(step_shape, [p.shape for p in params])
    return layout, [p.detach().to(dtype).contiguous().view(-1) for p in params]


def param_grads(
    buffers: Sequence[torch.Tensor],
    layout: Layout,
    params: Sequence[torch.Tensor],
    need: Sequence[bool],
) -> list[torch.Tensor]:
    """Each constant's gradient from a kernel's buffer (zeros where ``need`` is false)."""
    return [
        reduce_grad(b, m, layout, p.shape).to(p.dtype) if wanted else torch.zeros_like(p)
        for b, m, p, wanted in zip(buffers, layout.modes, params, need, strict=True)
    ]


def reduce_grad(g: torch.Tensor, mode: int, layout: Layout, shape: Sequence[int]) -> torch.Tensor:
    """Sum a kernel's gradient buffer to the constant's ``shape``.

    ``g`` holds per-row sums (``[R]``, modes ``SCALAR``/``ROW``), per-block partial sums (any
    length, ``SCALAR``), or one value per neuron (``[N]``, every mode).
    """
    rows, cols = layout.rows, layout.cols
    if mode == SCALAR:
        out = g.sum()
    elif mode == ROW:
        per_row = g if g.numel() == rows else g.view(rows, cols).sum(1)
        out = per_row.view(-1, layout.period).sum(0)
    elif mode == COL:
        out = g.view(rows, cols).sum(0)
    else:
        out = g
    return out.reshape(tuple(shape))


def statistic_split(layout: Layout, step_shape: Sequence[int], shape: Sequence[int]) -> int | None:
    """The ``d`` with ``R = prod(step_shape[:d])`` if a statistic of ``shape`` is row-constant.

    A statistic that broadcasts to one step can be summed from the kernel's per-row sums when
    ``shape`` is 1 on every dim from ``d`` on; ``None`` otherwise.
    """
    step_shape = tuple(int(s) for s in step_shape)
    split = [d for d in range(len(step_shape) + 1) if math.prod(step_shape[:d]) == layout.rows]
    if not split or any(s != 1 for s in padded(shape, len(step_shape))[split[-1] :]):
        return None
    return split[-1]


def statistic_from_rows(
    row_sums: torch.Tensor, split: int, step_shape: Sequence[int], shape: Sequence[int]
) -> torch.Tensor:
    """Sum per-row sums ``[K, R]`` to ``[K, *shape]`` (``split`` from :func:`statistic_split`)."""
    aligned = padded(shape, len(step_shape))
    grid = row_sums.reshape((row_sums.shape[0], *(int(s) for s in step_shape[:split])))
    dims = [i + 1 for i in range(split) if aligned[i] == 1]
    if dims:
        grid = grid.sum(dims, keepdim=True)
    return grid.reshape((row_sums.shape[0], *shape))


def stacked_statistic(
    v_last: torch.Tensor, fired: torch.Tensor, shape: Sequence[int]
) -> torch.Tensor:
    """MP-Init's statistic computed with PyTorch ops, stacked as ``[3, *shape]`` (``float64``)."""
    return torch.stack(list(grouped_statistic(v_last, fired, shape)))
