"""A trained model back from a checkpoint of ``stablespike train``, ready for Python use.

The checkpoint (``RUN_DIR/best.pt`` or ``last.pt``) holds the run's configuration and the model
configuration; the model is rebuilt from them and its weights, BatchNorm statistics and MP-Init
means are loaded, so it computes what ``stablespike eval`` measured.

:func:`open_for_eval` is the one way the commands that evaluate a checkpoint (``eval``,
``eval --anytime``, ``export``, ``analyze``) open it: the checkpoint, its configuration with the
command's overrides (device, data directory, batch size, timesteps, ...), the rebuilt model on
the device and the test batches of its dataset, as ``stablespike eval`` sees them.

Example::

    import stablespike as ss
    from stablespike.train import load_trained_model, open_for_eval

    model, cfg = load_trained_model("runs/fashion-mnist/best.pt")   # eval mode, on the CPU
    folded = ss.fold_thresholds(model, example_input=x)              # binary spikes, for deployment

    with open_for_eval("runs/fashion-mnist", device="cpu", batch_size=256) as run:
        for x, y in run.test_batches():                              # time-major, on run.device
            logits = run.model(x)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import torch
from torch import nn

from ..core.errors import CheckpointError, ConfigError
from ..models import model_from_config, set_timesteps
from .batches import TrainData
from .checkpoint import load_checkpoint, require_entries
from .config import TrainConfig
from .distributed import DistContext, distributed_session
from .run_state import restore_model
from .seeding import configure_determinism

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]

__all__ = [
    "EvalCheckpoint",
    "EvalOverrides",
    "load_trained_model",
    "open_for_eval",
    "read_checkpoint",
    "rebuild_model",
    "test_batches",
]


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


def _with_overrides(
    cfg: TrainConfig,
    *,
    data_dir: str | None = None,
    batch_size: int | None = None,
    dataset: str | None = None,
    timesteps: int | None = None,
    **changes: Any,
) -> TrainConfig:
    """``cfg`` with an evaluating command's overrides (unset ones keep the run's), validated."""
    if dataset:
        changes["dataset"] = dataset
    if data_dir:
        changes["data_dir"] = data_dir
    if batch_size:
        changes["eval_batch_size"] = batch_size
    if timesteps is not None:
        changes["timesteps"] = timesteps  # event data: frames for this T, not the run's
    return cfg.replace(**changes).validate()


class EvalOverrides(TypedDict, total=False):
    """What a command that evaluates a checkpoint may change (see :func:`open_for_eval`)."""

    device: str
    data_dir: str | None
    batch_size: int | None
    timesteps: int | None
    threads: int
    dataset: str | None


@dataclass
class EvalCheckpoint:
    """A checkpoint opened by :func:`open_for_eval`.

    ``path``: the checkpoint file; ``checkpoint``: its contents (``metrics``, ``progress``, ...);
    ``config``: the run's configuration with the overrides; ``model``: rebuilt, eval mode, on
    ``ctx.device``; ``ctx``: this process's place in the job (one process unless launched by
    ``torchrun``); ``data``: the loaded dataset.
    """

    path: Path
    checkpoint: dict[str, Any]
    config: TrainConfig
    model: nn.Module
    ctx: DistContext
    data: TrainData

    @property
    def device(self) -> torch.device:
        """Where the model and the batches are."""
        return self.ctx.device

    @property
    def dataset(self) -> str:
        """The name of the dataset the test batches come from."""
        return self.data.bundle.name

    def test_batches(self, batch_size: int | None = None) -> Batches:
        """This process's share of the test set, time-major, on :attr:`device`, in a fixed order."""
        return cast(Batches, self.data.test_batches(batch_size))


@contextmanager
def open_for_eval(
    path: str | os.PathLike[str],
    *,
    device: str = "auto",
    data_dir: str | None = None,
    batch_size: int | None = None,
    timesteps: int | None = None,
    threads: int = 0,
    dataset: str | None = None,
    **changes: Any,
) -> Iterator[EvalCheckpoint]:
    """``with open_for_eval(path) as run:`` the checkpoint, model and test data, for evaluation.

    ``path`` may also be a run directory (its ``best.pt`` is used). ``device`` (``auto``,
    ``cpu``, ``cuda``), ``data_dir``, ``batch_size`` (the eval batch size), ``threads``,
    ``dataset`` (another dataset with the same input format) and
    further :class:`TrainConfig` fields in ``changes`` override the run's values (``None`` /
    unset: the run's). ``timesteps`` evaluates with another T: static images are repeated T
    times, event data is integrated into T frames (its frame cache for that T). The block runs
    inside :func:`~stablespike.train.distributed.distributed_session` (under ``torchrun`` each
    process gets its share of the test set). Raises :class:`~stablespike.train.CheckpointError`
    for a checkpoint that cannot be used and :class:`~stablespike.train.ConfigError` for a bad
    override, before any data is read.
    """
    path, ckpt, cfg = read_checkpoint(path)
    cfg = _with_overrides(
        cfg,
        data_dir=data_dir,
        batch_size=batch_size,
        timesteps=timesteps,
        dataset=dataset,
        device=device,
        threads=threads,
        **changes,
    )
    configure_determinism(cfg.deterministic, cfg.threads)
    with distributed_session(cfg.device) as ctx:
        model = rebuild_model(ckpt, str(path))
        if timesteps is not None:
            try:
                set_timesteps(model, timesteps)
            except ValueError as err:
                raise ConfigError(f"--timesteps: {err}") from None
        model = model.to(ctx.device).eval()
        data = TrainData.build(cfg, ctx)
        yield EvalCheckpoint(path, ckpt, cfg, model, ctx, data)


def test_batches(
    cfg: TrainConfig,
    *,
    batch_size: int,
    dataset: str | None = None,
    data_dir: str | None = None,
    device: str = "cpu",
) -> Batches:
    """Test batches of ``cfg``'s dataset (or ``dataset``) on ``device``, in a fixed order.

    One process (``torchrun``'s environment is ignored); ``cfg``: e.g. the configuration
    :func:`load_trained_model` returns.
    """
    run_cfg = _with_overrides(
        cfg, batch_size=batch_size, dataset=dataset, data_dir=data_dir, device=device
    )
    yield from cast(Batches, TrainData.build(run_cfg, DistContext.single(device)).test_batches())
