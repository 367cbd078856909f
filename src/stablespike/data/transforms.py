"""Pure-torch image transforms that work on single samples and on whole batches.

Layouts: a *sample* is ``[C, H, W]`` (static image) or ``[T, C, H, W]`` (event
frames); a *batch* adds a leading ``B`` dimension. Every transform implements
:meth:`Transform.batch`, which draws its randomness **per sample** (dim 0) and
shares it across all other dimensions, so all ``T`` frames of one recording get
the same crop and the same flip. Calling a transform on a single sample is
``t.batch(x[None])[0]``.

Randomness comes from the ``generator`` argument when one is given, else from
torch's global RNG, so ``torch.manual_seed`` makes runs reproducible.

Example:
    >>> import torch
    >>> t = Compose([ToUnitFloat(), RandomCrop(28, padding=2), RandomHorizontalFlip()])
    >>> g = torch.Generator().manual_seed(0)
    >>> t.batch(torch.zeros(8, 1, 28, 28, dtype=torch.uint8), g).shape
    torch.Size([8, 1, 28, 28])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "CenterCrop",
    "Compose",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
    "ToUnitFloat",
    "Transform",
    "crop_batch",
]


def _pair(size: int | Sequence[int], what: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(int(s) < 1 for s in pair):
        raise ValueError(f"{what} must be a positive int or a (height, width) pair, got {size!r}")
    return int(pair[0]), int(pair[1])


def _check_batch(x: torch.Tensor, name: str) -> None:
    if x.dim() < 4:
        raise ValueError(
            f"{name}.batch expects [B, C, H, W] or [B, T, C, H, W], got shape {tuple(x.shape)}"
        )


class Transform:
    """Base class: subclasses implement :meth:`batch`.

    Example:
        >>> import torch
        >>> RandomHorizontalFlip(p=1.0)(torch.arange(3.0).view(1, 1, 3)).flatten().tolist()
        [2.0, 1.0, 0.0]
    """

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform a batch ``[B, ..., H, W]`` with independent randomness per sample."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform one sample ``[C, H, W]`` or ``[T, C, H, W]``."""
        if x.dim() < 3:
            raise ValueError(
                f"{type(self).__name__} expects [C, H, W] or [T, C, H, W], got {tuple(x.shape)}"
            )
        return self.batch(x.unsqueeze(0), generator).squeeze(0)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply transforms in order.

    Example:
        >>> import torch
        >>> Compose([ToUnitFloat(), Normalize([0.5], [0.5])])(torch.full((1, 2, 2), 255, dtype=torch.uint8)).unique().item()
        1.0
    """

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t.batch(x, generator)
        return x


class ToUnitFloat(Transform):
    """uint8 ``[0, 255]`` -> float32 ``[0, 1]``; other dtypes are cast to float32 unchanged.

    Example:
        >>> import torch
        >>> ToUnitFloat()(torch.tensor([[[0, 255]]], dtype=torch.uint8)).tolist()
        [[[0.0, 1.0]]]
    """

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.to(torch.float32).div_(255.0)
        return x.to(torch.float32)


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` over the channel dimension (dim -3).

    Example:
        >>> import torch
        >>> Normalize([1.0, 2.0], [2.0, 4.0])(torch.ones(2, 1, 1)).flatten().tolist()
        [0.0, -0.25]
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or not mean:
            raise ValueError(f"mean and std need the same non-zero length, got {mean!r}, {std!r}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {std!r}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.shape[-3] != len(self.mean):
            raise ValueError(
                f"Normalize has {len(self.mean)} channel(s) but the input has {x.shape[-3]} "
                f"(shape {tuple(x.shape)})"
            )
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return (x - mean) / std


def crop_batch(
    x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Crop ``size`` pixels at a per-sample offset (vectorised, no Python loop).

    ``x`` is ``[B, ..., H, W]``; ``top``/``left`` are int64 tensors of shape ``[B]``.

    Example:
        >>> import torch
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> crop_batch(x, torch.tensor([1]), torch.tensor([2]), (2, 2)).flatten().tolist()
        [6.0, 7.0, 10.0, 11.0]
    """
    h, w = size
    b, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    if h > height or w > width:
        raise ValueError(f"crop {size} is larger than the image {(height, width)}")
    if int(top.min()) < 0 or int(left.min()) < 0:
        raise ValueError("crop offsets must be non-negative")
    if int(top.max()) + h > height or int(left.max()) + w > width:
        raise ValueError(f"crop {size} at the given offsets exceeds the image {(height, width)}")
    flat = x.reshape(b, -1, height, width)
    m = flat.shape[1]
    rows = (top.view(b, 1) + torch.arange(h)).view(b, 1, h, 1).expand(b, m, h, width)
    flat = flat.gather(2, rows)
    cols = (left.view(b, 1) + torch.arange(w)).view(b, 1, 1, w).expand(b, m, h, w)
    flat = flat.gather(3, cols)
    return flat.reshape(*x.shape[:-2], h, w)


class RandomCrop(Transform):
    """Zero-pad by ``padding`` on every side, then crop ``size`` at a random offset.

    ``RandomCrop(32, padding=4)`` is the standard CIFAR augmentation. Apply it
    before :class:`Normalize` so that the padding is black, as in the reference
    pipelines.

    Example:
        >>> import torch
        >>> RandomCrop(2)(torch.ones(3, 2, 2)).shape
        torch.Size([3, 2, 2])
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0) -> None:
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.size = _pair(size, "size")
        self.padding = int(padding)

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(x, "RandomCrop")
        p = self.padding
        if p:
            x = F.pad(x, (p, p, p, p))
        h, w = self.size
        height, width = x.shape[-2], x.shape[-1]
        if h > height or w > width:
            raise ValueError(
                f"RandomCrop{self.size} is larger than the padded image {(height, width)}"
            )
        b = x.shape[0]
        top = torch.randint(0, height - h + 1, (b,), generator=generator)
        left = torch.randint(0, width - w + 1, (b,), generator=generator)
        return crop_batch(x, top, left, self.size)


class RandomHorizontalFlip(Transform):
    """Mirror each sample left-right with probability ``p`` (all its frames together).

    Example:
        >>> import torch
        >>> RandomHorizontalFlip(p=0.0)(torch.arange(2.0).view(1, 1, 2)).flatten().tolist()
        [0.0, 1.0]
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = float(p)

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_batch(x, "RandomHorizontalFlip")
        flip = torch.rand(x.shape[0], generator=generator) < self.p
        return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if not x.is_floating_point():
        raise ValueError(
            f"resizing needs a floating tensor (apply ToUnitFloat first), got {x.dtype}"
        )
    if tuple(x.shape[-2:]) == size:
        return x
    flat = x.reshape(-1, 1, *x.shape[-2:])
    kwargs = {"antialias": True, "align_corners": False} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(flat, size=size, mode=mode, **kwargs)
    return out.reshape(*x.shape[:-2], *size)


class Resize(Transform):
    """Resize with ``torch.nn.functional.interpolate`` (bilinear + antialias by default).

    ``size`` as an int resizes the *shorter* side to ``size`` keeping the aspect
    ratio (ImageNet "resize 256"); a ``(h, w)`` pair resizes exactly (DVS 128->48).

    Example:
        >>> import torch
        >>> Resize((48, 48))(torch.ones(10, 2, 128, 128)).shape
        torch.Size([10, 2, 48, 48])
        >>> Resize(4)(torch.ones(3, 8, 16)).shape
        torch.Size([3, 4, 8])
    """

    def __init__(self, size: int | Sequence[int], mode: str = "bilinear") -> None:
        self.size: int | tuple[int, int] = size if isinstance(size, int) else _pair(size, "size")
        if isinstance(size, int) and size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.mode = mode

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(h, w)`` an input of ``height x width`` is resized to."""
        if not isinstance(self.size, int):
            return self.size
        short, long = min(height, width), max(height, width)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if height <= width else (new_long, self.size)

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _resize(x, self.output_size(x.shape[-2], x.shape[-1]), self.mode)


class CenterCrop(Transform):
    """Crop the central ``size`` region (offsets rounded like torchvision).

    Example:
        >>> import torch
        >>> CenterCrop(2)(torch.arange(16.0).view(1, 4, 4)).flatten().tolist()
        [5.0, 6.0, 9.0, 10.0]
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "size")

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h, w = self.size
        height, width = x.shape[-2], x.shape[-1]
        if h > height or w > width:
            raise ValueError(f"CenterCrop{self.size} is larger than the image {(height, width)}")
        top = int(round((height - h) / 2.0))
        left = int(round((width - w) / 2.0))
        return x[..., top : top + h, left : left + w]


class RandomResizedCrop(Transform):
    """Inception-style crop: random area ``scale`` and aspect ``ratio``, resized to ``size``.

    Same sampling rule as torchvision (10 tries, then a central crop with the
    aspect ratio clamped). Works per sample, so inputs of different sizes are fine.

    Example:
        >>> import torch
        >>> RandomResizedCrop(8)(torch.rand(3, 20, 30)).shape
        torch.Size([3, 8, 8])
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        mode: str = "bilinear",
    ) -> None:
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"bad scale {scale} or ratio {ratio}")
        self.size = _pair(size, "size")
        self.scale = scale
        self.ratio = ratio
        self.mode = mode

    def _uniform(self, lo: float, hi: float, generator: torch.Generator | None) -> float:
        return lo + (hi - lo) * float(torch.rand(1, generator=generator))

    def params(
        self, height: int, width: int, generator: torch.Generator | None = None
    ) -> tuple[int, int, int, int]:
        """Draw ``(top, left, h, w)`` of the region to crop."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * self._uniform(*self.scale, generator)
            aspect = math.exp(self._uniform(log_lo, log_hi, generator))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
                left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
                return top, left, h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def batch(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        out = []
        for sample in x:
            top, left, h, w = self.params(sample.shape[-2], sample.shape[-1], generator)
            region = sample[..., top : top + h, left : left + w]
            out.append(_resize(region, self.size, self.mode))
        return torch.stack(out)
