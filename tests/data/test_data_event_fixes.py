"""CIFAR10-DVS as a new user meets it: split conventions, cache keys, file variants, messages.

Each test here failed on the reader before these fixes (see CHANGELOG).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from stablespike.data import build_datasets
from stablespike.data import cifar10_dvs as dvs
from stablespike.data.aedat import write_aedat2
from stablespike.data.cifar import CIFAR10_CLASSES

HEADER = ("#!AER-DAT2.0", "# This is a raw AE data file - do not edit")


def _events(seed: int, n: int = 200) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    return x, y, p, np.cumsum(rng.integers(1, 50, n)) + 1000


def _write(path: Path, seed: int, header: tuple[str, ...] = HEADER) -> None:
    x, y, p, t = _events(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_aedat2(path, (y << 8) | (x << 1) | p, t, header)


def _frames(seed: int, time_steps: int) -> np.ndarray:
    """Independent integration (split_by=number) in SpikingJelly's orientation."""
    x, y, p, _ = _events(seed)
    out = np.zeros((time_steps, 2, 128, 128), np.int64)
    for i in range(len(x)):
        k = min(i // (len(x) // time_steps), time_steps - 1)
        out[k, 1 - p[i], 127 - x[i], 127 - y[i]] += 1
    return out


def _tree(root: Path, per_class: int = 2) -> None:
    for label, name in enumerate(CIFAR10_CLASSES):
        for i in range(per_class):
            _write(root / name / f"{name}_{i}.aedat", seed=100 * label + i)


def _build(root: Path, **kw):
    return build_datasets("cifar10_dvs", root, size=128, augment=False, **kw)


def _all_frames(bundle) -> list[np.ndarray]:
    return [x.numpy() for ds in (bundle.train, bundle.test) for x, _ in ds]


def _holds(bundle, expected: np.ndarray) -> bool:
    return any(np.array_equal(x, expected) for x in _all_frames(bundle))


def _names(samples) -> list[str]:
    return [p.name for p, _ in samples]


# --- split: spikingjelly (default) | tebn | numeric -----------------------------------------


def test_splits_follow_each_convention(tmp_path: Path) -> None:
    for name in CIFAR10_CLASSES:
        (tmp_path / name).mkdir()
        for i in range(20):
            (tmp_path / name / f"{name}_{i}.aedat").touch()
    per_class = dvs.list_recordings(tmp_path)
    tests = {
        s: dvs.split_recordings(per_class, split=s)[1] for s in ("spikingjelly", "tebn", "numeric")
    }
    # SpikingJelly 2.0: DatasetFolder (name) order, ceil(20 * 0.9) = 18 train
    assert _names(tests["spikingjelly"])[:2] == ["airplane_8.aedat", "airplane_9.aedat"]
    assert _names(tests["tebn"])[:2] == ["airplane_0.aedat", "airplane_1.aedat"]
    assert _names(tests["numeric"])[:2] == ["airplane_18.aedat", "airplane_19.aedat"]
    assert all(len(t) == 20 for t in tests.values())
    assert dvs.split_recordings(per_class)[1] == tests["spikingjelly"]  # the default


def test_spikingjelly_and_numeric_test_sets_differ_on_the_real_names() -> None:
    names = [Path(f"cat_{i}.aedat") for i in range(1000)]
    _, ours = dvs.split_recordings([names], split="spikingjelly")
    _, numeric = dvs.split_recordings([names], split="numeric")
    assert len(set(_names(ours)) & set(_names(numeric))) == 91
    assert sorted(set(_names(ours)) - set(_names(numeric)))[0] == "cat_91.aedat"


def test_spikingjelly_split_is_spikingjellys_own() -> None:
    # spikingjelly.datasets imports torchvision, which has no build for this torch: skipped here
    utils = pytest.importorskip(
        "spikingjelly.datasets.utils", reason="spikingjelly.datasets needs torchvision"
    )
    names = [Path(f"cat_{i}.aedat") for i in range(1000)]
    order = sorted(names, key=lambda p: p.name)  # torchvision DatasetFolder order
    _, test_idx = utils._split_class_indices([list(range(1000))], 0.9, False)
    _, ours = dvs.split_recordings([names], split="spikingjelly")
    assert _names(ours) == [order[i].name for i in test_idx]


def test_split_reaches_the_dataset(tmp_path: Path) -> None:
    _tree(tmp_path, per_class=3)
    bundle = _build(tmp_path, time_steps=2, split="tebn", train_ratio=0.5)
    assert [p.name.split(".")[0] for p, _ in bundle.test.samples[:1]] == ["airplane_0"]
    with pytest.raises(ValueError, match="split must be one of"):
        _build(tmp_path, split="random")


def test_class_with_one_recording_warns(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "cat" / "cat_1.aedat").unlink()
    with pytest.warns(UserWarning, match="class 'cat' has 1 recording.*no test sample"):
        _build(tmp_path, time_steps=2)
    with pytest.warns(UserWarning, match="class 'cat' has 1 recording.*no training sample"):
        _build(tmp_path, time_steps=2, split="numeric")


# --- cache key and cache files ------------------------------------------------------------


def test_in_place_edit_of_a_recording_rebuilds_its_frames(tmp_path: Path) -> None:
    _tree(tmp_path)
    kw = dict(time_steps=2, train_ratio=0.5)
    assert _holds(_build(tmp_path, **kw), _frames(301, 2))
    target = tmp_path / "cat" / "cat_1.aedat"
    size, mtime = target.stat().st_size, target.stat().st_mtime_ns
    _write(target, seed=999)  # same number of events: same size
    os.utime(target, ns=(mtime + 10**9, mtime + 10**9))
    assert target.stat().st_size == size
    again = _build(tmp_path, **kw)
    assert _holds(again, _frames(999, 2)) and not _holds(again, _frames(301, 2))


def test_names_differing_in_case_keep_their_own_frames(tmp_path: Path) -> None:
    _tree(tmp_path)
    _write(tmp_path / "dog" / "dog_0.AEDAT", seed=77)
    bundle = _build(tmp_path, time_steps=2, train_ratio=0.5)
    dog = [x.numpy() for ds in (bundle.train, bundle.test) for x, y in ds if y == 5]
    assert len(dog) == 3 and len({s.name for ds in (bundle.train, bundle.test)
                                  for s, y in ds.samples if y == 5}) == 3  # fmt: skip
    for seed in (77, 500, 501):  # dog_0.AEDAT, dog_0.aedat, dog_1.aedat each kept their events
        assert any(np.array_equal(x, _frames(seed, 2)) for x in dog), seed


# --- file variants SpikingJelly reads -----------------------------------------------------


def test_comment_before_the_version_line_and_aedat31(tmp_path: Path) -> None:
    from stablespike.data.aedat import write_aedat31

    _tree(tmp_path)
    _write(tmp_path / "cat" / "cat_0.aedat", seed=300, header=("# made by a tool", *HEADER))
    x, y, p, t = _events(301)
    write_aedat31(tmp_path / "cat" / "cat_1.aedat", x, y, p, t, packet_events=64)
    bundle = _build(tmp_path, time_steps=2, train_ratio=0.5)
    assert _holds(bundle, _frames(300, 2)) and _holds(bundle, _frames(301, 2))


# --- messages -----------------------------------------------------------------------------


def test_cache_build_and_reuse_are_reported(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    _tree(tmp_path)
    _build(tmp_path, time_steps=2, train_ratio=0.5)
    err = capfd.readouterr().err
    assert "cifar10_dvs: building frames for 20 samples (20 recordings)" in err
    assert "20/20" in err  # the progress bar reached the end
    _build(tmp_path, time_steps=2, train_ratio=0.5)
    assert "cifar10_dvs: using cached frames in" in capfd.readouterr().err


# --- eval --timesteps with event data ------------------------------------------------------


def test_eval_timesteps_builds_event_frames_for_that_t(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stablespike.models import build_model
    from stablespike.train import batches, checkpoint_eval, trained_model
    from stablespike.train.config import TrainConfig

    cfg = TrainConfig(dataset="cifar10-dvs", model="cnn7-dvs", timesteps=4, data_dir=str(tmp_path))
    model = build_model("cnn7-dvs", num_classes=10, in_channels=2, timesteps=4)
    monkeypatch.setattr(trained_model, "read_checkpoint", lambda p: (Path(p), {}, cfg))
    monkeypatch.setattr(trained_model, "rebuild_model", lambda ckpt, p: model)
    seen: dict = {}

    class Built(Exception):
        pass

    def fake_build(name, data_dir=None, **options):
        seen.update(options)
        raise Built

    monkeypatch.setattr(batches, "build_datasets", fake_build)
    with pytest.raises(Built):
        checkpoint_eval.evaluate_checkpoint(tmp_path / "best.pt", timesteps=10)
    assert seen["time_steps"] == 10


def test_cli_options_reach_event_data_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from stablespike.core.errors import ConfigError
    from stablespike.train import batches
    from stablespike.train.config import TrainConfig, option_fields

    assert {"split", "split_by", "cache_dir"} <= {f.name for f in option_fields()}
    seen: dict = {}

    class Built(Exception):
        pass

    def fake_build(name, data_dir=None, **options):
        seen.update(options)
        raise Built

    monkeypatch.setattr(batches, "build_datasets", fake_build)
    cfg = TrainConfig(dataset="cifar10-dvs", split="tebn", split_by="time", cache_dir="/c")
    with pytest.raises(Built):
        batches.TrainData.build(cfg.validate(), ctx=None)
    assert seen["split"] == "tebn" and seen["split_by"] == "time" and seen["cache_dir"] == "/c"
    with pytest.raises(ConfigError, match="--split is an event-data option"):
        batches.TrainData.build(TrainConfig(split="tebn").validate(), ctx=None)
