"""Data-parallel training with ``torchrun``: process setup, model wrapping, small collectives.

``torchrun --nproc-per-node N -m stablespike.cli train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous variables; :func:`setup_distributed` reads them and joins the
process group (NCCL on CUDA, gloo on CPU). Without them it returns a single-process context and
every helper here is a no-op, so the training loop has one code path.

Example:
    >>> ctx = setup_distributed("cpu")           # not launched by torchrun
    >>> ctx.world_size, ctx.is_main, ctx.device.type
    (1, True, 'cpu')
    >>> any_rank(False, ctx)
    False
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..core.errors import ConfigError, PeerError
from ..core.options import DEVICES

__all__ = [
    "DistContext",
    "all_gather_objects",
    "all_reduce_sum",
    "any_rank",
    "distributed_session",
    "is_peer_failure",
    "max_rank",
    "resolve_device",
    "setup_distributed",
    "teardown_distributed",
    "unwrap",
    "wrap_model",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` and its ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialized_here: bool = False

    @classmethod
    def single(cls, device: str | torch.device = "cpu") -> DistContext:
        """A one-process context on ``device`` (ignores ``torchrun``'s environment)."""
        return cls(0, 1, 0, torch.device(device))

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1


def resolve_device(preference: str, local_rank: int = 0) -> torch.device:
    """The device of ``--device auto|cpu|cuda`` (auto = cuda if available, else cpu).

    ``cuda`` without a CUDA device raises :class:`~stablespike.core.errors.ConfigError`; a CUDA
    device is ``cuda:local_rank`` (made the current one).
    """
    if preference not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {preference!r}")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but CUDA is not available")
    if preference == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def setup_distributed(device: str = "auto", timeout: float | None = None) -> DistContext:
    """Join the process group when launched by ``torchrun``; pick this process's device.

    ``timeout`` (seconds) bounds how long a collective waits for the other processes: a frozen
    or lost process then ends the job with an error instead of hanging its peers.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistContext(0, 1, 0, dev)
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    extra: dict[str, Any] = {"timeout": datetime.timedelta(seconds=timeout)} if timeout else {}
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **extra)
    return DistContext(rank, world_size, local_rank, dev, initialized_here=True)


def teardown_distributed(ctx: DistContext, *, completed: bool = True) -> None:
    """Leave the process group if :func:`setup_distributed` joined it.

    After a ``completed`` run every rank first waits at a barrier, so that no rank tears down
    its connections while another (rank 0 writing the summary, say) still uses the group:
    Gloo aborts a process whose peer vanished mid-shutdown. After a failure there is no barrier
    (the other ranks may never arrive).
    """
    if ctx.initialized_here and dist.is_initialized():
        if completed:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def distributed_session(
    device: str = "auto", timeout: float | None = None
) -> Iterator[DistContext]:
    """``with distributed_session(device) as ctx:`` joins the group and always leaves it.

    A block that completes ends at the barrier of :func:`teardown_distributed`; one that raises
    leaves without it. ``timeout``: see :func:`setup_distributed`.
    """
    ctx = setup_distributed(device, timeout)
    try:
        yield ctx
    except BaseException as err:
        teardown_distributed(ctx, completed=False)
        if ctx.distributed and is_peer_failure(err):
            first = re.sub(r"^\[[^\]]*\]\s*", "", str(err).strip().splitlines()[0])
            raise PeerError(
                f"another process of this job failed, was stopped or stopped responding "
                f"({first}); its own output says why. Resume from the last checkpoint once the "
                "job is fixed"
            ) from None
        raise
    teardown_distributed(ctx)


_PEER_SIGNS = (
    "gloo",
    "NCCL",
    "Connection closed by peer",
    "Connection reset by peer",
    "Timed out waiting",
    "Broken pipe",
)


def is_peer_failure(err: BaseException) -> bool:
    """True for the errors a collective raises when another process died or froze."""
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    return isinstance(err, RuntimeError) and any(sign in str(err) for sign in _PEER_SIGNS)


def wrap_model(model: nn.Module, ctx: DistContext, *, sync_bn: bool = False) -> nn.Module:
    """Move to the device; under DDP convert BatchNorm (``sync_bn``) and wrap in DDP.

    SyncBN uses ``torch.nn.SyncBatchNorm`` on CUDA and
    :class:`~stablespike.train.syncbn.GlooSyncBatchNorm` on CPU (torch's needs a GPU).
    """
    if sync_bn and ctx.distributed:
        if ctx.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            from .syncbn import convert_sync_batchnorm

            model = convert_sync_batchnorm(model)
    model = model.to(ctx.device)
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DDP and ``torch.compile`` wrappers (or the model itself)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):  # torch.compile
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (no-op with one process); returns it."""
    if ctx.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when ``flag`` is true on at least one rank (all ranks get the same answer)."""
    if not ctx.distributed:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    return bool(all_reduce_sum(t, ctx).item() > 0)


def max_rank(value: int, ctx: DistContext) -> int:
    """The largest ``value`` over all ranks (all ranks get the same answer)."""
    if not ctx.distributed:
        return int(value)
    t = torch.tensor([float(value)], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
