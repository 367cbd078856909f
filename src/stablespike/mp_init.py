"""MP-Init as a reusable piece: put membrane-potential initialisation on any LIF-type module.

A module that mixes in :class:`MPInitMixin` and calls :meth:`~MPInitMixin.init_mp` in its
``__init__`` gets a persistent buffer ``mp_mean`` (saved, loaded and moved with the model). Its
forward then starts from ``U[0] = mp_initial(x[0])`` and, after the sequence, calls
``mp_observe(U[T], fired)``; in training mode that updates ``mp_mean`` as docs/METHOD.md §2.2 says
(``r <- 0.9 r + 0.1 m``, ``m`` the mean of ``U[T]`` over neurons that fired; averaged over all
ranks under ``torch.distributed``). Nothing is updated in eval mode.

Example (a plain LIF with fixed constants, made MP-Init aware)::

    import torch
    from torch import nn
    from stablespike import MPInitMixin

    class MyLIF(MPInitMixin, nn.Module):
        def __init__(self):
            super().__init__()
            self.init_mp(momentum=0.1)

        def forward(self, x):                      # x: [T, B, ...]
            v = self.mp_initial(x[0])
            fired = torch.zeros_like(x[0], dtype=torch.bool)
            out = []
            for xt in x:
                v = v + (xt - v) / 2.0
                s = (v >= 1.0).to(x.dtype)
                v = v - s
                fired |= s.bool()
                out.append(s)
            self.mp_observe(v, fired)
            return torch.stack(out)
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist

from .functional.mp_statistic import (
    MPStatistic,
    all_reduce_statistic,
    mp_batch_statistic,
    mp_update_,
)
from .kernels.ops import snapshot


def channel_view(p: torch.Tensor, step_ndim: int) -> torch.Tensor:
    """View a per-channel tensor ``[C]`` so it broadcasts to one step ``[B, C, *spatial]``.

    0-d tensors are returned unchanged.
    """
    if p.dim() == 0:
        return p
    return p.view((p.shape[0],) + (1,) * (step_ndim - 2))


class MPInitMixin:
    """Adds MP-Init's ``mp_mean`` buffer and its update to an ``nn.Module`` subclass."""

    mp_mean: torch.Tensor

    def init_mp(
        self,
        *,
        enabled: bool = True,
        momentum: float = 0.1,
        channels: int | None = None,
        process_group: dist.ProcessGroup | None = None,
    ) -> None:
        """Register ``mp_mean`` (scalar, or ``[channels]``) and set the update's momentum."""
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"mp_momentum must be in (0, 1], got {momentum}")
        self.mp_enabled = bool(enabled)
        self.mp_momentum = float(momentum)
        self.mp_process_group = process_group
        shape = () if channels is None else (channels,)
        self.register_buffer("mp_mean", torch.zeros(shape), persistent=True)  # type: ignore[attr-defined]
        # non-finite values counted since the count was last read on the host, and the calls
        self._mp_pending: torch.Tensor | None = None
        self._mp_calls = 0

    def mp_initial(self, like: torch.Tensor) -> torch.Tensor:
        """The initial potential ``U[0]`` for one step shaped like ``like`` (``[B, C, ...]``)."""
        if not self.mp_enabled:
            return torch.zeros_like(like)
        r = channel_view(snapshot(self.mp_mean), like.dim()).to(like.dtype)
        return r.expand_as(like)

    def mp_observes(self) -> bool:
        """Whether the next sequence updates ``mp_mean`` (MP-Init on, training mode)."""
        return self.mp_enabled and self.training  # type: ignore[attr-defined]

    def mp_statistic_shape(self, step_ndim: int) -> tuple[int, ...]:
        """Shape of the statistic for a step of ``step_ndim`` dims: ``()`` or ``(C, 1, ...)``."""
        return tuple(channel_view(self.mp_mean, step_ndim).shape)

    def mp_observe(
        self, v_last: torch.Tensor, fired: torch.Tensor, stat: MPStatistic | None = None
    ) -> None:
        """Update ``mp_mean`` from one sequence's ``U[T]`` and fired mask (training mode only).

        ``stat`` is the batch statistic when the caller already has it (a backend returns it
        as ``LIFSequence.mp_stat``), in a shape with as many values as ``mp_mean``.
        """
        if not self.mp_observes():
            return
        if stat is None:
            channel_dim = None if self.mp_mean.dim() == 0 else 1
            stat = mp_batch_statistic(v_last, fired, channel_dim)
        else:
            stat = MPStatistic(*(t.reshape(self.mp_mean.shape) for t in stat))
        stat = all_reduce_statistic(stat, self.mp_process_group)
        # the warning needs the count on the host: skipped inside a compiled graph
        if not torch.compiler.is_compiling():
            self._mp_count_nonfinite(stat.nonfinite.sum())
        mp_update_(self.mp_mean, stat, self.mp_momentum)

    mp_warn_every: int | None = None
    """Training calls between reads of the non-finite count on the host (which wait for the
    device): ``None`` reads it every call on the CPU and every 100 calls on a GPU, so that MP-Init
    adds no synchronisation to most GPU steps; the warning then reports the calls' total."""

    def _mp_count_nonfinite(self, count: torch.Tensor) -> None:
        pending = self._mp_pending
        pending = count if pending is None else pending.to(count.device) + count
        calls = self._mp_calls + 1
        every = self.mp_warn_every or (1 if count.device.type == "cpu" else 100)
        if calls < every:
            self._mp_pending, self._mp_calls = pending, calls
            return
        self._mp_pending, self._mp_calls = None, 0
        total = int(pending)
        if total:
            span = "" if calls == 1 else f" in the last {calls} training calls"
            warnings.warn(
                f"{type(self).__name__}: {total} non-finite membrane potentials were excluded "
                f"from the MP-Init statistic{span}",
                RuntimeWarning,
                stacklevel=4,
            )
