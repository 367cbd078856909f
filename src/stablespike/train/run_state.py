"""The resumable state of a run and its checkpoint payload.

:class:`Progress` counts what is done (epochs, steps within the epoch, best accuracy, the
per-epoch history, time and images); :func:`make_payload` bundles it with the model, optimizer,
scheduler, scaler and the per-rank RNG states and running train sums, and :func:`restore_payload`
puts everything back, so a resumed run continues bit-exactly where the checkpoint was taken.

Example:
    >>> p = Progress(epoch=2, step=10)
    >>> Progress.from_dict(p.to_dict()) == p
    True
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core import __version__
from ..core.errors import CheckpointError
from .checkpoint import load_model_state
from .config import TrainConfig
from .distributed import DistContext, all_gather_objects, unwrap
from .seeding import rng_state, set_rng_state

__all__ = ["Progress", "make_payload", "restore_payload"]


@dataclass
class Progress:
    """Counters of a run; ``epoch`` = completed epochs, ``step`` = completed steps of the next."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    best_accuracy: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    train_images: int = 0
    skipped_steps: int = 0
    epoch_seconds: float = 0.0
    epoch_images: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a checkpoint."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Progress:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def make_payload(
    *,
    cfg: TrainConfig,
    ctx: DistContext,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    progress: Progress,
    epoch_meter: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Everything a checkpoint holds. A collective under DDP: call it on every rank."""
    ranks = all_gather_objects({"rng": rng_state(), "epoch_meter": epoch_meter}, ctx)
    inner = unwrap(model)
    return {
        "stablespike_version": __version__,
        "run_id": run_id,
        "config": cfg.to_dict(),
        "model_config": dict(getattr(inner, "config", {}) or {}),
        "model": inner.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else {},
        "progress": progress.to_dict(),
        "ranks": ranks,
        "world_size": ctx.world_size,
        "metrics": metrics,
    }


def restore_model(model: nn.Module, ckpt: dict[str, Any], source: str) -> None:
    """Load the checkpoint's weights and buffers (MP-Init means included) into ``model``.

    The neuron backend is a runtime choice (same numbers): a checkpoint trained with one
    backend loads into a model that uses another.
    """
    inner = unwrap(model)
    saved = ckpt.get("model_config")
    current = getattr(inner, "config", None)
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        mine, theirs = current.get("neuron_kwargs"), saved.get("neuron_kwargs")
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping) and "backend" in mine:
            saved = {**saved, "neuron_kwargs": {**theirs, "backend": mine["backend"]}}
    load_model_state(inner, ckpt["model"], saved_config=saved, source=source)


def restore_payload(
    ckpt: dict[str, Any],
    *,
    ctx: DistContext,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    source: str = "checkpoint",
) -> tuple[Progress, dict[str, Any]]:
    """Restore optimizer, scheduler, scaler and this rank's RNG; returns progress and train sums.

    The model is restored separately (:func:`restore_model`, before DDP wrapping). A state that
    does not fit raises :class:`CheckpointError` naming the part.
    """
    part = "optimizer"
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        part = "scheduler"
        scheduler.load_state_dict(ckpt["scheduler"])
        part = "gradient scaler"
        if scaler is not None and scaler.is_enabled() and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        part = "per-process state (ranks)"
        ranks = ckpt["ranks"]
        if not ranks or not all(
            isinstance(r, dict) and {"rng", "epoch_meter"} <= set(r) for r in ranks
        ):
            raise ValueError("expected one entry with 'rng' and 'epoch_meter' per process")
        part = "progress"
        progress = Progress.from_dict(ckpt["progress"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{source}: cannot restore the {part}: {text}") from None
    if len(ranks) != ctx.world_size:
        warnings.warn(
            f"the checkpoint was written by {len(ranks)} process(es), this run has "
            f"{ctx.world_size}: the data order is unchanged but random streams (dropout) are "
            "not restored exactly",
            RuntimeWarning,
            stacklevel=2,
        )
    mine = ranks[ctx.rank % len(ranks)]
    try:
        set_rng_state(mine["rng"])
        meter = dict(mine["epoch_meter"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as err:
        raise CheckpointError(
            f"{source}: cannot restore the random number generators: {err}"
        ) from None
    return progress, meter
