"""``fmnist-cnn``: the small default model of the main job (Fashion-MNIST, 28x28x1, T=4).

Layout (see :mod:`stablespike.models.cnn`): ``32C3-AP2-64C3-AP2-128FC`` + FC head.

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> net = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=4)
    >>> net(torch.randn(2, 1, 28, 28)).shape
    torch.Size([4, 2, 10])
"""

from __future__ import annotations

from functools import partial

from .cnn import SpikingCNN
from .registry import register_model

FMNIST_LAYOUT = "32C3-AP2-64C3-AP2-128FC"

register_model("fmnist-cnn", default_dropout=0.0)(
    partial(SpikingCNN, layout=FMNIST_LAYOUT, input_size=28)
)
