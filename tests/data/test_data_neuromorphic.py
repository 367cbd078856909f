"""N-MNIST, N-Caltech101 (40-bit ATIS files), DVS128 Gesture (AEDAT 3.1 + CSV) and tonic interop.

Every file here is written in the dataset's real format; where tonic is installed its own readers
decode the same files as a cross-check.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from stablespike.data import DatasetError, build_datasets
from stablespike.data.aedat import _PACKET_HEADER, read_aedat31, write_aedat31
from stablespike.data.atis import read_atis_bin, write_atis_bin
from stablespike.data.events import as_events, events_to_frames

HAS_TONIC = importlib.util.find_spec("tonic") is not None


def _events(
    seed: int, n: int, w: int, h: int, t0: int = 0, step: int = 40
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    t = t0 + np.cumsum(rng.integers(1, step, n))
    return rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n), t


def _naive(x, y, p, t, time_steps: int, h: int, w: int) -> np.ndarray:
    out = np.zeros((time_steps, 2, h, w), np.int64)
    n = len(x)
    for i in range(n):
        out[min(i // (n // time_steps), time_steps - 1), p[i], y[i], x[i]] += 1
    return out


# --- the 40-bit ATIS format ---------------------------------------------------------------


def test_atis_bin_round_trip_with_timestamp_overflow(tmp_path: Path) -> None:
    x, y, p, t = _events(0, 500, 34, 34, step=120000)  # spans several 2**23 us periods
    assert t.max() > 3 * 2**23
    write_atis_bin(tmp_path / "a.bin", x, y, p, t)
    ev = read_atis_bin(tmp_path / "a.bin")
    for got, want in zip((ev.x, ev.y, ev.p, ev.t), (x, y, p, t), strict=True):
        assert np.array_equal(got, want)
    (tmp_path / "b.bin").write_bytes(bytes(7))
    with pytest.raises(DatasetError, match="not a multiple of 5"):
        read_atis_bin(tmp_path / "b.bin")


@pytest.mark.skipif(not HAS_TONIC, reason="tonic is not installed (see Makefile interop)")
def test_atis_reader_agrees_with_tonic(tmp_path: Path) -> None:
    from tonic.io import read_mnist_file

    x, y, p, t = _events(1, 300, 34, 34, step=90000)
    write_atis_bin(tmp_path / "a.bin", x, y, p, t)
    theirs = read_mnist_file(str(tmp_path / "a.bin"), dtype=np.dtype(
        [("x", int), ("y", int), ("t", int), ("p", int)]))  # fmt: skip
    ours = read_atis_bin(tmp_path / "a.bin")
    for k in ("x", "y", "t", "p"):
        assert np.array_equal(getattr(ours, k), theirs[k]), k


def _nmnist_tree(root: Path, per_digit: int = 2) -> dict[Path, tuple]:
    written = {}
    for part in ("Train", "Test"):
        for d in range(10):
            for i in range(per_digit):
                path = root / part / str(d) / f"{i:05d}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                ev = _events(1000 * d + 10 * i + (part == "Test"), 120, 34, 34)
                write_atis_bin(path, *ev)
                written[path] = ev
    return written


def test_nmnist_reads_the_official_split(tmp_path: Path) -> None:
    written = _nmnist_tree(tmp_path)
    bundle = build_datasets("nmnist", tmp_path, time_steps=3)
    assert len(bundle.train) == len(bundle.test) == 20 and bundle.input_shape == (2, 34, 34)
    assert bundle.num_classes == 10
    x, y = bundle.test[7]
    src = tmp_path / "Test" / "3" / "00001.bin"
    assert y == 3 and np.array_equal(x.numpy(), _naive(*written[src], 3, 34, 34))
    (tmp_path / "Test" / "9" / "00000.bin").unlink()
    (tmp_path / "Test" / "9" / "00001.bin").unlink()
    with pytest.raises(DatasetError, match="no .bin recordings"):
        build_datasets("nmnist", tmp_path)


def test_ncaltech101_categories_split_and_canvas(tmp_path: Path) -> None:
    written = {}
    for c in ("BACKGROUND_Google", "airplanes", "anchor"):
        for i in range(1, 4):
            path = tmp_path / c / f"image_{i:04d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            written[path] = _events(len(c) * 10 + i, 200, 230, 170)
            write_atis_bin(path, *written[path])
    with pytest.warns(UserWarning, match="leaves it no test sample"):
        bundle = build_datasets("ncaltech101", tmp_path, time_steps=2, augment=False)
    assert bundle.class_names == ("BACKGROUND_Google", "airplanes", "anchor")
    assert len(bundle.train) == 9 and len(bundle.test) == 0  # ceil(3 * 0.9) = 3 per class
    tebn = build_datasets("ncaltech101", tmp_path, time_steps=2, split="tebn", train_ratio=2 / 3)
    assert len(tebn.test) == 3 and bundle.train[0][0].shape == (2, 2, 48, 48)
    raw = np.load(tebn.test.samples[1][0])["frames"]
    assert raw.shape == (2, 2, 180, 240)
    assert np.array_equal(
        raw, _naive(*written[tmp_path / "airplanes" / "image_0001.bin"], 2, 180, 240)
    )


# --- DVS128 Gesture: AEDAT 3.1 + labels -----------------------------------------------------


def _other_packet() -> bytes:
    """A non-polarity packet (type 2, special events), which readers must skip."""
    head = np.array([(2, 1, 8, 4, 0, 2, 2, 2)], _PACKET_HEADER)
    return head.tobytes() + bytes(16)


def _gesture_tree(root: Path) -> dict[str, tuple]:
    root.mkdir(parents=True, exist_ok=True)
    recordings = {}
    for name, seed in (("user01_fluorescent", 1), ("user02_led", 2), ("user24_natural", 3)):
        ev = _events(seed, 3000, 128, 128, t0=2**31 - 5000, step=20)  # crosses a TS overflow
        path = root / f"{name}.aedat"
        write_aedat31(path, *ev, packet_events=500)
        with open(path, "ab") as f:
            f.write(_other_packet())
        t = ev[3]
        rows = [(1 + seed, int(t[100]), int(t[1200])), (11, int(t[1500]), int(t[2900]))]
        (root / f"{name}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows)
        )
        recordings[name] = (ev, rows)
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\nuser02_led.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_natural.aedat\n")
    return recordings


def test_aedat31_packets_overflow_and_other_event_types(tmp_path: Path) -> None:
    ev = _events(5, 2000, 128, 128, t0=2**31 - 1000, step=5)
    path = tmp_path / "r.aedat"
    write_aedat31(path, *ev, packet_events=300)
    with open(path, "ab") as f:
        f.write(_other_packet())
    got = read_aedat31(path)
    for a, b in zip((got.x, got.y, got.p, got.t), ev, strict=True):
        assert np.array_equal(a, b)
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(DatasetError, match="claims 16 bytes"):
        read_aedat31(path)


@pytest.mark.skipif(not HAS_TONIC, reason="tonic is not installed (see Makefile interop)")
def test_aedat31_reader_agrees_with_tonic(tmp_path: Path) -> None:
    from tonic.io import get_aer_events_from_file, read_aedat_header_from_file

    ev = _events(6, 800, 128, 128, step=30)
    path = str(tmp_path / "r.aedat")
    write_aedat31(path, *ev, packet_events=100)
    version, start, _ = read_aedat_header_from_file(path)  # (tonic's read_dvs_ibm unpacks 2)
    raw = get_aer_events_from_file(path, version, start)
    addr, ours = raw["address"].astype(np.int64), read_aedat31(path)
    assert version == 3.1
    assert np.array_equal(ours.x, (addr >> 17) & 0x1FFF)  # tonic's DVS Gesture bit layout
    assert np.array_equal(ours.y, (addr >> 2) & 0x1FFF)
    assert np.array_equal(ours.p, (addr >> 1) & 1)
    assert np.array_equal(ours.t, raw["timeStamp"].astype(np.int64))


def test_dvs_gesture_samples_are_the_labelled_windows(tmp_path: Path) -> None:
    recordings = _gesture_tree(tmp_path)
    bundle = build_datasets("dvs_gesture", tmp_path, time_steps=4)
    assert len(bundle.train) == 4 and len(bundle.test) == 2 and bundle.num_classes == 11
    labels = [y for _, y in bundle.train.samples] + [y for _, y in bundle.test.samples]
    assert labels == [1, 10, 2, 10, 3, 10]
    (x, y, p, t), rows = recordings["user24_natural"]
    _, start, end = rows[0]
    keep = (t >= start) & (t < end)
    want = _naive(x[keep], y[keep], p[keep], t[keep], 4, 128, 128)
    assert np.array_equal(bundle.test[0][0].numpy(), want)
    (tmp_path / "user02_led_labels.csv").unlink()
    with pytest.raises(DatasetError, match="listed in trials_to_train.txt but missing"):
        build_datasets("dvs_gesture", tmp_path)


# --- tonic interop ------------------------------------------------------------------------


def test_structured_arrays_and_sensor_size() -> None:
    x, y, p, t = _events(9, 100, 34, 30)
    arr = np.zeros(100, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "?")])
    arr["t"], arr["x"], arr["y"], arr["p"] = t, x, y, p.astype(bool)
    frames = events_to_frames(arr, time_steps=4, split_by="number", sensor_size=(34, 30, 2))
    assert frames.shape == (4, 2, 30, 34)
    assert np.array_equal(frames, _naive(x, y, p, t, 4, 30, 34))
    with pytest.raises(TypeError, match="fields x, y, t, p"):
        as_events(np.zeros(3))
    with pytest.raises(ValueError, match="not both"):
        events_to_frames(arr, time_steps=1, split_by="number", height=1, width=1,
                         sensor_size=(34, 30, 2))  # fmt: skip


tonic = pytest.importorskip("tonic", reason="tonic is not installed (see Makefile interop)")


def test_tonic_structured_events_frame_like_ours() -> None:
    from tonic.io import make_structured_array

    x, y, p, t = _events(10, 200, 34, 34)
    arr = make_structured_array(x, y, t, p, dtype=tonic.datasets.NMNIST.dtype)
    ours = events_to_frames(arr, time_steps=5, split_by="number",
                            sensor_size=tonic.datasets.NMNIST.sensor_size)  # fmt: skip
    assert np.array_equal(ours, _naive(x, y, p, t, 5, 34, 34))


def test_tonic_dataset_without_files_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"does not download.*NMNIST") as info:
        build_datasets("tonic:NMNIST", tmp_path)
    assert str(tmp_path / "NMNIST") in str(info.value)
    with pytest.raises(ValueError, match="tonic has no dataset 'NoSuch'"):
        build_datasets("tonic:NoSuch", tmp_path)


def test_tonic_dataset_from_placed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = tmp_path / "native"
    written = _nmnist_tree(native, per_digit=1)
    placed = tmp_path / "tonic" / "NMNIST"
    for src in written:
        dest = placed / src.relative_to(native)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    # tonic's own completeness check wants all 70,000 files and the archives; these 20 stand in
    monkeypatch.setattr(tonic.datasets.NMNIST, "_check_exists", lambda self: True)
    bundle = build_datasets("tonic:NMNIST", tmp_path / "tonic", time_steps=3, size=34)
    assert bundle.name == "tonic:NMNIST" and len(bundle.train) == len(bundle.test) == 10
    ours = build_datasets("nmnist", native, time_steps=3)
    x, y = bundle.test[4]
    src = Path(bundle.test.source.data[bundle.test.indices[4]])
    assert y == int(src.parent.name)
    want = _naive(*written[native / src.relative_to(placed)], 3, 34, 34)
    assert np.array_equal(x.numpy(), want)
    assert ours.num_classes == bundle.num_classes == 10
