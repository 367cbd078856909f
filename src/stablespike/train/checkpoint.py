"""Checkpoint files: atomic writes, safe loading, and refusing a checkpoint that does not fit.

A checkpoint is a dict of tensors and plain values (model, optimizer, scheduler and scaler state,
RNG states, progress counters and the run's config) tagged with ``format``/``version``.

* :func:`save_checkpoint` refuses non-finite weights and writes atomically: temporary file in the
  same folder + fsync + ``os.replace`` (+ fsync of the folder), so a crash mid-write leaves the
  previous file intact.
* :func:`load_checkpoint` uses ``torch.load(weights_only=True)``: a checkpoint is untrusted input.
  Every checkpoint carries a SHA-256 checksum of its tensor data (names, dtypes, shapes and
  bytes, :func:`tensor_checksum`), verified on load: flipped bits on a disk or in a copy give
  "corrupted checkpoint: checksum mismatch" instead of silently different weights.
* :func:`require_entries` checks that a loaded checkpoint has the entries a use needs, with the
  right types, so a damaged or foreign file is refused in one line.
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

import hashlib
import os
import pickle
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import CheckpointError, NonFiniteError
from ..core.fileio import atomic_write

__all__ = [
    "FORMAT",
    "VERSION",
    "atomic_save",
    "load_checkpoint",
    "load_model_state",
    "nonfinite_entries",
    "require_entries",
    "save_checkpoint",
    "tensor_checksum",
]

FORMAT = "stablespike-checkpoint"
VERSION = 1


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` atomically (see :mod:`stablespike.core.fileio`)."""
    found = [t for _, t in _tensors(obj)]  # the size estimate: data + ~256 B of zip per tensor
    size = sum(t.numel() * t.element_size() + 256 for t in found) + 4096
    atomic_write(path, lambda f: torch.save(obj, f), size_hint=size if found else None)


def nonfinite_entries(state_dict: Mapping[str, Any]) -> list[str]:
    """Names of floating-point tensors in ``state_dict`` that hold NaN or inf."""
    return [
        name
        for name, value in state_dict.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def _tensors(value: Any, name: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield name, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _tensors(item, f"{name}/{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{name}/{i}")


def tensor_checksum(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of every tensor in ``payload``: its place, dtype, shape and bytes.

    The ``checksum`` entry itself is left out. Example:
        >>> a = tensor_checksum({"w": torch.zeros(3)})
        >>> a == tensor_checksum({"w": torch.zeros(3)}), a == tensor_checksum({"w": torch.ones(3)})
        (True, False)
    """
    digest = hashlib.sha256()
    for name, tensor in _tensors({k: v for k, v in payload.items() if k != "checksum"}):
        t = tensor.detach().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (+ format tag and checksum) atomically; refuse non-finite weights."""
    model_state = payload.get("model")
    if isinstance(model_state, Mapping):
        bad = nonfinite_entries(model_state)
        if bad:
            raise NonFiniteError(
                f"refusing to write {path}: non-finite values in {', '.join(bad[:5])}"
                + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            )
    full = {"format": FORMAT, "version": VERSION, **payload}
    full["checksum"] = {"sha256": tensor_checksum(full)}
    atomic_save(full, path)


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a stablespike checkpoint with ``weights_only=True``; clear errors for bad files."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass a checkpoint file such as {path}/best.pt")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise CheckpointError(f"cannot read {path}: {err.strerror or err}") from None
    if head != b"PK\x03\x04":
        what = "empty" if not head else "not a checkpoint (not a zip archive as torch.save writes)"
        raise CheckpointError(f"cannot load {path}: the file is {what}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"cannot load {path}: it holds objects other than tensors and plain values, which "
            f"could run code when loaded (refused for safety): {_unpickler_reason(err)}"
        ) from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as err:
        raise CheckpointError(
            f"cannot load {path}: the file is damaged or incomplete ({_first_line(err)})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a stablespike checkpoint (no '{FORMAT}' tag)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {ckpt.get('version')!r}; "
            f"this stablespike reads version {VERSION}"
        )
    stored = ckpt.get("checksum")
    if stored is not None:
        want = stored.get("sha256") if isinstance(stored, Mapping) else None
        if want != tensor_checksum(ckpt):
            raise CheckpointError(
                f"corrupted checkpoint: checksum mismatch in {path} (its tensor data changed "
                "after it was written: a disk, transfer or copy error); use another checkpoint "
                "of the run (best.pt / last.pt) or a backup"
            )
    return ckpt


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _unpickler_reason(err: BaseException) -> str:
    """The useful line of torch's weights-only refusal (not its advice to load unsafely)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "WeightsUnpickler error" in line:
            return line.split("WeightsUnpickler error:", 1)[-1].strip()
    return lines[-1] if lines else type(err).__name__


_KIND_NAMES: dict[type, str] = {Mapping: "a mapping", list: "a list", str: "a string"}


def require_entries(
    ckpt: Mapping[str, Any], source: str, entries: Mapping[str, type], purpose: str
) -> None:
    """Refuse ``ckpt`` in one line unless it has ``entries`` (``{name: type}``).

    Example:
        >>> require_entries({"model": {}}, "x.pt", {"config": Mapping}, "resumed")
        Traceback (most recent call last):
        ...
        stablespike.core.errors.CheckpointError: x.pt cannot be resumed: it has no 'config' entry (damaged, or not written by stablespike train)
    """
    for key, kind in entries.items():
        if key not in ckpt or ckpt[key] is None:
            raise CheckpointError(
                f"{source} cannot be {purpose}: it has no {key!r} entry (damaged, or not "
                "written by stablespike train)"
            )
        if not isinstance(ckpt[key], kind):
            raise CheckpointError(
                f"{source} cannot be {purpose}: its {key!r} entry is a {type(ckpt[key]).__name__}"
                f", expected {_KIND_NAMES.get(kind, kind.__name__)}"
            )


def _dict_diff(saved: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(k, "<missing>"), current.get(k, "<missing>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_dict_diff(a, b, f"{prefix}{k}."))
        elif a != b:
            out.append(f"{prefix}{k}: checkpoint {a!r} vs now {b!r}")
    return out


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
