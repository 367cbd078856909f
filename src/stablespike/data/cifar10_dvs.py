"""CIFAR10-DVS: AEDAT 2.0 / 3.1 event recordings -> cached ``[T, 2, 128, 128]`` count frames.

Layout: ``data_dir/<class>/*.aedat`` for the ten classes ``airplane,
automobile, bird, cat, deer, dog, frog, horse, ship, truck`` (label = index in
that list). Events are decoded as described in :mod:`stablespike.data.aedat`
(AEDAT 2.0 or 3.1, read from the header; SpikingJelly orientation by default)
and integrated into ``time_steps`` frames as described in
:mod:`stablespike.data.events`.

Train/test split (``split``, per class; see :func:`~stablespike.data.event_frames.split_per_class`):
``"spikingjelly"`` (default) is SpikingJelly 2.0's: files in name order (plain
string order), the first ``ceil(n * train_ratio)`` (90%) train. ``"numeric"``
orders by the trailing number (``cat_9`` < ``cat_10``) and trains on the first
``int(n * train_ratio)``; ``"tebn"`` takes files 0-99 of each class as the test
set. On the real names (``cat_0`` .. ``cat_999``) the spikingjelly and numeric
test sets share 91 of their 100 files per class (spikingjelly tests on
``cat_91`` .. ``cat_99`` instead of ``cat_900`` .. ``cat_908``), so compare
accuracies only under the same split.

Cache: the frames of every recording are written once to
``data_dir/.stablespike_cache/<key>/<class>/<stem>.<hash>.npz`` (or under
``cache_dir``), where ``key`` hashes the format version, ``time_steps``,
``split_by``, ``orientation`` and the names, sizes and modification times of
the source files (see :mod:`stablespike.data.event_frames`). Building is atomic
(see :mod:`stablespike.data.cache`) and reports its progress on stderr.

Transforms: every frame is resized to ``size x size`` (48, bilinear with
antialiasing); training adds random crop ``size`` with zero padding
``padding`` (4) and a horizontal flip, the same for all ``T`` frames.
Counts are not normalised.

Example:
    >>> bundle = build_cifar10_dvs("/data/cifar10-dvs", time_steps=10)  # doctest: +SKIP
    >>> bundle.train[0][0].shape  # doctest: +SKIP
    torch.Size([10, 2, 48, 48])
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import DatasetError
from .aedat import ORIENTATIONS, SENSOR_SIZE, Events, read_dvs128
from .cifar import CIFAR10_CLASSES
from .event_frames import (
    SPLITS,
    FrameFileDataset,
    Sample,
    cache_frames,
    natural_key,
    split_per_class,
)
from .events import SPLIT_MODES
from .presets import dvs_pipelines
from .registry import DataBundle, register_dataset

__all__ = [
    "CACHE_DIR",
    "FORMAT_VERSION",
    "FrameFileDataset",
    "build_cifar10_dvs",
    "list_recordings",
    "prepare_frames",
    "split_recordings",
]

CACHE_DIR = ".stablespike_cache"
FORMAT_VERSION = 2
LAYOUT = (
    "one folder per class ("
    + ", ".join(CIFAR10_CLASSES)
    + ") holding AEDAT 2.0 or 3.1 *.aedat recordings"
)


def list_recordings(root: str | os.PathLike[str]) -> list[list[Path]]:
    """Per class (in label order), the ``.aedat`` files naturally sorted by name.

    Example:
        >>> list_recordings("/nonexistent")
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: CIFAR10-DVS directory not found: /nonexistent (expected layout: one folder per class (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck) holding AEDAT 2.0 or 3.1 *.aedat recordings)
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("CIFAR10-DVS directory not found", path=root, expected=LAYOUT)
    missing = [c for c in CIFAR10_CLASSES if not (root / c).is_dir()]
    if missing:
        raise DatasetError(
            f"missing class folder(s) {', '.join(missing)}", path=root, expected=LAYOUT
        )
    per_class = []
    for name in CIFAR10_CLASSES:
        files = [p for p in (root / name).iterdir() if p.suffix.lower() == ".aedat" and p.is_file()]
        if not files:
            raise DatasetError("no .aedat recordings", path=root / name, expected=LAYOUT)
        per_class.append(sorted(files, key=natural_key))
    return per_class


def split_recordings(
    per_class: list[list[Path]], train_ratio: float = 0.9, split: str = "spikingjelly"
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """``(train, test)`` lists of ``(file, label)`` under ``split`` (see the module doc).

    Example:
        >>> files = [[Path(f"c0_{i}") for i in range(10)]]
        >>> train, test = split_recordings(files, split="numeric")
        >>> len(train), test
        (9, [(PosixPath('c0_9'), 0)])
    """
    return split_per_class(per_class, split, train_ratio, CIFAR10_CLASSES)


def _read_events(source: Path, orientation: str) -> Events:
    return read_dvs128(source, orientation)


def _samples(root: Path) -> list[Sample]:
    return [
        Sample(f, label, CIFAR10_CLASSES[label])
        for label, files in enumerate(list_recordings(root))
        for f in files
    ]


def prepare_frames(
    root: str | os.PathLike[str],
    *,
    time_steps: int,
    split_by: str,
    orientation: str = "spikingjelly",
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Convert every recording under ``root`` to frames once; return the cache folder.

    Example:
        >>> prepare_frames("/data/cifar10-dvs", time_steps=10, split_by="number")  # doctest: +SKIP
        PosixPath('/data/cifar10-dvs/.stablespike_cache/4c1f...')
    """
    if split_by not in SPLIT_MODES:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    root = Path(root)
    return cache_frames(
        "cifar10_dvs",
        _samples(root),
        lambda source: _read_events(source, orientation),
        time_steps=time_steps,
        split_by=split_by,
        height=SENSOR_SIZE,
        width=SENSOR_SIZE,
        params={"format": FORMAT_VERSION, "orientation": orientation},
        cache_root=root / CACHE_DIR if cache_dir is None else Path(cache_dir),
        layout=LAYOUT,
    )


@register_dataset("cifar10_dvs")
def build_cifar10_dvs(
    data_dir: str | None = None,
    *,
    time_steps: int = 10,
    split_by: str = "number",
    split: str = "spikingjelly",
    augment: bool = True,
    size: int = 48,
    padding: int = 4,
    train_ratio: float = 0.9,
    orientation: str = "spikingjelly",
    cache_dir: str | None = None,
) -> DataBundle:
    """CIFAR10-DVS frames (see the module doc); converts and caches on first use.

    Options: ``time_steps`` (T), ``split_by`` ("number" | "time"), ``split``
    ("spikingjelly" | "tebn" | "numeric"), ``augment``, ``size`` (frame side after
    resizing), ``padding``, ``train_ratio``, ``orientation`` ("spikingjelly" | "raw"),
    ``cache_dir``.

    Example:
        >>> build_cifar10_dvs("/data/cifar10-dvs").input_shape  # doctest: +SKIP
        (2, 48, 48)
    """
    if data_dir is None:
        raise DatasetError("cifar10_dvs needs data_dir", expected=LAYOUT)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(data_dir)
    samples = {s.source: s for s in _samples(root)}
    train, test = split_recordings(list_recordings(root), train_ratio, split)
    cache = prepare_frames(
        root, time_steps=time_steps, split_by=split_by, orientation=orientation, cache_dir=cache_dir
    )
    train_tf, test_tf = dvs_pipelines(size=size, augment=augment, padding=padding)

    def in_cache(items: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        return [(cache / samples[f].relpath(), label) for f, label in items]

    return DataBundle(
        name="cifar10_dvs",
        train=FrameFileDataset(in_cache(train), train_tf),
        test=FrameFileDataset(in_cache(test), test_tf),
        num_classes=len(CIFAR10_CLASSES),
        input_shape=(2, size, size),
        is_sequence=True,
        time_steps=time_steps,
        class_names=CIFAR10_CLASSES,
    )
