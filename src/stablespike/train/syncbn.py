"""Synchronised BatchNorm that also works on CPU (gloo), for ``--sync-bn`` without a GPU.

``torch.nn.SyncBatchNorm`` only runs on GPUs. :class:`GlooSyncBatchNorm` computes the batch mean
and variance over the samples of all ranks with two ``all_reduce`` calls (sum, then the centred
sum of squares) and all-reduces the two gradient sums in the backward pass, so N processes with
B/N samples each compute the same normalisation and gradients as one process with B samples (up
to float rounding). Outside training, or without a process group, it is plain BatchNorm.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    >>> net = convert_sync_batchnorm(net)
    >>> type(net[1]).__name__
    'GlooSyncBatchNorm'
    >>> net(torch.randn(2, 1, 5, 5)).shape        # single process: plain BatchNorm
    torch.Size([2, 4, 3, 3])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["GlooSyncBatchNorm", "convert_sync_batchnorm"]


def _reduce_dims(x: torch.Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def _per_channel(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, *([1] * (x.dim() - 2)))


class _SyncBatchNormFn(torch.autograd.Function):
    """Normalise with the global batch statistics; returns ``(y, mean, biased var, count)``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                eps: float, group: Any) -> tuple[torch.Tensor, ...]:  # fmt: skip
        dims = _reduce_dims(x)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        packed = torch.cat([x.sum(dims), count])
        dist.all_reduce(packed, group=group)
        total = packed[-1]
        mean = packed[:-1] / total
        centred = x - _per_channel(mean, x)
        sq = centred.square().sum(dims)
        dist.all_reduce(sq, group=group)
        var = sq / total
        invstd = torch.rsqrt(var + eps)
        xhat = centred * _per_channel(invstd, x)
        y = xhat * _per_channel(weight, x) + _per_channel(bias, x)
        ctx.save_for_backward(xhat, invstd, weight, total)
        ctx.group = group
        return y, mean, var, total

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor, *_: Any) -> tuple[Any, ...]:
        xhat, invstd, weight, total = ctx.saved_tensors
        dims = _reduce_dims(gy)
        sum_dy = gy.sum(dims)
        sum_dy_xhat = (gy * xhat).sum(dims)
        grad_weight, grad_bias = sum_dy_xhat.clone(), sum_dy.clone()  # local: DDP averages them
        packed = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(packed, group=ctx.group)
        mean_dy, mean_dy_xhat = (packed / total).chunk(2)
        grad_x = _per_channel(weight * invstd, gy) * (
            gy - _per_channel(mean_dy, gy) - xhat * _per_channel(mean_dy_xhat, gy)
        )
        return grad_x, grad_weight, grad_bias, None, None


class GlooSyncBatchNorm(_BatchNorm):
    """BatchNorm over the samples of all ranks; any input ``[N, C, ...]``, any device."""

    def __init__(self, *args: Any, process_group: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _sync_active(self) -> bool:
        return (
            self.training
            and dist.is_available()
            and dist.is_initialized()
            and dist.get_world_size(self.process_group) > 1
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self._sync_active():
            return super().forward(input)
        if not self.affine:
            raise ValueError("GlooSyncBatchNorm needs affine=True under data parallelism")
        y, mean, var, total = _SyncBatchNormFn.apply(
            input, self.weight, self.bias, self.eps, self.process_group
        )
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), total.detach())
        return y

    @torch.no_grad()
    def _update_running_stats(
        self, mean: torch.Tensor, var: torch.Tensor, total: torch.Tensor
    ) -> None:
        assert self.running_mean is not None and self.running_var is not None  # tracked
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * total / (total - 1).clamp_min(1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


def convert_sync_batchnorm(module: nn.Module, process_group: Any = None) -> nn.Module:
    """Replace every ``BatchNorm*d`` in ``module`` by a :class:`GlooSyncBatchNorm` (same state)."""
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(module, GlooSyncBatchNorm):
        out = GlooSyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            process_group=process_group,
        )
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        if module.track_running_stats:
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, convert_sync_batchnorm(child, process_group))
    return out
