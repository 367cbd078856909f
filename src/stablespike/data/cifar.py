"""CIFAR-10 and CIFAR-100 from the official "python version" pickle archives.

``data_dir`` must contain the extracted folder (``cifar-10-batches-py/`` with
``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; ``cifar-100-python/``
with ``train`` and ``test``), or the archive (``cifar-10-python.tar.gz`` /
``cifar-100-python.tar.gz``), which is extracted into ``data_dir`` once.
``data_dir`` may also be the extracted folder itself. Each file is a pickled
dict with ``b"data"`` (``N x 3072`` uint8, channel-major RGB 32x32) and
``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100, 100 classes).

The files are Python pickles: only load archives from a trusted source.

Samples are float32 ``[3, 32, 32]`` normalised with the usual per-channel
statistics; training augmentation (on by default) is random crop 32 with zero
padding 4 + horizontal flip. Data is held in memory as uint8 (150 MB).

Example:
    >>> bundle = build_cifar10("/data")  # doctest: +SKIP
    >>> bundle.num_classes, bundle.input_shape  # doctest: +SKIP
    (10, (3, 32, 32))
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.errors import DatasetError
from .datasets import TensorImageDataset
from .download import extract_once
from .presets import CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, image_pipelines
from .registry import DataBundle, register_dataset

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "CIFAR10_CLASSES",
    "CifarLayout",
    "build_cifar10",
    "build_cifar100",
    "read_cifar_file",
]


CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant's files are and how they are labelled."""

    name: str
    folder: str
    archive: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: bytes
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] | None = None

    @property
    def description(self) -> str:
        """The expected layout, for error messages."""
        files = ", ".join((*self.train_files, *self.test_files))
        return f"{self.folder}/{{{files}}} (pickled dicts with b'data', {self.label_key!r}) or {self.archive}"


CIFAR10 = CifarLayout(
    "cifar10",
    "cifar-10-batches-py",
    "cifar-10-python.tar.gz",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    ("test_batch",),
    b"labels",
    10,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_CLASSES,
)
CIFAR100 = CifarLayout(
    "cifar100",
    "cifar-100-python",
    "cifar-100-python.tar.gz",
    ("train",),
    ("test",),
    b"fine_labels",
    100,
    CIFAR100_MEAN,
    CIFAR100_STD,
)


def read_cifar_file(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 3, 32, 32], labels int64 [N])`` from one pickled batch file.

    Example:
        >>> read_cifar_file(Path("/nonexistent"), CIFAR10)
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: cannot read CIFAR file ([Errno 2] No such file or directory: '/nonexistent'): /nonexistent (expected layout: cifar-10-batches-py/{data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch} (pickled dicts with b'data', b'labels') or cifar-10-python.tar.gz)
    """
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
        data = np.asarray(entry[b"data"], dtype=np.uint8)
        labels = np.asarray(entry[layout.label_key], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as err:
        problem = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise DatasetError(
            f"cannot read CIFAR file ({problem})", path=path, expected=layout.description
        ) from err
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DatasetError(
            f"b'data' is {data.shape} and labels {labels.shape}; want N x 3072 and N",
            path=path,
            expected=layout.description,
        )
    if labels.size and (labels.min() < 0 or labels.max() >= layout.num_classes):
        raise DatasetError(
            f"labels outside 0..{layout.num_classes - 1}", path=path, expected=layout.description
        )
    return data.reshape(-1, 3, 32, 32), labels


def _locate(data_dir: str | None, layout: CifarLayout) -> Path:
    if data_dir is None:
        raise DatasetError(f"{layout.name} needs data_dir", expected=layout.description)
    root = Path(data_dir)
    if (root / layout.train_files[0]).is_file():
        return root
    if (root / layout.folder).is_dir():
        return root / layout.folder
    if (root / layout.archive).is_file():
        return extract_once(root / layout.archive, root, layout.folder, expected=layout.description)
    raise DatasetError(f"{layout.name} not found", path=root, expected=layout.description)


def _load(
    folder: Path, names: tuple[str, ...], layout: CifarLayout
) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_cifar_file(folder / name, layout) for name in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def build_cifar(
    data_dir: str | None, layout: CifarLayout, *, augment: bool = True, padding: int = 4
) -> DataBundle:
    """Build one CIFAR variant; :func:`build_cifar10` / :func:`build_cifar100` are the registered names.

    Example:
        >>> build_cifar("/data", CIFAR100).num_classes  # doctest: +SKIP
        100
    """
    folder = _locate(data_dir, layout)
    train_tf, test_tf = image_pipelines(
        layout.mean, layout.std, size=32, augment=augment, padding=padding
    )
    return DataBundle(
        name=layout.name,
        train=TensorImageDataset(*_load(folder, layout.train_files, layout), train_tf),
        test=TensorImageDataset(*_load(folder, layout.test_files, layout), test_tf),
        num_classes=layout.num_classes,
        input_shape=(3, 32, 32),
        class_names=layout.class_names,
    )


@register_dataset("cifar10")
def build_cifar10(
    data_dir: str | None = None, *, augment: bool = True, padding: int = 4
) -> DataBundle:
    """CIFAR-10 (see the module doc). Options: ``augment`` (default on), ``padding``.

    Example:
        >>> build_cifar10("/data").input_shape  # doctest: +SKIP
        (3, 32, 32)
    """
    return build_cifar(data_dir, CIFAR10, augment=augment, padding=padding)


@register_dataset("cifar100")
def build_cifar100(
    data_dir: str | None = None, *, augment: bool = True, padding: int = 4
) -> DataBundle:
    """CIFAR-100 with the 100 fine labels. Options: ``augment`` (default on), ``padding``.

    Example:
        >>> build_cifar100("/data").num_classes  # doctest: +SKIP
        100
    """
    return build_cifar(data_dir, CIFAR100, augment=augment, padding=padding)
