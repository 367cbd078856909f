"""CIFAR10-DVS: AEDAT 2.0 decoding, event->frame integration, split, atomic cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stablespike.data import DatasetError, build_datasets
from stablespike.data import cache as cache_module
from stablespike.data import cifar10_dvs as dvs
from stablespike.data.aedat import Events, decode_dvs128, read_aedat2, write_aedat2
from stablespike.data.cache import MARKER
from stablespike.data.cifar import CIFAR10_CLASSES
from stablespike.data.events import events_to_frames

HEADER = (
    "#!AER-DAT2.0",
    "# This is a raw AE data file - do not edit",
    "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event",
    "# Timestamps tick is 1 us",
)


def _raw_events(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw DVS128 fields (x, y, p, t) with increasing timestamps."""
    rng = np.random.default_rng(seed)
    x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    t = np.cumsum(rng.integers(0, 50, n)) + 1000
    return x, y, p, t


def _address(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (y << 8) | (x << 1) | p


def _write_recording(path: Path, seed: int, n: int = 300) -> None:
    x, y, p, t = _raw_events(seed, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_aedat2(path, _address(x, y, p), t, HEADER)


def _naive_frames(seed: int, time_steps: int, split_by: str, n: int = 300) -> np.ndarray:
    """Independent, loop-based integration in SpikingJelly's orientation."""
    x_raw, y_raw, p_raw, t = _raw_events(seed, n)
    frames = np.zeros((time_steps, 2, 128, 128), np.int64)
    for i in range(n):
        if split_by == "number":
            k = min(i // (n // time_steps), time_steps - 1)
        else:
            k = int((t[i] - t.min()) * time_steps // (t.max() - t.min() + 1))
        frames[k, 1 - p_raw[i], 127 - x_raw[i], 127 - y_raw[i]] += 1  # [p, y=127-x, x=127-y]
    return frames


def _tree(root: Path, per_class: int = 2) -> None:
    for label, name in enumerate(CIFAR10_CLASSES):
        for i in range(1, per_class + 1):
            _write_recording(root / name / f"{name}_{i}.aedat", seed=100 * label + i)


# --- AEDAT 2.0 and address decoding -------------------------------------------------


def test_read_aedat2_returns_exact_records(tmp_path: Path) -> None:
    x, y, p, t = _raw_events(0, 20)
    write_aedat2(tmp_path / "a.aedat", _address(x, y, p), t, HEADER)
    addresses, timestamps = read_aedat2(tmp_path / "a.aedat")
    assert addresses.dtype == np.uint32 and timestamps.dtype == np.int64
    assert addresses.tolist() == _address(x, y, p).tolist()
    assert timestamps.tolist() == t.tolist()


def test_decode_dvs128_bit_layout_and_orientation() -> None:
    addr = np.array([(5 << 8) | (3 << 1) | 1, (127 << 8) | (0 << 1) | 0], np.uint32)
    ts = np.array([10, 20])
    raw = decode_dvs128(addr, ts, "raw")
    assert (raw.x.tolist(), raw.y.tolist(), raw.p.tolist(), raw.t.tolist()) == (
        [3, 0],
        [5, 127],
        [1, 0],
        [10, 20],
    )
    sj = decode_dvs128(addr, ts, "spikingjelly")
    assert (sj.x.tolist(), sj.y.tolist(), sj.p.tolist()) == ([122, 0], [124, 127], [0, 1])
    with pytest.raises(ValueError, match="orientation"):
        decode_dvs128(addr, ts, "flipped")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x00\x00\x00\x01\x00\x00\x00\x02", "missing '#!AER-DAT' version line"),
        (b"#!AER-DAT3.1\r\n" + bytes(8), "unsupported AEDAT version '3.1' for this reader"),
        (b"#!AER-DAT2.0\r\n" + bytes(11), "11 bytes of events is not a multiple of 8"),
        (b"#!AER-DAT2.0", "unterminated header line"),
    ],
)
def test_malformed_aedat_raises_dataset_error(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.aedat"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=match) as info:
        read_aedat2(path)
    assert str(path) in str(info.value) and "AEDAT 2.0" in str(info.value)


# --- events -> frames ---------------------------------------------------------------


def test_number_split_puts_the_remainder_in_the_last_frame() -> None:
    n = 10
    ev = Events(t=np.arange(n), x=np.arange(n), y=np.zeros(n, np.int64), p=np.zeros(n, np.int64))
    frames = events_to_frames(ev, time_steps=3, split_by="number", height=1, width=10)
    assert frames[:, 0, 0].tolist() == [
        [1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
    ]
    assert frames[:, 1].sum() == 0


def test_time_split_uses_equal_windows_over_the_span() -> None:
    t = np.array([100, 104, 105, 109, 110, 119])  # span 20 -> windows of 5 us
    ev = Events(
        t=t, x=np.zeros(6, np.int64), y=np.zeros(6, np.int64), p=np.array([0, 1, 0, 1, 1, 1])
    )
    frames = events_to_frames(ev, time_steps=4, split_by="time", height=1, width=1)
    assert frames[:, :, 0, 0].tolist() == [[1, 1], [1, 1], [0, 1], [0, 1]]


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_frames_match_a_naive_loop(split_by: str) -> None:
    x, y, p, t = _raw_events(7)
    events = decode_dvs128(_address(x, y, p).astype(np.uint32), t, "spikingjelly")
    frames = events_to_frames(events, time_steps=5, split_by=split_by, height=128, width=128)
    assert np.array_equal(frames, _naive_frames(7, 5, split_by))
    assert frames.sum() == 300


def test_empty_recording_and_bad_coordinates() -> None:
    empty = Events(*(np.zeros(0, np.int64) for _ in range(4)))
    assert events_to_frames(empty, time_steps=2, split_by="time", height=2, width=2).sum() == 0
    bad = Events(t=np.array([0]), x=np.array([5]), y=np.array([0]), p=np.array([0]))
    with pytest.raises(ValueError, match="outside"):
        events_to_frames(bad, time_steps=1, split_by="number", height=2, width=2)


# --- dataset: layout, split, frames ---------------------------------------------------


def test_split_is_natural_sorted_first_90_percent_train(tmp_path: Path) -> None:
    for name in CIFAR10_CLASSES:
        (tmp_path / name).mkdir()
        for i in range(1, 11):
            (tmp_path / name / f"{name}_{i}.aedat").touch()
    (tmp_path / "cat" / "notes.txt").touch()
    per_class = dvs.list_recordings(tmp_path)
    assert [p.name for p in per_class[3]] == [f"cat_{i}.aedat" for i in range(1, 11)]
    train, test = dvs.split_recordings(per_class, split="numeric")
    assert len(train) == 90 and len(test) == 10
    assert [(p.name, label) for p, label in test[:2]] == [
        ("airplane_10.aedat", 0),
        ("automobile_10.aedat", 1),
    ]


def test_frames_are_exact_and_labels_follow_class_folders(tmp_path: Path) -> None:
    _tree(tmp_path)
    bundle = build_datasets(
        "cifar10_dvs", tmp_path, split="numeric", time_steps=4, size=128, augment=False
    )
    assert bundle.is_sequence and bundle.time_steps == 4 and bundle.input_shape == (2, 128, 128)
    assert bundle.num_classes == 10 and bundle.class_names == CIFAR10_CLASSES
    assert len(bundle.train) == 10 and len(bundle.test) == 10  # int(2 * 0.9) = 1 train per class
    for label in (0, 3, 9):
        x, y = bundle.test[label]
        assert y == label and x.dtype == torch.float32 and x.shape == (4, 2, 128, 128)
        assert np.array_equal(x.numpy(), _naive_frames(100 * label + 2, 4, "number"))
    x, y = bundle.train[3]
    assert y == 3 and np.array_equal(x.numpy(), _naive_frames(301, 4, "number"))


def test_default_pipeline_resizes_to_48_and_augments_train(tmp_path: Path) -> None:
    _tree(tmp_path)
    bundle = build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=3, split_by="time")
    assert bundle.input_shape == (2, 48, 48)
    x_train, _ = bundle.train[0]
    x_test, _ = bundle.test[0]
    assert x_train.shape == x_test.shape == (3, 2, 48, 48)
    names = [type(t).__name__ for t in bundle.train.transform.transforms]
    assert names == ["Resize", "RandomCrop", "RandomHorizontalFlip"]
    # the 48x48 resize keeps the event mass of each frame (up to border effects)
    raw = np.load(bundle.test.samples[0][0])["frames"].astype(np.float32)
    scale = (128 / 48) ** 2
    assert np.allclose(x_test.sum(dim=(1, 2, 3)).numpy() * scale, raw.sum(axis=(1, 2, 3)), rtol=0.1)


# --- cache ------------------------------------------------------------------------------


def _cache_entries(root: Path) -> list[str]:
    cache = root / dvs.CACHE_DIR
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_cache_is_reused_and_keyed_by_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path)
    build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2)
    (key,) = _cache_entries(tmp_path)
    marker = json.loads((tmp_path / dvs.CACHE_DIR / key / MARKER).read_text())
    assert marker["time_steps"] == 2 and marker["num_files"] == 20 and marker["key"] == key

    def fail(*args: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(dvs, "_read_events", fail)
    assert (
        build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2, augment=False)
        .test[0][0]
        .shape[0]
        == 2
    )
    with pytest.raises(AssertionError, match="converted again"):
        build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2, split_by="time")
    monkeypatch.undo()
    build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=3)
    _write_recording(tmp_path / "dog" / "dog_1.aedat", seed=1, n=10)  # source changed
    build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=3)
    assert len(_cache_entries(tmp_path)) == 3


def test_interrupted_preprocessing_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path)
    real = dvs._read_events
    calls = []

    def interrupted(*args: object) -> object:
        calls.append(args)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(dvs, "_read_events", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_datasets(
            "cifar10_dvs", tmp_path, split="numeric", time_steps=4, size=128, augment=False
        )
    assert _cache_entries(tmp_path) == []  # neither a final nor a temporary folder
    monkeypatch.undo()
    bundle = build_datasets(
        "cifar10_dvs", tmp_path, split="numeric", time_steps=4, size=128, augment=False
    )
    (key,) = _cache_entries(tmp_path)
    assert (tmp_path / dvs.CACHE_DIR / key / MARKER).is_file()
    assert len(list((tmp_path / dvs.CACHE_DIR / key).rglob("*.npz"))) == 20
    assert np.array_equal(bundle.test[5][0].numpy(), _naive_frames(502, 4, "number"))


def test_killed_preprocessing_leftovers_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path)
    real = dvs._read_events
    calls = []

    def killed(*args: object) -> object:
        calls.append(args)
        if len(calls) == 7:
            raise SystemExit(9)
        return real(*args)

    monkeypatch.setattr(dvs, "_read_events", killed)
    monkeypatch.setattr(
        cache_module.shutil, "rmtree", lambda *a, **k: None
    )  # no cleanup, as after SIGKILL
    with pytest.raises(SystemExit):
        build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2)
    monkeypatch.undo()
    (leftover,) = _cache_entries(tmp_path)
    assert leftover.startswith(".") and leftover.endswith(".tmp")
    # the builder is this (living) process: a concurrent build, kept by the next build
    build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2, size=128, augment=False)
    assert leftover in _cache_entries(tmp_path)
    # once its builder is gone (as after kill -9), the next build of the key deletes it
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    record = tmp_path / dvs.CACHE_DIR / leftover / cache_module.BUILDER
    record.write_text(record.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {dead}'))
    final_dir = [e for e in _cache_entries(tmp_path) if not e.startswith(".")][0]
    shutil.rmtree(tmp_path / dvs.CACHE_DIR / final_dir)  # force a rebuild
    bundle = build_datasets(
        "cifar10_dvs", tmp_path, split="numeric", time_steps=2, size=128, augment=False
    )
    entries = _cache_entries(tmp_path)
    assert len(entries) == 1 and (tmp_path / dvs.CACHE_DIR / entries[0] / MARKER).is_file()
    assert np.array_equal(bundle.test[9][0].numpy(), _naive_frames(902, 2, "number"))


def test_cache_folder_without_marker_is_not_trusted(tmp_path: Path) -> None:
    _tree(tmp_path)
    build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2)
    (key,) = _cache_entries(tmp_path)
    final = tmp_path / dvs.CACHE_DIR / key
    (final / MARKER).unlink()  # e.g. a half-copied cache
    (final / "cat" / "cat_2.npz").write_bytes(b"partial")
    bundle = build_datasets(
        "cifar10_dvs", tmp_path, split="numeric", time_steps=2, size=128, augment=False
    )
    assert (final / MARKER).is_file()
    assert np.array_equal(bundle.test[3][0].numpy(), _naive_frames(302, 2, "number"))


# --- errors -----------------------------------------------------------------------------


def test_missing_directory_and_class_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="CIFAR10-DVS directory not found") as info:
        build_datasets("cifar10_dvs", tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value) and "airplane, automobile" in str(info.value)
    _tree(tmp_path)
    for f in (tmp_path / "ship").iterdir():
        f.unlink()
    (tmp_path / "ship").rmdir()
    with pytest.raises(DatasetError, match="missing class folder.*ship") as info:
        build_datasets("cifar10_dvs", tmp_path)
    assert str(tmp_path) in str(info.value)
    (tmp_path / "ship").mkdir()
    with pytest.raises(DatasetError, match="no .aedat recordings") as info:
        build_datasets("cifar10_dvs", tmp_path)
    assert str(tmp_path / "ship") in str(info.value)
    with pytest.raises(DatasetError, match="needs data_dir"):
        build_datasets("cifar10_dvs")


def test_malformed_recording_names_the_file_and_leaves_no_cache(tmp_path: Path) -> None:
    _tree(tmp_path)
    bad = tmp_path / "frog" / "frog_2.aedat"
    bad.write_bytes(b"#!AER-DAT2.0\r\n" + bytes(13))
    with pytest.raises(DatasetError, match="not a multiple of 8") as info:
        build_datasets("cifar10_dvs", tmp_path)
    assert str(bad) in str(info.value)
    assert _cache_entries(tmp_path) == []


def test_corrupt_cached_frames_raise_dataset_error(tmp_path: Path) -> None:
    _tree(tmp_path)
    bundle = build_datasets("cifar10_dvs", tmp_path, split="numeric", time_steps=2)
    path = bundle.test.samples[0][0]
    path.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="cannot read cached frames") as info:
        bundle.test[0]
    assert str(path) in str(info.value)


def test_invalid_parameters(tmp_path: Path) -> None:
    _tree(tmp_path)
    with pytest.raises(ValueError, match="split_by"):
        build_datasets("cifar10_dvs", tmp_path, split="numeric", split_by="duration")
    with pytest.raises(ValueError, match="train_ratio"):
        build_datasets("cifar10_dvs", tmp_path, split="numeric", train_ratio=1.0)
