"""Registry: names, options, npz:PATH parsing, nothing read at import time."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from stablespike.data import (
    DataBundle,
    TensorImageDataset,
    available_datasets,
    build_datasets,
    register_dataset,
    registry,
)


def test_builtin_datasets_are_listed() -> None:
    names = available_datasets()
    for name in ("fashion_mnist", "cifar10", "cifar100", "cifar10_dvs", "imagenet", "npz"):
        assert name in names
    assert names == sorted(names)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist3d'") as info:
        build_datasets("mnist3d")
    for name in ("cifar10", "fashion_mnist", "npz:PATH"):
        assert name in str(info.value)


def test_npz_needs_a_path_and_others_take_none() -> None:
    with pytest.raises(ValueError, match="npz:PATH"):
        build_datasets("npz")
    with pytest.raises(ValueError, match="takes no ':' argument"):
        build_datasets("cifar10:/tmp/x")


def test_unknown_option_is_rejected_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="does not accept option.*colour") as info:
        build_datasets("cifar10", "/nowhere", colour=True)
    assert "augment" in str(info.value) and "padding" in str(info.value)


def _toy_bundle(data_dir: str | None, *, augment: bool = False, scale: int = 1) -> DataBundle:
    ds = TensorImageDataset(torch.full((2, 1, 2, 2), float(scale)), torch.tensor([0, 1]))
    return DataBundle(f"toy:{data_dir}:{augment}", ds, ds, num_classes=2, input_shape=(1, 2, 2))


def test_register_dataset_and_name_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    available_datasets()  # load the built-ins before isolating the registry
    monkeypatch.setattr(registry._REGISTRY, "_entries", dict(registry._REGISTRY._entries))
    register_dataset("Toy-Set")(_toy_bundle)
    assert "toy_set" in available_datasets()
    bundle = build_datasets("TOY-set", "/some/dir", augment=True, scale=3)
    assert bundle.name == "toy:/some/dir:True"
    assert bundle.train[0][0].unique().item() == 3.0
    assert build_datasets("toy_set").name == "toy:None:False"  # augment=None keeps the default


def test_data_bundle_validates_its_fields() -> None:
    ds = TensorImageDataset(torch.zeros(1, 1, 2, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match="time_steps"):
        DataBundle("x", ds, ds, num_classes=1, input_shape=(1, 2, 2), is_sequence=True)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        DataBundle("x", ds, ds, num_classes=1, input_shape=(2, 2))  # type: ignore[arg-type]


def test_import_reads_nothing_and_loads_no_reader() -> None:
    code = (
        "import sys, stablespike.data as d; "
        "mods = [m for m in sys.modules if m.startswith('stablespike.data.')]; "
        "print(sorted(mods))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for reader in ("fashion_mnist", "cifar", "cifar10_dvs", "imagenet", "npz", "download"):
        assert f"stablespike.data.{reader}'" not in out.stdout
