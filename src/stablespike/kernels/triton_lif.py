"""The CUDA implementation of the fused ops: two Triton kernels (imported on first CUDA use only).

Each program owns ``BLOCK`` neurons for all ``T`` steps (one step of the input is the ``[R, L]``
matrix of :mod:`.layout`; constants are read per mode). Only the surrogate, the compute dtype and
the tile sizes are compile-time constants; the other options are uniform run-time branches, so a
handful of compilations cover every configuration. Loads and stores are in the input's
dtype, arithmetic in ``float32`` (``float64`` for ``float64`` inputs), compiled without fused
multiply-add (``enable_fp_fusion=False``) and with IEEE division (``tl.div_rn``), so the
forward repeats the reference's roundings and spikes match it exactly.

* forward: reads ``X``, writes ``O``, ``U[T]`` and the fired mask, and sums a per-layer MP-Init
  statistic per program (per-channel statistics are summed from ``U[T]`` with PyTorch ops);
* backward: reads ``X`` again and recomputes ``H[t]`` and ``dH/dk[t]`` into two
  ``[T_PAD, BLOCK]`` register tiles (``T_PAD`` the next power of two of ``T``), then runs the
  adjoint from ``t = T`` down, reading ``dL/dO[t]`` and writing ``dL/dX[t]`` (equations in
  :mod:`.fused`). Row ``t`` of a tile is selected with ``where`` + ``sum`` (exact: the other
  rows add zeros). Constants' gradients are per-program sums (per-layer constants) or
  per-neuron values, summed with :func:`~.layout.param_grads`.

DRAM traffic is therefore ``X`` + ``O`` forward and ``X`` + ``dL/dO`` + ``dL/dX`` backward.
Large ``T`` shrinks ``BLOCK`` to keep the tiles in registers (slower, still exact).

Example (on a CUDA machine with Triton)::

    x = torch.randn(4, 16, 128, 32, 32, device="cuda")
    res = stablespike.kernels.fused.lif_fused(x, torch.tensor(2.0, device="cuda"),
                                              torch.tensor(1.0, device="cuda"))
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import triton
import triton.language as tl

from .layout import (
    SCALAR,
    SURROGATE_CODES,
    compute_dtype,
    kernel_params,
    param_grads,
    stacked_statistic,
)

_FWD_BLOCK = 1024
_TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}


@triton.jit
def _param(ptr, offs, mask, L, P, MODE, CDT: tl.constexpr):
    """Load one constant for the neurons ``offs`` (modes of :mod:`.layout`)."""
    if MODE == 0:
        idx = offs * 0
    elif MODE == 1:
        idx = (offs // L) % P
    elif MODE == 2:
        idx = offs % L
    else:
        idx = offs
    return tl.load(ptr + idx, mask=mask, other=1.0).to(CDT)


@triton.jit
def _divide(a, b, F64: tl.constexpr):
    """IEEE division (``/`` on float32 is approximate in Triton)."""
    if F64:
        return a / b
    else:
        return tl.div_rn(a, b)


# N stays specialised (divisibility by 16 lets Triton vectorise the loads of x[t] = x + t * N)
_RUNTIME_FWD = ["T", "L", "P", "MODE_K", "MODE_V", "MODE_U", "SCALE", "DECAY", "SOFT", "STAT"]


@triton.jit(do_not_specialize=_RUNTIME_FWD)
def _lif_fwd_kernel(
    x_ptr, k_ptr, vth_ptr, v0_ptr, out_ptr, vlast_ptr, fired_ptr, stat_ptr,
    T, N, L, P, MODE_K, MODE_V, MODE_U, SCALE, DECAY, SOFT, STAT,
    CDT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = _param(k_ptr, offs, mask, L, P, MODE_K, CDT)
    th = _param(vth_ptr, offs, mask, L, P, MODE_V, CDT)
    u = _param(v0_ptr, offs, mask, L, P, MODE_U, CDT)
    fired = tl.zeros([BLOCK], dtype=CDT)
    for t in range(T):
        base = tl.cast(t, tl.int64) * N
        xt = tl.load(x_ptr + base + offs, mask=mask, other=0.0).to(CDT)
        if DECAY:
            h = u + (xt - u) * k
        else:
            h = u * (1.0 - k) + xt
        s = (h >= th).to(CDT)
        if SCALE:
            o = th * s
        else:
            o = s
        tl.store(out_ptr + base + offs, o.to(out_ptr.dtype.element_ty), mask=mask)
        if SOFT:
            u = h - th * s
        else:
            u = h * (1.0 - s)
        fired = tl.maximum(fired, s)
    tl.store(vlast_ptr + offs, u.to(vlast_ptr.dtype.element_ty), mask=mask)
    tl.store(fired_ptr + offs, (fired != 0.0).to(fired_ptr.dtype.element_ty), mask=mask)
    if STAT:  # MP-Init's statistic of this program's neurons: [3, programs] float64 partial sums
        spiked = (fired != 0.0) & mask
        finite = (u - u) == 0.0  # false for NaN and +-inf
        use = spiked & finite
        programs = tl.num_programs(0)
        tl.store(stat_ptr + pid, tl.sum(tl.where(use, u.to(tl.float64), 0.0), axis=0))
        tl.store(stat_ptr + programs + pid, tl.sum(use.to(tl.float64), axis=0))
        tl.store(stat_ptr + 2 * programs + pid, tl.sum((spiked & ~finite).to(tl.float64), axis=0))


@triton.jit
def _store_grad(ptr, acc, offs, mask, MODE):
    """Per-program sum (per-layer constant) or one value per neuron."""
    if MODE == 0:
        tl.store(ptr + tl.program_id(0), tl.sum(tl.where(mask, acc, 0.0), axis=0))
    else:
        tl.store(ptr + offs, acc, mask=mask)


_RUNTIME_BWD = [
    "T", "L", "P", "MODE_K", "MODE_V", "MODE_U",
    "DECAY", "SOFT", "DETACH", "HAS_GV", "NEED_GX", "NEED_GU",
]  # fmt: skip


@triton.jit(do_not_specialize=_RUNTIME_BWD)
def _lif_bwd_kernel(
    go_ptr, gv_ptr, x_ptr, k_ptr, vth_ptr, v0_ptr, gx_ptr, gk_ptr, gvth_ptr, gu_ptr,
    T, N, L, P, MODE_K, MODE_V, MODE_U, DECAY, SOFT, DETACH, HAS_GV, NEED_GX, NEED_GU,
    SURR: tl.constexpr, CDT: tl.constexpr, F64: tl.constexpr,
    T_PAD: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = _param(k_ptr, offs, mask, L, P, MODE_K, CDT)
    th = _param(vth_ptr, offs, mask, L, P, MODE_V, CDT)
    inv_th = _divide(tl.full([BLOCK], 1.0, CDT), th, F64)
    u = _param(v0_ptr, offs, mask, L, P, MODE_U, CDT)
    rows = tl.arange(0, T_PAD)[:, None]
    h_tile = tl.zeros([T_PAD, BLOCK], dtype=CDT)
    d_tile = tl.zeros([T_PAD, BLOCK], dtype=CDT)
    # 1. recompute H[t] and dH/dk[t]
    for t in range(T):
        xt = tl.load(x_ptr + tl.cast(t, tl.int64) * N + offs, mask=mask, other=0.0).to(CDT)
        if DECAY:
            d = xt - u
            h = u + d * k
        else:
            d = -u
            h = u * (1.0 - k) + xt
        h_tile = tl.where(rows == t, h[None, :], h_tile)
        d_tile = tl.where(rows == t, d[None, :], d_tile)
        s = (h >= th).to(CDT)
        if SOFT:
            u = h - th * s
        else:
            u = h * (1.0 - s)
    # 2. the adjoint a = dL/dU[t], from t = T down
    if HAS_GV:
        a = tl.load(gv_ptr + offs, mask=mask, other=0.0).to(CDT)
    else:
        a = tl.zeros([BLOCK], dtype=CDT)
    acc_k = tl.zeros([BLOCK], dtype=CDT)
    acc_v = tl.zeros([BLOCK], dtype=CDT)
    for i in range(T):
        t = T - 1 - i
        base = tl.cast(t, tl.int64) * N
        h = tl.sum(tl.where(rows == t, h_tile, 0.0), axis=0)
        d = tl.sum(tl.where(rows == t, d_tile, 0.0), axis=0)
        g = tl.load(go_ptr + base + offs, mask=mask, other=0.0).to(CDT)
        s = (h >= th).to(CDT)
        # dO/dH, dO/dVthr; Vthr dS/dH, Vthr dS/dVthr, H dS/dH, H dS/dVthr of the reset's spike
        if SURR == 1:  # AS-SG
            xa = h - th
            w = ((xa > -0.5) & (xa < 0.5)).to(CDT)
            do_dh = w
            do_dv = -w
            t_ds_dh = th * w
            t_ds_dv = -th * w
            h_ds_dh = h * w
            h_ds_dv = -h * w
        else:
            r = _divide(h, th, F64)
            w = ((r > 0.5) & (r < 1.5)).to(CDT)
            if SURR == 0:  # TrSG: O = Vthr * S
                do_dh = w
                do_dv = s - r * w
            else:  # RS-SG: O = S, dS/dH = w / Vthr, dS/dVthr = -(r / Vthr) w
                do_dh = w * inv_th
                do_dv = -(r * inv_th) * w
            t_ds_dh = w
            t_ds_dv = -r * w
            h_ds_dh = r * w
            h_ds_dv = -(r * r) * w
        if SOFT:
            if DETACH:
                du_dh = tl.full([BLOCK], 1.0, CDT)
                du_dv = -s
            else:
                du_dh = 1.0 - t_ds_dh
                du_dv = -s - t_ds_dv
        else:
            if DETACH:
                du_dh = 1.0 - s
                du_dv = tl.zeros([BLOCK], dtype=CDT)
            else:
                du_dh = (1.0 - s) - h_ds_dh
                du_dv = -h_ds_dv
        g_h = g * do_dh + a * du_dh
        acc_v += g * do_dv + a * du_dv
        acc_k += g_h * d
        if NEED_GX:
            if DECAY:
                gx = g_h * k
            else:
                gx = g_h
            tl.store(gx_ptr + base + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        a = g_h * (1.0 - k)
    _store_grad(gk_ptr, acc_k, offs, mask, MODE_K)
    _store_grad(gvth_ptr, acc_v, offs, mask, MODE_V)
    if NEED_GU:
        _store_grad(gu_ptr, a, offs, mask, MODE_U)


def _bwd_block(t_pad: int) -> int:
    """Neurons per backward program: two ``[T_PAD, BLOCK]`` tiles of about 2048 values each."""
    return max(32, min(512, 2048 // t_pad))


def _check(x: torch.Tensor) -> None:
    # Triton's interpreter (TRITON_INTERPRET=1) runs the kernels on CPU tensors, for testing
    if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(f"the Triton LIF kernels need CUDA tensors, got device {x.device}")
    if x[0].numel() >= 2**31:
        raise ValueError(
            f"the Triton LIF kernels index one step with 32-bit offsets; got {x[0].numel()} "
            "neurons per step (split the batch)"
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

    Like :func:`.cpu.forward`. A per-layer statistic (``stat_shape`` all ones) is summed by the
    kernel, one float64 partial sum per program; other shapes are summed from ``U[T]`` with
    PyTorch ops.
    """
    _check(x)
    cdt = compute_dtype(x.dtype)
    lay, (kf, vf, uf) = kernel_params(x.shape[1:], (k, vth, v0), cdt)
    xc = x.detach().contiguous()
    T, n = x.shape[0], lay.rows * lay.cols
    out = torch.empty_like(xc)
    v_last = torch.empty(x.shape[1:], dtype=x.dtype, device=x.device)
    fired = torch.empty(x.shape[1:], dtype=torch.uint8, device=x.device)
    programs = triton.cdiv(n, _FWD_BLOCK)
    in_kernel = stat_shape is not None and all(int(d) == 1 for d in stat_shape)
    # each program writes its own column (no fill needed); without the statistic: a placeholder
    parts = torch.empty((3, programs if in_kernel else 1), dtype=torch.float64, device=x.device)
    if n > 0:
        _lif_fwd_kernel[(programs,)](
            xc, kf, vf, uf, out, v_last, fired, parts,
            T, n, lay.cols, lay.period,
            *lay.modes, int(surrogate == "trsg"), int(decay_input), int(reset == "soft"),
            int(in_kernel), _TL_DTYPES[cdt], _FWD_BLOCK,
            num_warps=4, enable_fp_fusion=False,
        )  # fmt: skip
    fired = fired.view(torch.bool)
    if stat_shape is None:
        stat = torch.empty(0, dtype=torch.float64, device=x.device)
    elif in_kernel:
        stat = parts.sum(1).reshape((3, *stat_shape))
    else:
        stat = stacked_statistic(v_last, fired, stat_shape)
    return out, v_last, fired, stat


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
    _check(x)
    cdt = compute_dtype(x.dtype)
    lay, (kf, vf, uf) = kernel_params(x.shape[1:], (k, vth, v0), cdt)
    xc = x.detach().contiguous()
    go = grad_out.detach().contiguous()
    gv = None if grad_v is None else grad_v.detach().contiguous()
    T, n = x.shape[0], lay.rows * lay.cols
    t_pad = triton.next_power_of_2(T)
    block = _bwd_block(t_pad)
    programs = triton.cdiv(n, block)
    gx = torch.empty_like(xc) if need_gx else xc.new_empty(0)

    def grad_buffer(mode: int) -> torch.Tensor:  # the kernel writes every entry it is asked for
        return torch.empty(programs if mode == SCALAR else n, dtype=cdt, device=x.device)

    bufs = [grad_buffer(m) for m in lay.modes]
    if n > 0:
        _lif_bwd_kernel[(programs,)](
            go, xc if gv is None else gv, xc, kf, vf, uf, gx if need_gx else xc, *bufs,
            T, n, lay.cols, lay.period, *lay.modes,
            int(decay_input), int(reset == "soft"), int(detach_reset),
            int(gv is not None), int(need_gx), int(need_gv0),
            SURROGATE_CODES[surrogate], _TL_DTYPES[cdt], cdt == torch.float64, t_pad, block,
            num_warps=max(1, min(4, block // 32)), enable_fp_fusion=False,
        )  # fmt: skip
    gk, gvth, gv0 = param_grads(bufs, lay, (k, vth, v0), (True, True, need_gv0))
    return gx, gk, gvth, gv0
