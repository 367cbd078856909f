"""A trained model back from a checkpoint of ``stablespike train``, ready for Python use.

The checkpoint (``RUN_DIR/best.pt`` or ``last.pt``) holds the run's configuration and the model
configuration; the model is rebuilt from them and its weights, BatchNorm statistics and MP-Init
means are loaded, so it computes what ``stablespike eval`` measured.

Example::

    import stablespike as ss
    from stablespike.train import load_trained_model

    model, cfg = load_trained_model("runs/fashion-mnist/best.pt")   # eval mode, on the CPU
    folded = ss.fold_thresholds(model, example_input=x)              # binary spikes, for deployment
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..core.errors import CheckpointError
from ..models import model_from_config
from .checkpoint import load_checkpoint, require_entries
from .config import TrainConfig
from .run_state import restore_model


def rebuild_model(ckpt: dict[str, Any], source: str) -> nn.Module:
    """The model of a loaded checkpoint with its state restored (training mode, CPU)."""
    if not ckpt.get("model_config"):
        raise CheckpointError(f"{source} holds no model configuration to rebuild the model from")
    try:
        model = model_from_config(ckpt["model_config"])
    except ValueError as err:
        raise CheckpointError(f"cannot rebuild the model of {source}: {err}") from None
    restore_model(model, ckpt, source=source)
    return model


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path``, or for a run directory its ``best.pt`` (the file is not read)."""
    path = Path(path)
    if path.is_dir() and (path / "best.pt").is_file():  # a run directory: its best checkpoint
        path = path / "best.pt"
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any], TrainConfig]:
    """The checkpoint file, its contents and its run's configuration.

    ``path`` may also be a run directory (its ``best.pt`` is used).
    """
    path = checkpoint_path(path)
    ckpt = load_checkpoint(path)
    require_entries(ckpt, str(path), {"config": Mapping, "model": Mapping}, "used")
    return path, ckpt, TrainConfig.from_dict(ckpt["config"], source=f"config in {path}")


def load_trained_model(path: str | os.PathLike[str]) -> tuple[nn.Module, TrainConfig]:
    """``(model, TrainConfig)`` of the checkpoint at ``path`` (model on the CPU, eval mode).

    ``path`` may also be a run directory (its ``best.pt`` is used). Raises
    :class:`~stablespike.train.CheckpointError` when the file cannot be used.
    """
    path, ckpt, cfg = read_checkpoint(path)
    return rebuild_model(ckpt, str(path)).eval(), cfg
