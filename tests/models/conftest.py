"""Small, fast configurations of every registered model for the model tests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn

from stablespike.models import build_model

# name -> (in_channels, spatial size, builder options): small inputs keep the tests fast
SMALL: dict[str, tuple[int, int, dict[str, Any]]] = {
    "fmnist-cnn": (1, 28, {}),
    "cnn7-dvs": (2, 16, {"input_size": 16}),
    "resnet19": (3, 8, {}),
    "spiking-resnet18": (3, 16, {}),
    "spiking-resnet34": (3, 16, {}),
    "sew-resnet34": (3, 16, {}),
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
