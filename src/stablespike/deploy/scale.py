"""Pending scales: the factor a value still has to be multiplied by after neurons emit ``S``.

Once a TrSG neuron emits ``S`` instead of ``Vthr * S``, every value downstream of it is
``true = factor * stored`` until a layer absorbs ``factor`` into its weights. A factor is kept in a
compact, exact form:

* a ``0-d`` tensor when it is the same everywhere (one threshold per layer), or
* a tensor with the value's number of dims, of size 1 along every dim where it is constant
  (a per-channel threshold on ``[T, B, C, H, W]`` is ``[1, 1, C, 1, 1]``).

:func:`compress` brings any full-size factor map to that form, so rules can compute the factor of
a reshaped value by applying the reshape to the expanded factor (:func:`expand_to`).

Example:
    >>> import torch
    >>> from stablespike.deploy.scale import channel_vector, compress
    >>> f = compress(torch.tensor([1.0, 2.0]).view(1, 2, 1).expand(3, 2, 4))
    >>> tuple(f.shape)
    (1, 2, 1)
    >>> channel_vector(f, 1).tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


class Refusal(Exception):
    """Internal: a pending scale cannot pass a node; ``reason`` says why, ``hint`` what to do.

    A propagation rule raises it with the reason only; the planner turns it into a
    :class:`~stablespike.core.errors.FoldError` that also names the neuron(s) and the graph node.
    """

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@dataclass(frozen=True)
class Pending:
    """A value's pending ``factor`` and the neurons (module names) whose ``Vthr`` it carries."""

    factor: torch.Tensor
    sources: tuple[str, ...]


def merge_sources(pendings: Sequence[Pending]) -> tuple[str, ...]:
    """The union of the neurons behind ``pendings``, in first-seen order."""
    return tuple(dict.fromkeys(s for p in pendings for s in p.sources))


def compress(factor: torch.Tensor) -> torch.Tensor:
    """The compact form of ``factor``: size 1 along constant dims, ``0-d`` when uniform."""
    for dim in range(factor.dim()):
        first = factor.narrow(dim, 0, 1)
        if torch.equal(factor, first.expand_as(factor)):
            factor = first
    return factor.reshape(()) if factor.numel() == 1 else factor.contiguous()


def fit_ndim(factor: torch.Tensor, ndim: int) -> torch.Tensor:
    """Prepend size-1 dims so a non-uniform ``factor`` has ``ndim`` dims (broadcasting rule)."""
    if factor.dim() == 0 or factor.dim() == ndim:
        return factor
    if factor.dim() > ndim:
        raise Refusal(f"a scale with {factor.dim()} dims cannot apply to a {ndim}-d value")
    return factor.reshape((1,) * (ndim - factor.dim()) + tuple(factor.shape))


def expand_to(factor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """The full-size (contiguous) factor map of a value of ``shape``."""
    return fit_ndim(factor, len(shape)).expand(tuple(shape)).contiguous()


def is_one(factor: torch.Tensor) -> bool:
    """True when ``factor`` is exactly 1 everywhere (nothing left to fold)."""
    return bool(torch.all(factor == 1))


def same_factor(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two compact factors describe the same scale (broadcasting their dims)."""
    ndim = max(a.dim(), b.dim())
    a, b = fit_ndim(a, ndim), fit_ndim(b, ndim)
    shape = torch.broadcast_shapes(a.shape, b.shape)
    return torch.equal(a.expand(shape), b.expand(shape))


def uniform_value(factors: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The common ``0-d`` factor when all ``factors`` are ``0-d`` and equal, else ``None``."""
    if all(f.dim() == 0 for f in factors) and all(torch.equal(f, factors[0]) for f in factors):
        return factors[0]
    return None


def channel_vector(factor: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """The per-channel values of ``factor`` along ``channel_dim`` (``0-d`` stays ``0-d``).

    Raises :class:`Refusal` when the factor also varies along another dim: such a scale cannot be
    absorbed by the input channels of a layer.
    """
    if factor.dim() == 0:
        return factor
    channel_dim %= factor.dim()
    varying = [d for d, n in enumerate(factor.shape) if n != 1 and d != channel_dim]
    if varying:
        raise Refusal(
            f"the scale varies along dim(s) {varying} of the input, not only along the channel "
            f"dim {channel_dim}, so the layer's input channels cannot absorb it"
        )
    return factor.reshape(-1)


def neuron_factor(threshold: torch.Tensor, ndim: int | None) -> torch.Tensor:
    """The compact factor of a neuron's output: ``Vthr`` (``0-d``, or ``[C]`` on dim 2).

    ``ndim`` is the number of dims of the neuron's output ``[T, B, C, ...]``; needed only for a
    per-channel threshold (``None`` when no example input was given).
    """
    vthr = threshold.detach().clone()
    if vthr.dim() == 0:
        return vthr
    if ndim is None:
        raise Refusal(
            "a per-channel threshold has to be mapped onto the channels of later layers",
            "pass example_input so that the shapes of the graph are known",
        )
    return compress(vthr.view((1, 1, -1) + (1,) * (ndim - 3)))
