"""Per-dataset statistics and (train, test) transform pipelines.

Static images are stored as uint8 and go through ``ToUnitFloat`` first, then
the spatial augmentation (so zero padding is black, as in the reference
pipelines), then ``Normalize``.

Example:
    >>> train_tf, test_tf = image_pipelines(CIFAR10_MEAN, CIFAR10_STD, size=32, augment=True, padding=4)
    >>> [type(t).__name__ for t in train_tf.transforms]
    ['ToUnitFloat', 'RandomCrop', 'RandomHorizontalFlip', 'Normalize']
"""

from __future__ import annotations

from collections.abc import Sequence

from .transforms import (
    CenterCrop,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToUnitFloat,
    Transform,
)

__all__ = [
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "dvs_pipelines",
    "image_pipelines",
    "imagenet_pipelines",
]

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _augmentation(size: int | Sequence[int], padding: int, flip: bool) -> list[Transform]:
    steps: list[Transform] = [RandomCrop(size, padding=padding)]
    if flip:
        steps.append(RandomHorizontalFlip())
    return steps


def image_pipelines(
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    *,
    size: int | Sequence[int],
    augment: bool,
    padding: int = 4,
    flip: bool = True,
) -> tuple[Compose, Compose]:
    """Static images: ``ToUnitFloat -> [RandomCrop(size, padding) -> flip] -> Normalize``.

    The bracketed part is in the train pipeline only and only if ``augment``;
    ``Normalize`` is skipped when ``mean`` is None.

    Example:
        >>> _, test_tf = image_pipelines(None, None, size=28, augment=False)
        >>> [type(t).__name__ for t in test_tf.transforms]
        ['ToUnitFloat']
    """
    norm: list[Transform] = [] if mean is None else [Normalize(mean, std or (1.0,) * len(mean))]
    aug = _augmentation(size, padding, flip) if augment else []
    return Compose([ToUnitFloat(), *aug, *norm]), Compose([ToUnitFloat(), *norm])


def dvs_pipelines(*, size: int, augment: bool, padding: int = 4) -> tuple[Compose, Compose]:
    """Event frames ``[T, 2, 128, 128]``: resize every frame to ``size x size``.

    Train adds ``RandomCrop(size, padding)`` + horizontal flip, identical for
    all ``T`` frames of a recording. Counts are not normalised.

    Example:
        >>> train_tf, _ = dvs_pipelines(size=48, augment=True)
        >>> [type(t).__name__ for t in train_tf.transforms]
        ['Resize', 'RandomCrop', 'RandomHorizontalFlip']
    """
    resize = [Resize((size, size))]
    aug = _augmentation(size, padding, True) if augment else []
    return Compose([*resize, *aug]), Compose(resize)


def imagenet_pipelines(
    *, image_size: int = 224, resize_size: int = 256, augment: bool = True
) -> tuple[Compose, Compose]:
    """ImageNet: train = random resized crop + flip; val = resize shorter side + center crop.

    Example:
        >>> _, val_tf = imagenet_pipelines(image_size=224, resize_size=256)
        >>> [type(t).__name__ for t in val_tf.transforms]
        ['ToUnitFloat', 'Resize', 'CenterCrop', 'Normalize']
    """
    norm = Normalize(IMAGENET_MEAN, IMAGENET_STD)
    val = Compose([ToUnitFloat(), Resize(resize_size), CenterCrop(image_size), norm])
    if not augment:
        return val, val
    train = Compose([ToUnitFloat(), RandomResizedCrop(image_size), RandomHorizontalFlip(), norm])
    return train, val
