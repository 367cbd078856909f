"""Evaluating a saved checkpoint: rebuild the model from its config, reload weights and MP-Init
means, and measure the test accuracy overall and per timestep.

Example::

    from stablespike.train.checkpoint_eval import evaluate_checkpoint
    report = evaluate_checkpoint("runs/fashion-mnist/best.pt")
    report["accuracy"], report["recorded_accuracy"], report["accuracy_per_timestep"]
"""

from __future__ import annotations

import os
from typing import Any, Unpack

from .distributed import wrap_model
from .evaluation import evaluate
from .model_setup import compile_model, compile_seconds
from .step import autocast_factory, resolve_amp
from .summary import layer_report
from .trained_model import EvalOverrides, open_for_eval

__all__ = ["evaluate_checkpoint"]


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    *,
    compile: bool = False,
    compile_backend: str = "inductor",
    **overrides: Unpack[EvalOverrides],
) -> dict[str, Any]:
    """Test metrics of the checkpoint at ``path`` next to those recorded when it was saved.

    ``path`` may also be a run directory (its ``best.pt`` is used). ``overrides``: ``device``
    (default ``auto``), ``data_dir``, ``batch_size``, ``timesteps``, ``threads``, ``dataset``
    (:func:`~stablespike.train.open_for_eval`). ``timesteps`` evaluates with another T (e.g.
    trained T=6, tested T=4): static images are repeated T times, event data is integrated into
    T frames (its frame cache for that T); the recorded accuracy is then not comparable. ``compile`` runs the model under
    ``torch.compile`` (the report's ``compile_seconds`` says how long compiling took).
    """
    with open_for_eval(path, compile=compile, compile_backend=compile_backend, **overrides) as run:
        cfg, ctx, ckpt = run.config, run.ctx, run.checkpoint
        model = compile_model(wrap_model(run.model, ctx), cfg.compile, cfg.compile_backend)
        autocast = autocast_factory(resolve_amp(cfg.amp, ctx.device), ctx.device)
        result = evaluate(model, run.test_batches(), ctx, autocast=autocast)
        recorded = ckpt.get("metrics") or {}
        progress = ckpt.get("progress") or {}
        return {
            "checkpoint": str(run.path),
            "dataset": run.dataset,
            "model": cfg.model,
            "timesteps": cfg.timesteps,
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
