"""Evaluating a saved checkpoint: rebuild the model from its config, reload weights and MP-Init
means, and measure the test accuracy overall and per timestep.

Example::

    from stablespike.train.checkpoint_eval import evaluate_checkpoint
    report = evaluate_checkpoint("runs/fashion-mnist/best.pt")
    report["accuracy"], report["recorded_accuracy"], report["accuracy_per_timestep"]
"""

from __future__ import annotations

import os
from typing import Any

from ..core.errors import ConfigError
from ..models import set_timesteps
from .batches import TrainData
from .distributed import distributed_session, wrap_model
from .evaluation import evaluate
from .model_setup import compile_model, compile_seconds
from .seeding import configure_determinism
from .step import autocast_factory, resolve_amp
from .summary import layer_report
from .trained_model import read_checkpoint, rebuild_model

__all__ = ["evaluate_checkpoint"]


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    *,
    data_dir: str | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    timesteps: int | None = None,
    threads: int = 0,
    compile: bool = False,
    compile_backend: str = "inductor",
) -> dict[str, Any]:
    """Test metrics of the checkpoint at ``path`` next to those recorded when it was saved.

    ``path`` may also be a run directory (its ``best.pt`` is used).
    ``timesteps`` evaluates with another T (e.g. trained T=6, tested T=4): static images are
    repeated T times, event data is integrated into T frames (its frame cache for that T); the
    recorded accuracy is then not comparable. ``compile`` runs the model under
    ``torch.compile`` (the report's ``compile_seconds`` says how long compiling took).
    """
    path, ckpt, cfg = read_checkpoint(path)
    changes: dict[str, Any] = {
        "device": device,
        "threads": threads,
        "compile": compile,
        "compile_backend": compile_backend,
    }
    if data_dir:
        changes["data_dir"] = data_dir
    if batch_size:
        changes["eval_batch_size"] = batch_size
    if timesteps is not None:
        changes["timesteps"] = timesteps  # event data: frames for this T, not the run's
    cfg = cfg.replace(**changes).validate()
    configure_determinism(cfg.deterministic, cfg.threads)
    with distributed_session(cfg.device) as ctx:
        model = rebuild_model(ckpt, str(path))
        if timesteps is not None:
            try:
                set_timesteps(model, timesteps)
            except ValueError as err:
                raise ConfigError(f"--timesteps: {err}") from None
        model = compile_model(wrap_model(model, ctx), cfg.compile, cfg.compile_backend)
        data = TrainData.build(cfg, ctx)
        autocast = autocast_factory(resolve_amp(cfg.amp, ctx.device), ctx.device)
        result = evaluate(model, data.test_batches(), ctx, autocast=autocast)
        recorded = ckpt.get("metrics") or {}
        progress = ckpt.get("progress") or {}
        return {
            "checkpoint": str(path),
            "dataset": data.bundle.name,
            "model": cfg.model,
            "timesteps": timesteps or cfg.timesteps,
            "epoch": recorded.get("epoch", progress.get("epoch")),
            "samples": result.samples,
            "loss": result.loss,
            "accuracy": result.accuracy,
            "accuracy_per_timestep": result.accuracy_per_timestep,
            "recorded_accuracy": recorded.get("accuracy"),
            "recorded_accuracy_per_timestep": recorded.get("accuracy_per_timestep"),
            "layers": layer_report(model, result.firing_rates),
            "compile_seconds": compile_seconds() if cfg.compile else None,
        }
