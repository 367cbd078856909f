"""Checkpoint files: atomic writes, safe loading, and refusing a checkpoint that does not fit.

A checkpoint is a dict of tensors and plain values (model, optimizer, scheduler and scaler state,
RNG states, progress counters and the run's config) tagged with ``format``/``version``.

* :func:`save_checkpoint` refuses non-finite weights and writes atomically: temporary file in the
  same folder + fsync + ``os.replace`` (+ fsync of the folder), so a crash mid-write leaves the
  previous file intact.
* :func:`load_checkpoint` uses ``torch.load(weights_only=True)``: a checkpoint is untrusted input.
* :func:`load_model_state` compares the model configuration and the state-dict keys and shapes
  and says what differs before touching the model.

Example:
    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
    >>> model = torch.nn.Linear(2, 1)
    >>> save_checkpoint(path, {"model": model.state_dict(), "epoch": 3})
    >>> ckpt = load_checkpoint(path)
    >>> ckpt["epoch"], ckpt["format"]
    (3, 'stablespike-checkpoint')
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError, NonFiniteError
from .fileio import atomic_write

__all__ = [
    "FORMAT",
    "VERSION",
    "atomic_save",
    "load_checkpoint",
    "load_model_state",
    "nonfinite_entries",
    "save_checkpoint",
]

FORMAT = "stablespike-checkpoint"
VERSION = 1


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` atomically (see :mod:`stablespike.train.fileio`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def nonfinite_entries(state_dict: Mapping[str, Any]) -> list[str]:
    """Names of floating-point tensors in ``state_dict`` that hold NaN or inf."""
    return [
        name
        for name, value in state_dict.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (+ format tag) atomically; refuse if ``payload["model"]`` is non-finite."""
    model_state = payload.get("model")
    if isinstance(model_state, Mapping):
        bad = nonfinite_entries(model_state)
        if bad:
            raise NonFiniteError(
                f"refusing to write {path}: non-finite values in {', '.join(bad[:5])}"
                + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            )
    atomic_save({"format": FORMAT, "version": VERSION, **payload}, path)


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a stablespike checkpoint with ``weights_only=True``; clear errors for bad files."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass a checkpoint file such as {path}/best.pt")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"cannot load {path}: not a readable checkpoint, or it holds objects other than "
            f"tensors and plain values (refused for safety): {first}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a stablespike checkpoint (no '{FORMAT}' tag)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {ckpt.get('version')!r}; "
            f"this stablespike reads version {VERSION}"
        )
    return ckpt


def _dict_diff(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [
        f"{k}: checkpoint {saved.get(k, '<missing>')!r} vs now {current.get(k, '<missing>')!r}"
        for k in keys
        if saved.get(k, "<missing>") != current.get(k, "<missing>")
    ]


def load_model_state(
    model: nn.Module,
    state_dict: Mapping[str, Any],
    *,
    saved_config: Mapping[str, Any] | None = None,
    source: str = "checkpoint",
) -> None:
    """Load ``state_dict`` into ``model`` after checking that they belong together.

    Raises :class:`CheckpointError` listing what differs: the model configuration
    (``model.config`` vs ``saved_config``), missing or unexpected entries, or shapes.
    """
    current = getattr(model, "config", None)
    if saved_config is not None and isinstance(current, Mapping):
        diff = _dict_diff(saved_config, current)
        if diff:
            raise CheckpointError(
                f"{source} is from another model configuration: " + "; ".join(diff)
            )
    own = model.state_dict()
    problems = []
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(
            f"unexpected {', '.join(unexpected[:5])}" + (" ..." if len(unexpected) > 5 else "")
        )
    for k, v in own.items():
        w = state_dict.get(k)
        if isinstance(v, torch.Tensor) and isinstance(w, torch.Tensor) and v.shape != w.shape:
            problems.append(f"{k}: shape {tuple(w.shape)} in {source} vs {tuple(v.shape)} now")
    if problems:
        more = f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
        raise CheckpointError(
            f"{source} does not fit this model (was it trained with another architecture?): "
            + "; ".join(problems[:6])
            + more
        )
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f"{source} does not fit this model: {err}") from None
