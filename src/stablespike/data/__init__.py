"""Datasets for stablespike: readers, transforms and a fast in-memory batch loader.

A sample is ``(x, y)``: ``x`` float32 ``[C, H, W]`` (static image) or
``[T, C, H, W]`` (event frames, ``bundle.is_sequence``), ``y`` an int.
Nothing is read or downloaded at import time.

Example:
    >>> from stablespike.data import build_datasets, BatchLoader
    >>> bundle = build_datasets("fashion_mnist")  # doctest: +SKIP
    >>> for x, y in BatchLoader(bundle.train, batch_size=128, seed=0):  # doctest: +SKIP
    ...     pass  # x: [128, 1, 28, 28], y: [128]
"""

from ..core.errors import DatasetError
from .datasets import TensorImageDataset
from .loader import BatchLoader, ShardedSampler, shard_indices
from .registry import (
    DataBundle,
    available_datasets,
    build_datasets,
    dataset_options,
    register_dataset,
)

__all__ = [
    "BatchLoader",
    "DataBundle",
    "DatasetError",
    "ShardedSampler",
    "TensorImageDataset",
    "available_datasets",
    "build_datasets",
    "dataset_options",
    "register_dataset",
    "shard_indices",
]
