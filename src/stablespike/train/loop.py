"""The epoch loop: train steps, step/epoch checkpoints, evaluation, metrics, best model, summary.

:class:`Trainer` gets fully built parts (see :func:`stablespike.train.session.train`, which
builds them from a config) and runs from ``progress`` to ``cfg.epochs``. Checkpoints are written
by rank 0: ``last.pt`` after every epoch and every ``ckpt_every`` steps, ``best.pt`` whenever the
test accuracy improves. A :class:`~stablespike.core.errors.NonFiniteError` is re-raised with
the last good checkpoint named; nothing is saved after it. After each step the loop asks ``stop``
(:class:`~stablespike.train.stopping.StopSignals`) whether SIGTERM / SIGINT arrived; if so it
writes ``last.pt`` and raises :class:`~stablespike.core.errors.StopRequested`.

Example::

    trainer = Trainer(cfg=cfg, ctx=ctx, data=data, model=model, optimizer=opt,
                      scheduler=sched, scaler=scaler, step=runner, recorder=rec,
                      progress=Progress(), epoch_meter={}, run_dir=Path("runs/x"))
    summary = trainer.fit()

**Short runs**: :func:`short_run_warning` warns when a run is too short for BatchNorm's running
statistics to settle.

Evaluation uses BatchNorm's running mean and variance, updated once per training step with
momentum ``m``: after ``n`` steps they still hold ``(1 - m)^n`` of their initial values (mean
0, variance 1). In a run of a few dozen steps that share is large, and test accuracy can fall far
below training accuracy although the weights are fine.

Example:
    >>> from torch import nn
    >>> short_run_warning(nn.Sequential(nn.BatchNorm2d(4)), total_steps=16)[:33]
    'only 16 training steps: BatchNorm'
    >>> short_run_warning(nn.Sequential(nn.BatchNorm2d(4)), total_steps=1000) is None
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..core.errors import NonFiniteError, StopRequested
from .batches import TrainData
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .distributed import DistContext
from .evaluation import EvalResult, evaluate
from .metrics import ClassificationMeter
from .progress import EpochProgress, epoch_line, progress_enabled
from .recorder import RunRecorder
from .run_state import Progress, make_payload
from .step import StepRunner
from .stopping import StopSignals, signal_name
from .summary import build_summary, format_summary, layer_report

__all__ = ["Trainer"]


class Trainer:
    """Runs the remaining epochs of a run; see the module doc."""

    def __init__(
        self,
        *,
        cfg: TrainConfig,
        ctx: DistContext,
        data: TrainData,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        scaler: Any,
        step: StepRunner,
        recorder: RunRecorder,
        progress: Progress,
        epoch_meter: dict[str, Any],
        run_dir: Path,
        log: Callable[[str], None] = print,
        stop: StopSignals | None = None,
        on_checkpoint: Callable[[], None] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.cfg, self.ctx, self.data, self.model = cfg, ctx, data, model
        self.optimizer, self.scheduler, self.scaler = optimizer, scheduler, scaler
        self.step, self.recorder, self.progress = step, recorder, progress
        self.run_dir = run_dir
        self.stop = stop
        self.on_checkpoint = on_checkpoint
        self.run_id = run_id
        self.log = log if ctx.is_main else (lambda _msg: None)
        self.meter = ClassificationMeter()
        if epoch_meter:
            self.meter.load_state(epoch_meter)
        self.last_eval: EvalResult | None = None
        self._clock = time.perf_counter()

    # ------------------------------------------------------------------ time
    def _tick(self, training: bool) -> None:
        """Add the time since the last tick to the wall clock (and to training time)."""
        now = time.perf_counter()
        elapsed, self._clock = now - self._clock, now
        self.progress.wall_seconds += elapsed
        if training:
            self.progress.train_seconds += elapsed
            self.progress.epoch_seconds += elapsed

    # ------------------------------------------------------------------ checkpoints
    def _save(self, name: str, metrics: dict[str, Any] | None = None) -> None:
        payload = make_payload(
            cfg=self.cfg,
            ctx=self.ctx,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            progress=self.progress,
            epoch_meter=self.meter.state(),
            metrics=metrics,
            run_id=self.run_id,
        )
        if self.ctx.is_main:
            save_checkpoint(self.run_dir / name, payload)
            if name == "last.pt" and self.on_checkpoint is not None:
                self.on_checkpoint()

    def _stop_if_asked(self, epoch: int, *, save: bool) -> None:
        """After a step (``save``: write ``last.pt`` first) or an epoch: stop on a signal."""
        signum = self.stop.requested(self.ctx) if self.stop is not None else 0
        if not signum:
            return
        if save:
            self._tick(training=True)
            self._save("last.pt")
        where = f"epoch {epoch + 1}, step {self.progress.step}" if save else f"epoch {epoch + 1}"
        raise StopRequested(
            f"stopped by {signal_name(signum)} after {where}: {self.run_dir / 'last.pt'} is "
            f"written; continue with: stablespike resume {self.run_dir}",
            128 + signum,
        )

    def _last_good(self) -> str:
        path = self.run_dir / "last.pt"
        if not path.exists():
            return "no checkpoint was written yet"
        return f"the last good checkpoint {path} is kept"

    # ------------------------------------------------------------------ training
    def _train_epoch(self, epoch: int) -> None:
        cfg, progress = self.cfg, self.progress
        total = self.data.steps_per_epoch
        bar = EpochProgress(
            epoch=epoch + 1,
            epochs=cfg.epochs,
            total=total,
            initial=progress.step,
            enabled=progress_enabled(cfg.progress, self.ctx.is_main),
        )
        try:
            for x, y in self.data.train_batches(epoch, progress.step):
                try:
                    result = self.step(x, y)
                except NonFiniteError as err:
                    raise NonFiniteError(
                        f"{err} at epoch {epoch + 1}, step {progress.step + 1}: training stopped "
                        f"and nothing was saved; {self._last_good()}. Resuming repeats the same "
                        "steps: start a new run (--overwrite or another --run-dir) with a lower "
                        "--lr, with --grad-clip, or with --skip-nonfinite to skip such steps."
                    ) from None
                if result.skipped:
                    progress.skipped_steps += 1
                    self.log(
                        f"warning: {result.skipped} at epoch {epoch + 1}, step "
                        f"{progress.step + 1}: update skipped (--skip-nonfinite)"
                    )
                else:
                    self.meter.update(result.logits, y, result.loss)
                images = int(y.shape[0]) * self.ctx.world_size
                progress.step += 1
                progress.global_step += 1
                progress.train_images += images
                progress.epoch_images += images
                bar.update(images, self.meter.loss, self.meter.accuracy)
                if (
                    cfg.ckpt_every
                    and progress.global_step % cfg.ckpt_every == 0
                    and progress.step < total
                ):
                    self._tick(training=True)
                    self._save("last.pt")
                self._stop_if_asked(epoch, save=True)
        finally:
            bar.close()
        self._tick(training=True)

    def _end_epoch(self, epoch: int) -> None:
        progress = self.progress
        before = int(progress.history[-1].get("skipped_steps", 0)) if progress.history else 0
        skipped, total = progress.skipped_steps - before, self.data.steps_per_epoch
        if skipped * 2 > total:
            raise NonFiniteError(
                f"{skipped} of the {total} steps of epoch {epoch + 1} were skipped for a "
                f"non-finite loss or gradient (--skip-nonfinite): the run is not training, so it "
                f"stopped; {self._last_good()}. Start a new run with a lower --lr or --grad-clip, "
                "or check the data for NaN / inf"
            )
        self.meter.all_reduce(self.ctx)
        result = evaluate(
            self.model, self.data.test_batches(), self.ctx, autocast=self.step.autocast
        )
        self.last_eval = result
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": progress.global_step,
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": self.meter.loss,
            "train_acc": self.meter.accuracy,
            "test_loss": result.loss,
            "test_acc": result.accuracy,
        }
        row.update({f"test_acc_t{t}": a for t, a in enumerate(result.accuracy_per_timestep, 1)})
        seconds = progress.epoch_seconds
        row.update(
            epoch_seconds=seconds,
            images_per_s=progress.epoch_images / seconds if seconds > 0 else 0.0,
            skipped_steps=progress.skipped_steps,
        )
        progress.history.append(row)
        progress.epoch, progress.step = epoch + 1, 0
        progress.epoch_seconds, progress.epoch_images = 0.0, 0
        self.meter = ClassificationMeter()
        metrics = {**result.to_dict(), "epoch": epoch + 1}
        self._tick(training=False)
        if result.accuracy > progress.best_accuracy:
            progress.best_accuracy, progress.best_epoch = result.accuracy, epoch + 1
            self._save("best.pt", metrics)
        self._save("last.pt", metrics)
        self.recorder.log_epoch(row)
        self.log(
            epoch_line(
                epoch=epoch + 1,
                epochs=self.cfg.epochs,
                train_loss=row["train_loss"],
                train_acc=row["train_acc"],
                test_loss=result.loss,
                test_acc_per_t=result.accuracy_per_timestep,
                lr=row["lr"],
                seconds=seconds,
                images_per_s=row["images_per_s"],
            )
        )

    # ------------------------------------------------------------------ the run
    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs; write and print the summary; return it."""
        if self.progress.epoch == 0 and self.progress.step == 0:
            note = short_run_warning(self.model, self.cfg.epochs * self.data.steps_per_epoch)
            if note is not None:
                self.log(f"warning: {note}")
        for epoch in range(self.progress.epoch, self.cfg.epochs):
            self._train_epoch(epoch)
            self._end_epoch(epoch)
            if epoch + 1 < self.cfg.epochs:
                self._stop_if_asked(epoch, save=False)  # last.pt was written at the epoch end
        if self.last_eval is None:  # resumed after the last epoch had finished
            self.last_eval = evaluate(self.model, self.data.test_batches(), self.ctx)
        self._tick(training=False)
        summary = self._summary(self.last_eval)
        self.recorder.write_summary(summary, also=self.cfg.json)
        self.log(format_summary(summary))
        return summary

    def _summary(self, final: EvalResult) -> dict[str, Any]:
        history = self.progress.history
        best_row = next(
            (r for r in history if r["epoch"] == self.progress.best_epoch),
            history[-1] if history else {},
        )
        per_t = [v for k, v in best_row.items() if k.startswith("test_acc_t")]
        return build_summary(
            cfg_dict=self.cfg.to_dict(),
            run_dir=str(self.run_dir),
            final={
                "accuracy": final.accuracy,
                "accuracy_per_timestep": final.accuracy_per_timestep,
                "loss": final.loss,
            },
            best={
                "accuracy": self.progress.best_accuracy,
                "epoch": self.progress.best_epoch,
                "accuracy_per_timestep": per_t,
            },
            layers=layer_report(self.model, final.firing_rates),
            progress=self.progress.to_dict(),
            world_size=self.ctx.world_size,
            device=str(self.ctx.device),
        )


KEPT_LIMIT = 0.01
"""Warn while the running statistics keep at least this share of their initial values."""


def short_run_warning(model: nn.Module, total_steps: int) -> str | None:
    """The warning text if ``total_steps`` leave BatchNorm statistics near their init, else None."""
    momenta = [
        float(m.momentum)
        for m in model.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.momentum is not None
    ]
    if not momenta or total_steps < 0:
        return None
    momentum = min(momenta)
    if momentum >= 1.0:
        return None
    kept = (1.0 - momentum) ** total_steps
    if kept < KEPT_LIMIT:
        return None
    enough = math.ceil(math.log(KEPT_LIMIT) / math.log(1.0 - momentum))
    return (
        f"only {total_steps} training steps: BatchNorm running statistics (momentum {momentum:g})"
        f" still hold {kept:.0%} of their initial values, and evaluation uses them, so test "
        f"accuracy can be far below training accuracy; {enough} steps or more avoid this"
    )
