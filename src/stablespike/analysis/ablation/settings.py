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

from ...core.errors import ConfigError
from ...core.fileio import atomic_write_json
from ...core.options import batch_size_option, check_values, normalise_keys, option
from ...train.config import TrainConfig

FASHION_MNIST_TRAIN, FASHION_MNIST_TEST = 60_000, 10_000


@dataclass(frozen=True)
class GridSettings:
    """Training options shared by all cells (defaults: the CPU-sized grid of docs/RESULTS.md).

    An overlay on :class:`~stablespike.train.config.TrainConfig`: :meth:`train_config` is the
    configuration of a cell's run, and :meth:`validate` checks the values with training's own
    rules (plus the subset sizes).
    """

    model: str = option("fmnist-cnn", "model of every run", group="grid", metavar="NAME")
    epochs: int = option(1, "epochs per run", group="grid", minimum=1)
    train_subset: int = option(
        2000, "training images drawn from Fashion-MNIST", group="grid", metavar="N"
    )
    test_subset: int = option(
        1000, "test images drawn from Fashion-MNIST", group="grid", metavar="N"
    )
    subset_seed: int = option(0, "seed of the subset draw", group="grid")
    timesteps: int = option(4, "T", group="grid", metavar="T", minimum=1)
    batch_size: int = batch_size_option(32, "batch size of every run", runtime=False)
    lr: float = option(2e-3, "peak learning rate, AdamW", group="grid")

    def train_config(self, **changes: Any) -> TrainConfig:
        """The training configuration of a run of this grid (``changes`` on top; not validated)."""
        return TrainConfig(
            model=self.model,
            epochs=self.epochs,
            timesteps=self.timesteps,
            batch_size=self.batch_size,
            lr=self.lr,
            **changes,
        )

    def validate(self) -> GridSettings:
        """Raise :class:`~stablespike.core.errors.ConfigError` naming the first bad value."""
        check_values(self)
        if not 1 <= self.train_subset <= FASHION_MNIST_TRAIN:
            raise ConfigError(f"train_subset must be in 1..{FASHION_MNIST_TRAIN}")
        if not 1 <= self.test_subset <= FASHION_MNIST_TEST:
            raise ConfigError(f"test_subset must be in 1..{FASHION_MNIST_TEST}")
        if self.batch_size > self.train_subset:
            raise ConfigError(
                f"batch_size {self.batch_size} exceeds train_subset {self.train_subset}"
            )
        self.train_config().validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GridSettings:
        """From :meth:`to_dict` output; an unknown name raises ``ConfigError``."""
        return cls(**normalise_keys(values, cls, source="grid settings"))

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
