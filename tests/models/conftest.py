"""Small, fast configurations of every registered model for the model tests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn

from stablespike.models import build_model

# a fresh spiking transformer's attention-output neurons are nearly silent at T=2 with small
# heads (as the originals' are): one head per block and decay_input=False (first-step spikes)
# give the spike products counts that reach those neurons' surrogate window
_ACTIVE = {"heads": 1, "neuron_kwargs": {"decay_input": False}}
_QK_ACTIVE = {"heads": 2}  # QKFormer: more heads, or its token mask saturates
_SRF_SMALL = {"widths": (16, 32, 64), "heads": (1, 2, 2), "pairs": (1, 1, 1), "group_size": 16}

# name -> (in_channels, spatial size, builder options): small inputs keep the tests fast
SMALL: dict[str, tuple[int, int, dict[str, Any]]] = {
    "fmnist-cnn": (1, 28, {}),
    "cnn7-dvs": (2, 16, {"input_size": 16}),
    "resnet19": (3, 8, {}),
    "spiking-resnet18": (3, 16, {}),
    "spiking-resnet34": (3, 16, {}),
    "sew-resnet34": (3, 16, {}),
    # transformers: the reference structures at small widths (full widths: test_transformers.py)
    "spikformer-4-384": (3, 16, {"dim": 32, **_ACTIVE}),
    "spikformer-2-384": (3, 16, {"dim": 32, **_ACTIVE}),
    "spikformer-4-256": (3, 16, {"dim": 32, **_ACTIVE}),
    "spikformer-8-384": (3, 32, {"dim": 32, "depth": 1, **_ACTIVE}),
    "spikformer-8-512": (3, 32, {"dim": 32, "depth": 1, **_ACTIVE}),
    "spikformer-8-768": (3, 32, {"dim": 32, "depth": 1, **_ACTIVE}),
    "spikformer-tiny": (1, 28, {**_ACTIVE}),
    "qkformer-hst-4-384": (3, 32, {"dim": 32, **_QK_ACTIVE}),
    "qkformer-hst-10-384": (3, 64, {"dim": 32, "blocks": (1, 1, 1), **_QK_ACTIVE}),
    "qkformer-hst-10-512": (3, 64, {"dim": 32, "blocks": (1, 1, 1), **_QK_ACTIVE}),
    "qkformer-hst-10-768": (3, 64, {"dim": 32, "blocks": (1, 1, 1), **_QK_ACTIVE}),
    "qkformer-tiny": (1, 28, {**_QK_ACTIVE}),
    "spikingresformer-cifar": (3, 16, _SRF_SMALL),
    "spikingresformer-ti": (3, 32, _SRF_SMALL),
    "spikingresformer-s": (3, 32, _SRF_SMALL),
    "spikingresformer-m": (3, 32, _SRF_SMALL),
    "spikingresformer-l": (3, 32, _SRF_SMALL),
    "spikingresformer-tiny": (1, 28, {}),
}


SmallModel = Callable[..., tuple[nn.Module, torch.Tensor]]

_built: dict[str, nn.Module] = {}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The models here are tiny: one intra-op thread is faster on a shared, busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_model() -> SmallModel:
    """``small_model(name, timesteps=2, batch=2, **kw) -> (model, static input [B, C, H, W])``.

    Models are built once per configuration and handed out as fresh deep copies.
    """

    def make(
        name: str, timesteps: int = 2, batch: int = 2, **kwargs: Any
    ) -> tuple[nn.Module, torch.Tensor]:
        channels, size, options = SMALL[name]
        key = repr((name, timesteps, sorted(kwargs.items())))
        if key not in _built:
            torch.manual_seed(0)
            _built[key] = build_model(
                name,
                num_classes=5,
                in_channels=channels,
                timesteps=timesteps,
                **{**options, **kwargs},
            )
        torch.manual_seed(1)
        return copy.deepcopy(_built[key]), torch.randn(batch, channels, size, size)

    return make
