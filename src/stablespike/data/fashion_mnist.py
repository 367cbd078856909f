"""Fashion-MNIST (Zalando): IDX files, found locally or downloaded and checksummed.

Where the four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally
``.gz``) are looked for, in order:

1. ``data_dir`` if given (also its ``FashionMNIST/raw`` subfolder, the
   torchvision layout); missing files are downloaded into ``data_dir``;
2. otherwise ``/usr/share/datasets/fashion-mnist`` (Debian package
   ``dataset-fashion-mnist``, which installs the four ``.gz`` files there),
   then the cache ``~/.cache/stablespike/fashion-mnist``
   (``$XDG_CACHE_HOME`` respected), downloading into the cache if needed.

Downloads come from ``url`` / ``$STABLESPIKE_FASHION_MNIST_URL`` / the
original Zalando location and are verified against the md5 sums published by
Zalando. Locally found files are not checksummed (Debian recompressed them, so
their ``.gz`` bytes differ) but their IDX structure is validated.

The whole split is held in memory as uint8 (the training set is 47 MB) in a
:class:`~stablespike.data.datasets.TensorImageDataset`: samples are float32
``[1, 28, 28]``, scaled to ``[0, 1]`` and normalised with mean 0.2860, std
0.3530. Training augmentation (``augment=True``: random crop 28 with zero
padding ``padding``=2, then horizontal flip) is **off by default**, because
the short default training schedule does better without it.

Example:
    >>> bundle = build_fashion_mnist("/data/fmnist")  # doctest: +SKIP
    >>> bundle.train[0][0].shape  # doctest: +SKIP
    torch.Size([1, 28, 28])
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..core.errors import DatasetError
from .datasets import TensorImageDataset
from .download import cache_root, download_file
from .idx import read_idx
from .presets import FASHION_MNIST_MEAN, FASHION_MNIST_STD, image_pipelines
from .registry import DataBundle, register_dataset

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_URL",
    "MD5",
    "SYSTEM_DIRS",
    "URL_ENV",
    "build_fashion_mnist",
    "fetch_fashion_mnist",
    "find_fashion_mnist",
    "load_fashion_mnist",
]

DEFAULT_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
URL_ENV = "STABLESPIKE_FASHION_MNIST_URL"
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: md5 of the original ``.gz`` files as published by Zalando Research.
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
LAYOUT = (
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte (each optionally .gz) in the directory"
)


def find_fashion_mnist(directory: str | os.PathLike[str]) -> dict[str, Path] | None:
    """The four files in ``directory`` (or its ``FashionMNIST/raw``), or None if incomplete.

    Example:
        >>> find_fashion_mnist("/nonexistent") is None
        True
    """
    for folder in (Path(directory), Path(directory) / "FashionMNIST" / "raw"):
        found = {}
        for key, base in FILES.items():
            for name in (base, base + ".gz"):
                if (folder / name).is_file():
                    found[key] = folder / name
                    break
        if len(found) == len(FILES):
            return found
    return None


def fetch_fashion_mnist(
    directory: str | os.PathLike[str],
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Download the four ``.gz`` files missing from ``directory`` and verify their md5.

    ``base_url`` defaults to ``$STABLESPIKE_FASHION_MNIST_URL``, else
    :data:`DEFAULT_URL`; ``checksums`` (file name -> md5) to :data:`MD5`.

    Example:
        >>> fetch_fashion_mnist("/tmp/fmnist", base_url="http://127.0.0.1:8000/")  # doctest: +SKIP
        {'train_images': PosixPath('/tmp/fmnist/train-images-idx3-ubyte.gz'), ...}
    """
    base_url = base_url or os.environ.get(URL_ENV) or DEFAULT_URL
    if not base_url.endswith("/"):
        base_url += "/"
    checksums = MD5 if checksums is None else checksums
    directory = Path(directory)
    for base in FILES.values():
        name = base + ".gz"
        if not (directory / base).is_file() and not (directory / name).is_file():
            download_file(base_url + name, directory / name, md5=checksums[name], expected=LAYOUT)
    found = find_fashion_mnist(directory)
    if found is None:  # only if files vanished concurrently
        raise DatasetError(
            "Fashion-MNIST files missing after download", path=directory, expected=LAYOUT
        )
    return found


def _split(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(images, ndim=3)
    y = read_idx(labels, ndim=1)
    if x.shape[0] != y.shape[0]:
        raise DatasetError(
            f"{x.shape[0]} images but {y.shape[0]} labels in {labels.name}",
            path=images.parent,
            expected=LAYOUT,
        )
    if x.shape[1:] != (28, 28):
        raise DatasetError(f"images are {x.shape[1:]}, not 28x28", path=images, expected=LAYOUT)
    if y.size and int(y.max()) >= len(CLASS_NAMES):
        raise DatasetError(f"label {int(y.max())} out of range 0..9", path=labels, expected=LAYOUT)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y).to(torch.int64)


def load_fashion_mnist(
    files: dict[str, Path],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train uint8 [N,1,28,28], y_train int64 [N], x_test, y_test)`` from the files.

    Example:
        >>> x_train, y_train, x_test, y_test = load_fashion_mnist(find_fashion_mnist("/data"))  # doctest: +SKIP
    """
    return (
        *_split(files["train_images"], files["train_labels"]),
        *_split(files["test_images"], files["test_labels"]),
    )


def _resolve(data_dir: str | None, download: bool, url: str | None) -> dict[str, Path]:
    if data_dir is not None:
        candidates = [Path(data_dir)]
    else:
        candidates = [*SYSTEM_DIRS, cache_root() / "fashion-mnist"]
    for folder in candidates:
        found = find_fashion_mnist(folder)
        if found is not None:
            return found
    if not download:
        searched = ", ".join(str(c) for c in candidates)
        raise DatasetError(
            f"Fashion-MNIST not found (searched {searched}) and download=False",
            path=candidates[0],
            expected=LAYOUT,
        )
    return fetch_fashion_mnist(candidates[-1], base_url=url)


@register_dataset("fashion_mnist")
def build_fashion_mnist(
    data_dir: str | None = None,
    *,
    augment: bool = False,
    padding: int = 2,
    download: bool = True,
    url: str | None = None,
) -> DataBundle:
    """Fashion-MNIST as in-memory datasets (see the module doc for the search order).

    Options: ``augment`` (random crop 28 + ``padding``, flip; default off),
    ``download`` (allow downloading), ``url`` (mirror base URL).

    Example:
        >>> build_fashion_mnist(download=False).num_classes  # doctest: +SKIP
        10
    """
    x_train, y_train, x_test, y_test = load_fashion_mnist(_resolve(data_dir, download, url))
    train_tf, test_tf = image_pipelines(
        FASHION_MNIST_MEAN, FASHION_MNIST_STD, size=28, augment=augment, padding=padding
    )
    return DataBundle(
        name="fashion_mnist",
        train=TensorImageDataset(x_train, y_train, train_tf),
        test=TensorImageDataset(x_test, y_test, test_tf),
        num_classes=len(CLASS_NAMES),
        input_shape=(1, 28, 28),
        class_names=CLASS_NAMES,
    )
