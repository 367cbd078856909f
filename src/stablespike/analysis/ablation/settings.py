"""The size of an ablation grid: what every cell's training run shares.

``GridSettings`` fixes the model, data subset, epochs, T and batch size. They are saved as
``OUT/grid.json`` together with a fingerprint of the model's parameter shapes
(:func:`model_fingerprint`) and of the training defaults the grid does not set (a model name or a
default can change between versions); a later ``stablespike ablate`` in the same folder must use
the same values, architecture and defaults (finished cells are reused, so mixing them would mix
results). Seeds, threads and parallel jobs
are not part of it: adding a seed later just adds runs.

Example:
    >>> s = GridSettings(train_subset=500, test_subset=200)
    >>> GridSettings.from_dict(s.to_dict()) == s
    True
    >>> s.differences(GridSettings(train_subset=600, test_subset=200))
    ['train_subset: saved 500 vs now 600']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ...core.fileio import atomic_write_json

FASHION_MNIST_TRAIN, FASHION_MNIST_TEST = 60_000, 10_000


@dataclass(frozen=True)
class GridSettings:
    """Training options shared by all cells (defaults: the CPU-sized grid of docs/RESULTS.md)."""

    model: str = "fmnist-cnn"
    epochs: int = 1
    train_subset: int = 2000
    test_subset: int = 1000
    subset_seed: int = 0
    timesteps: int = 4
    batch_size: int = 32
    lr: float = 2e-3

    def validate(self) -> GridSettings:
        """Raise ``ValueError`` naming the first bad value; returns self."""
        for name in ("epochs", "timesteps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.train_subset <= FASHION_MNIST_TRAIN:
            raise ValueError(f"train_subset must be in 1..{FASHION_MNIST_TRAIN}")
        if not 1 <= self.test_subset <= FASHION_MNIST_TEST:
            raise ValueError(f"test_subset must be in 1..{FASHION_MNIST_TEST}")
        if self.batch_size > self.train_subset:
            raise ValueError(
                f"batch_size {self.batch_size} exceeds train_subset {self.train_subset}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GridSettings:
        """From :meth:`to_dict` output; unknown names raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown grid setting(s) {unknown}")
        return cls(**values)

    def differences(self, other: GridSettings) -> list[str]:
        """``name: saved A vs now B`` for every field that differs."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: saved {a[k]!r} vs now {b[k]!r}" for k in a if a[k] != b[k]]

    def subset_name(self) -> str:
        """File name of this grid's data subset."""
        return f"fmnist-{self.train_subset}-{self.test_subset}-s{self.subset_seed}.npz"


def model_fingerprint(model: nn.Module) -> str:
    """``<parameter count>-<hash>`` of the names and shapes of ``model``'s state-dict tensors.

    Example:
        >>> model_fingerprint(nn.Linear(3, 2))
        '8-7b973b602e'
    """
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items() if hasattr(v, "shape")]
    digest = hashlib.sha1(repr(shapes).encode()).hexdigest()[:10]
    return f"{sum(p.numel() for p in model.parameters())}-{digest}"


def pin_settings(out_dir: Path, settings: GridSettings, fingerprint: str = "") -> None:
    """Write ``OUT/grid.json``, or check that the saved one matches ``settings`` and
    ``fingerprint`` (model architecture and training defaults)."""
    path = out_dir / "grid.json"
    if path.exists():
        saved_all = json.loads(path.read_text())
        saved_print = saved_all.pop("fingerprint", "")
        diff = GridSettings.from_dict(saved_all).differences(settings)
        if saved_print != fingerprint:
            diff.append(
                f"model architecture / training defaults: saved {saved_print!r} vs now "
                f"{fingerprint!r}"
            )
        if diff:
            raise ValueError(
                f"{out_dir} holds a grid of another size ({'; '.join(diff)}); "
                "use the same options or another --out"
            )
        return
    atomic_write_json(path, {**settings.to_dict(), "fingerprint": fingerprint})
