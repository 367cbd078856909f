"""Building blocks shared by the spiking transformers: conv + BN, spike products, drop path.

All tensors are time-major ``[T, B, C, H, W]``; a token sequence is the flattened spatial map
(``N = H * W`` tokens of ``C`` channels), so a token-wise linear layer is a 1x1 convolution
(same parameters as ``nn.Linear``, bias included, and BN over ``T * B * N`` as the originals'
``BatchNorm1d`` on ``[T*B, C, N]``).

* :class:`ConvBN`: ``Conv2d`` (optional bias, groups) + ``BatchNorm2d`` with time folded into the
  batch (tdBN style, like :class:`~stablespike.models.layers.SeqConvBN`, which has no bias).
* :class:`SpikeMatmul`: the attention products (``Q K^T``, ``K^T V``, ``Q (K^T V)``). A module,
  so that :class:`~stablespike.analysis.SynOpsCounter` counts them (binary x binary and
  binary x real are accumulates, real x real multiply-accumulates) and folding names it when it
  refuses a threshold (``_fx_leaf``: torch.fx keeps it as one node).
* :class:`DropPath`: stochastic depth on a residual branch; one Bernoulli draw per sample (dim 1)
  shared by all timesteps, kept branches scaled by ``1 / (1 - p)`` in training, identity in eval.
* :func:`check_per_layer_thresholds`: the refusal of per-channel thresholds where a product
  sums over channels (see :mod:`stablespike.models.transformers`).

Example:
    >>> import torch
    >>> from stablespike.models.transformers.layers import DropPath, SpikeMatmul
    >>> q = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    >>> SpikeMatmul("qk")(q, q.T)                    # two spike tensors: counts of coincidences
    tensor([[1., 1.],
            [1., 2.]])
    >>> dp = DropPath(0.5).eval()
    >>> bool((dp(torch.ones(2, 3, 4)) == 1).all())   # identity in eval mode
    True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...neurons import TrLIF
from ..factory import NeuronFactory
from ..layers import time_folded
from ..registry import probability


class ConvBN(nn.Module):
    """``Conv2d`` then ``BatchNorm2d`` on ``[T, B, C, H, W]``, BN over ``T * B``.

    ``padding`` defaults to ``kernel_size // 2``; ``bias`` and ``groups`` as in ``nn.Conv2d``
    (the originals keep a bias before BN in some layers; it is kept so parameter counts match).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        *,
        bias: bool = False,
        groups: int = 1,
    ) -> None:
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, bias=bias, groups=groups
        )
        self.bn = nn.BatchNorm2d(out_channels)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return time_folded(self.frames, x)


class SpikeMatmul(nn.Module):
    """``left @ right`` for an attention product; ``role`` names it in reports (e.g. ``"qk"``).

    With TrSG a neuron emits ``Vthr * S``, so a product of two neuron outputs with per-layer
    thresholds is ``Vthr_a * Vthr_b * (S_a @ S_b)``: an integer count of coincident spikes times
    one scalar, which acts as a learnable factor of the attention scale.

    ``scale`` multiplies the product; it is 1 unless :func:`stablespike.deploy.fold_thresholds`
    moved the operands' (scalar) thresholds here, so that the neurons can emit binary spikes.
    """

    _fx_leaf = True

    def __init__(self, role: str = "") -> None:
        super().__init__()
        self.role = role
        self.scale = 1.0

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(left, right)
        return out if self.scale == 1.0 else out * self.scale

    def extra_repr(self) -> str:
        parts = [repr(self.role)] if self.role else []
        if self.scale != 1.0:
            parts.append(f"scale={self.scale:.6g}")
        return ", ".join(parts)


class DropPath(nn.Module):
    """Stochastic depth for a residual branch ``x + DropPath(f(x))`` on ``[T, B, ...]``.

    Training: each sample's branch is kept with probability ``1 - p`` (the same draw for all
    timesteps: a dropped branch is dropped for the whole sequence) and scaled by
    ``1 / (1 - p)``, so its expectation is unchanged. Eval (or ``p = 0``): the identity.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = probability("drop_path", p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def drop_path_rates(p: float, blocks: int) -> list[float]:
    """The linearly increasing stochastic-depth rates ``0 .. p`` over ``blocks`` blocks."""
    probability("drop_path", p)
    if blocks <= 1:
        return [p] * blocks
    return [p * i / (blocks - 1) for i in range(blocks)]


def check_per_layer_thresholds(model: nn.Module) -> None:
    """Raise ``ValueError`` naming the first neuron that must have a per-layer threshold.

    Modules list such neurons in ``PER_LAYER_NEURONS``: ``{attribute: why}``.
    """
    for name, module in model.named_modules():
        for attr, why in getattr(module, "PER_LAYER_NEURONS", {}).items():
            lif = getattr(module, attr)
            if isinstance(lif, TrLIF) and lif.per_channel:
                where = f"{name}.{attr}" if name else attr
                raise ValueError(
                    f"per-channel thresholds are not exact in layer '{where}': {why}, so "
                    "Vthr * S no longer factors out of the product; use per-layer thresholds "
                    "(per_channel=False, i.e. without --per-channel) for this model"
                )


ATTENTION_THRESHOLD = 0.5
"""Initial threshold of the attention-output neurons (the originals fix it at 0.5)."""


def attention_neuron(neuron: NeuronFactory, channels: int) -> nn.Module:
    """``neuron(channels)`` starting from ``Vthr = 0.5`` (whatever the factory's init threshold).

    The originals run the neuron after the attention product with a fixed threshold of 0.5;
    here it is the initial value of the learnable threshold (learnt unless ``learn_threshold``
    is off).
    """
    lif = neuron(channels)
    if isinstance(lif, TrLIF):
        with torch.no_grad():
            lif.threshold_raw.fill_(math.log(math.expm1(ATTENTION_THRESHOLD)))
    return lif
