"""Spiking network architectures behind ``--model``, built with ``TrLIF`` neurons.

Every model maps static images ``[B, C, H, W]`` (the stem's output is repeated ``timesteps``
times) or event sequences ``[T, B, C, H, W]`` to per-timestep logits ``[T, B, num_classes]``;
the trainer averages them over time (:func:`time_mean_logits`). Every model is conv -> BN -> TrLIF
throughout (BN over time and batch jointly, tdBN style), with a non-spiking conv + BN stem
(:class:`InputStem`) and a non-spiking FC head; ``nn.Dropout`` before an FC layer draws an
independent mask per timestep.
The spiking transformers (:mod:`stablespike.models.transformers`: ``qkformer-*``,
``spikingresformer-*``, ``spikformer-*``) share the stem, the head and the input / output
conventions.

Example:
    >>> import torch
    >>> from stablespike.models import available_models, build_model, time_mean_logits
    >>> "resnet19" in available_models()
    True
    >>> net = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=2,
    ...                   neuron_kwargs={"surrogate": "trsg", "mp_init": True})
    >>> out = net(torch.randn(5, 1, 28, 28))
    >>> out.shape, time_mean_logits(out).shape
    (torch.Size([2, 5, 10]), torch.Size([5, 10]))
"""

from . import cnn, fmnist_cnn, resnet, transformers  # noqa: F401  (register the models)
from .blocks import BasicBlock, SEWBlock
from .cnn import SpikingCNN, parse_layout
from .factory import NeuronFactory, NeuronSpec
from .introspect import FiringRates, neuron_parameters, neuron_values, spiking_layers
from .layers import SeqConvBN, SeqLinearBN, TimeFolded
from .readout import time_mean_logits
from .registry import (
    available_models,
    build_model,
    default_dropout,
    model_from_config,
    model_options,
    register_model,
)
from .resnet import SpikingResNet
from .stem import InputStem, set_timesteps

__all__ = [
    "BasicBlock",
    "FiringRates",
    "InputStem",
    "NeuronFactory",
    "NeuronSpec",
    "SEWBlock",
    "SeqConvBN",
    "SeqLinearBN",
    "SpikingCNN",
    "SpikingResNet",
    "TimeFolded",
    "available_models",
    "build_model",
    "default_dropout",
    "model_from_config",
    "model_options",
    "neuron_parameters",
    "neuron_values",
    "parse_layout",
    "register_model",
    "set_timesteps",
    "spiking_layers",
    "time_mean_logits",
]
