"""``--dataset tonic:<Name>``: a tonic dataset whose files you have placed, as frames.

``tonic:NMNIST`` (any class of ``tonic.datasets``) reads ``data_dir/<Name>/...`` exactly as
``tonic.datasets.<Name>(save_to=data_dir)`` does, but never downloads: when tonic's own check
finds the files missing, a :class:`~stablespike.core.errors.DatasetError` names the folder tonic
looked in. Each sample's structured event array (fields ``x, y, t, p``) is integrated into
``time_steps`` count frames on every access (:func:`~stablespike.data.events.events_to_frames`
with the class's ``sensor_size``, or ``sensor_size=(W, H, 2)`` for datasets whose recordings
differ in size, e.g. ``NCALTECH101``); nothing is cached (use the native readers ``nmnist``,
``ncaltech101``, ``dvs_gesture``, ``cifar10_dvs`` for cached frames).

Split: datasets taking ``train=`` use it; the others are split per class
(:func:`~stablespike.data.event_frames.split_per_class`, ``split`` / ``train_ratio``) over the
file names tonic lists in ``dataset.data``. Labels are tonic's targets (sorted, numbered from 0
when they are names).

Example:
    >>> build_tonic("/data", name="NMNIST", time_steps=8).input_shape  # doctest: +SKIP
    (2, 34, 34)
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..core.errors import DatasetError
from .event_frames import SPLITS, split_per_class
from .events import events_to_frames, sensor_hw
from .presets import dvs_pipelines
from .registry import DataBundle, register_dataset

__all__ = ["TonicFrames", "build_tonic"]


class TonicFrames(Dataset):
    """``(transform(frames float32 [T, 2, H, W]), label)`` from a tonic dataset's samples."""

    def __init__(
        self,
        source: Any,
        indices: list[int],
        labels: dict[Any, int],
        *,
        time_steps: int,
        split_by: str,
        sensor: tuple[int, int],
        transform: Any = None,
    ) -> None:
        self.source, self.indices, self.labels = source, indices, labels
        self.time_steps, self.split_by, self.sensor = time_steps, split_by, sensor
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        events, target = self.source[self.indices[i]]
        frames = events_to_frames(
            events, time_steps=self.time_steps, split_by=self.split_by,
            height=self.sensor[0], width=self.sensor[1],
        )  # fmt: skip
        x = torch.from_numpy(frames.astype("float32"))
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[_key(target)]


def _key(target: Any) -> Any:
    return target.item() if hasattr(target, "item") else target


def _tonic_class(name: str) -> type[Any]:
    if importlib.util.find_spec("tonic") is None:
        raise DatasetError(
            f"tonic:{name} needs the tonic package (pip install --no-deps tonic plus its light "
            "requirements, see requirements/interop.txt)"
        )
    import tonic.datasets

    known = sorted(n for n in dir(tonic.datasets) if isinstance(getattr(tonic.datasets, n), type))
    classes = {n.lower(): getattr(tonic.datasets, n) for n in known}
    cls = classes.get(name.lower())
    if cls is None:
        raise ValueError(f"tonic has no dataset {name!r}; tonic.datasets has {', '.join(known)}")
    return cls


def _no_download(cls: type, data_dir: Path) -> type:
    where = data_dir / cls.__name__

    def download(self: Any) -> None:
        raise DatasetError(
            f"tonic {cls.__name__}: files not found (stablespike does not download; place "
            f"the files tonic expects, e.g. by tonic.datasets.{cls.__name__}(save_to="
            f"{str(data_dir)!r}) once)",
            path=where,
            expected=f"the extracted {cls.__name__} files under {where}",
        )

    return type(cls.__name__, (cls,), {"download": download, "__module__": cls.__module__})


@register_dataset("tonic", argument="name")
def build_tonic(
    data_dir: str | None = None,
    *,
    name: str,
    time_steps: int = 10,
    split_by: str = "number",
    split: str = "spikingjelly",
    train_ratio: float = 0.9,
    sensor_size: tuple[int, int, int] | None = None,
    augment: bool = False,
    size: int = 48,
    padding: int = 4,
) -> DataBundle:
    """Frames from ``tonic.datasets.<name>`` read from ``data_dir`` (see the module doc)."""
    cls = _tonic_class(name)
    if data_dir is None:
        raise DatasetError(f"tonic:{name} needs data_dir (tonic's save_to folder)")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(data_dir)
    safe = _no_download(cls, root)
    size_wh = sensor_size or getattr(cls, "sensor_size", None)
    if size_wh is None:
        raise ValueError(
            f"tonic {cls.__name__} recordings differ in size: pass sensor_size=(width, height, 2)"
        )
    sensor = sensor_hw(sensor_size=tuple(size_wh))
    if "train" in inspect.signature(cls.__init__).parameters:
        parts = {
            "train": safe(save_to=str(root), train=True),
            "test": safe(save_to=str(root), train=False),
        }
        indices = {k: list(range(len(v))) for k, v in parts.items()}
        targets = [_key(t) for ds in parts.values() for t in ds.targets]
    else:
        whole = safe(save_to=str(root))
        parts = {"train": whole, "test": whole}
        targets = [_key(t) for t in whole.targets]
        by_class: dict[Any, list[Path]] = {}
        position = {}
        for i, (path, target) in enumerate(zip(whole.data, targets, strict=True)):
            p = Path(str(path))
            by_class.setdefault(target, []).append(p)
            position[p] = i
        names = sorted(by_class)
        train, test = split_per_class([by_class[n] for n in names], split, train_ratio,
                                      [str(n) for n in names])  # fmt: skip
        indices = {"train": [position[p] for p, _ in train], "test": [position[p] for p, _ in test]}
    classes = sorted(set(targets))
    labels = {t: i for i, t in enumerate(classes)}
    train_tf, test_tf = dvs_pipelines(size=size, augment=augment, padding=padding)
    common: dict[str, Any] = dict(time_steps=time_steps, split_by=split_by, sensor=sensor)
    return DataBundle(
        name=f"tonic:{cls.__name__}",
        train=TonicFrames(parts["train"], indices["train"], labels, transform=train_tf, **common),
        test=TonicFrames(parts["test"], indices["test"], labels, transform=test_tf, **common),
        num_classes=len(classes),
        input_shape=(2, size, size),
        is_sequence=True,
        time_steps=time_steps,
        class_names=tuple(str(c) for c in classes),
    )
