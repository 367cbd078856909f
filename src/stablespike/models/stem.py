"""The non-spiking input stem: the one place where static and event inputs are told apart.

``InputStem`` is conv + BN (docs/METHOD.md §4.1), optionally followed by average pooling. It accepts

* static images ``[B, C, H, W]``: conv + BN run once and the result is repeated ``timesteps``
  times, giving ``[timesteps, B, C', H', W']``;
* event sequences ``[T, B, C, H, W]``: conv + BN run on every frame with time folded into the
  batch (BN over ``T * B``), giving ``[T, B, C', H', W']`` (``T`` comes from the data).

Its forward branches on the input's rank, so it is marked ``_fx_leaf = True``: an FX tracer that
treats such modules as leaves traces the rest of every model without Python control flow.

Example:
    >>> import torch
    >>> from stablespike.models.stem import InputStem
    >>> stem = InputStem(1, 8, timesteps=4)
    >>> stem(torch.randn(2, 1, 28, 28)).shape              # static: repeated over time
    torch.Size([4, 2, 8, 28, 28])
    >>> stem(torch.randn(3, 2, 1, 28, 28)).shape           # sequence: T from the data
    torch.Size([3, 2, 8, 28, 28])
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import SeqConvBN
from .registry import positive_int


class InputStem(SeqConvBN):
    """Conv (no bias) + BN applied to static images (then repeated) or to event sequences.

    ``input_size``, if given, is the required (square) spatial size of the input. ``pool > 1``
    average-pools the (non-spiking) stem output ``pool x pool`` before it is repeated: for a
    static image that pooling runs once instead of on every timestep.
    """

    _fx_leaf = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        *,
        timesteps: int,
        input_size: int | None = None,
        pool: int = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self.timesteps = positive_int("timesteps", timesteps)
        self.input_size = None if input_size is None else positive_int("input_size", input_size)
        positive_int("stem pool", pool)
        self.pool: nn.Module = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """Conv + BN (+ average pooling) on a batch of single frames ``[N, C, H, W]``."""
        return self.pool(super().frames(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if x.dim() == 5:
            return super().forward(x)
        y = self.frames(x)
        return y.unsqueeze(0).repeat(self.timesteps, *([1] * y.dim()))

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"model input must be a floating-point tensor, got {_describe(x)}")
        if x.dim() not in (4, 5):
            raise ValueError(
                "model input must be static images [B, C, H, W] or an event sequence "
                f"[T, B, C, H, W], got shape {tuple(x.shape)}"
            )
        expected = self.conv.in_channels
        if x.shape[-3] != expected:
            raise ValueError(
                f"model expects {expected} input channels (dim {x.dim() - 3}), "
                f"got shape {tuple(x.shape)}"
            )
        size = self.input_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            raise ValueError(
                f"model expects {size}x{size} inputs (built with input_size={size}), "
                f"got shape {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        parts = [f"timesteps={self.timesteps}"]
        if self.input_size is not None:
            parts.append(f"input_size={self.input_size}")
        return ", ".join(parts)


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"dtype {x.dtype}"
    return type(x).__name__


def set_timesteps(model: nn.Module, timesteps: int) -> None:
    """Set the number of timesteps static inputs are repeated for (e.g. train T=6, eval T=4).

    Updates every :class:`InputStem` in ``model`` and ``model.config["timesteps"]`` if present.
    """
    positive_int("timesteps", timesteps)
    stems = [m for m in model.modules() if isinstance(m, InputStem)]
    if not stems:
        raise ValueError(f"{type(model).__name__} has no InputStem whose timesteps could be set")
    for stem in stems:
        stem.timesteps = timesteps
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        config["timesteps"] = timesteps
