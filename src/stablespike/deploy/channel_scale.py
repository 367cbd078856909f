"""``ChannelScale``: an explicit, fixed multiplication kept where folding alone is not exact.

:func:`~stablespike.deploy.fold_thresholds` with ``residual="scale"`` inserts one in front of an
addition that mixes a spike path (``S``, which stands for ``Vthr * S``) with an unscaled path, so
that the addition sees ``Vthr * S`` again: ``y = scale * x``, ``scale`` broadcast against ``x``
(``0-d`` for one threshold per layer, ``[1, 1, C, 1, 1]``-like for one per channel).

Example:
    >>> import torch
    >>> from stablespike.deploy import ChannelScale
    >>> m = ChannelScale(torch.tensor([2.0, 0.5]).view(1, 2))
    >>> m(torch.ones(3, 2))[0].tolist()
    [2.0, 0.5]
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelScale(nn.Module):
    """Multiply by a fixed broadcastable ``scale`` (a buffer, saved with the state dict)."""

    scale: torch.Tensor

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``scale * x``."""
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"
