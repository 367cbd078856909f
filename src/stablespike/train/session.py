"""``train(cfg)`` and ``resume(run_dir)``: build every part of a run from its config and run it.

Works the same in one process and under ``torchrun`` (DDP; only rank 0 writes files). The run
directory is locked for the whole run and checked before anything in it changes
(:mod:`stablespike.train.rundir`); SIGTERM / SIGINT stop after a step with ``last.pt`` written
(:mod:`stablespike.train.stopping`).

Example::

    from stablespike.train import TrainConfig, train, resume
    summary = train(TrainConfig(epochs=1, run_dir="runs/quick"))
    print(summary["final"]["accuracy"], summary["final"]["accuracy_per_timestep"])
    resume("runs/quick")          # after a crash: continues from runs/quick/last.pt
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sized
from pathlib import Path
from typing import Any, cast

import torch

from ..core.errors import CheckpointError, ConfigError, RunDirError, TrainError
from ..core.fileio import remove_stale_temporaries
from .batches import TrainData
from .checkpoint import load_checkpoint, require_entries
from .config import TrainConfig, config_diff
from .distributed import (
    DistContext,
    all_gather_objects,
    distributed_session,
    wrap_model,
)
from .loop import Trainer
from .losses import build_loss
from .model_setup import build_train_model, compile_model, compile_seconds
from .optim import build_optimizer, build_scheduler
from .recorder import RunRecorder
from .run_state import Progress, restore_model, restore_payload
from .rundir import ASIDE_PREFIX, RUN_FILES, RunDirectory, check_same_run, new_run_id
from .seeding import configure_determinism, seed_everything
from .step import StepRunner, resolve_amp
from .stopping import StopSignals

__all__ = ["RUN_FILES", "resume", "resume_config", "train"]

_RANK_SEED_STRIDE = 7_919
_RESUME_ENTRIES = {
    "config": Mapping,
    "model": Mapping,
    "optimizer": Mapping,
    "scheduler": Mapping,
    "progress": Mapping,
    "ranks": list,
}


def _on_main(ctx: DistContext, job: Callable[[], object]) -> None:
    """Run ``job`` on rank 0; under DDP every rank then raises the error it raised, if any."""
    error: TrainError | None = None
    if ctx.is_main:
        try:
            job()
        except TrainError as err:
            error = err
    if ctx.distributed:
        message = all_gather_objects(None if error is None else str(error), ctx)[0]
        if message is not None and error is None:
            raise RunDirError(message)
    if error is not None:
        raise error


def _run(
    cfg: TrainConfig,
    ctx: DistContext,
    checkpoint: Mapping[str, Any] | None,
    log: Callable[[str], None],
    stop: StopSignals | None = None,
) -> dict[str, Any]:
    """Own the run directory (lock, checks) for the whole run; see :mod:`.rundir`."""
    owner = RunDirectory(cfg.resolved_run_dir(), enabled=ctx.is_main)
    _on_main(ctx, lambda: owner.claim(overwrite=cfg.overwrite, resuming=checkpoint is not None))
    try:
        return _run_owned(cfg, ctx, checkpoint, log, stop, owner)
    except BaseException:
        owner.abandon()
        raise
    finally:
        owner.release()


def _run_owned(
    cfg: TrainConfig,
    ctx: DistContext,
    checkpoint: Mapping[str, Any] | None,
    log: Callable[[str], None],
    stop: StopSignals | None,
    owner: RunDirectory,
) -> dict[str, Any]:
    started = time.perf_counter()
    configure_determinism(cfg.deterministic, cfg.threads)
    seed_everything(cfg.seed)
    run_dir = owner.path
    if checkpoint is not None and ctx.is_main:
        remove_stale_temporaries(run_dir)  # of a killed writer (the lock says none is running)
    data = TrainData.build(cfg, ctx)
    bundle = data.bundle
    model = build_train_model(cfg, num_classes=bundle.num_classes, input_shape=bundle.input_shape)
    if ctx.rank > 0:  # different dropout streams per rank (weights are identical anyway)
        seed_everything(cfg.seed + _RANK_SEED_STRIDE * ctx.rank)
    if checkpoint is not None:
        restore_model(model, dict(checkpoint), source=f"{run_dir}/last.pt")
    model = compile_model(
        wrap_model(model, ctx, sync_bn=cfg.sync_bn), cfg.compile, cfg.compile_backend
    )
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, data.steps_per_epoch)
    amp_dtype = resolve_amp(cfg.amp, ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=amp_dtype == torch.float16)
    epoch_meter: dict[str, Any]
    progress, epoch_meter = Progress(), {}
    if checkpoint is not None:
        progress, epoch_meter = restore_payload(
            dict(checkpoint),
            ctx=ctx,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            source=f"{run_dir}/last.pt",
        )
    # everything is built and checked: only now may an old run be set aside (--overwrite)
    run_id = (checkpoint or {}).get("run_id") or new_run_id()
    run_id = all_gather_objects(run_id, ctx)[0]
    _on_main(ctx, lambda: owner.set_aside_old_run(run_id))
    progress.wall_seconds += time.perf_counter() - started
    recorder = RunRecorder(run_dir, enabled=ctx.is_main, tensorboard=cfg.tensorboard)
    recorder.start(progress.history)
    recorder.write_config(cfg.to_dict(), run_id=run_id)
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
            f"stablespike train: {cfg.model} on {bundle.name} ({len(cast(Sized, bundle.train))} "
            f"train / {len(cast(Sized, bundle.test))} test), T={cfg.timesteps}, {cfg.epochs} epochs x "
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
        stop=stop,
        on_checkpoint=owner.checkpoint_written,
        run_id=run_id,
    )
    if cfg.compile and ctx.is_main:
        log(
            f"torch.compile ({cfg.compile_backend}): the first training and evaluation steps "
            "compile the model, and the first changed batch size once more"
        )
    try:
        summary = trainer.fit()
    finally:
        recorder.close()
    if cfg.compile and ctx.is_main:
        log(f"torch.compile: {compile_seconds():.1f} s of compiling (in the wall time above)")
    return summary


def train(
    cfg: TrainConfig,
    *,
    checkpoint: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train as ``cfg`` says (continuing from ``checkpoint`` if given); returns the summary.

    SIGTERM / SIGINT (in the main thread) stop the run after the current step with ``last.pt``
    written (:class:`~stablespike.core.errors.StopRequested`); a second one stops at once.
    """
    cfg = cfg.replace().validate()
    with StopSignals(announce=int(os.environ.get("RANK", "0")) == 0) as stop:
        with distributed_session(cfg.device, cfg.dist_timeout) as ctx:
            return _run(cfg, ctx, checkpoint, lambda msg: log(msg) if ctx.is_main else None, stop)


def resume_config(
    run_dir: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and checkpoint to continue ``run_dir`` with.

    ``overrides`` may change runtime options only (device, progress, ``ckpt_every``, ...); any
    option that changes the result raises :class:`CheckpointError` saying what differs.
    """
    run_dir = Path(run_dir)
    overrides = dict(overrides or {})
    other_dir = overrides.pop("run_dir", "")
    if other_dir and Path(other_dir) != run_dir:
        raise ConfigError(
            f"a resumed run stays in its directory: resuming {run_dir}, but --run-dir says "
            f"{other_dir} (leave --run-dir out, or copy the run there and resume that)"
        )
    if overrides.pop("overwrite", False):
        raise ConfigError("--overwrite starts a new run; it cannot be combined with resuming")
    path = run_dir / "last.pt"
    if not path.exists():
        aside = sorted(run_dir.glob(f"{ASIDE_PREFIX}*")) if run_dir.is_dir() else []
        hint = (
            f"; {aside[0]} holds a run that --overwrite set aside before the new run wrote a "
            "checkpoint: move its files back to continue it"
            if aside
            else ""
        )
        raise RunDirError(f"nothing to resume in {run_dir}: no last.pt there{hint}")
    ckpt = load_checkpoint(path)
    require_entries(ckpt, str(path), _RESUME_ENTRIES, "resumed")
    check_same_run(run_dir, ckpt, str(path))
    saved = TrainConfig.from_dict(ckpt["config"], source=f"config in {path}")
    wanted = TrainConfig.from_dict({**saved.to_dict(), **overrides}).validate()
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
