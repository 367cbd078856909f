"""The ``"fused"`` backend: the whole T-step recurrence in one kernel pass, forward and backward.

Same signature and numbers as :func:`stablespike.functional.lif_sequence` (outputs, ``U[T]`` and
the fired mask; no ``h``). With ``k = 1 / tau`` (computed here, so ``d/dtau = -k^2 d/dk`` comes
from autograd) each neuron runs, for ``t = 1..T``::

    H = U + (X - U) k   (decay_input)      or   U (1 - k) + X
    S = 1[H >= Vthr];   O = Vthr S (TrSG)  or   S (AS-SG, RS-SG)
    U = H - Vthr S      (soft)             or   H (1 - S)        (hard)

and backward runs the adjoint ``a[t] = dL/dU[t]`` from ``a[T] = dL/dU[T]`` down::

    dL/dH[t]   = dL/dO[t] dO/dH + a[t] dU/dH           a[t-1] = dL/dH[t] (1 - k)
    dL/dX[t]   = dL/dH[t] k     (or dL/dH[t])          dL/dU[0] = a[0]
    dL/dk     += dL/dH[t] (X[t] - U[t-1])  (or -U[t-1])
    dL/dVthr  += dL/dO[t] dO/dVthr + a[t] dU/dVthr

with ``dO/dH``, ``dO/dVthr`` from :func:`~stablespike.functional.surrogate_grads` and, for the
reset, ``dU/dH = 1 - Vthr dS/dH``, ``dU/dVthr = -S - Vthr dS/dVthr`` (soft),
``dU/dH = 1 - S - H dS/dH``, ``dU/dVthr = -H dS/dVthr`` (hard); ``detach_reset`` drops the
``dS`` terms. Only ``x`` is saved for backward (the kernel recomputes ``H``), so the saved
memory is one ``T x N`` tensor in the input's dtype.

Computation is in ``float32`` (``float64`` for ``float64`` inputs); ``float16``/``bfloat16``
inputs are upcast inside the kernel and results returned in the input dtype. ``tau``,
``threshold`` and ``v0`` are cast to that compute dtype and broadcast to ``x[0]``: 0-d,
per-channel views such as ``[C, 1, 1]``, expanded views (not materialised) or full tensors.

Example:
    >>> import torch
    >>> from stablespike.kernels.fused import lif_fused
    >>> x = torch.tensor([[1.5], [1.5], [0.0]])          # T=3, one neuron
    >>> res = lif_fused(x, tau=torch.tensor(2.0), threshold=torch.tensor(1.0))
    >>> res.output.flatten().tolist()
    [0.0, 1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..functional.lif import LIFSequence, check_reset
from ..functional.mp_statistic import MPStatistic
from ..functional.surrogate import check_surrogate
from . import ops
from .layout import as_kernel_param, check_broadcastable, compact, compute_dtype, plan_layout

_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _as_tensor(name: str, value: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        return value
    if isinstance(value, int | float):
        return torch.tensor(float(value), device=x.device)
    raise TypeError(f"{name} must be a tensor or a number, got {type(value).__name__}")


def lif_fused(
    x: torch.Tensor,
    tau: torch.Tensor | float,
    threshold: torch.Tensor | float,
    v0: torch.Tensor | None = None,
    *,
    surrogate: str = "trsg",
    decay_input: bool = True,
    reset: str = "soft",
    detach_reset: bool = False,
    statistic_shape: Sequence[int] | None = None,
) -> LIFSequence:
    """Run ``T = x.shape[0]`` LIF steps in one fused kernel (see the module docs).

    With ``statistic_shape`` the result's ``mp_stat`` holds MP-Init's statistic of ``U[T]`` in
    that shape (as :func:`stablespike.functional.lif_sequence`); the CPU kernel sums it in the
    same pass when the shape is per layer or per leading dims such as channels.
    """
    check_surrogate(surrogate)
    check_reset(reset)
    if not isinstance(x, torch.Tensor) or x.dtype not in _DTYPES:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"lif_fused expects a float16/bfloat16/float32/float64 tensor, got {got}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"expected a time-major tensor [T, ...] with T >= 1, got {tuple(x.shape)}")
    cdt = compute_dtype(x.dtype)
    step = tuple(x.shape[1:])
    tau_t = _as_tensor("tau", tau, x)
    vth_t = _as_tensor("threshold", threshold, x)
    v0_t = torch.zeros((), device=x.device) if v0 is None else _as_tensor("v0", v0, x)
    for name, p in (("tau", tau_t), ("threshold", vth_t), ("v0", v0_t)):
        check_broadcastable(name, p.shape, step)
    k = (1.0 / tau_t).to(device=x.device, dtype=cdt)
    consts = [compact(p.to(device=x.device, dtype=cdt), step) for p in (k, vth_t, v0_t)]
    layout = plan_layout(step, [c.shape for c in consts])
    k_c, vth_c, v0_c = (
        as_kernel_param(c, m, step) for c, m in zip(consts, layout.modes, strict=True)
    )
    stat_shape = None
    if statistic_shape is not None:
        check_broadcastable("statistic_shape", statistic_shape, step)
        stat_shape = [int(s) for s in statistic_shape]
    out, v_last, fired, stat = ops.lif_forward(
        x, k_c, vth_c, v0_c, surrogate, bool(decay_input), reset, bool(detach_reset), stat_shape
    )
    mp_stat = None if stat_shape is None else MPStatistic(stat[0], stat[1], stat[2])
    return LIFSequence(out, v_last, fired, None, mp_stat)
