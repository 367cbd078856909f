"""Spiking transformers with TrLIF neurons: QKFormer, SpikingResformer and Spikformer.

Each family follows its authors' implementation (structure and parameter counts; see each
module's table) with every spiking neuron built by the model's
:class:`~stablespike.models.NeuronFactory`, so MP-Init, TrSG and the neuron flags apply to all
of them. Inputs and outputs are those of every registered model: ``[B, C, H, W]`` (repeated
``timesteps`` times after the non-spiking stem) or ``[T, B, C, H, W]`` in, per-timestep logits
``[T, B, num_classes]`` out.

* :mod:`.qkformer`: ``qkformer-hst-4-384`` (CIFAR), ``qkformer-hst-10-{384,512,768}``
  (ImageNet), ``qkformer-tiny``;
* :mod:`.spikingresformer`: ``spikingresformer-cifar``, ``spikingresformer-{ti,s,m,l}``
  (ImageNet), ``spikingresformer-tiny``;
* :mod:`.spikformer`: ``spikformer-{4-384,2-384,4-256}`` (CIFAR), ``spikformer-8-{384,512,768}``
  (ImageNet), ``spikformer-tiny``.

The ``-tiny`` configurations train on a CPU (Fashion-MNIST 28x28). Every builder also takes
``drop_path`` (stochastic depth, linearly increasing over the blocks; 0 by default, as the
originals' forward passes apply none) and its structural options (``dim``, ``blocks``, ...).
How TrSG's ``Vthr * S`` enters the attention products, and where per-channel thresholds are
refused, is described in :mod:`.attention` and :mod:`.spikingresformer`.

Example:
    >>> from stablespike.models import build_model
    >>> net = build_model("qkformer-hst-4-384", num_classes=10, in_channels=3)
    >>> from stablespike.models.transformers import official_parameter_count
    >>> official_parameter_count(net) == 6_706_234
    True
"""

from __future__ import annotations

from torch import nn

from ...neurons import TrLIF
from . import qkformer, spikformer, spikingresformer  # noqa: F401  (register the models)
from .attention import SpikingMLP, SpikingSelfAttention, TokenQKAttention, TransformerBlock
from .layers import ConvBN, DropPath, SpikeMatmul
from .qkformer import QKFormer
from .spikformer import Spikformer
from .spikingresformer import DSSA, GWFFN, SpikingResformer


def official_parameter_count(model: nn.Module) -> int:
    """Parameters outside the spiking neurons, the count the original implementations report.

    The originals' LIF neurons have no parameters; a TrLIF adds its ``tau_raw`` and
    ``threshold_raw``. Spikformer's originals also create two unused LayerNorms per block
    (``4 * dim`` parameters) that are not built here; add them to compare with the authors'
    printed totals.
    """
    neuron_params = {id(p) for m in model.modules() if isinstance(m, TrLIF) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in neuron_params)


__all__ = [
    "DSSA",
    "GWFFN",
    "ConvBN",
    "DropPath",
    "QKFormer",
    "SpikeMatmul",
    "SpikingMLP",
    "SpikingResformer",
    "SpikingSelfAttention",
    "Spikformer",
    "TokenQKAttention",
    "TransformerBlock",
    "official_parameter_count",
]
