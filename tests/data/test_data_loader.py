"""Loader helper: seeded shuffling, disjoint rank shards, vectorised batches."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from stablespike.data import BatchLoader, ShardedSampler, TensorImageDataset, shard_indices
from stablespike.data.transforms import Compose, RandomCrop, RandomHorizontalFlip, ToUnitFloat


@pytest.mark.parametrize(("n", "world"), [(10, 1), (10, 3), (7, 4), (64, 8)])
def test_even_shards_are_disjoint_equal_and_from_one_permutation(n: int, world: int) -> None:
    shards = [shard_indices(n, seed=3, epoch=2, rank=r, world_size=world) for r in range(world)]
    sizes = {len(s) for s in shards}
    assert sizes == {n // world}
    flat = torch.cat(shards).tolist()
    assert len(set(flat)) == len(flat) == n - n % world
    full = shard_indices(n, seed=3, epoch=2).tolist()  # world_size=1: the whole permutation
    assert flat == full[: len(flat)]


def test_uneven_shards_cover_every_sample_exactly_once() -> None:
    shards = [shard_indices(10, seed=0, rank=r, world_size=4, even=False) for r in range(4)]
    assert sorted(len(s) for s in shards) == [2, 2, 3, 3]
    assert sorted(torch.cat(shards).tolist()) == list(range(10))


def test_permutation_depends_on_seed_and_epoch_only() -> None:
    a = shard_indices(50, seed=1, epoch=0)
    assert torch.equal(a, shard_indices(50, seed=1, epoch=0))
    assert not torch.equal(a, shard_indices(50, seed=1, epoch=1))
    assert not torch.equal(a, shard_indices(50, seed=2, epoch=0))
    assert torch.equal(shard_indices(5, shuffle=False), torch.arange(5))


def test_shard_indices_rejects_bad_rank() -> None:
    with pytest.raises(ValueError, match="rank"):
        shard_indices(10, rank=2, world_size=2)


def test_sharded_sampler_follows_set_epoch() -> None:
    s = ShardedSampler(20, seed=4, rank=1, world_size=2)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    assert list(s) == shard_indices(20, seed=4, epoch=1, rank=1, world_size=2).tolist()
    assert len(s) == 10


def _dataset(n: int = 23) -> TensorImageDataset:
    images = torch.randint(0, 256, (n, 1, 6, 6), dtype=torch.uint8)
    tf = Compose([ToUnitFloat(), RandomCrop(6, padding=2), RandomHorizontalFlip()])
    return TensorImageDataset(images, torch.arange(n), tf)


def _collect(loader: BatchLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


def test_batch_loader_is_reproducible_including_augmentation() -> None:
    ds = _dataset()
    a = _collect(BatchLoader(ds, 5, seed=9))
    b = _collect(BatchLoader(ds, 5, seed=9))
    assert len(a) == 5
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    c = _collect(BatchLoader(ds, 5, seed=10))
    assert not torch.equal(torch.cat([y for _, y in a]), torch.cat([y for _, y in c]))


def test_batch_loader_advances_epoch_and_set_epoch_replays() -> None:
    ds = _dataset()
    loader = BatchLoader(ds, 4, seed=1)
    epoch0 = torch.cat([y for _, y in loader])
    epoch1 = torch.cat([y for _, y in loader])
    assert loader.epoch == 2
    assert not torch.equal(epoch0, epoch1)
    assert sorted(epoch0.tolist()) == sorted(epoch1.tolist()) == list(range(23))
    loader.set_epoch(0)
    assert torch.equal(torch.cat([y for _, y in loader]), epoch0)


def test_batch_loader_batches_follow_the_shard_and_drop_last() -> None:
    ds = _dataset()
    loader = BatchLoader(ds, 4, seed=2, rank=1, world_size=3, drop_last=True)
    shard = shard_indices(23, seed=2, rank=1, world_size=3)  # 7 samples
    batches = [y for _, y in loader]
    assert len(loader) == len(batches) == 1
    assert torch.equal(batches[0], shard[:4])
    keep = BatchLoader(ds, 4, seed=2, rank=1, world_size=3)
    assert [len(y) for _, y in keep] == [4, 3]


def test_batch_loader_rank_shards_partition_the_data() -> None:
    ds = _dataset(24)
    seen = [
        torch.cat([y for _, y in BatchLoader(ds, 5, seed=0, rank=r, world_size=3)])
        for r in range(3)
    ]
    assert all(len(s) == 8 for s in seen)
    assert sorted(torch.cat(seen).tolist()) == list(range(24))


def test_fast_path_applies_the_transform_per_batch() -> None:
    images = torch.randint(0, 256, (8, 1, 4, 4), dtype=torch.uint8)
    ds = TensorImageDataset(images, torch.arange(8))
    x, y = next(iter(BatchLoader(ds, 8, shuffle=False)))
    assert x.dtype == torch.float32
    assert torch.equal(x, images.float() / 255)
    assert torch.equal(y, torch.arange(8))


class _ListDataset(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.full((1, 2, 2), float(i)), i


def test_generic_datasets_go_through_dataloader_in_shard_order() -> None:
    loader = BatchLoader(_ListDataset(10), 3, seed=5, rank=0, world_size=2)
    batches = list(loader)
    ys = torch.cat([y for _, y in batches])
    assert torch.equal(ys, shard_indices(10, seed=5, rank=0, world_size=2))
    assert all(y.dtype == torch.int64 for _, y in batches)
    assert torch.equal(batches[0][0][:, 0, 0, 0], batches[0][1].float())


def test_tensor_dataset_validates_inputs() -> None:
    with pytest.raises(ValueError, match="labels must be"):
        TensorImageDataset(torch.zeros(3, 1, 2, 2), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer"):
        TensorImageDataset(torch.zeros(3, 1, 2, 2), torch.zeros(3))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        TensorImageDataset(torch.zeros(3, 2, 2), torch.zeros(3, dtype=torch.int64))


def test_batch_loader_rejects_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        BatchLoader(_dataset(), 0)
