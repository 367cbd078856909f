"""Spike functions with rectangular surrogate gradients: TrSG, AS-SG and RS-SG.

All three fire with the Heaviside step ``S = 1[H >= Vthr]`` and use a rectangle of width 1 as the
surrogate derivative; they differ in the argument of the rectangle and in the output.

With ``r = H / Vthr`` and ``w = 1[1/2 < r < 3/2]``:

* ``"trsg"`` (threshold-robust, the default): output ``O = Vthr * S``;
  ``dO/dH = w`` and ``dO/dVthr = S - r * w``. The window scales with ``Vthr`` while the gradient
  magnitude does not.
* ``"rs"`` (relative scale): output ``S``; ``dS/dH = w / Vthr``, ``dS/dVthr = -(H / Vthr^2) * w``.
* ``"as"`` (absolute scale): output ``S``; with ``w_a = 1[|H - Vthr| < 1/2]``,
  ``dS/dH = w_a`` and ``dS/dVthr = -w_a``.

Example:
    >>> import torch
    >>> from stablespike.functional import spike
    >>> h = torch.tensor([0.4, 0.9, 1.2, 2.0], requires_grad=True)
    >>> vth = torch.tensor(1.0, requires_grad=True)
    >>> out = spike(h, vth, "trsg")
    >>> out.detach().tolist()
    [0.0, 0.0, 1.0, 1.0]
    >>> out.sum().backward()
    >>> h.grad.tolist()
    [0.0, 1.0, 1.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import torch

SURROGATES: tuple[str, ...] = ("trsg", "as", "rs")
"""Names accepted by :func:`spike` and by ``TrLIF(surrogate=...)``."""


def check_surrogate(name: str) -> str:
    """Return ``name`` if it is a known surrogate, else raise ``ValueError`` naming the choices."""
    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; expected one of {', '.join(SURROGATES)}")
    return name


def scales_output(surrogate: str) -> bool:
    """True when the surrogate's forward output is ``Vthr * S`` (TrSG) rather than ``S``."""
    return surrogate == "trsg"


def surrogate_grads(
    h: torch.Tensor, vth: torch.Tensor, s: torch.Tensor, surrogate: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Local derivatives ``(d out / d H, d out / d Vthr)`` of one spike function, elementwise.

    ``s`` is the forward spike ``1[H >= Vthr]``. The returned tensors broadcast to ``h``'s shape;
    the ``Vthr`` derivative is not yet reduced to ``vth``'s shape.
    """
    if surrogate == "as":
        x = h - vth
        w = ((x > -0.5) & (x < 0.5)).to(h.dtype)
        return w, -w
    r = h / vth
    w = ((r > 0.5) & (r < 1.5)).to(h.dtype)
    if surrogate == "trsg":
        return w, s - r * w
    if surrogate == "rs":
        return w / vth, -(r / vth) * w
    raise ValueError(f"unknown surrogate {surrogate!r}; expected one of {', '.join(SURROGATES)}")


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, vth: torch.Tensor, surrogate: str) -> torch.Tensor:
        s = (h >= vth).to(h.dtype)
        ctx.save_for_backward(h, vth, s)
        ctx.surrogate = surrogate
        return vth * s if scales_output(surrogate) else s

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, vth, s = ctx.saved_tensors
        d_h, d_vth = surrogate_grads(h, vth, s, ctx.surrogate)
        grad_h = grad * d_h if ctx.needs_input_grad[0] else None
        grad_vth = None
        if ctx.needs_input_grad[1]:
            grad_vth = (grad * d_vth).sum_to_size(vth.shape)
        return grad_h, grad_vth, None


def spike(h: torch.Tensor, vth: torch.Tensor, surrogate: str = "trsg") -> torch.Tensor:
    """Fire: ``Vthr * 1[H >= Vthr]`` for ``"trsg"``, ``1[H >= Vthr]`` for ``"as"``/``"rs"``.

    ``vth`` must broadcast to ``h``. Gradients follow the surrogate named (see module docs).
    """
    check_surrogate(surrogate)
    return _Spike.apply(h, vth, surrogate)
