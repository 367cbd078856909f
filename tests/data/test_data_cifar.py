"""CIFAR-10/100 from pickled batches, extracted folders or the .tar.gz archive."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from stablespike.data import DatasetError, build_datasets
from stablespike.data.cifar import CIFAR10, CIFAR100
from stablespike.data.presets import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD


def _pickle(path: Path, entry: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(entry, f)


def _cifar10_dir(root: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write cifar-10-batches-py with 2 images per data batch and 3 test images."""
    rng = np.random.default_rng(seed)
    folder = root / CIFAR10.folder
    folder.mkdir(parents=True)
    data = rng.integers(0, 256, (13, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, 13).tolist()
    for i in range(5):
        sl = slice(2 * i, 2 * i + 2)
        _pickle(
            folder / f"data_batch_{i + 1}",
            {b"data": data[sl], b"labels": labels[sl], b"batch_label": b"x"},
        )
    _pickle(folder / "test_batch", {b"data": data[10:], b"labels": labels[10:]})
    return {"data": data, "labels": np.array(labels)}


def _expected(row: np.ndarray, mean: tuple, std: tuple) -> torch.Tensor:
    x = torch.from_numpy(row.reshape(3, 32, 32)).float() / 255
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def _check_cifar10(bundle, truth: dict[str, np.ndarray]) -> None:  # noqa: ANN001
    assert bundle.num_classes == 10 and bundle.input_shape == (3, 32, 32)
    assert bundle.class_names[0] == "airplane"
    assert len(bundle.train) == 10 and len(bundle.test) == 3
    assert bundle.train.labels.tolist() == truth["labels"][:10].tolist()  # batch order kept
    for i in range(3):
        x, y = bundle.test[i]
        assert torch.allclose(
            x, _expected(truth["data"][10 + i], CIFAR10_MEAN, CIFAR10_STD), atol=1e-5
        )
        assert y == truth["labels"][10 + i]


def test_reads_extracted_cifar10(tmp_path: Path) -> None:
    truth = _cifar10_dir(tmp_path)
    _check_cifar10(build_datasets("cifar10", tmp_path), truth)
    _check_cifar10(build_datasets("cifar10", tmp_path / CIFAR10.folder), truth)  # the folder itself


def test_train_augmentation_is_crop32_pad4_flip_by_default(tmp_path: Path) -> None:
    _cifar10_dir(tmp_path)
    bundle = build_datasets("cifar10", tmp_path)
    steps = bundle.train.transform.transforms
    assert [type(t).__name__ for t in steps] == [
        "ToUnitFloat",
        "RandomCrop",
        "RandomHorizontalFlip",
        "Normalize",
    ]
    assert steps[1].size == (32, 32) and steps[1].padding == 4
    plain = build_datasets("cifar10", tmp_path, augment=False)
    assert torch.equal(plain.train[4][0], plain.test.transform(plain.train.images[4]))


def test_extracts_the_archive_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    truth = _cifar10_dir(src)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / CIFAR10.archive, "w:gz") as tar:
        tar.add(src / CIFAR10.folder, arcname=CIFAR10.folder)
    _check_cifar10(build_datasets("cifar10", data_dir), truth)
    assert (data_dir / CIFAR10.folder / "test_batch").is_file()
    (data_dir / CIFAR10.archive).write_bytes(b"no longer a tarball")  # not read again
    _check_cifar10(build_datasets("cifar10", data_dir), truth)
    assert sorted(p.name for p in data_dir.iterdir()) == sorted([CIFAR10.archive, CIFAR10.folder])


def test_corrupt_archive_leaves_no_folder(tmp_path: Path) -> None:
    (tmp_path / CIFAR10.archive).write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(DatasetError, match="cannot extract archive") as info:
        build_datasets("cifar10", tmp_path)
    assert str(tmp_path / CIFAR10.archive) in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == [CIFAR10.archive]


def test_reads_cifar100_fine_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / CIFAR100.folder
    folder.mkdir()
    train = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    test = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
    _pickle(
        folder / "train",
        {b"data": train, b"fine_labels": [99, 0, 42, 7], b"coarse_labels": [1, 2, 3, 4]},
    )
    _pickle(folder / "test", {b"data": test, b"fine_labels": [5, 64], b"coarse_labels": [0, 0]})
    bundle = build_datasets("cifar100", tmp_path)
    assert bundle.num_classes == 100
    assert bundle.train.labels.tolist() == [99, 0, 42, 7]
    x, y = bundle.test[1]
    assert y == 64
    assert torch.allclose(x, _expected(test[1], CIFAR100_MEAN, CIFAR100_STD), atol=1e-5)


def test_missing_dir_names_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cifar10 not found") as info:
        build_datasets("cifar10", tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "data_batch_1" in message and CIFAR10.archive in message
    with pytest.raises(DatasetError, match="needs data_dir"):
        build_datasets("cifar100")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a pickle", "cannot read CIFAR file"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}), "missing key b'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "want N x 3072"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}), "outside 0..9"),
    ],
)
def test_malformed_batch_raises_dataset_error(tmp_path: Path, content: bytes, match: str) -> None:
    _cifar10_dir(tmp_path)
    bad = tmp_path / CIFAR10.folder / "data_batch_3"
    bad.write_bytes(content)
    with pytest.raises(DatasetError, match=match) as info:
        build_datasets("cifar10", tmp_path)
    assert str(bad) in str(info.value) and "expected layout" in str(info.value)
