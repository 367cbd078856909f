"""Optimizer (SGD / AdamW) and the per-step learning-rate schedule (warm-up + cosine).

Example:
    >>> import torch
    >>> from stablespike.train.config import TrainConfig
    >>> cfg = TrainConfig(optimizer="sgd", lr=0.1, epochs=2, warmup_epochs=1).validate()
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = build_optimizer(model, cfg)
    >>> sched = build_scheduler(opt, cfg, steps_per_epoch=10)
    >>> [round(lr_factor(s, total=20, warmup=10, floor=0.0), 3) for s in (0, 5, 10, 15, 20)]
    [0.1, 0.6, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.decay_scope == "all" or cfg.weight_decay == 0:
        return [{"params": [p for _, p in params], "weight_decay": cfg.weight_decay}]
    decay = [p for _, p in params if p.dim() > 1]
    rest = [p for _, p in params if p.dim() <= 1]
    return [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay) or AdamW (``betas=(momentum, 0.999)``) on the trainable params.

    With ``decay_scope="weights"`` only conv/linear weights (``dim > 1``) get weight decay.
    """
    groups = _param_groups(model, cfg)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))


def lr_factor(step: int, *, total: int, warmup: int, floor: float, cosine: bool = True) -> float:
    """Multiplier of the peak lr at ``step`` (0-based, the lr used for the step's update).

    Linear warm-up ``(step + 1) / warmup`` for the first ``warmup`` steps, then half a cosine from
    1 down to ``floor`` at ``total`` (or constant 1 with ``cosine=False``).
    """
    if step < warmup:
        return (step + 1) / warmup
    if not cosine:
        return 1.0
    span = max(total - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following :func:`lr_factor`; call ``step()`` after every batch."""
    total = cfg.epochs * steps_per_epoch
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    floor = cfg.min_lr / cfg.lr
    cosine = cfg.schedule == "cosine"
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, total=total, warmup=warmup, floor=floor, cosine=cosine),
    )
