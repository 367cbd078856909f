"""``train(cfg)`` and ``resume(run_dir)``: build every part of a run from its config and run it.

Works the same in one process and under ``torchrun`` (DDP; only rank 0 writes files).

Example::

    from stablespike.train import TrainConfig, train, resume
    summary = train(TrainConfig(epochs=1, run_dir="runs/quick"))
    print(summary["final"]["accuracy"], summary["final"]["accuracy_per_timestep"])
    resume("runs/quick")          # after a crash: continues from runs/quick/last.pt
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .batches import TrainData
from .checkpoint import load_checkpoint
from .config import TrainConfig, config_diff
from .distributed import (
    DistContext,
    any_rank,
    distributed_session,
    wrap_model,
)
from .errors import CheckpointError, RunDirError
from .fileio import remove_stale_temporaries
from .loop import Trainer
from .losses import build_loss
from .model_setup import build_train_model
from .optim import build_optimizer, build_scheduler
from .recorder import RunRecorder
from .run_state import Progress, restore_model, restore_payload
from .seeding import configure_determinism, seed_everything
from .step import StepRunner, resolve_amp

__all__ = ["RUN_FILES", "resume", "resume_config", "train"]

RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "summary.json", "config.yaml", "tb")
_RANK_SEED_STRIDE = 7_919


def _prepare_run_dir(run_dir: Path, cfg: TrainConfig, ctx: DistContext, resuming: bool) -> None:
    """Refuse to start over a run unless ``overwrite``; clear the old files if so (rank 0)."""
    taken = ctx.is_main and not resuming and (run_dir / "last.pt").exists()
    if any_rank(taken and not cfg.overwrite, ctx):
        raise RunDirError(
            f"{run_dir} already holds a run (last.pt); continue it with "
            f"'stablespike resume {run_dir}', start over with --overwrite, "
            "or choose another --run-dir"
        )
    if ctx.is_main:
        if taken:
            for name in RUN_FILES:
                target = run_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)


def _run(
    cfg: TrainConfig,
    ctx: DistContext,
    checkpoint: Mapping[str, Any] | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    started = time.perf_counter()
    configure_determinism(cfg.deterministic, cfg.threads)
    seed_everything(cfg.seed)
    run_dir = cfg.resolved_run_dir()
    _prepare_run_dir(run_dir, cfg, ctx, resuming=checkpoint is not None)
    data = TrainData.build(cfg, ctx)
    bundle = data.bundle
    model = build_train_model(cfg, num_classes=bundle.num_classes, input_shape=bundle.input_shape)
    if ctx.rank > 0:  # different dropout streams per rank (weights are identical anyway)
        seed_everything(cfg.seed + _RANK_SEED_STRIDE * ctx.rank)
    if checkpoint is not None:
        restore_model(model, dict(checkpoint), source=f"{run_dir}/last.pt")
    model = wrap_model(model, ctx, sync_bn=cfg.sync_bn)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, data.steps_per_epoch)
    amp_dtype = resolve_amp(cfg.amp, ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=amp_dtype == torch.float16)
    progress, epoch_meter = Progress(), {}
    if checkpoint is not None:
        progress, epoch_meter = restore_payload(
            dict(checkpoint), ctx=ctx, optimizer=optimizer, scheduler=scheduler, scaler=scaler
        )
    progress.wall_seconds += time.perf_counter() - started
    recorder = RunRecorder(run_dir, enabled=ctx.is_main, tensorboard=cfg.tensorboard)
    recorder.start(progress.history)
    recorder.write_config(cfg.to_dict())
    step = StepRunner(
        model,
        optimizer,
        scheduler,
        build_loss(cfg.loss, label_smoothing=cfg.label_smoothing, tet_lambda=cfg.tet_lambda),
        ctx=ctx,
        amp_dtype=amp_dtype,
        scaler=scaler,
        grad_clip=cfg.grad_clip,
        skip_nonfinite=cfg.skip_nonfinite,
        augment=cfg.batch_augment(bundle.num_classes, ctx.rank),
        step_index=lambda: progress.global_step,
    )
    if ctx.is_main:
        where = (
            f"resuming at epoch {progress.epoch + 1}, step {progress.step}"
            if checkpoint is not None
            else "starting"
        )
        log(
            f"stablespike train: {cfg.model} on {bundle.name} ({len(bundle.train)} train / "
            f"{len(bundle.test)} test), T={cfg.timesteps}, {cfg.epochs} epochs x "
            f"{data.steps_per_epoch} steps of {cfg.batch_size}, {ctx.device.type} x"
            f"{ctx.world_size} -> {run_dir} ({where})"
        )
    trainer = Trainer(
        cfg=cfg,
        ctx=ctx,
        data=data,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        step=step,
        recorder=recorder,
        progress=progress,
        epoch_meter=epoch_meter,
        run_dir=run_dir,
        log=log,
    )
    try:
        return trainer.fit()
    finally:
        recorder.close()


def train(
    cfg: TrainConfig,
    *,
    checkpoint: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train as ``cfg`` says (continuing from ``checkpoint`` if given); returns the summary."""
    cfg = cfg.replace().validate()
    with distributed_session(cfg.device) as ctx:
        return _run(cfg, ctx, checkpoint, lambda msg: log(msg) if ctx.is_main else None)


def resume_config(
    run_dir: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and checkpoint to continue ``run_dir`` with.

    ``overrides`` may change runtime options only (device, progress, ``ckpt_every``, ...); any
    option that changes the result raises :class:`CheckpointError` saying what differs.
    """
    run_dir = Path(run_dir)
    path = run_dir / "last.pt"
    if not path.exists():
        raise RunDirError(f"nothing to resume in {run_dir}: no last.pt there")
    ckpt = load_checkpoint(path)
    saved = TrainConfig.from_dict(ckpt["config"], source=f"config in {path}")
    wanted = TrainConfig.from_dict({**saved.to_dict(), **dict(overrides or {})}).validate()
    diff = config_diff(saved.to_dict(), wanted.to_dict())
    if diff:
        raise CheckpointError(
            f"{path} was trained with other options; a resumed run must use the same ones: "
            + "; ".join(diff)
        )
    return wanted.replace(run_dir=str(run_dir), overwrite=False), ckpt


def resume(
    run_dir: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its ``last.pt``; returns the summary."""
    cfg, ckpt = resume_config(run_dir, overrides)
    return train(cfg, checkpoint=ckpt, log=log)
