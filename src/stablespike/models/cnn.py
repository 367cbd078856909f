"""Plain (non-residual) spiking CNNs described by a layout string, as papers write them.

A layout like ``"64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-1024FC"`` reads:

* ``<n>C<k>``: conv ``k x k`` (padding ``k // 2``) with ``n`` channels + BN + LIF; the first one is
  the non-spiking stem (:class:`~stablespike.models.stem.InputStem`) followed by its LIF;
* ``AP<k>`` / ``MP<k>``: average / max pooling ``k x k`` (stride ``k``) on every timestep;
* ``<n>FC``: dropout, a hidden fully connected layer with ``n`` units + BN (over ``T * B``,
  like the convs; our choice, docs/METHOD.md §4.2) + LIF.

The non-spiking head (dropout, then FC to ``num_classes``) is always appended, so it is not part
of the layout. ``stem_pool=k`` average-pools the non-spiking stem output before its LIF (see
:class:`~stablespike.models.stem.InputStem`). Convolutions come before FC layers; the flattened feature size follows from
``input_size`` (square inputs).

Example:
    >>> import torch
    >>> from stablespike.models import NeuronFactory
    >>> from stablespike.models.cnn import SpikingCNN
    >>> net = SpikingCNN(num_classes=10, in_channels=1, timesteps=2, neuron=NeuronFactory(),
    ...                  dropout=0.0, layout="8C3-AP2-16FC", input_size=8)
    >>> net(torch.randn(3, 1, 8, 8)).shape
    torch.Size([2, 3, 10])
"""

from __future__ import annotations

import re
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from .factory import NeuronFactory
from .layers import SeqConvBN, SeqLinearBN, TimeFolded
from .registry import positive_int, register_model
from .stem import InputStem

_TOKEN = re.compile(r"^(?:(?P<conv>\d+)C(?P<k>\d+)|(?P<pool>AP|MP)(?P<pk>\d+)|(?P<fc>\d+)FC)$")
_POOLS = {"AP": nn.AvgPool2d, "MP": nn.MaxPool2d}


class Layer(NamedTuple):
    """One parsed layout token: ``kind`` is ``"conv"``, ``"AP"``, ``"MP"`` or ``"fc"``."""

    kind: str
    size: int  # channels / units, or the pooling window
    kernel: int = 0


def parse_layout(layout: str) -> list[Layer]:
    """Parse a layout string; raise ``ValueError`` naming the first bad token.

    Example:
        >>> parse_layout("32C3-AP2-128FC")
        [Layer(kind='conv', size=32, kernel=3), Layer(kind='AP', size=2, kernel=0), Layer(kind='fc', size=128, kernel=0)]
    """
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a string like '32C3-AP2-128FC', got {layout!r}")
    layers: list[Layer] = []
    for token in layout.split("-"):
        m = _TOKEN.match(token.strip())
        if m is None:
            raise ValueError(
                f"bad layout token {token!r} in {layout!r}; expected <n>C<k>, AP<k>, MP<k> or <n>FC"
            )
        if m["conv"]:
            layer = Layer("conv", int(m["conv"]), int(m["k"]))
        elif m["pool"]:
            layer = Layer(m["pool"], int(m["pk"]))
        else:
            layer = Layer("fc", int(m["fc"]))
        if layer.size < 1 or (layer.kind == "conv" and layer.kernel < 1):
            raise ValueError(f"layout token {token!r} in {layout!r} has a zero size")
        if layer.kind != "fc" and layers and layers[-1].kind == "fc":
            raise ValueError(f"layout {layout!r}: conv / pool layers must come before FC layers")
        layers.append(layer)
    if layers[0].kind != "conv":
        raise ValueError(f"layout {layout!r} must start with a conv layer (the stem)")
    return layers


def _pooled(size: int, window: int, layout: str) -> int:
    if size // window < 1:
        raise ValueError(f"layout {layout!r} pools a {size}x{size} map with window {window}")
    return size // window


class SpikingCNN(nn.Module):
    """Stem conv + BN + LIF, conv/pool features, hidden FC + LIF layers, FC head (see module doc)."""

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        timesteps: int,
        neuron: NeuronFactory,
        dropout: float,
        layout: str,
        input_size: int,
        stem_pool: int = 1,
    ) -> None:
        super().__init__()
        positive_int("input_size", input_size)
        stem, *rest = parse_layout(layout)
        self.stem = InputStem(
            in_channels,
            stem.size,
            stem.kernel,
            timesteps=timesteps,
            input_size=input_size,
            pool=stem_pool,
        )
        self.stem_lif = neuron(stem.size)
        channels, size = stem.size, _pooled(input_size, stem_pool, layout)
        features: list[nn.Module] = []
        classifier: list[nn.Module] = []
        width = 0
        for layer in rest:
            if layer.kind == "conv":
                features += [SeqConvBN(channels, layer.size, layer.kernel), neuron(layer.size)]
                channels = layer.size
            elif layer.kind in _POOLS:
                features.append(TimeFolded(_POOLS[layer.kind](layer.size)))
                size = _pooled(size, layer.size, layout)
            else:
                width = width or channels * size * size
                classifier += [
                    nn.Dropout(dropout),
                    SeqLinearBN(width, layer.size),
                    neuron(layer.size),
                ]
                width = layer.size
        width = width or channels * size * size
        classifier += [nn.Dropout(dropout), nn.Linear(width, num_classes)]
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(*classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem_lif(self.stem(x)))
        return self.classifier(x.flatten(2))  # [T, B, C*H*W] -> [T, B, num_classes]


DVS_LAYOUT = "64C3-AP2-128C3-128C3-AP2-256C3-256C3-AP2-1024FC"
"""The 7-layer DVS CNN of docs/METHOD.md §4.2 (``...-1024FC-10FC``, the last FC being the head)."""

register_model("cnn7-dvs", default_dropout=0.5)(
    partial(SpikingCNN, layout=DVS_LAYOUT, input_size=48)
)
