"""``fmnist-cnn``: the small default model of the main job (Fashion-MNIST, 28x28x1, T=4).

Layout (see :mod:`stablespike.models.cnn`): ``16C3-AP2-32C3-AP2-128FC`` + FC head, i.e.
stem conv 1->16 + BN (non-spiking, run once, repeated T times), LIF, avg-pool 2,
conv 16->32 + BN, LIF, avg-pool 2, FC 1568->128 + BN, LIF, dropout, FC 128->10 (207k parameters).
Default dropout 0.0: a few epochs do not overfit.

The layout was chosen over a wider ``32C3-AP2-64C3-AP2-128FC`` (slower per batch; the ablation
grid's first model, docs/RESULTS.md §6) and ``16C3-32C3-AP2-128FC`` with ``stem_pool=2`` (first
LIF at 14x14: cheaper per batch, less accurate). What the main job reaches with it, and in how
long, is measured in README.md ("The main job").

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

FMNIST_LAYOUT = "16C3-AP2-32C3-AP2-128FC"

register_model("fmnist-cnn", default_dropout=0.0)(
    partial(SpikingCNN, layout=FMNIST_LAYOUT, input_size=28)
)
