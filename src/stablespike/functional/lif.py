"""The readable, per-step definition of the TrLIF neuron (docs/METHOD.md §1.2 and §3).

One step, input current ``X[t]``, previous potential ``U[t-1]``, ``k = 1 / tau``::

    charge   H = U + (X - U) * k          (decay_input=True)
             H = U * (1 - k) + X          (decay_input=False)
    fire     S = 1[H >= Vthr];  O = Vthr * S (TrSG) or S (AS-SG, RS-SG)
    reset    U = H - Vthr * S             (soft)
             U = H * (1 - S)              (hard)

Gradients flow through the reset unless ``detach_reset=True``, which detaches the spike ``S`` in
the reset term (``Vthr`` keeps its gradient there). This module is the reference every fused
kernel is tested against.

Example:
    >>> import torch
    >>> from stablespike.functional import lif_sequence
    >>> x = torch.tensor([[1.5], [1.5], [0.0]])          # T=3, one neuron
    >>> res = lif_sequence(x, tau=torch.tensor(2.0), threshold=torch.tensor(1.0))
    >>> res.output.flatten().tolist()                     # H = 0.75, 1.125, 0.0625
    [0.0, 1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .mp_statistic import MPStatistic, grouped_statistic
from .surrogate import check_surrogate, scales_output, spike

RESETS: tuple[str, ...] = ("soft", "hard")
"""Names accepted as ``reset``."""


def check_reset(name: str) -> str:
    """Return ``name`` if it is a known reset mode, else raise ``ValueError`` naming the choices."""
    if name not in RESETS:
        raise ValueError(f"unknown reset {name!r}; expected one of {', '.join(RESETS)}")
    return name


class LIFStep(NamedTuple):
    """Result of one step: output ``O[t]``, new potential ``U[t]``, spike ``S[t]`` and ``H[t]``."""

    output: torch.Tensor
    v: torch.Tensor
    spike: torch.Tensor
    h: torch.Tensor


class LIFSequence(NamedTuple):
    """Result of a sequence: outputs ``[T, ...]``, ``U[T]``, the "fired at any step" mask.

    ``h`` holds the pre-spike potentials ``H[1..T]`` when requested (else ``None``): a stacked
    copy of the values, which the outputs do not depend on (no gradient reaches it).
    ``mp_stat`` holds MP-Init's statistic of ``U[T]`` when requested with ``statistic_shape``
    (see :func:`~stablespike.functional.grouped_statistic`), else ``None``.
    """

    output: torch.Tensor
    v_last: torch.Tensor
    fired: torch.Tensor
    h: torch.Tensor | None = None
    mp_stat: MPStatistic | None = None


def lif_step(
    x: torch.Tensor,
    v: torch.Tensor,
    tau: torch.Tensor,
    threshold: torch.Tensor,
    *,
    surrogate: str = "trsg",
    decay_input: bool = True,
    reset: str = "soft",
    detach_reset: bool = False,
) -> LIFStep:
    """One LIF step from potential ``v`` with input ``x`` (all broadcastable to ``x``)."""
    k = 1.0 / tau
    h = v + (x - v) * k if decay_input else v * (1.0 - k) + x
    out = spike(h, threshold, surrogate)
    # the spike S as a differentiable tensor (TrSG outputs Vthr * S; (Vthr * 1) / Vthr == 1 exactly)
    s = out / threshold if scales_output(surrogate) else out
    s_reset = s.detach() if detach_reset else s
    if reset == "soft":
        if scales_output(surrogate) and not detach_reset:
            v_new = h - out
        else:
            v_new = h - threshold * s_reset
    else:
        v_new = h * (1.0 - s_reset)
    return LIFStep(out, v_new, s.detach(), h)


def lif_sequence(
    x: torch.Tensor,
    tau: torch.Tensor,
    threshold: torch.Tensor,
    v0: torch.Tensor | None = None,
    *,
    surrogate: str = "trsg",
    decay_input: bool = True,
    reset: str = "soft",
    detach_reset: bool = False,
    return_h: bool = False,
    statistic_shape: Sequence[int] | None = None,
) -> LIFSequence:
    """Run ``T = x.shape[0]`` LIF steps from ``U[0] = v0`` (0 if ``None``).

    ``tau``, ``threshold`` and ``v0`` broadcast to ``x[0]``. Returns outputs ``[T, ...]``, the
    final potential ``U[T]`` (after the last reset), and the bool mask of neurons that fired at
    least once. With ``statistic_shape`` (``()`` per layer, ``(C, 1, 1)`` per channel) it also
    returns MP-Init's statistic of ``U[T]`` in that shape (``mp_stat``; no gradient).
    """
    check_surrogate(surrogate)
    check_reset(reset)
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"expected a time-major tensor [T, ...] with T >= 1, got {tuple(x.shape)}")
    v = torch.zeros_like(x[0]) if v0 is None else v0.expand_as(x[0]).to(x.dtype)
    outs, hs = [], []
    fired = torch.zeros(x.shape[1:], dtype=torch.bool, device=x.device)
    for t in range(x.shape[0]):
        step = lif_step(
            x[t],
            v,
            tau,
            threshold,
            surrogate=surrogate,
            decay_input=decay_input,
            reset=reset,
            detach_reset=detach_reset,
        )
        v = step.v
        outs.append(step.output)
        hs.append(step.h)
        fired |= step.spike.bool()
    stat = None if statistic_shape is None else grouped_statistic(v, fired, statistic_shape)
    return LIFSequence(torch.stack(outs), v, fired, torch.stack(hs) if return_h else None, stat)
