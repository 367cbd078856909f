"""The two dataset kinds: in memory with batch-level transforms, and one file per sample.

**In memory** (:class:`TensorImageDataset`, the fast path).

Small datasets (Fashion-MNIST, CIFAR, ``npz:``) are held as one tensor. A torch
``DataLoader`` would call the transform once per sample and collate in Python;
:meth:`TensorImageDataset.get_batch` instead indexes the whole batch and runs
the transforms once on ``[B, ...]``, which is what makes a Fashion-MNIST epoch
cheap on two CPU cores. Use it through :class:`stablespike.data.BatchLoader`.

Example:
    >>> import torch
    >>> ds = TensorImageDataset(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.arange(10))
    >>> x, y = ds.get_batch(torch.tensor([3, 1]))
    >>> x.shape, x.dtype, y.tolist()
    (torch.Size([2, 1, 28, 28]), torch.float32, [3, 1])

**One file per sample** (:class:`FileDataset`): ``(file path, label)`` samples, each read by
the subclass and transformed.

Example:
    >>> from pathlib import Path
    >>> class Sizes(FileDataset):
    ...     def read(self, path):
    ...         return torch.tensor([len(path.name)])
    >>> Sizes([(Path("/x/abc.png"), 2)])[0]
    (tensor([7]), 2)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from .transforms import ToUnitFloat, Transform

__all__ = ["TensorImageDataset"]


class TensorImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images ``[N, C, H, W]`` (or ``[N, T, C, H, W]``) + int labels ``[N]`` in memory.

    ``images`` may be uint8 (scaled to ``[0, 1]`` by the transform) or float;
    ``transform`` defaults to :class:`ToUnitFloat` so samples are always float32.

    Example:
        >>> import torch
        >>> ds = TensorImageDataset(torch.ones(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
        >>> len(ds), ds[1][1], ds.sample_shape
        (4, 1, (3, 8, 8))
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        transform: Transform | None = None,
    ) -> None:
        if images.dim() not in (4, 5):
            raise ValueError(
                f"images must be [N, C, H, W] or [N, T, C, H, W], got {tuple(images.shape)}"
            )
        if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"labels must be [N] with N={images.shape[0]}, got {tuple(labels.shape)}"
            )
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.transform: Transform = transform if transform is not None else ToUnitFloat()

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one (untransformed) sample, e.g. ``(1, 28, 28)``."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), int(self.labels[index])

    def get_batch(
        self, indices: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x[B, ...], y[B])`` for ``indices``, transformed in one vectorised call."""
        return self.transform.batch(self.images[indices], generator), self.labels[indices]


class FileDataset(Dataset[tuple[torch.Tensor, int]]):
    """Samples ``(transform(read(path)), label)``; subclasses implement :meth:`read`.

    Without a transform, :meth:`default` converts what :meth:`read` returns (identity here).
    """

    def __init__(self, samples: list[tuple[Path, int]], transform: Transform | None = None) -> None:
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def read(self, path: Path) -> torch.Tensor:
        """The sample stored at ``path`` (raise ``DatasetError`` for an unreadable file)."""
        raise NotImplementedError

    def default(self, x: torch.Tensor) -> torch.Tensor:
        """What a sample becomes when no transform is given."""
        return x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        x = self.read(path)
        return (self.transform(x) if self.transform is not None else self.default(x)), label
