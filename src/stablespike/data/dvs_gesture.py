"""DVS128 Gesture (IBM): AEDAT 3.1 recordings + label CSVs -> cached ``[T, 2, 128, 128]`` frames.

Layout (the ``DvsGesture`` folder of the official archive): ``userNN_<lighting>.aedat`` (AEDAT
3.1, :func:`~stablespike.data.aedat.read_aedat31`) with ``userNN_<lighting>_labels.csv`` beside
it (header ``class,startTime_usec,endTime_usec``, one row per gesture, classes 1-11), and
``trials_to_train.txt`` / ``trials_to_test.txt`` listing the recordings of each split (the
official split: users 1-23 train, 24-29 test).

Every CSV row is one sample: the events with ``startTime_usec <= t < endTime_usec``, label
``class - 1``. Events keep their recorded ``x``, ``y`` and polarity (as SpikingJelly and tonic
read them). Frames are cached atomically (see :mod:`stablespike.data.event_frames`): each
recording is read once for all its gestures.

Example:
    >>> build_dvs_gesture("/data/DvsGesture", time_steps=16).num_classes  # doctest: +SKIP
    11
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..core.errors import DatasetError
from .aedat import read_aedat31
from .event_frames import FrameFileDataset, Sample, cache_frames
from .presets import dvs_pipelines
from .registry import DataBundle, register_dataset

__all__ = ["GESTURE_CLASSES", "build_dvs_gesture", "read_gesture_labels"]

GESTURE_CLASSES = (
    "hand clapping", "right hand wave", "left hand wave", "right arm clockwise",
    "right arm counter clockwise", "left arm clockwise", "left arm counter clockwise",
    "arm roll", "air drums", "air guitar", "other gestures",
)  # fmt: skip
CACHE_DIR = ".stablespike_cache"
FORMAT_VERSION = 1
LAYOUT = (
    "userNN_<lighting>.aedat (AEDAT 3.1) + userNN_<lighting>_labels.csv "
    "(class,startTime_usec,endTime_usec) + trials_to_train.txt / trials_to_test.txt"
)


def read_gesture_labels(path: Path) -> list[tuple[int, int, int]]:
    """``(label 0-10, start_us, end_us)`` per row of a ``*_labels.csv`` file."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise DatasetError(f"cannot read labels ({err})", path=path, expected=LAYOUT) from err
    out = []
    for i, row in enumerate(rows):
        if not row or (i == 0 and not row[0].strip().isdigit()):
            continue  # header / blank lines
        try:
            label, start, end = (int(v) for v in row[:3])
        except ValueError:
            raise DatasetError(f"bad row {i + 1}: {row}", path=path, expected=LAYOUT) from None
        if not 1 <= label <= len(GESTURE_CLASSES) or end <= start:
            raise DatasetError(
                f"row {i + 1}: class {label} (expected 1-11) or times {start}..{end}",
                path=path,
                expected=LAYOUT,
            )
        out.append((label - 1, start, end))
    return out


def _trials(root: Path, part: str) -> list[Sample]:
    listing = root / f"trials_to_{part}.txt"
    if not listing.is_file():
        raise DatasetError(f"missing trials_to_{part}.txt", path=root, expected=LAYOUT)
    samples = []
    for name in listing.read_text().split():
        recording = root / name
        labels = recording.with_name(recording.stem + "_labels.csv")
        for path in (recording, labels):
            if not path.is_file():
                raise DatasetError(
                    f"listed in {listing.name} but missing", path=path, expected=LAYOUT
                )
        for label, start, end in read_gesture_labels(labels):
            samples.append(Sample(recording, label, part, (start, end)))
    return samples


@register_dataset("dvs_gesture")
def build_dvs_gesture(
    data_dir: str | None = None,
    *,
    time_steps: int = 16,
    split_by: str = "number",
    augment: bool = False,
    size: int = 128,
    padding: int = 4,
    cache_dir: str | None = None,
) -> DataBundle:
    """DVS128 Gesture frames with the official train/test trials (see the module doc)."""
    if data_dir is None:
        raise DatasetError("dvs_gesture needs data_dir", expected=LAYOUT)
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError("DVS128 Gesture directory not found", path=root, expected=LAYOUT)
    train, test = _trials(root, "train"), _trials(root, "test")
    cache = cache_frames(
        "dvs_gesture",
        train + test,
        read_aedat31,
        time_steps=time_steps,
        split_by=split_by,
        height=128,
        width=128,
        params={"format": FORMAT_VERSION, "dataset": "dvs_gesture"},
        cache_root=root / CACHE_DIR if cache_dir is None else Path(cache_dir),
        layout=LAYOUT,
    )
    train_tf, test_tf = dvs_pipelines(size=size, augment=augment, padding=padding)
    return DataBundle(
        name="dvs_gesture",
        train=FrameFileDataset([(cache / s.relpath(), s.label) for s in train], train_tf),
        test=FrameFileDataset([(cache / s.relpath(), s.label) for s in test], test_tf),
        num_classes=len(GESTURE_CLASSES),
        input_shape=(2, size, size),
        is_sequence=True,
        time_steps=time_steps,
        class_names=GESTURE_CLASSES,
    )
