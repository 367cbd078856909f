"""``npz:PATH`` - any image classification set stored as one NumPy ``.npz`` file.

Required arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test``. Images are
``[N, C, H, W]`` or ``[N, H, W]`` (a channel axis of 1 is added); uint8 is
scaled to ``[0, 1]``, float is taken as is. Labels are 1-D non-negative
integers. ``num_classes`` defaults to ``max label + 1`` over both splits.
Pickled object arrays are refused.

Options: ``num_classes``, ``mean``/``std`` (per-channel normalisation, off by
default), ``augment`` (random crop H with zero ``padding`` + horizontal flip;
off by default), ``padding`` (4).

Example:
    >>> import numpy as np, tempfile, os
    >>> x = np.zeros((4, 8, 8), np.uint8); y = np.array([0, 1, 2, 1])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "toy.npz")
    ...     np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
    ...     b = build_npz(path=path)
    >>> b.num_classes, b.input_shape, b.name == f"npz:{path}"
    (3, (1, 8, 8), True)
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..core.errors import DatasetError
from .datasets import TensorImageDataset
from .presets import image_pipelines
from .registry import DataBundle, register_dataset

__all__ = ["build_npz", "load_npz_arrays"]

KEYS = ("x_train", "y_train", "x_test", "y_test")
LAYOUT = (
    ".npz with x_train, x_test ([N, C, H, W] or [N, H, W], uint8 or float) and "
    "y_train, y_test (1-D integer labels, one per image)"
)


def _images(array: np.ndarray, key: str, path: Path) -> torch.Tensor:
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4:
        raise DatasetError(f"{key} has {array.ndim} dims, want 3 or 4", path=path, expected=LAYOUT)
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise DatasetError(
            f"{key} has dtype {array.dtype}, want uint8 or float", path=path, expected=LAYOUT
        )
    if array.dtype != np.uint8:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array))


def _labels(array: np.ndarray, key: str, n: int, path: Path) -> torch.Tensor:
    if not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(
            f"{key} has dtype {array.dtype}, want integers", path=path, expected=LAYOUT
        )
    if array.ndim != 1 or array.shape[0] != n:
        raise DatasetError(
            f"{key} has shape {array.shape}, want ({n},) to match the images",
            path=path,
            expected=LAYOUT,
        )
    if n and array.min() < 0:
        raise DatasetError(f"{key} has negative labels", path=path, expected=LAYOUT)
    return torch.from_numpy(array.astype(np.int64))


def load_npz_arrays(path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated ``(x_train, y_train, x_test, y_test)`` tensors (images ``[N, C, H, W]``).

    Example:
        >>> load_npz_arrays("/nonexistent.npz")
        Traceback (most recent call last):
        ...
        stablespike.core.errors.DatasetError: cannot read npz file ([Errno 2] No such file or directory: '/nonexistent.npz'): /nonexistent.npz (expected layout: .npz with x_train, x_test ([N, C, H, W] or [N, H, W], uint8 or float) and y_train, y_test (1-D integer labels, one per image))
    """
    file = Path(path)
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DatasetError(
                "not an .npz archive (a single .npy array?)", path=file, expected=LAYOUT
            )
        with loaded as npz:
            missing = [k for k in KEYS if k not in npz.files]
            if missing:
                raise DatasetError(
                    f"missing array(s) {', '.join(missing)}", path=file, expected=LAYOUT
                )
            arrays = {k: npz[k] for k in KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"cannot read npz file ({err})", path=file, expected=LAYOUT) from err
    x_train = _images(arrays["x_train"], "x_train", file)
    x_test = _images(arrays["x_test"], "x_test", file)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"x_train samples are {tuple(x_train.shape[1:])} but x_test {tuple(x_test.shape[1:])}",
            path=file,
            expected=LAYOUT,
        )
    y_train = _labels(arrays["y_train"], "y_train", x_train.shape[0], file)
    y_test = _labels(arrays["y_test"], "y_test", x_test.shape[0], file)
    return x_train, y_train, x_test, y_test


@register_dataset("npz", argument="path")
def build_npz(
    data_dir: str | None = None,
    *,
    path: str,
    num_classes: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    augment: bool = False,
    padding: int = 4,
) -> DataBundle:
    """Datasets from ``path`` (``npz:PATH``; a relative PATH is taken from ``data_dir`` if given).

    Example:
        >>> build_npz(path="/data/toy.npz", num_classes=10).num_classes  # doctest: +SKIP
        10
    """
    file = Path(data_dir) / path if data_dir is not None else Path(path)
    x_train, y_train, x_test, y_test = load_npz_arrays(str(file))
    top = max((int(y.max()) for y in (y_train, y_test) if y.numel()), default=-1)
    if num_classes is None:
        num_classes = top + 1
    if num_classes < 1 or top >= num_classes:
        raise DatasetError(
            f"labels go up to {top} but num_classes is {num_classes}", path=file, expected=LAYOUT
        )
    channels, height, width = x_train.shape[1:]
    train_tf, test_tf = image_pipelines(
        mean, std, size=(height, width), augment=augment, padding=padding
    )
    return DataBundle(
        name=f"npz:{path}",
        train=TensorImageDataset(x_train, y_train, train_tf),
        test=TensorImageDataset(x_test, y_test, test_tf),
        num_classes=num_classes,
        input_shape=(channels, height, width),
    )
