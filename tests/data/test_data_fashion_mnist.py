"""Fashion-MNIST: IDX reading, search order, checksummed atomic download."""

from __future__ import annotations

import gzip
import hashlib
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from stablespike.data import DatasetError, build_datasets
from stablespike.data import fashion_mnist as fm
from stablespike.data.idx import read_idx, write_idx

MEAN, STD = 0.2860, 0.3530


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train_labels": np.array([0, 9, 3, 3, 1, 5], dtype=np.uint8),
        "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "test_labels": np.array([2, 8, 7, 6], dtype=np.uint8),
    }


def _write(directory: Path, arrays: dict[str, np.ndarray], *, compress: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for key, base in fm.FILES.items():
        write_idx(directory / (base + (".gz" if compress else "")), arrays[key], compress=compress)


def _check_bundle(bundle, arrays: dict[str, np.ndarray]) -> None:  # noqa: ANN001
    assert bundle.num_classes == 10 and bundle.input_shape == (1, 28, 28)
    assert not bundle.is_sequence and bundle.class_names[0] == "T-shirt/top"
    assert len(bundle.train) == 6 and len(bundle.test) == 4
    for split, key in ((bundle.train, "train"), (bundle.test, "test")):
        for i in range(len(split)):
            x, y = split[i]
            expected = (torch.from_numpy(arrays[f"{key}_images"][i]).float() / 255 - MEAN) / STD
            assert x.dtype == torch.float32 and x.shape == (1, 28, 28)
            assert torch.allclose(x[0], expected, atol=1e-5)
            assert y == int(arrays[f"{key}_labels"][i])


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_files_from_data_dir(tmp_path: Path, compress: bool) -> None:
    arrays = _arrays()
    _write(tmp_path, arrays, compress=compress)
    _check_bundle(build_datasets("fashion_mnist", tmp_path, download=False), arrays)


def test_reads_torchvision_layout(tmp_path: Path) -> None:
    arrays = _arrays(1)
    _write(tmp_path / "FashionMNIST" / "raw", arrays)
    _check_bundle(build_datasets("fashion-mnist", tmp_path, download=False), arrays)


def test_without_data_dir_uses_the_debian_package_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = _arrays(2)
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    _write(system, arrays)  # the package installs the four .gz files
    monkeypatch.setattr(fm, "SYSTEM_DIRS", (system,))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _check_bundle(build_datasets("fashion_mnist"), arrays)
    assert not (tmp_path / "cache").exists()


def test_augmentation_is_off_by_default_and_can_be_enabled(tmp_path: Path) -> None:
    _write(tmp_path, _arrays())
    plain = build_datasets("fashion_mnist", tmp_path, download=False)
    assert torch.equal(plain.train[0][0], plain.test.transform(plain.train.images[0]))
    aug = build_datasets("fashion_mnist", tmp_path, download=False, augment=True)
    names = [type(t).__name__ for t in aug.train.transform.transforms]
    assert names == ["ToUnitFloat", "RandomCrop", "RandomHorizontalFlip", "Normalize"]
    assert aug.train.transform.transforms[1].padding == 2


def _serve_gz(
    tmp_path: Path, serve_dir: Callable[[Path], str], arrays: dict[str, np.ndarray]
) -> str:
    mirror = tmp_path / "mirror"
    _write(mirror, arrays)
    return serve_dir(mirror)


def _md5s(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in directory.glob("*.gz")}


def test_downloads_verifies_and_caches(
    tmp_path: Path, serve_dir: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = _arrays(3)
    url = _serve_gz(tmp_path, serve_dir, arrays)
    monkeypatch.setattr(fm, "MD5", _md5s(tmp_path / "mirror"))
    monkeypatch.setattr(fm, "SYSTEM_DIRS", (tmp_path / "absent",))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(fm.URL_ENV, url)
    _check_bundle(build_datasets("fashion_mnist"), arrays)
    cache = tmp_path / "cache" / "stablespike" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(fm.MD5)
    monkeypatch.setenv(fm.URL_ENV, "http://127.0.0.1:9/")  # now served from the cache
    _check_bundle(build_datasets("fashion_mnist"), arrays)


def test_download_into_data_dir_with_url_option(
    tmp_path: Path, serve_dir: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arrays = _arrays(4)
    url = _serve_gz(tmp_path, serve_dir, arrays)
    monkeypatch.setattr(fm, "MD5", _md5s(tmp_path / "mirror"))
    target = tmp_path / "data"
    _check_bundle(build_datasets("fashion_mnist", target, url=url.rstrip("/")), arrays)
    assert sorted(p.name for p in target.iterdir()) == sorted(fm.MD5)


def test_checksum_mismatch_raises_and_leaves_no_file(
    tmp_path: Path, serve_dir: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _serve_gz(tmp_path, serve_dir, _arrays())
    bad = _md5s(tmp_path / "mirror")
    bad["t10k-images-idx3-ubyte.gz"] = "0" * 32
    monkeypatch.setattr(fm, "MD5", bad)
    target = tmp_path / "data"
    with pytest.raises(DatasetError, match="checksum mismatch") as info:
        build_datasets("fashion_mnist", target, url=url)
    assert str(target / "t10k-images-idx3-ubyte.gz") in str(info.value)
    assert "train-images-idx3-ubyte" in str(info.value)  # the expected layout
    assert not (target / "t10k-images-idx3-ubyte.gz").exists()
    assert not list(target.glob(".*part"))


def test_unreachable_server_raises_dataset_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError, match="could not download") as info:
        build_datasets("fashion_mnist", tmp_path, url=f"http://127.0.0.1:{port}/")
    assert str(tmp_path) in str(info.value)
    assert not list(tmp_path.iterdir())


def test_missing_without_download_names_searched_dirs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found") as info:
        build_datasets("fashion_mnist", tmp_path / "nope", download=False)
    assert str(tmp_path / "nope") in str(info.value)
    assert "t10k-labels-idx1-ubyte" in str(info.value)


def test_malformed_idx_files_raise_dataset_error(tmp_path: Path) -> None:
    arrays = _arrays()
    _write(tmp_path, arrays)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(labels, arrays["train_images"], compress=True)  # 3-D where 1-D is expected
    with pytest.raises(DatasetError, match="bad IDX magic 0x00000803") as info:
        build_datasets("fashion_mnist", tmp_path, download=False)
    assert str(labels) in str(info.value) and "expected layout" in str(info.value)

    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09" + bytes(5)))
    with pytest.raises(DatasetError, match="payload has 5 bytes"):
        build_datasets("fashion_mnist", tmp_path, download=False)

    labels.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DatasetError, match="cannot read IDX"):
        build_datasets("fashion_mnist", tmp_path, download=False)


def test_image_label_count_mismatch(tmp_path: Path) -> None:
    arrays = _arrays()
    arrays["test_labels"] = arrays["test_labels"][:3]
    _write(tmp_path, arrays)
    with pytest.raises(DatasetError, match="4 images but 3 labels"):
        build_datasets("fashion_mnist", tmp_path, download=False)


def test_read_idx_detects_gzip_by_content(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    write_idx(tmp_path / "plain.gz", data)  # misleading suffix, not compressed
    write_idx(tmp_path / "packed", data, compress=True)
    assert np.array_equal(read_idx(tmp_path / "plain.gz", ndim=3), data)
    assert np.array_equal(read_idx(tmp_path / "packed", ndim=3), data)
