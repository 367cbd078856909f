"""Time-major building blocks: tdBN-style conv + BN, linear + BN, time-folded pooling.

Inputs are ``[T, B, C, H, W]``. Time is folded into the batch (``[T*B, C, H, W]``) for the
2-D layers, so BatchNorm statistics are computed over time and batch jointly (tdBN style,
docs/METHOD.md §4.1), and the result is unfolded back to ``[T, B, ...]``. The ops used
(``flatten``, ``unflatten`` with the input's ``shape[:2]``) are recorded by ``torch.fx``.

Example:
    >>> import torch
    >>> from stablespike.models.layers import SeqConvBN
    >>> layer = SeqConvBN(3, 8, kernel_size=3, stride=2)
    >>> layer(torch.randn(4, 2, 3, 16, 16)).shape
    torch.Size([4, 2, 8, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def time_folded(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply ``fn`` (a 2-D layer) to ``x: [T, B, ...]`` with time folded into the batch."""
    y = fn(x.flatten(0, 1))
    return y.unflatten(0, x.shape[:2])


class SeqConvBN(nn.Module):
    """``Conv2d`` (no bias) then ``BatchNorm2d`` on ``[T, B, C, H, W]``, BN over ``T * B``.

    ``padding`` defaults to ``kernel_size // 2`` ("same" for odd kernels at stride 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """Conv + BN on a batch of single frames ``[N, C, H, W]``."""
        return self.bn(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return time_folded(self.frames, x)


class SeqLinearBN(nn.Module):
    """``Linear`` (no bias) then ``BatchNorm1d`` on ``[T, B, F]``, BN over ``T * B``.

    Used for hidden fully connected layers, so they feed their LIF at the same scale as a
    conv + BN layer does.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """Linear + BN on a batch of single steps ``[N, F]``."""
        return self.bn(self.fc(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return time_folded(self.frames, x)


class TimeFolded(nn.Module):
    """Apply a 2-D module (e.g. ``nn.AvgPool2d(2)``) to each timestep of ``[T, B, C, H, W]``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return time_folded(self.module, x)
