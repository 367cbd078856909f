"""Residual blocks on time-major ``[T, B, C, H, W]`` tensors.

* :class:`BasicBlock` (Spiking ResNet / ResNet-19, docs/METHOD.md §4.2):
  ``LIF(BN(conv(LIF(BN(conv(x))))) + shortcut(x))``; the shortcut is the identity, or a 1x1
  conv + BN when the shape changes. The addition happens before the last LIF.
* :class:`SEWBlock` (SEW-ResNet, ADD connect function):
  ``LIF(BN(conv(LIF(BN(conv(x)))))) + shortcut(x)``; the shortcut is the identity on the incoming
  spikes, or 1x1 conv + BN + LIF when the shape changes, so both summands are spike outputs.

Example:
    >>> import torch
    >>> from stablespike.models import NeuronFactory
    >>> from stablespike.models.blocks import BasicBlock
    >>> block = BasicBlock(8, 16, stride=2, neuron=NeuronFactory())
    >>> block(torch.randn(2, 3, 8, 8, 8)).shape
    torch.Size([2, 3, 16, 4, 4])
"""

from __future__ import annotations

import torch
from torch import nn

from .factory import NeuronFactory
from .layers import SeqConvBN


class SpikingProjection(nn.Module):
    """1x1 conv + BN + LIF: the SEW shortcut when the shape changes."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory
    ) -> None:
        super().__init__()
        self.conv_bn = SeqConvBN(in_channels, out_channels, kernel_size=1, stride=stride)
        self.lif = neuron(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.conv_bn(x))


class _ResidualBlock(nn.Module):
    """conv-BN-LIF-conv-BN on the main path; subclasses define the shortcut and the merge."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory
    ) -> None:
        super().__init__()
        self.conv_bn1 = SeqConvBN(in_channels, out_channels, 3, stride)
        self.lif1 = neuron(out_channels)
        self.conv_bn2 = SeqConvBN(out_channels, out_channels, 3, 1)

    @staticmethod
    def needs_projection(in_channels: int, out_channels: int, stride: int) -> bool:
        return stride != 1 or in_channels != out_channels

    def main_path(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_bn2(self.lif1(self.conv_bn1(x)))


class BasicBlock(_ResidualBlock):
    """Spiking ResNet block: the shortcut is added to the BN output, then the last LIF fires."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory
    ) -> None:
        super().__init__(in_channels, out_channels, stride, neuron)
        self.shortcut: nn.Module = (
            SeqConvBN(in_channels, out_channels, kernel_size=1, stride=stride)
            if self.needs_projection(in_channels, out_channels, stride)
            else nn.Identity()
        )
        self.lif2 = neuron(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.main_path(x) + self.shortcut(x))


class SEWBlock(_ResidualBlock):
    """SEW-ResNet block with the ADD connect function: ``LIF(main) + shortcut spikes``."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, neuron: NeuronFactory
    ) -> None:
        super().__init__(in_channels, out_channels, stride, neuron)
        self.lif2 = neuron(out_channels)
        self.shortcut: nn.Module = (
            SpikingProjection(in_channels, out_channels, stride, neuron)
            if self.needs_projection(in_channels, out_channels, stride)
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.main_path(x)) + self.shortcut(x)


def make_stage(
    block: type[_ResidualBlock],
    in_channels: int,
    out_channels: int,
    blocks: int,
    stride: int,
    neuron: NeuronFactory,
) -> nn.Sequential:
    """``blocks`` residual blocks; the first one changes channels / stride."""
    if blocks < 1:
        raise ValueError(f"a stage needs at least one block, got {blocks}")
    layers = [block(in_channels, out_channels, stride, neuron)]
    layers += [block(out_channels, out_channels, 1, neuron) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
