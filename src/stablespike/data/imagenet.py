"""ImageNet (or any ImageFolder-style tree) decoded with Pillow.

Layout: ``data_dir/train/<class>/*.{jpeg,jpg,png,...}`` and
``data_dir/val/<class>/...`` (the validation images sorted into class
folders, e.g. with the usual ``valprep.sh``). Classes are the sorted
sub-folder names of ``train/``; label = index in that list. ``val/`` may hold
a subset of the classes, but no unknown one.

Pillow is an optional dependency, imported only when a dataset is built
(``pip install pillow``). Images are converted to RGB and then transformed in
torch: train = random resized crop ``image_size`` (224, scale 0.08-1,
ratio 3/4-4/3) + horizontal flip; val = resize the shorter side to
``resize_size`` (256) + center crop ``image_size``; both normalised with the
ImageNet mean/std. Use :class:`stablespike.data.BatchLoader` with
``num_workers`` > 0 to decode in parallel.

Example:
    >>> bundle = build_imagenet("/data/imagenet")  # doctest: +SKIP
    >>> bundle.train[0][0].shape  # doctest: +SKIP
    torch.Size([3, 224, 224])
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from ..core.errors import DatasetError
from .datasets import FileDataset
from .presets import imagenet_pipelines
from .registry import DataBundle, register_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "build_imagenet",
    "load_image",
    "scan_image_folder",
]

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".webp", ".tif", ".tiff")
LAYOUT = "train/<class>/<image> and val/<class>/<image> (JPEG/PNG; class = sub-folder name)"


def _pillow() -> ModuleType:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(
            "decoding ImageNet images needs Pillow: pip install pillow (or stablespike[imagenet])"
        ) from err
    return Image


def load_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Decode an image file to RGB ``uint8 [3, H, W]``.

    Example:
        >>> load_image("/nonexistent.png")
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: cannot decode image ([Errno 2] No such file or directory: '/nonexistent.png'): /nonexistent.png (expected layout: train/<class>/<image> and val/<class>/<image> (JPEG/PNG; class = sub-folder name))
    """
    image_module = _pillow()
    try:
        with image_module.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, image_module.DecompressionBombError) as err:
        raise DatasetError(f"cannot decode image ({err})", path=path, expected=LAYOUT) from err
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def scan_image_folder(
    root: str | os.PathLike[str], classes: list[str] | None = None
) -> tuple[list[tuple[Path, int]], list[str]]:
    """``(samples [(path, label)], classes)`` of an ImageFolder tree.

    With ``classes`` given, sub-folders are labelled by their index in it (and
    an unknown one is an error); otherwise the sorted sub-folder names are used.

    Example:
        >>> scan_image_folder("/nonexistent")
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: image folder not found: /nonexistent (expected layout: train/<class>/<image> and val/<class>/<image> (JPEG/PNG; class = sub-folder name))
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("image folder not found", path=root, expected=LAYOUT)
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DatasetError("no class sub-folders", path=root, expected=LAYOUT)
    classes = found if classes is None else classes
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetError(
            f"class folder(s) not in train/: {', '.join(unknown[:5])}", path=root, expected=LAYOUT
        )
    index = {name: i for i, name in enumerate(classes)}
    samples = [(path, index[name]) for name in found for path in _images_in(root / name)]
    if not samples:
        raise DatasetError(
            f"no images with extension {', '.join(IMAGE_EXTENSIONS)}", path=root, expected=LAYOUT
        )
    return samples, classes


class ImageFolderDataset(FileDataset):
    """Samples ``(transform(image), label)`` decoded from files with Pillow.

    Example:
        >>> ds = ImageFolderDataset([(Path("/img/cat/1.png"), 0)])
        >>> len(ds)
        1
    """

    def read(self, path: Path) -> torch.Tensor:
        return load_image(path)

    def default(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255.0


@register_dataset("imagenet")
def build_imagenet(
    data_dir: str | None = None,
    *,
    augment: bool = True,
    image_size: int = 224,
    resize_size: int = 256,
) -> DataBundle:
    """ImageNet-style folders (see the module doc).

    Options: ``augment`` (default on), ``image_size`` (224), ``resize_size`` (256).

    Example:
        >>> build_imagenet("/data/imagenet").num_classes  # doctest: +SKIP
        1000
    """
    _pillow()
    if data_dir is None:
        raise DatasetError("imagenet needs data_dir", expected=LAYOUT)
    if resize_size < image_size:
        raise ValueError(f"resize_size ({resize_size}) must be >= image_size ({image_size})")
    root = Path(data_dir)
    train, classes = scan_image_folder(root / "train")
    test, _ = scan_image_folder(root / "val", classes)
    train_tf, test_tf = imagenet_pipelines(
        image_size=image_size, resize_size=resize_size, augment=augment
    )
    return DataBundle(
        name="imagenet",
        train=ImageFolderDataset(train, train_tf),
        test=ImageFolderDataset(test, test_tf),
        num_classes=len(classes),
        input_shape=(3, image_size, image_size),
        class_names=tuple(classes),
    )
