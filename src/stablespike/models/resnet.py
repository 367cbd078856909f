"""Spiking residual networks: ResNet-19 (CIFAR), Spiking ResNet-18/34 and SEW-ResNet-34 (ImageNet).

One class, :class:`SpikingResNet`, covers all four (docs/METHOD.md §4.2): a non-spiking conv + BN stem
(:class:`~stablespike.models.stem.InputStem`) followed by a LIF, an optional max-pool, stages of
residual blocks, global average pooling, dropout and a non-spiking FC head giving per-timestep
logits ``[T, B, num_classes]``.

==================  ============  ===========================  ============  ================
name                stem          stages (channels x blocks)    block         default dropout
==================  ============  ===========================  ============  ================
resnet19            3x3 s1, 64    128x3, 256x3 s2, 512x2 s2     BasicBlock    0.2
spiking-resnet18    7x7 s2, 64    64x2, 128x2, 256x2, 512x2     BasicBlock    0.0
                    + maxpool
spiking-resnet34    as above      64x3, 128x4, 256x6, 512x3     BasicBlock    0.0
sew-resnet34        as above      64x3, 128x4, 256x6, 512x3     SEWBlock      0.0
==================  ============  ===========================  ============  ================

The paper puts dropout before the FC on CIFAR and DVS without giving ``p`` (docs/METHOD.md §4.2):
0.2 is our choice for ResNet-19 (override with ``dropout=``); the ImageNet models use none.

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> net = build_model("resnet19", num_classes=10, in_channels=3, timesteps=2)
    >>> net(torch.randn(2, 3, 32, 32)).shape               # [T, B, num_classes]
    torch.Size([2, 2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from .blocks import BasicBlock, SEWBlock, make_stage
from .factory import NeuronFactory
from .layers import TimeFolded
from .registry import register_model
from .stem import InputStem

Stage = tuple[int, int, int]
"""``(out_channels, blocks, stride)`` of one stage."""


class SpikingResNet(nn.Module):
    """Stem (conv + BN, LIF, optional max-pool) -> residual stages -> avg pool -> dropout -> FC."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        timesteps: int,
        neuron: NeuronFactory,
        dropout: float,
        stages: Sequence[Stage],
        block: type[BasicBlock] | type[SEWBlock] = BasicBlock,
        stem_channels: int = 64,
        stem_kernel: int = 3,
        stem_stride: int = 1,
        stem_maxpool: bool = False,
    ) -> None:
        super().__init__()
        self.stem = InputStem(
            in_channels, stem_channels, stem_kernel, stem_stride, timesteps=timesteps
        )
        self.stem_lif = neuron(stem_channels)
        self.pool: nn.Module = (
            TimeFolded(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            if stem_maxpool
            else nn.Identity()
        )
        layers, channels = [], stem_channels
        for out_channels, blocks, stride in stages:
            layers.append(make_stage(block, channels, out_channels, blocks, stride, neuron))
            channels = out_channels
        self.stages = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem_lif(self.stem(x)))
        x = self.stages(x)
        x = x.mean(dim=(3, 4))  # global average pool: [T, B, C]
        return self.fc(self.dropout(x))


_IMAGENET: dict[str, Any] = dict(stem_kernel=7, stem_stride=2, stem_maxpool=True)
_RESNET34_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))

register_model("resnet19", default_dropout=0.2)(
    partial(SpikingResNet, stages=((128, 3, 1), (256, 3, 2), (512, 2, 2)))
)
register_model("spiking-resnet18")(
    partial(SpikingResNet, stages=((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)), **_IMAGENET)
)
register_model("spiking-resnet34")(partial(SpikingResNet, stages=_RESNET34_STAGES, **_IMAGENET))
register_model("sew-resnet34")(
    partial(SpikingResNet, stages=_RESNET34_STAGES, block=SEWBlock, **_IMAGENET)
)
