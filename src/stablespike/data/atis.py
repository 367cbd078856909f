"""N-MNIST and N-Caltech101: ATIS binary event files (40 bits per event) -> cached count frames.

File format (Orchard et al. 2015, both datasets): 5 bytes per event, big-endian bit order:
bits 39-32 ``x``, 31-24 ``y``, bit 23 polarity, bits 22-0 timestamp (microseconds). An event
with ``y == 240`` is a timestamp-overflow marker (not an event): every later timestamp is
``2**13`` larger, as the datasets' own reader (``eventvision.py``) and tonic handle it.

Layouts:

* ``nmnist``: ``data_dir/Train/<0-9>/*.bin`` and ``data_dir/Test/<0-9>/*.bin`` (the official
  split), sensor 34 x 34.
* ``ncaltech101``: ``data_dir/<category>/*.bin``, one folder per category (``BACKGROUND_Google``
  included when present, as tonic and SpikingJelly do; labels follow the sorted folder names),
  sensor 180 x 240 (height x width; recordings are smaller and sit in its top-left corner). No
  official split: ``split`` / ``train_ratio`` per class as for CIFAR10-DVS
  (:func:`~stablespike.data.event_frames.split_per_class`, SpikingJelly's by default).

Frames: ``time_steps`` count frames per sample (:mod:`stablespike.data.events`), cached
atomically under ``data_dir/.stablespike_cache`` (or ``cache_dir``) and keyed by the files' names,
sizes and modification times (:mod:`stablespike.data.event_frames`), resized to ``size x size``.

Example:
    >>> import numpy as np, tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = os.path.join(d, "a.bin")
    ...     write_atis_bin(f, np.array([3]), np.array([5]), np.array([1]), np.array([70000]))
    ...     ev = read_atis_bin(f)
    >>> int(ev.x[0]), int(ev.y[0]), int(ev.p[0]), int(ev.t[0])
    (3, 5, 1, 70000)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import DatasetError
from .aedat import Events
from .event_frames import SPLITS, FrameFileDataset, Sample, cache_frames, natural_key
from .event_frames import split_per_class as _split
from .presets import dvs_pipelines
from .registry import DataBundle, register_dataset

__all__ = ["build_ncaltech101", "build_nmnist", "read_atis_bin", "write_atis_bin"]

CACHE_DIR = ".stablespike_cache"
FORMAT_VERSION = 1
_OVERFLOW_Y = 240
_OVERFLOW_STEP = 1 << 13
LAYOUT_BIN = "5-byte events: x (8 bits), y (8 bits), polarity (1 bit), timestamp (23 bits, us)"
NMNIST_LAYOUT = "Train/<0-9>/*.bin and Test/<0-9>/*.bin (N-MNIST, " + LAYOUT_BIN + ")"
NCALTECH_LAYOUT = (
    "one folder per category holding *.bin recordings (N-Caltech101, " + LAYOUT_BIN + ")"
)


def read_atis_bin(path: str | os.PathLike[str]) -> Events:
    """Events of an N-MNIST / N-Caltech101 ``.bin`` file (see the module doc)."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise DatasetError(
            f"cannot read event file ({err})", path=path, expected=LAYOUT_BIN
        ) from err
    if raw.size % 5:
        raise DatasetError(
            f"{raw.size} bytes is not a multiple of 5 (truncated file?)",
            path=path,
            expected=LAYOUT_BIN,
        )
    raw = raw.reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    p = raw[:, 2] >> 7
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    overflow = y == _OVERFLOW_Y
    if overflow.any():
        t = t + np.cumsum(overflow) * _OVERFLOW_STEP
        keep = ~overflow
        x, y, p, t = x[keep], y[keep], p[keep], t[keep]
    return Events(t=t, x=x, y=y, p=p)


def write_atis_bin(
    path: str | os.PathLike[str], x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray
) -> None:
    """Write events in the 40-bit format, with overflow markers where ``t >= 2**23``; for tests."""
    x, y, p, t = (np.asarray(a, dtype=np.int64) for a in (x, y, p, t))
    rows: list[np.ndarray] = []
    base = 0
    for xi, yi, pi, ti in zip(x, y, p, t, strict=True):
        while ti - base >= 1 << 23:  # an overflow marker adds 2**13 to every later timestamp
            base += _OVERFLOW_STEP
            rows.append(np.array([0, _OVERFLOW_Y, 0, 0, 0]))
        rel = ti - base
        rows.append(np.array([xi, yi, (pi << 7) | (rel >> 16), (rel >> 8) & 0xFF, rel & 0xFF]))
    data = np.stack(rows).astype(np.uint8) if rows else np.zeros((0, 5), np.uint8)
    Path(path).write_bytes(data.tobytes())


def _bins(folder: Path, layout: str) -> list[Path]:
    files = sorted(
        (p for p in folder.iterdir() if p.suffix == ".bin" and p.is_file()), key=natural_key
    )
    if not files:
        raise DatasetError("no .bin recordings", path=folder, expected=layout)
    return files


def _bundle(
    name: str,
    root: Path,
    train: list[Sample],
    test: list[Sample],
    *,
    height: int,
    width: int,
    time_steps: int,
    split_by: str,
    size: int,
    augment: bool,
    padding: int,
    cache_dir: str | None,
    layout: str,
    class_names: tuple[str, ...],
) -> DataBundle:
    cache = cache_frames(
        name,
        train + test,
        read_atis_bin,
        time_steps=time_steps,
        split_by=split_by,
        height=height,
        width=width,
        params={"format": FORMAT_VERSION, "dataset": name},
        cache_root=root / CACHE_DIR if cache_dir is None else Path(cache_dir),
        layout=layout,
    )
    train_tf, test_tf = dvs_pipelines(size=size, augment=augment, padding=padding)
    return DataBundle(
        name=name,
        train=FrameFileDataset([(cache / s.relpath(), s.label) for s in train], train_tf),
        test=FrameFileDataset([(cache / s.relpath(), s.label) for s in test], test_tf),
        num_classes=len(class_names),
        input_shape=(2, size, size),
        is_sequence=True,
        time_steps=time_steps,
        class_names=class_names,
    )


@register_dataset("nmnist")
def build_nmnist(
    data_dir: str | None = None,
    *,
    time_steps: int = 10,
    split_by: str = "number",
    augment: bool = False,
    size: int = 34,
    padding: int = 2,
    cache_dir: str | None = None,
) -> DataBundle:
    """N-MNIST frames ``[T, 2, 34, 34]`` with its official train/test split (see the module doc)."""
    if data_dir is None:
        raise DatasetError("nmnist needs data_dir", expected=NMNIST_LAYOUT)
    root = Path(data_dir)
    digits = tuple(str(d) for d in range(10))
    parts: dict[str, list[Sample]] = {}
    for part in ("Train", "Test"):
        folder = root / part
        missing = [d for d in digits if not (folder / d).is_dir()]
        if missing:
            raise DatasetError(
                f"missing {part} digit folder(s) {', '.join(missing)}", path=folder,
                expected=NMNIST_LAYOUT,
            )  # fmt: skip
        parts[part] = [
            Sample(f, int(d), f"{part}/{d}")
            for d in digits
            for f in _bins(folder / d, NMNIST_LAYOUT)
        ]
    return _bundle(
        "nmnist", root, parts["Train"], parts["Test"], height=34, width=34,
        time_steps=time_steps, split_by=split_by, size=size, augment=augment, padding=padding,
        cache_dir=cache_dir, layout=NMNIST_LAYOUT, class_names=digits,
    )  # fmt: skip


@register_dataset("ncaltech101")
def build_ncaltech101(
    data_dir: str | None = None,
    *,
    time_steps: int = 10,
    split_by: str = "number",
    split: str = "spikingjelly",
    train_ratio: float = 0.9,
    augment: bool = True,
    size: int = 48,
    padding: int = 4,
    cache_dir: str | None = None,
) -> DataBundle:
    """N-Caltech101 frames on a 180 x 240 canvas, split per class (see the module doc)."""
    if data_dir is None:
        raise DatasetError("ncaltech101 needs data_dir", expected=NCALTECH_LAYOUT)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError("N-Caltech101 directory not found", path=root, expected=NCALTECH_LAYOUT)
    classes = tuple(
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    )
    if not classes:
        raise DatasetError("no category folders", path=root, expected=NCALTECH_LAYOUT)
    per_class = [_bins(root / c, NCALTECH_LAYOUT) for c in classes]
    train, test = _split(per_class, split, train_ratio, classes)
    return _bundle(
        "ncaltech101", root,
        [Sample(f, y, classes[y]) for f, y in train], [Sample(f, y, classes[y]) for f, y in test],
        height=180, width=240, time_steps=time_steps, split_by=split_by, size=size,
        augment=augment, padding=padding, cache_dir=cache_dir, layout=NCALTECH_LAYOUT,
        class_names=classes,
    )  # fmt: skip
