"""MP-Init statistics (docs/METHOD.md §2.2): the running mean of the last-step membrane potential.

For a sequence with final potential ``U[T]`` (after the last reset) and the mask ``fired`` of
neurons that spiked at least once::

    m = mean(U[T][fired])          (0 if no neuron fired)
    r <- (1 - momentum) * r + momentum * m

Non-finite potentials are excluded from ``m`` and counted, so a NaN or inf never reaches ``r``.
With ``channel_dim`` the statistic is kept per channel. Under ``torch.distributed`` the sums and
counts are all-reduced before the division, so every replica computes the statistic of the global
batch and holds the same ``r``.

Example:
    >>> import torch
    >>> from stablespike.functional import mp_batch_statistic, mp_update_
    >>> v_last = torch.tensor([0.2, 0.4, 5.0])
    >>> fired = torch.tensor([True, True, False])
    >>> stat = mp_batch_statistic(v_last, fired)
    >>> r = torch.tensor(0.0)
    >>> _ = mp_update_(r, stat, momentum=0.1)
    >>> round(float(r), 6)
    0.03
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.distributed as dist


class MPStatistic(NamedTuple):
    """Sums and counts of one batch (per channel or scalar); ``nonfinite`` counts excluded values."""

    total: torch.Tensor
    count: torch.Tensor  # type: ignore[assignment]  # the field shadows tuple.count
    nonfinite: torch.Tensor


def mp_batch_statistic(
    v_last: torch.Tensor, fired: torch.Tensor, channel_dim: int | None = None
) -> MPStatistic:
    """Sum and count of ``v_last`` over neurons that fired and are finite.

    ``channel_dim`` keeps that dimension (per-channel statistic, shape ``[C]``); ``None`` reduces
    everything (0-d results).
    """
    if channel_dim is None:
        return grouped_statistic(v_last, fired, ())
    cd = channel_dim % v_last.dim()
    shape = tuple(s if d == cd else 1 for d, s in enumerate(v_last.shape))
    stat = grouped_statistic(v_last, fired, shape)
    return MPStatistic(*(t.reshape(-1) for t in stat))


def grouped_statistic(
    v_last: torch.Tensor, fired: torch.Tensor, shape: Sequence[int]
) -> MPStatistic:
    """The statistic summed over the neurons that share one entry of a tensor of ``shape``.

    ``shape`` broadcasts to ``v_last`` (``()`` per layer, ``(C, 1, 1)`` per channel of a
    ``[B, C, H, W]`` step); the results have that shape, in ``float64``.
    """
    v = v_last.detach()
    padded = (1,) * (v.dim() - len(shape)) + tuple(shape)
    if len(padded) != v.dim() or any(
        s != 1 and s != d for s, d in zip(padded, v.shape, strict=True)
    ):
        raise ValueError(
            f"statistic shape {tuple(shape)} does not broadcast to U[T] of shape {tuple(v.shape)}"
        )
    dims = [d for d, s in enumerate(padded) if s == 1]
    # a finite sum means every value is finite (NaN and inf propagate; an overflow of large
    # finite values only sends us down the exact path below): one pass, no masks allocated.
    # Reading it needs the host; on other devices and under torch.compile the branch-free exact
    # path is taken instead, with no synchronisation.
    all_finite = (
        v.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and bool(torch.isfinite(v.sum()))
    )
    finite = None if all_finite else torch.isfinite(v)
    use = fired if finite is None else fired & finite
    zero = torch.zeros((), dtype=v.dtype, device=v.device)

    def total(t: torch.Tensor) -> torch.Tensor:
        if dims:
            t = t.sum(dims, keepdim=True, dtype=torch.float64)
        return t.to(torch.float64).reshape(tuple(shape))

    count = total(use)
    bad = torch.zeros_like(count) if finite is None else total(fired & ~finite)
    return MPStatistic(total(torch.where(use, v, zero)), count, bad)


def all_reduce_statistic(stat: MPStatistic, group: dist.ProcessGroup | None = None) -> MPStatistic:
    """Sum the statistic over all ranks when ``torch.distributed`` runs with several processes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
        return stat
    packed = torch.stack([stat.total, stat.count, stat.nonfinite])
    dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
    return MPStatistic(packed[0], packed[1], packed[2])


def mp_update_(running: torch.Tensor, stat: MPStatistic, momentum: float = 0.1) -> torch.Tensor:
    """In place: ``running <- (1 - momentum) * running + momentum * m``; returns ``running``.

    ``m = total / count``, and 0 where nothing fired (``count == 0``).
    """
    mean = torch.where(stat.count > 0, stat.total / stat.count.clamp_min(1.0), 0.0)
    # through a view: torch.compile (AOT autograd, torch 2.13) drops in-place updates of a 0-d
    # float64 buffer made on the buffer itself, but keeps them when made through a view
    target = running.view(1) if running.dim() == 0 else running
    with torch.no_grad():
        target.mul_(1.0 - momentum).add_(
            mean.to(running.dtype).reshape(target.shape), alpha=momentum
        )
    return running
