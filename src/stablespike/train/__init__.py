"""Training, resuming and evaluating spiking networks (the ``train``/``resume``/``eval`` commands).

The Python API mirrors the command line: a :class:`TrainConfig` (one field per flag),
:func:`train`, :func:`resume` and :func:`evaluate_checkpoint`, :func:`load_trained_model`
for using a trained model from Python, and :func:`open_for_eval` (checkpoint, model and test
batches) for tools that evaluate a checkpoint. Names are imported on first use.

Example::

    from stablespike.train import TrainConfig, train, evaluate_checkpoint
    summary = train(TrainConfig(epochs=1, run_dir="runs/quick"))
    summary["final"]["accuracy_per_timestep"]          # read-out after t = 1..T steps
    evaluate_checkpoint("runs/quick/best.pt")["accuracy"]
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "config",
    "load_config_file": "config",
    "train": "session",
    "resume": "session",
    "evaluate_checkpoint": "checkpoint_eval",
    "load_trained_model": "trained_model",
    "open_for_eval": "trained_model",
    "EvalCheckpoint": "trained_model",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "TrainError": "..core.errors",
    "ConfigError": "..core.errors",
    "CheckpointError": "..core.errors",
    "NonFiniteError": "..core.errors",
    "RunDirError": "..core.errors",
    "WriteError": "..core.errors",
    "StopRequested": "..core.errors",
    "PeerError": "..core.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = _EXPORTS[name]
        return getattr(
            importlib.import_module(module if module.startswith(".") else f".{module}", __name__),
            name,
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
