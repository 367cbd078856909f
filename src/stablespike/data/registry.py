"""Dataset registry: names -> builders returning a :class:`DataBundle`.

Built-in datasets live in their own modules and are imported on the first
registry lookup; nothing is read or downloaded at import time. A name of the
form ``PREFIX:ARGUMENT`` (``npz:/data/my.npz``) selects the dataset registered
as ``PREFIX`` with ``argument=...`` and passes ``ARGUMENT`` to it. Names are
case-insensitive and ``-`` equals ``_`` (``fashion-mnist`` == ``fashion_mnist``).

Example:
    >>> "fashion_mnist" in available_datasets()
    True
    >>> build_datasets("no-such-set")
    Traceback (most recent call last):
    ...
    stablespike.core.errors.ConfigError: unknown dataset 'no-such-set'; available: cifar10, cifar100, cifar10_dvs, dvs_gesture, fashion_mnist, imagenet, ncaltech101, nmnist, npz:PATH, tonic:NAME
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch.utils.data import Dataset

from ..core.errors import ConfigError
from ..core.registry import Registry

__all__ = ["DataBundle", "available_datasets", "build_datasets", "register_dataset"]

_BUILTIN_MODULES = (
    "fashion_mnist",
    "cifar",
    "cifar10_dvs",
    "imagenet",
    "npz",
    "atis",
    "dvs_gesture",
    "tonic_data",
)


@dataclass(frozen=True)
class DataBundle:
    """Train/test datasets plus what a model needs to know about them.

    Attributes:
        name: canonical dataset name (``"cifar10"``, ``"npz:/x.npz"``).
        train, test: map-style datasets of ``(x, y)``; ``x`` float32
            ``[C, H, W]`` or, if ``is_sequence``, ``[T, C, H, W]``; ``y`` int.
        num_classes: number of classes.
        input_shape: ``(C, H, W)`` of one (transformed) frame.
        is_sequence: samples already carry the time dimension ``T``.
        time_steps: ``T`` when ``is_sequence``, else None.
        class_names: class names in label order, when known.

    Example:
        >>> import torch
        >>> from stablespike.data.datasets import TensorImageDataset
        >>> ds = TensorImageDataset(torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]))
        >>> DataBundle("toy", ds, ds, num_classes=2, input_shape=(1, 4, 4)).is_sequence
        False
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, int, int]
    is_sequence: bool = False
    time_steps: int | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {self.input_shape}")
        if self.is_sequence != (self.time_steps is not None):
            raise ValueError("time_steps must be given exactly when is_sequence is True")


Builder = Callable[..., DataBundle]
_B = TypeVar("_B", bound=Builder)


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    argument: str | None


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{module}")


_REGISTRY: Registry[_Entry] = Registry("dataset", separator="_", loader=_load_builtins)


def register_dataset(
    name: str, *, argument: str | None = None, replace: bool = False
) -> Callable[[_B], _B]:
    """Register ``builder(data_dir, **options) -> DataBundle`` under ``name``.

    With ``argument="path"`` the dataset is used as ``name:PATH`` and the
    builder receives ``path=PATH``. Registering a name twice is an error unless
    ``replace=True``.

    Example:
        >>> @register_dataset("toy")
        ... def build_toy(data_dir=None, *, augment=False):
        ...     ...
        >>> "toy" in available_datasets()
        True
    """
    if not name.strip() or ":" in name:
        raise ValueError(f"invalid dataset name {name!r}")

    def decorate(builder: _B) -> _B:
        _REGISTRY.add(name, _Entry(builder, argument), replace=replace)
        return builder

    return decorate


def available_datasets() -> list[str]:
    """Sorted names of all registered datasets (prefix datasets without ``:ARG``).

    Example:
        >>> available_datasets()[:2]
        ['cifar10', 'cifar100']
    """
    return list(_REGISTRY.names())


def _known() -> str:
    return ", ".join(f"{n}:{e.argument.upper()}" if e.argument else n for n, e in _REGISTRY.items())


def _lookup(name: str) -> tuple[_Entry, dict[str, str]]:
    key, sep, arg = name.partition(":")
    if key not in _REGISTRY:
        raise ConfigError(_REGISTRY.unknown_message(name, listed=_known()))
    entry = _REGISTRY.get(key)
    if entry.argument is None and sep:
        raise ValueError(f"dataset {key!r} takes no ':' argument, got {name!r}")
    if entry.argument is not None and not arg:
        raise ValueError(f"dataset {key!r} needs an argument: use '{key}:{entry.argument.upper()}'")
    return entry, ({entry.argument: arg} if entry.argument else {})


def dataset_options(name: str) -> tuple[str, ...]:
    """Keyword options the dataset ``name`` accepts (besides ``data_dir``).

    Example:
        >>> "time_steps" in dataset_options("cifar10-dvs")
        True
        >>> "time_steps" in dataset_options("fashion-mnist")
        False
    """
    entry, _ = _lookup(name)
    params = inspect.signature(entry.builder).parameters
    return tuple(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _check_options(name: str, builder: Builder, options: dict[str, Any]) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"dataset {name!r} does not accept option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted) or 'none'}"
        )


def build_datasets(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    augment: bool | None = None,
    **options: Any,
) -> DataBundle:
    """Build the train/test datasets of ``name``.

    Args:
        name: a name from :func:`available_datasets`, or ``npz:PATH``.
        data_dir: where the files are (dataset specific; some have defaults).
        augment: training augmentation on/off; None keeps the dataset's default.
        **options: dataset-specific keyword options (unknown ones are rejected).

    Raises:
        ValueError: unknown name or option.
        DatasetError: the files are missing or malformed.

    Example:
        >>> bundle = build_datasets("fashion_mnist", "/data/fmnist")  # doctest: +SKIP
        >>> bundle.num_classes, bundle.input_shape  # doctest: +SKIP
        (10, (1, 28, 28))
    """
    entry, arg = _lookup(name)
    if augment is not None:
        options["augment"] = augment
    options.update(arg)
    _check_options(name, entry.builder, options)
    return entry.builder(None if data_dir is None else os.fspath(data_dir), **options)
