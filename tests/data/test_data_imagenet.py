"""ImageNet-style folders decoded with Pillow (skipped when Pillow is missing)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stablespike.data import BatchLoader, DatasetError, build_datasets
from stablespike.data.imagenet import load_image
from stablespike.data.presets import IMAGENET_MEAN, IMAGENET_STD

Image = pytest.importorskip("PIL.Image")

COLOURS = {"n01": (255, 0, 0), "n02": (0, 128, 255)}


def _png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _tree(root: Path) -> None:
    for wnid, colour in COLOURS.items():
        for i in range(3):
            _png(root / "train" / wnid / f"img{i}.png", colour, (16 + 4 * i, 12))
        _png(root / "val" / wnid / "v0.PNG", colour, (12, 20))


def _normalised(colour: tuple[int, int, int]) -> torch.Tensor:
    rgb = torch.tensor(colour, dtype=torch.float32) / 255
    return (rgb - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)


def test_builds_train_and_val_with_sorted_classes(tmp_path: Path) -> None:
    _tree(tmp_path)
    bundle = build_datasets("imagenet", tmp_path, image_size=8, resize_size=10)
    assert bundle.num_classes == 2 and bundle.class_names == ("n01", "n02")
    assert bundle.input_shape == (3, 8, 8)
    assert len(bundle.train) == 6 and len(bundle.test) == 2
    for i, wnid in enumerate(COLOURS):
        x, y = bundle.test[i]
        assert y == i and x.shape == (3, 8, 8)
        assert torch.allclose(
            x, _normalised(COLOURS[wnid]).view(3, 1, 1).expand(3, 8, 8), atol=1e-4
        )
    x, y = bundle.train[5]
    assert y == 1 and x.shape == (3, 8, 8)  # random resized crop of a 24x12 image


def test_val_is_resize_shorter_side_then_center_crop(tmp_path: Path) -> None:
    _tree(tmp_path)
    img = tmp_path / "val" / "n01" / "v0.PNG"
    pixels = np.zeros((20, 12, 3), np.uint8)
    pixels[:, :, 0] = np.arange(20, dtype=np.uint8)[:, None] * 10  # vertical red ramp
    Image.fromarray(pixels).save(img)
    bundle = build_datasets(
        "imagenet", tmp_path, image_size=6, resize_size=12
    )  # 12x20 keeps its size
    x, _ = bundle.test[0]
    expected = (
        torch.from_numpy(pixels[7:13, 3:9, 0]).float() / 255 - IMAGENET_MEAN[0]
    ) / IMAGENET_STD[0]
    assert torch.allclose(x[0], expected, atol=1e-5)


def test_load_image_is_exact_for_png(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    x = load_image(tmp_path / "a.png")
    assert x.dtype == torch.uint8 and x.shape == (3, 5, 7)
    assert torch.equal(x, torch.from_numpy(pixels).permute(2, 0, 1))


def test_batch_loader_decodes_through_a_dataloader(tmp_path: Path) -> None:
    _tree(tmp_path)
    bundle = build_datasets("imagenet", tmp_path, image_size=8, resize_size=10)
    batches = list(BatchLoader(bundle.train, 4, seed=0))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 8, 8), (2, 3, 8, 8)]
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == [0, 0, 0, 1, 1, 1]


def test_missing_val_dir_names_path_and_layout(tmp_path: Path) -> None:
    _tree(tmp_path)
    for p in (tmp_path / "val").rglob("*.PNG"):
        p.unlink()
    for d in (tmp_path / "val").iterdir():
        d.rmdir()
    (tmp_path / "val").rmdir()
    with pytest.raises(DatasetError, match="image folder not found") as info:
        build_datasets("imagenet", tmp_path)
    assert str(tmp_path / "val") in str(info.value) and "train/<class>/<image>" in str(info.value)


def test_val_class_unknown_to_train_is_rejected(tmp_path: Path) -> None:
    _tree(tmp_path)
    _png(tmp_path / "val" / "n99" / "x.png", (0, 0, 0))
    with pytest.raises(DatasetError, match="not in train/: n99"):
        build_datasets("imagenet", tmp_path)


def test_corrupt_image_raises_dataset_error_naming_it(tmp_path: Path) -> None:
    _tree(tmp_path)
    bad = tmp_path / "val" / "n02" / "v0.PNG"
    bad.write_bytes(b"not a png")
    bundle = build_datasets("imagenet", tmp_path, image_size=8, resize_size=10)
    with pytest.raises(DatasetError, match="cannot decode image") as info:
        bundle.test[1]
    assert str(bad) in str(info.value)


def test_missing_pillow_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        build_datasets("imagenet", tmp_path)
