"""Batches for the training loop: global-batch sharding, exact mid-epoch resume, time-major.

Training order is a pure function of ``(seed, epoch)``: the epoch's permutation
(:func:`stablespike.data.shard_indices`) is cut into global batches of ``batch_size`` (the last
incomplete one is dropped) and every global batch is split evenly across the ranks. So N
processes with ``batch_size / N`` samples each see exactly the samples one process sees in one
step, and resuming at step ``s`` of an epoch replays the same order (the first ``s`` batches are
drawn and discarded, which also advances the augmentation RNG exactly).

Event batches ``[B, T, C, H, W]`` are transposed to time-major ``[T, B, C, H, W]``.

Example:
    >>> steps = global_batch_indices(10, batch_size=4, seed=0, epoch=0, rank=1, world_size=2)
    >>> steps.shape                           # 2 full global batches, 2 samples of each here
    torch.Size([2, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sized
from typing import Any, cast

import torch
from torch.utils.data import Dataset

from ..core.errors import ConfigError
from ..data import BatchLoader, DataBundle, build_datasets, dataset_options, shard_indices
from .config import TrainConfig
from .distributed import DistContext

__all__ = ["TrainData", "global_batch_indices", "to_time_major"]

_RANK_SEED_STRIDE = 1_000_003


def global_batch_indices(
    n: int, *, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """``[steps, batch_size // world_size]``: the samples ``rank`` gets at each step of ``epoch``."""
    if batch_size % world_size:
        raise ConfigError(
            f"batch_size {batch_size} must be divisible by the number of processes {world_size}"
        )
    steps = n // batch_size
    order = shard_indices(n, shuffle=True, seed=seed, epoch=epoch)[: steps * batch_size]
    return order.view(steps, world_size, batch_size // world_size)[:, rank]


class _IndexView(Dataset):
    """``view[i] = dataset[indices[i]]``."""

    def __init__(self, dataset: Any, indices: torch.Tensor) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return int(self.indices.numel())

    def __getitem__(self, i: int) -> Any:
        return self.dataset[int(self.indices[i])]


class _BatchIndexView(_IndexView):
    """An index view of an in-memory dataset, keeping its vectorised ``get_batch``."""

    def get_batch(
        self, idx: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.get_batch(self.indices[idx], generator)


def to_time_major(x: torch.Tensor, is_sequence: bool) -> torch.Tensor:
    """``[B, T, C, H, W] -> [T, B, C, H, W]`` for event data; static ``[B, C, H, W]`` unchanged."""
    return x.transpose(0, 1) if is_sequence else x


class TrainData:
    """The dataset bundle plus this rank's train and test batch streams.

    Example::

        data = TrainData.build(cfg, ctx)
        for x, y in data.train_batches(epoch=0, start_step=0): ...
    """

    def __init__(self, bundle: DataBundle, cfg: TrainConfig, ctx: DistContext) -> None:
        self.bundle, self.cfg, self.ctx = bundle, cfg, ctx
        n = len(cast(Sized, bundle.train))  # map-style datasets
        if n < cfg.batch_size:
            raise ConfigError(
                f"the training set of {bundle.name} has {n} samples, fewer than one batch "
                f"(batch_size {cfg.batch_size})"
            )
        if cfg.batch_size % ctx.world_size:
            raise ConfigError(
                f"batch_size {cfg.batch_size} must be divisible by the number of processes "
                f"{ctx.world_size}"
            )
        self.steps_per_epoch = n // cfg.batch_size

    @classmethod
    def build(cls, cfg: TrainConfig, ctx: DistContext) -> TrainData:
        """Load ``cfg.dataset`` (``DatasetError`` / ``ValueError`` explain what is wrong)."""
        try:
            options: dict[str, object] = {}
            accepted = dataset_options(cfg.dataset)
            if "time_steps" in accepted:  # event data: T frames per sample
                options["time_steps"] = cfg.timesteps
            for name in ("split", "split_by", "cache_dir"):
                value = getattr(cfg, name)
                if value in ("auto", ""):
                    continue
                if name not in accepted:
                    flag = "--" + name.replace("_", "-")
                    raise ConfigError(f"{flag} is an event-data option; {cfg.dataset} has none")
                options[name] = value
            bundle = build_datasets(
                cfg.dataset, cfg.data_dir or None, augment=cfg.augment_flag(), **options
            )
        except ValueError as err:  # unknown name or option (DatasetError: files missing/bad)
            raise ConfigError(str(err)) from None
        return cls(bundle, cfg, ctx)

    def _device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.ctx.device
        x = to_time_major(x, self.bundle.is_sequence)
        return x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)

    def train_batches(
        self, epoch: int, start_step: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's batches of ``epoch`` from step ``start_step`` on, time-major, on device."""
        cfg, ctx = self.cfg, self.ctx
        indices = global_batch_indices(
            len(cast(Sized, self.bundle.train)),
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            epoch=epoch,
            rank=ctx.rank,
            world_size=ctx.world_size,
        ).reshape(-1)
        base = self.bundle.train
        view_cls = _BatchIndexView if hasattr(base, "get_batch") else _IndexView
        loader = BatchLoader(
            view_cls(base, indices),
            cfg.batch_size // ctx.world_size,
            shuffle=False,
            seed=cfg.seed + _RANK_SEED_STRIDE * ctx.rank,  # augmentation differs per rank
            num_workers=cfg.workers,
        )
        loader.set_epoch(epoch)
        for x, y in itertools.islice(loader, start_step, None):
            yield self._device(x, y)

    def test_batches(
        self, batch_size: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's share of the test set (all ranks together cover it exactly once)."""
        loader = BatchLoader(
            self.bundle.test,
            batch_size or self.cfg.eval_batch_size,
            shuffle=False,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
            even_shards=False,
            num_workers=self.cfg.workers,
        )
        for x, y in loader:
            yield self._device(x, y)
