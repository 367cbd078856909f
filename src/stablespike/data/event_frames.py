"""Shared machinery of the event-camera readers: recordings -> cached count frames, split, dataset.

:func:`cache_frames` integrates every sample's events into ``[T, 2, H, W]`` count frames once and
keeps them in an atomic cache (:mod:`stablespike.data.cache`) keyed by the reader's parameters and
by the name, size and modification time (nanoseconds) of every source file, so an edited
recording is converted again. Each sample's cache file is ``<class>/<name>.<hash>.npz``, the hash
taken over the exact source name and window: names differing only in case (``x.AEDAT``,
``x.aedat``) never share a file, even on a case-insensitive file system. Building prints
``<dataset>: building frames for N samples in DIR`` and a progress bar on stderr (``tqdm``);
reusing prints ``<dataset>: using cached frames in DIR``.

:func:`split_per_class` implements the per-class train/test splits:

* ``"spikingjelly"`` - SpikingJelly 2.0's ``split_to_train_test_set``: files in name order (plain
  string order, as torchvision's ``DatasetFolder`` lists them), the first
  ``ceil(n * train_ratio)`` train;
* ``"numeric"`` - files in natural order (``cat_9`` before ``cat_10``), the first
  ``int(n * train_ratio)`` train;
* ``"tebn"`` - natural order, the first ``n - round(n * train_ratio)`` files are the test set
  (files 0-99 of each CIFAR10-DVS class, as TEBN and others use), the rest train.

A class left without a training (or test) sample gets a ``UserWarning`` naming it.

Example:
    >>> from pathlib import Path
    >>> files = [[Path(f"c_{i}.aedat") for i in (1, 2, 10)]]
    >>> [p.name for p, _ in split_per_class(files, "spikingjelly", 0.5)[0]]
    ['c_1.aedat', 'c_10.aedat']
    >>> [p.name for p, _ in split_per_class(files, "numeric", 0.5)[0]]
    ['c_1.aedat']
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import DatasetError
from .aedat import Events
from .cache import build_cache, cache_key, is_complete
from .datasets import FileDataset
from .events import SPLIT_MODES, events_to_frames

__all__ = [
    "SPLITS",
    "FrameFileDataset",
    "Sample",
    "cache_frames",
    "natural_key",
    "split_per_class",
]

SPLITS = ("spikingjelly", "numeric", "tebn")
_FRAMES_LAYOUT = "compressed .npz with a 'frames' array [T, 2, H, W] (stablespike cache)"


def natural_key(path: Path) -> list[int | str]:
    """Sort key reading digit runs as numbers (``cat_9`` < ``cat_10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def split_per_class(
    per_class: Sequence[Sequence[Path]],
    split: str,
    train_ratio: float,
    class_names: Sequence[str] | None = None,
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """``(train, test)`` lists of ``(file, label)`` (see the module doc for the rules)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be in (0, 1), got {train_ratio}")
    train: list[tuple[Path, int]] = []
    test: list[tuple[Path, int]] = []
    for label, files in enumerate(per_class):
        n = len(files)
        if split == "spikingjelly":
            ordered = sorted(files, key=lambda p: p.name)
            cut = math.ceil(n * train_ratio)
            tr, te = ordered[:cut], ordered[cut:]
        elif split == "numeric":
            ordered = sorted(files, key=natural_key)
            cut = int(n * train_ratio)
            tr, te = ordered[:cut], ordered[cut:]
        else:
            ordered = sorted(files, key=natural_key)
            cut = n - round(n * train_ratio)
            te, tr = ordered[:cut], ordered[cut:]
        name = class_names[label] if class_names else str(label)
        for part, got in (("training", tr), ("test", te)):
            if not got:
                warnings.warn(
                    f"class {name!r} has {n} recording(s): the {split!r} split with train_ratio "
                    f"{train_ratio} leaves it no {part} sample",
                    UserWarning,
                    stacklevel=3,
                )
        train += [(f, label) for f in tr]
        test += [(f, label) for f in te]
    return train, test


@dataclass(frozen=True)
class Sample:
    """One sample to convert: ``source`` file, its ``label`` and class folder name ``group``;
    ``window`` ``(t_start, t_end)`` in microseconds selects part of a recording (DVS Gesture)."""

    source: Path
    label: int
    group: str
    window: tuple[int, int] | None = None

    def relpath(self) -> Path:
        ident = f"{self.source.name}|{self.window}".encode()
        digest = hashlib.sha1(ident).hexdigest()[:10]
        stem = self.source.stem + ("" if self.window is None else f"_{self.window[0]}")
        return Path(self.group) / f"{stem}.{digest}.npz"


def _file_record(path: Path) -> list[Any]:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def cache_frames(
    dataset: str,
    samples: Sequence[Sample],
    read: Callable[[Path], Events],
    *,
    time_steps: int,
    split_by: str,
    height: int,
    width: int,
    params: dict[str, Any],
    cache_root: Path,
    layout: str,
) -> Path:
    """Convert every sample to frames once (atomically, see the module doc); return the folder.

    ``read(source)`` decodes one recording; a recording holding several samples (windows) is
    read once. ``params`` are the reader's own parameters for the cache key.
    """
    if split_by not in SPLIT_MODES:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    full = {**params, "time_steps": time_steps, "split_by": split_by, "sensor": [height, width]}
    sources = sorted({s.source for s in samples})
    files = [[str(p.parent.name), *_file_record(p)] for p in sources]
    windows = [[str(s.relpath()), s.window] for s in samples]
    key = cache_key({**full, "files": files, "samples": windows})
    final = cache_root / key
    if is_complete(final, key):
        print(f"{dataset}: using cached frames in {final}", file=sys.stderr)
        return final

    def build(tmp: Path) -> None:
        from tqdm import tqdm

        print(
            f"{dataset}: building frames for {len(samples)} samples "
            f"({len(sources)} recordings) in {final}",
            file=sys.stderr,
        )
        last_source, last_events = None, Events(*(np.zeros(0, np.int64),) * 4)
        for sample in tqdm(samples, desc=f"{dataset} frames", unit="sample", file=sys.stderr):
            if last_source != sample.source:
                last_source, last_events = sample.source, read(sample.source)
            events = last_events
            if sample.window is not None:
                keep = (events.t >= sample.window[0]) & (events.t < sample.window[1])
                events = Events(events.t[keep], events.x[keep], events.y[keep], events.p[keep])
            try:
                frames = events_to_frames(
                    events, time_steps=time_steps, split_by=split_by, height=height, width=width
                )
            except ValueError as err:
                raise DatasetError(str(err), path=sample.source, expected=layout) from err
            dtype = np.uint16 if frames.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
            dest = tmp / sample.relpath()
            dest.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(dest, frames=frames.astype(dtype))

    return build_cache(cache_root, key, build, {**full, "num_files": len(samples)})


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
