"""Batch-level training augmentation for the transformer recipes: mixup, cutmix, random erasing.

All of it runs as torch operations on the batch, on whatever device the batch is on (a CPU
generator draws the few random numbers; masks are built on the batch's device). Inputs are
static images ``[B, C, H, W]`` or event sequences ``[B, T, C, H, W]`` / ``[T, B, C, H, W]``
(the training loop's layouts: the batch is dim 0 of a 4-d and dim 1 of a 5-d tensor); an erased
or pasted box is the same at every timestep.

* **mixup** (Zhang et al. 2018): ``x <- lam x + (1 - lam) x[flip]``, ``lam ~ Beta(a, a)``;
* **cutmix** (Yun et al. 2019): a box of area ``(1 - lam) H W`` is pasted from ``x[flip]``;
  ``lam`` is then the exact kept fraction ``1 - box area / (H W)``;
* as in timm's batch mode (the originals' recipe): one ``lam`` per batch, the partner is the
  reversed batch, applied with probability ``mix_prob``; with both enabled, cutmix is chosen with
  probability ``switch_prob``. Targets become ``lam * onehot(y) + (1 - lam) * onehot(y[flip])``
  (each row sums to 1); label smoothing stays in the loss (it is linear, so smoothing the mixed
  targets equals mixing smoothed ones);
* **random erasing** (Zhong et al. 2020, timm's ``remode=const``): with probability ``p`` per
  sample, a box of 2-33 % of the area and aspect ratio 0.3-3.3 is set to 0 (the dataset mean
  after normalisation);
* **RandAugment** (Cubuk et al. 2020) needs ``torchvision`` (``transforms.v2.RandAugment``,
  applied per sample); without it :func:`randaugment` raises an error naming the extra.

:class:`BatchAugment` draws its randomness from ``(seed, rank, step)``, so a resumed run replays
exactly the same augmentation.

Example:
    >>> import torch
    >>> aug = BatchAugment(num_classes=3, mixup=0.5, seed=0)
    >>> x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    >>> x2, target = aug(x, y, step=0)
    >>> target.shape, bool(torch.allclose(target.sum(1), torch.ones(4)))
    (torch.Size([4, 3]), True)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BatchAugment",
    "cutmix",
    "mix_targets",
    "mixup",
    "randaugment",
    "random_erasing",
]

_STEP_STRIDE = 1_000_003


def mix_targets(y: torch.Tensor, num_classes: int, lam: float) -> torch.Tensor:
    """``lam * onehot(y) + (1 - lam) * onehot(y.flip(0))`` as float ``[B, num_classes]``."""
    onehot = torch.nn.functional.one_hot(y, num_classes).float()
    return lam * onehot + (1.0 - lam) * onehot.flip(0)


def _batch_first(x: torch.Tensor, batch_dim: int) -> torch.Tensor:
    return x if batch_dim == 0 else x.movedim(batch_dim, 0)


def mixup(x: torch.Tensor, lam: float, *, batch_dim: int = 0) -> torch.Tensor:
    """``lam * x + (1 - lam) * x`` with the batch reversed along ``batch_dim``."""
    return lam * x + (1.0 - lam) * x.flip(batch_dim)


def cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator
) -> tuple[int, int, int, int]:
    """A box ``(top, bottom, left, right)`` of about ``(1 - lam)`` of the area, clipped to it."""
    ratio = math.sqrt(1.0 - lam)
    bh, bw = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (1,), generator=generator))
    cx = int(torch.randint(width, (1,), generator=generator))
    top, bottom = max(cy - bh // 2, 0), min(cy + bh // 2, height)
    left, right = max(cx - bw // 2, 0), min(cx + bw // 2, width)
    return top, bottom, left, right


def cutmix(
    x: torch.Tensor, lam: float, generator: torch.Generator, *, batch_dim: int = 0
) -> tuple[torch.Tensor, float]:
    """Paste a box from the reversed batch; returns ``(x, exact lam = kept area fraction)``."""
    height, width = x.shape[-2:]
    top, bottom, left, right = cutmix_box(height, width, lam, generator)
    out = x.clone()
    out[..., top:bottom, left:right] = x.flip(batch_dim)[..., top:bottom, left:right]
    kept = 1.0 - (bottom - top) * (right - left) / float(height * width)
    return out, kept


def random_erasing(
    x: torch.Tensor,
    p: float,
    generator: torch.Generator,
    *,
    batch_dim: int = 0,
    area: tuple[float, float] = (0.02, 1.0 / 3.0),
    aspect: tuple[float, float] = (0.3, 1.0 / 0.3),
) -> torch.Tensor:
    """Set one random box per sample (with probability ``p``) to 0, the same at every timestep."""
    xb = _batch_first(x, batch_dim)
    n, height, width = xb.shape[0], xb.shape[-2], xb.shape[-1]
    boxes = torch.zeros(n, 4, dtype=torch.long)  # top, bottom, left, right (empty = no erase)
    chosen = torch.rand(n, generator=generator) < p
    for i in torch.nonzero(chosen).flatten().tolist():
        for _ in range(10):  # as timm: a few attempts to fit the box
            target = height * width * float(torch.empty(1).uniform_(*area, generator=generator))
            low, high = math.log(aspect[0]), math.log(aspect[1])
            r = math.exp(float(torch.empty(1).uniform_(low, high, generator=generator)))
            h, w = int(round(math.sqrt(target * r))), int(round(math.sqrt(target / r)))
            if h < height and w < width:
                top = int(torch.randint(height - h + 1, (1,), generator=generator))
                left = int(torch.randint(width - w + 1, (1,), generator=generator))
                boxes[i] = torch.tensor([top, top + h, left, left + w])
                break
    boxes = boxes.to(x.device)
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    inside = (
        (rows >= boxes[:, 0, None, None])
        & (rows < boxes[:, 1, None, None])
        & (cols >= boxes[:, 2, None, None])
        & (cols < boxes[:, 3, None, None])
    )  # [n, H, W]
    inside = inside.view(n, *([1] * (xb.dim() - 3)), height, width)
    out = xb.masked_fill(inside, 0.0)
    return out if batch_dim == 0 else out.movedim(0, batch_dim)


_RANDAUG = re.compile(r"^rand(-[a-z]+[0-9.]*)*$")


def randaugment(spec: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torchvision.transforms.v2.RandAugment`` from a timm-style spec (``rand-m9-n1-...``).

    ``m`` is the magnitude (of 10 here, as timm), ``n`` the number of ops; other parts
    (``mstd``, ``inc``) are accepted and ignored (torchvision has no equivalent).
    Raises ``ImportError`` naming the missing extra when torchvision is not installed.
    """
    if not _RANDAUG.match(spec):
        raise ValueError(f"randaugment must look like 'rand-m9-n1', got {spec!r}")
    matches = [re.match(r"([a-z]+)(.*)", p) for p in spec.split("-")[1:]]
    parts = {m[1]: m[2] for m in matches if m is not None}  # each part matches (_RANDAUG)
    magnitude, ops = int(float(parts.get("m", 9))), int(float(parts.get("n", 2)))
    try:
        from torchvision.transforms import v2
    except ImportError:
        raise ImportError(
            f"--randaugment {spec} needs torchvision (transforms.v2.RandAugment), which is not "
            "installed: install the 'vision' extra (pip install 'stablespike[vision]') or a "
            "torchvision matching your torch, or pass --randaugment ''"
        ) from None
    return v2.RandAugment(num_ops=ops, magnitude=magnitude, num_magnitude_bins=11)


@dataclass
class BatchAugment:
    """Mixup / cutmix / random erasing / RandAugment of one training batch (module docstring).

    ``__call__(x, y, step)`` returns ``(x, target)``: ``target`` is ``y`` when nothing mixes the
    labels, else soft targets ``[B, num_classes]``.
    """

    num_classes: int
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5
    erase_prob: float = 0.0
    randaugment: str = ""
    seed: int = 0
    rank: int = 0

    def __post_init__(self) -> None:
        for name in ("mixup", "cutmix"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} (the Beta alpha) must be >= 0, got {getattr(self, name)}")
        for name in ("mix_prob", "switch_prob", "erase_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        self._randaug = randaugment(self.randaugment) if self.randaugment else None

    @property
    def active(self) -> bool:
        """Whether any augmentation is enabled."""
        return bool(self.mixup or self.cutmix or self.erase_prob or self._randaug)

    def generator(self, step: int) -> torch.Generator:
        """The CPU generator of ``step``: a pure function of ``(seed, rank, step)``."""
        seed = (self.seed * _STEP_STRIDE + step) * 64 + self.rank
        return torch.Generator().manual_seed(seed % (2**63))

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.generator(step)
        batch_dim = 1 if x.dim() == 5 else 0  # time-major event batches
        if self._randaug is not None:
            if x.dim() != 4:
                raise ValueError("RandAugment applies to static images [B, C, H, W] only")
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2**31, (1,), generator=g)))
                x = torch.stack([self._randaug(sample) for sample in x])
        if self.erase_prob > 0:
            x = random_erasing(x, self.erase_prob, g, batch_dim=batch_dim)
        target = y
        if (self.mixup or self.cutmix) and float(torch.rand(1, generator=g)) < self.mix_prob:
            use_cutmix = self.cutmix > 0 and (
                self.mixup == 0 or float(torch.rand(1, generator=g)) < self.switch_prob
            )
            alpha = self.cutmix if use_cutmix else self.mixup
            rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=g)))
            lam = float(rng.beta(alpha, alpha))
            if use_cutmix:
                x, lam = cutmix(x, lam, g, batch_dim=batch_dim)
            else:
                x = mixup(x, lam, batch_dim=batch_dim)
            target = mix_targets(y, self.num_classes, lam).to(x.device)
        elif self.mixup or self.cutmix:
            target = mix_targets(y, self.num_classes, 1.0).to(x.device)
        return x, target
