"""The Fashion-MNIST subset file (skipped where the dataset is not installed)."""

import numpy as np
import pytest
import torch

from stablespike.analysis.ablation.runner import write_fashion_mnist_subset


def test_subset_matches_the_dataset_pipeline(tmp_path) -> None:
    from stablespike.data import DatasetError, build_datasets

    try:
        bundle = build_datasets("fashion-mnist", augment=False, download=False)
    except DatasetError:
        pytest.skip("Fashion-MNIST is not installed here")
    path = write_fashion_mnist_subset(tmp_path / "s.npz", train=12, test=5, seed=3)
    data = np.load(path)
    assert data["x_train"].shape == (12, 1, 28, 28) and data["x_test"].dtype == np.float32
    idx = torch.randperm(60_000, generator=torch.Generator().manual_seed(3))[:12].sort().values
    x, y = bundle.train.get_batch(idx)
    np.testing.assert_allclose(data["x_train"], x.numpy())
    np.testing.assert_array_equal(data["y_train"], y.numpy())
    assert write_fashion_mnist_subset(path, train=99, test=99) == path  # kept, not rewritten
    with pytest.raises(ValueError, match="subset size"):
        write_fashion_mnist_subset(tmp_path / "t.npz", train=0, test=5)
