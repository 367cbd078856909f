"""Seeded, shardable batch loading for any map-style dataset.

* :func:`shard_indices` - the sample indices one rank sees in one epoch: a
  permutation drawn from ``(seed, epoch)`` only (identical on every rank), cut
  into ``world_size`` disjoint contiguous slices. With ``even=True`` (training)
  the permutation is first truncated to a multiple of ``world_size`` so all
  ranks get the same number of samples (at most ``world_size - 1`` samples are
  left out per epoch, different ones every epoch). With ``even=False``
  (evaluation) the slices cover every sample exactly once and differ in size
  by at most one.
* :class:`ShardedSampler` - the same as a ``torch.utils.data.Sampler``.
* :class:`BatchLoader` - yields ``(x[B, ...], y[B])``. For a
  :class:`~stablespike.data.datasets.TensorImageDataset` it takes the fast path
  (one indexing op + one vectorised transform per batch, augmentation RNG
  seeded from ``(seed, epoch, rank)``); any other dataset goes through a torch
  ``DataLoader`` (``num_workers`` processes whose RNGs are seeded from
  ``(seed, epoch)``; with ``num_workers=0`` per-sample transforms use torch's
  global RNG, so seed it with ``torch.manual_seed``).

Each ``iter(loader)`` uses ``loader.epoch`` and then advances it by one, so
successive passes are differently shuffled yet reproducible; call
``set_epoch(e)`` to jump (e.g. when resuming).

Example:
    >>> import torch
    >>> from stablespike.data.datasets import TensorImageDataset
    >>> ds = TensorImageDataset(torch.zeros(10, 1, 4, 4), torch.arange(10))
    >>> loader = BatchLoader(ds, batch_size=4, seed=0, rank=0, world_size=2)
    >>> [y.numel() for _, y in loader]
    [4, 1]
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["BatchLoader", "ShardedSampler", "shard_indices"]

_PERMUTATION, _AUGMENTATION, _WORKERS = 0, 1, 2


def _generator(*key: int) -> torch.Generator:
    """A torch Generator seeded from a tuple of non-negative ints (well mixed)."""
    state = np.random.SeedSequence([int(k) for k in key]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def shard_indices(
    n: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    rank: int = 0,
    world_size: int = 1,
    even: bool = True,
) -> torch.Tensor:
    """Indices (int64 ``[n_rank]``) that ``rank`` reads in ``epoch``; see the module doc.

    Example:
        >>> a = shard_indices(10, seed=1, rank=0, world_size=2)
        >>> b = shard_indices(10, seed=1, rank=1, world_size=2)
        >>> sorted(a.tolist() + b.tolist()) == list(range(10))
        True
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
    if shuffle:
        order = torch.randperm(n, generator=_generator(_PERMUTATION, seed, epoch))
    else:
        order = torch.arange(n)
    if even:
        order = order[: n - n % world_size]
    return torch.tensor_split(order, world_size)[rank]


class ShardedSampler(Sampler[int]):
    """``torch.utils.data.Sampler`` over :func:`shard_indices`; call ``set_epoch`` each epoch.

    Example:
        >>> s = ShardedSampler(6, shuffle=False, rank=1, world_size=2)
        >>> list(s)
        [3, 4, 5]
    """

    def __init__(
        self,
        n: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        even: bool = True,
    ) -> None:
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size, self.even = rank, world_size, even
        self.epoch = 0
        self.indices()  # validate the arguments now, not at the first iteration

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        """This rank's indices for the current epoch."""
        return shard_indices(
            self.n,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            rank=self.rank,
            world_size=self.world_size,
            even=self.even,
        )

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.indices().numel()


class BatchLoader:
    """Iterable of shuffled, sharded batches ``(x[B, ...], y[B])``; see the module doc.

    Args:
        dataset: a map-style dataset of ``(x, y)`` samples.
        batch_size: samples per batch (per rank).
        shuffle: reshuffle every epoch (False for evaluation order).
        seed: base seed of the permutation and the augmentation.
        rank, world_size: this process's shard (``torch.distributed`` rank).
        drop_last: drop this rank's last incomplete batch.
        even_shards: equal-size shards (training) or exact coverage (evaluation).
        num_workers: ``DataLoader`` workers for non-tensor datasets.

    Example:
        >>> import torch
        >>> from stablespike.data.datasets import TensorImageDataset
        >>> ds = TensorImageDataset(torch.rand(5, 1, 2, 2), torch.arange(5))
        >>> sorted(torch.cat([y for _, y in BatchLoader(ds, 2, shuffle=True)]).tolist())
        [0, 1, 2, 3, 4]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        even_shards: bool = True,
        num_workers: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not isinstance(dataset, Sized):
            raise ValueError("dataset must be map-style (define __len__ and __getitem__)")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.sampler = ShardedSampler(
            len(dataset),
            shuffle=shuffle,
            seed=seed,
            rank=rank,
            world_size=world_size,
            even=even_shards,
        )

    @property
    def epoch(self) -> int:
        """The epoch the next ``iter()`` will use."""
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` use ``epoch``'s permutation and augmentation."""
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        indices = self.sampler.indices()
        epoch = self.sampler.epoch
        self.sampler.set_epoch(epoch + 1)
        if hasattr(self.dataset, "get_batch"):
            return self._fast(indices, epoch)
        return self._via_dataloader(indices, epoch)

    def _fast(
        self, indices: torch.Tensor, epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = _generator(_AUGMENTATION, self.sampler.seed, epoch, self.sampler.rank)
        fast: Any = self.dataset  # has get_batch (checked by __iter__)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield fast.get_batch(indices[start : start + self.batch_size], gen)

    def _via_dataloader(
        self, indices: torch.Tensor, epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=indices.tolist(),
            drop_last=self.drop_last,
            num_workers=self.num_workers,
            generator=_generator(_WORKERS, self.sampler.seed, epoch, self.sampler.rank),
            persistent_workers=False,
        )
        for x, y in loader:
            yield x, torch.as_tensor(y, dtype=torch.int64)
