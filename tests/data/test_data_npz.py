"""npz:PATH datasets and their validation errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stablespike.data import DatasetError, build_datasets


def _save(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


def _valid(n_train: int = 5, n_test: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, 6, 5), dtype=np.uint8),
        "y_train": np.array([0, 2, 1, 2, 0][:n_train], dtype=np.int32),
        "x_test": rng.integers(0, 256, (n_test, 6, 5), dtype=np.uint8),
        "y_test": np.array([1, 3, 0][:n_test], dtype=np.int64),
    }


def test_uint8_images_without_channel_axis(tmp_path: Path) -> None:
    arrays = _valid()
    path = _save(tmp_path / "toy.npz", **arrays)
    bundle = build_datasets(f"npz:{path}")
    assert bundle.name == f"npz:{path}"
    assert bundle.input_shape == (1, 6, 5) and bundle.num_classes == 4  # max label 3 + 1
    x, y = bundle.test[1]
    assert x.shape == (1, 6, 5) and x.dtype == torch.float32 and y == 3
    assert torch.allclose(x[0], torch.from_numpy(arrays["x_test"][1]).float() / 255)


def test_float_nchw_images_normalised_and_num_classes_given(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((4, 2, 3, 3)).astype(np.float64)
    path = _save(
        tmp_path / "f.npz", x_train=x, y_train=np.arange(4), x_test=x[:1], y_test=np.array([1])
    )
    bundle = build_datasets(f"npz:{path}", num_classes=10, mean=[0.5, 0.25], std=[2.0, 0.5])
    assert bundle.num_classes == 10 and bundle.input_shape == (2, 3, 3)
    got, label = bundle.train[2]
    assert label == 2
    assert torch.allclose(got[0], torch.from_numpy((x[2, 0] - 0.5) / 2.0).float(), atol=1e-6)
    assert torch.allclose(got[1], torch.from_numpy((x[2, 1] - 0.25) / 0.5).float(), atol=1e-6)


def test_relative_path_is_resolved_against_data_dir(tmp_path: Path) -> None:
    _save(tmp_path / "toy.npz", **_valid())
    bundle = build_datasets("npz:toy.npz", tmp_path)
    assert len(bundle.train) == 5 and len(bundle.test) == 3


def test_augment_option_adds_crop_and_flip(tmp_path: Path) -> None:
    path = _save(tmp_path / "toy.npz", **_valid())
    bundle = build_datasets(f"npz:{path}", augment=True, padding=1)
    steps = bundle.train.transform.transforms
    assert [type(t).__name__ for t in steps] == [
        "ToUnitFloat",
        "RandomCrop",
        "RandomHorizontalFlip",
    ]
    assert steps[1].size == (6, 5) and steps[1].padding == 1


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"y_test": None}, "missing array.*y_test"),
        ({"x_train": np.zeros((5, 1, 1, 6, 5), np.uint8)}, "x_train has 5 dims"),
        ({"y_train": np.array([0, 1, 2])}, r"y_train has shape \(3,\), want \(5,\)"),
        ({"y_train": np.array([0.0, 1, 2, 1, 0])}, "y_train has dtype float64, want integers"),
        ({"y_test": np.array([0, -1, 2])}, "negative labels"),
        (
            {"x_test": np.zeros((3, 7, 5), np.uint8)},
            r"x_train samples are \(1, 6, 5\) but x_test \(1, 7, 5\)",
        ),
        ({"x_train": np.zeros((5, 6, 5), np.int16)}, "want uint8 or float"),
    ],
)
def test_invalid_contents_raise_dataset_error(tmp_path: Path, change: dict, match: str) -> None:
    arrays = {k: v for k, v in {**_valid(), **change}.items() if v is not None}
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=match) as info:
        build_datasets(f"npz:{path}")
    assert path in str(info.value) and "x_train, x_test" in str(info.value)


def test_num_classes_smaller_than_labels(tmp_path: Path) -> None:
    path = _save(tmp_path / "toy.npz", **_valid())
    with pytest.raises(DatasetError, match="labels go up to 3 but num_classes is 2"):
        build_datasets(f"npz:{path}", num_classes=2)


def test_unreadable_files_raise_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read npz") as info:
        build_datasets(f"npz:{tmp_path / 'missing.npz'}")
    assert str(tmp_path / "missing.npz") in str(info.value)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match="cannot read npz"):
        build_datasets(f"npz:{tmp_path / 'text.npz'}")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(DatasetError, match="not an .npz archive"):
        build_datasets(f"npz:{tmp_path / 'single.npy'}")
    arrays = {**_valid(), "y_test": np.array([object(), 1, 2], dtype=object)}
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(DatasetError, match="cannot read npz"):
        build_datasets(f"npz:{tmp_path / 'pickled.npz'}")
