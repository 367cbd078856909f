"""A dataset of ``(file path, label)`` samples, each read by the subclass and transformed.

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

from .transforms import Transform


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
