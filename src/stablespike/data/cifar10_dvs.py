"""CIFAR10-DVS: AEDAT 2.0 event recordings -> cached ``[T, 2, 128, 128]`` count frames.

Layout: ``data_dir/<class>/*.aedat`` for the ten classes ``airplane,
automobile, bird, cat, deer, dog, frog, horse, ship, truck`` (label = index in
that list). Events are decoded as described in :mod:`stablespike.data.aedat`
(SpikingJelly orientation by default) and integrated into ``time_steps``
frames as described in :mod:`stablespike.data.events`.

Train/test split (fixed, SpikingJelly's convention): per class, the files are
sorted by name - naturally, so ``cat_9`` < ``cat_10`` as SpikingJelly sorts by
the trailing number - and the first ``int(n * train_ratio)`` (90%) are train,
the rest test.

Cache: the frames of every recording are written once to
``data_dir/.stablespike_cache/<key>/<class>/<stem>.npz`` (compressed, uint16
counts), where ``key`` hashes the format version, ``time_steps``,
``split_by``, ``orientation`` and the names and sizes of the source files.
Building is atomic (see :mod:`stablespike.data.cache`): an interrupted
preprocessing is never mistaken for a complete cache.

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
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from .aedat import ORIENTATIONS, SENSOR_SIZE, decode_dvs128, read_aedat2
from .cache import build_cache, cache_key
from .cifar import CIFAR10_CLASSES
from .errors import DatasetError
from .events import SPLIT_MODES, events_to_frames
from .file_dataset import FileDataset
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
FORMAT_VERSION = 1
LAYOUT = (
    "one folder per class (" + ", ".join(CIFAR10_CLASSES) + ") holding AEDAT 2.0 *.aedat recordings"
)
_FRAMES_LAYOUT = "compressed .npz with a 'frames' array [T, 2, 128, 128] (stablespike cache)"


def _natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def list_recordings(root: str | os.PathLike[str]) -> list[list[Path]]:
    """Per class (in label order), the ``.aedat`` files naturally sorted by name.

    Example:
        >>> list_recordings("/nonexistent")
        Traceback (most recent call last):
        ...
        stablespike.data.errors.DatasetError: CIFAR10-DVS directory not found: /nonexistent (expected layout: one folder per class (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck) holding AEDAT 2.0 *.aedat recordings)
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
        per_class.append(sorted(files, key=_natural_key))
    return per_class


def split_recordings(
    per_class: list[list[Path]], train_ratio: float = 0.9
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """``(train, test)`` lists of ``(file, label)``: the first ``int(n * ratio)`` files per class train.

    Example:
        >>> files = [[Path(f"c0_{i}") for i in range(10)]]
        >>> train, test = split_recordings(files)
        >>> len(train), test
        (9, [(PosixPath('c0_9'), 0)])
    """
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be in (0, 1), got {train_ratio}")
    train, test = [], []
    for label, files in enumerate(per_class):
        cut = int(len(files) * train_ratio)
        train += [(f, label) for f in files[:cut]]
        test += [(f, label) for f in files[cut:]]
    return train, test


def _frames_relpath(source: Path) -> Path:
    return Path(source.parent.name) / (source.stem + ".npz")


def _convert(source: Path, dest: Path, time_steps: int, split_by: str, orientation: str) -> None:
    events = decode_dvs128(*read_aedat2(source), orientation)
    try:
        frames = events_to_frames(
            events, time_steps=time_steps, split_by=split_by, height=SENSOR_SIZE, width=SENSOR_SIZE
        )
    except ValueError as err:
        raise DatasetError(str(err), path=source, expected=LAYOUT) from err
    dtype = np.uint16 if frames.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, frames=frames.astype(dtype))


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
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    sources = [f for files in list_recordings(root) for f in files]
    params = {
        "format": FORMAT_VERSION,
        "time_steps": time_steps,
        "split_by": split_by,
        "orientation": orientation,
        "sensor": SENSOR_SIZE,
    }
    files = [[str(_frames_relpath(f)), f.stat().st_size] for f in sources]
    key = cache_key({**params, "files": files})

    def build(tmp: Path) -> None:
        for source in sources:
            _convert(source, tmp / _frames_relpath(source), time_steps, split_by, orientation)

    cache_root = Path(root) / CACHE_DIR if cache_dir is None else Path(cache_dir)
    return build_cache(cache_root, key, build, {**params, "num_files": len(sources)})


class FrameFileDataset(FileDataset):
    """Samples ``(transform(frames float32 [T, 2, H, W]), label)`` read from cached ``.npz`` files.

    Example:
        >>> ds = FrameFileDataset([(Path("/cache/cat/cat_1.npz"), 3)])
        >>> len(ds)
        1
    """

    def read(self, path: Path) -> torch.Tensor:
        try:
            with np.load(path) as npz:
                frames = npz["frames"].astype(np.float32)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise DatasetError(
                f"cannot read cached frames ({err})", path=path, expected=_FRAMES_LAYOUT
            ) from err
        return torch.from_numpy(frames)


@register_dataset("cifar10_dvs")
def build_cifar10_dvs(
    data_dir: str | None = None,
    *,
    time_steps: int = 10,
    split_by: str = "number",
    augment: bool = True,
    size: int = 48,
    padding: int = 4,
    train_ratio: float = 0.9,
    orientation: str = "spikingjelly",
    cache_dir: str | None = None,
) -> DataBundle:
    """CIFAR10-DVS frames (see the module doc); converts and caches on first use.

    Options: ``time_steps`` (T), ``split_by`` ("number" | "time"),
    ``augment``, ``size`` (frame side after resizing), ``padding``,
    ``train_ratio``, ``orientation`` ("spikingjelly" | "raw"), ``cache_dir``.

    Example:
        >>> build_cifar10_dvs("/data/cifar10-dvs").input_shape  # doctest: +SKIP
        (2, 48, 48)
    """
    if data_dir is None:
        raise DatasetError("cifar10_dvs needs data_dir", expected=LAYOUT)
    root = Path(data_dir)
    train, test = split_recordings(list_recordings(root), train_ratio)
    cache = prepare_frames(
        root, time_steps=time_steps, split_by=split_by, orientation=orientation, cache_dir=cache_dir
    )
    train_tf, test_tf = dvs_pipelines(size=size, augment=augment, padding=padding)

    def in_cache(samples: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        return [(cache / _frames_relpath(f), label) for f, label in samples]

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
