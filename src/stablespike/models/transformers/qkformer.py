"""QKFormer (Zhou et al., NeurIPS 2024): a hierarchical spiking transformer with Q-K attention.

Structure as in the authors' implementation (``zhouchenlin2096/QKFormer``, ``cifar10/model.py``
and ``imagenet/qkformer.py``), every LIF a :class:`~stablespike.TrLIF` from the neuron factory.
With ``D`` the last stage's width, three stages of widths ``D/4, D/2, D``:

* patch embedding 1: conv3x3 + BN ``D/8`` (the non-spiking input stem), LIF, then
  ``LIF(BN(conv3x3 D/4)) + LIF(BN(conv1x1 D/4))`` (the conv shortcut from the first LIF's
  spikes). ImageNet: 3x3/2 max-pools after the stem and after the 3x3 conv (before their LIFs),
  a further conv3x3 + BN + LIF, and a stride-2 shortcut (224 -> 56).
* stage 1 and 2: Q-K token attention blocks (:class:`~.attention.TokenQKAttention` + MLP);
* patch embedding 2 and 3 (halve the size, double the width):
  ``LIF(BN(pool(conv3x3(LIF(BN(conv3x3 x)))))) + LIF(BN(conv1x1/2 x))`` (CIFAR; ImageNet pools
  after the first conv instead);
* stage 3: SSA blocks computed as ``Q (K^T V) * 0.125`` (linear in the token count) + MLP;
* token mean, dropout, linear head, per timestep.

``blocks`` gives the blocks per stage: HST-4-384 (CIFAR) has 1, 1, 2; HST-10-* (ImageNet) 1, 2, 7.
The CIFAR model uses 8 heads in every stage (the authors' code overrides its argument).

====================  ===============  ======  ===========  ================================
name                  blocks           heads   input        parameters (official code)
====================  ===============  ======  ===========  ================================
qkformer-hst-4-384    1, 1, 2          8       CIFAR        6,706,234 (10 cl.), 6.74 M (100)
qkformer-hst-10-384   1, 2, 7          6       ImageNet     16,473,688 (16.47 M)
qkformer-hst-10-512   1, 2, 7          8       ImageNet     29,079,336 (29.08 M)
qkformer-hst-10-768   1, 2, 7          12      ImageNet     64,962,760 (64.96 M)
qkformer-tiny         1, 1, 1          4       28x28 (CPU)  this project's small configuration
====================  ===============  ======  ===========  ================================

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> net = build_model("qkformer-tiny", num_classes=10, in_channels=1, timesteps=2)
    >>> net(torch.randn(3, 1, 28, 28)).shape
    torch.Size([2, 3, 10])
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from ..factory import NeuronFactory
from ..layers import TimeFolded
from ..registry import register_model
from ..stem import InputStem
from .attention import SpikingMLP, SpikingSelfAttention, TokenQKAttention, TransformerBlock
from .layers import ConvBN, check_per_layer_thresholds, drop_path_rates


def _maybe_pool(enabled: bool) -> nn.Module:
    if not enabled:
        return nn.Identity()
    return TimeFolded(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


class PatchEmbedInit(nn.Module):
    """The first patch embedding after the stem's conv + BN (see the module docstring)."""

    def __init__(self, dim: int, *, neuron: NeuronFactory, imagenet: bool) -> None:
        super().__init__()
        half = dim // 2
        self.imagenet = imagenet
        self.stem_pool = _maybe_pool(imagenet)
        self.stem_lif = neuron(half)
        self.conv1 = ConvBN(half, dim, 3)
        self.pool1 = _maybe_pool(imagenet)
        self.lif1 = neuron(dim)
        if imagenet:
            self.conv2 = ConvBN(dim, dim, 3)
            self.lif2 = neuron(dim)
        self.shortcut = ConvBN(half, dim, 1, stride=2 if imagenet else 1, padding=0)
        self.shortcut_lif = neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.stem_lif(self.stem_pool(x))
        x = self.lif1(self.pool1(self.conv1(feat)))
        if self.imagenet:
            x = self.lif2(self.conv2(x))
        return x + self.shortcut_lif(self.shortcut(feat))


class PatchEmbedStage(nn.Module):
    """Halve the size, double the width: two conv3x3 + BN + LIF with a strided conv shortcut."""

    def __init__(self, dim: int, *, neuron: NeuronFactory, pool_first: bool) -> None:
        super().__init__()
        half = dim // 2
        self.conv1 = ConvBN(half, dim, 3)
        self.pool1 = _maybe_pool(pool_first)
        self.lif1 = neuron(dim)
        self.conv2 = ConvBN(dim, dim, 3)
        self.pool2 = _maybe_pool(not pool_first)
        self.lif2 = neuron(dim)
        self.shortcut = ConvBN(half, dim, 1, stride=2, padding=0)
        self.shortcut_lif = neuron(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lif1(self.pool1(self.conv1(x)))
        y = self.lif2(self.pool2(self.conv2(y)))
        return y + self.shortcut_lif(self.shortcut(x))


class QKFormer(nn.Module):
    """Stem -> [patch embedding -> stage] x 3 -> token mean -> dropout -> linear head."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        timesteps: int,
        neuron: NeuronFactory,
        dropout: float,
        dim: int = 384,
        blocks: Sequence[int] = (1, 1, 2),
        heads: int = 8,
        mlp_ratio: float = 4.0,
        imagenet: bool = False,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % 8:
            raise ValueError(f"qkformer dim must be divisible by 8, got {dim}")
        if len(blocks) != 3 or any(int(b) < 1 for b in blocks):
            raise ValueError(f"blocks must give 3 positive block counts, got {blocks!r}")
        widths = (dim // 4, dim // 2, dim)
        rates = iter(drop_path_rates(drop_path, sum(blocks)))
        self.stem = InputStem(in_channels, dim // 8, 3, timesteps=timesteps)
        embeds: list[nn.Module] = [PatchEmbedInit(widths[0], neuron=neuron, imagenet=imagenet)]
        embeds += [PatchEmbedStage(w, neuron=neuron, pool_first=imagenet) for w in widths[1:]]
        stages = []
        for i, (width, count) in enumerate(zip(widths, blocks, strict=True)):

            def attention(width: int = width, last: bool = i == 2) -> nn.Module:
                if last:
                    return SpikingSelfAttention(width, heads, neuron, order="q_kv")
                return TokenQKAttention(width, heads, neuron)

            hidden = int(width * mlp_ratio)
            stages.append(
                nn.Sequential(
                    *(
                        TransformerBlock(
                            attention(), SpikingMLP(width, hidden, neuron), next(rates)
                        )
                        for _ in range(int(count))
                    )
                )
            )
        self.embed1, self.stage1 = embeds[0], stages[0]
        self.embed2, self.stage2 = embeds[1], stages[1]
        self.embed3, self.stage3 = embeds[2], stages[2]
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_classes)
        check_per_layer_thresholds(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage1(self.embed1(self.stem(x)))
        x = self.stage2(self.embed2(x))
        x = self.stage3(self.embed3(x))
        return self.head(self.dropout(x.mean(dim=(3, 4))))


_IMAGENET: dict[str, Any] = dict(blocks=(1, 2, 7), imagenet=True)

_opts: dict[str, Any]
for _name, _opts in {
    "qkformer-hst-4-384": dict(dim=384, blocks=(1, 1, 2), heads=8),
    "qkformer-hst-10-384": dict(dim=384, heads=6, **_IMAGENET),
    "qkformer-hst-10-512": dict(dim=512, heads=8, **_IMAGENET),
    "qkformer-hst-10-768": dict(dim=768, heads=12, **_IMAGENET),
    "qkformer-tiny": dict(dim=64, blocks=(1, 1, 1), heads=4),
}.items():
    register_model(_name)(partial(QKFormer, **_opts))
