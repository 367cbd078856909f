"""build_model(neuron=...): any nn.Module class or (channels) -> module callable builds the layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stablespike import TrLIF
from stablespike.models import NeuronFactory, build_model, model_from_config, spiking_layers


class Doubling(nn.Module):
    def __init__(self, scale: float = 2.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype) * self.scale


def test_class_neuron_gets_kwargs_and_replaces_every_trlif() -> None:
    net = build_model(
        "fmnist-cnn", num_classes=10, in_channels=1, timesteps=2, neuron=Doubling,
        neuron_kwargs={"scale": 3.0},
    )  # fmt: skip
    layers = [m for m in net.modules() if isinstance(m, Doubling)]
    assert layers and all(m.scale == 3.0 for m in layers)
    assert not spiking_layers(net) and not any(isinstance(m, TrLIF) for m in net.modules())
    assert net(torch.randn(3, 1, 28, 28)).shape == (2, 3, 10)
    assert net.config["neuron"].endswith(":Doubling")


def test_callable_gets_each_layers_channels() -> None:
    seen: list[int] = []

    def make(channels: int) -> nn.Module:
        seen.append(channels)
        return TrLIF(per_channel=True, channels=channels)

    net = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=2, neuron=make)
    assert seen == [m.channels for _, m in spiking_layers(net)]
    net(torch.randn(2, 1, 28, 28))


def test_trlif_config_round_trips_unchanged() -> None:
    net = build_model("fmnist-cnn", num_classes=10, in_channels=1, neuron_kwargs={"reset": "hard"})
    assert "neuron" not in net.config
    again = model_from_config(net.config)
    assert again.config == net.config
    assert all(m.reset == "hard" for _, m in spiking_layers(again))


def test_importable_neuron_round_trips_and_lambda_needs_it_passed() -> None:
    net = build_model("fmnist-cnn", num_classes=10, in_channels=1, neuron=nn.Identity)
    assert net.config["neuron"] == "torch.nn.modules.linear:Identity"
    assert model_from_config(net.config).config == net.config
    lam = build_model("fmnist-cnn", num_classes=10, in_channels=1, neuron=lambda c: nn.Identity())
    with pytest.raises(ValueError, match="cannot be imported by name.*neuron="):
        model_from_config(lam.config)
    rebuilt = model_from_config(lam.config, neuron=lambda c: nn.Identity())
    assert isinstance(rebuilt.stem_lif, nn.Identity)


def test_bad_neurons_are_named() -> None:
    with pytest.raises(ValueError, match="unknown option.*nope.*accepts scale"):
        NeuronFactory({"nope": 1}, Doubling)
    with pytest.raises(ValueError, match="unknown TrLIF option"):
        NeuronFactory({"scale": 1})
    with pytest.raises(TypeError, match="not an nn.Module"):
        NeuronFactory(neuron=int)
    with pytest.raises(TypeError, match="returned int for channels=8"):
        NeuronFactory(neuron=lambda c: 3)(8)
    with pytest.raises(ValueError, match="cannot import"):
        model_from_config({**build_model("fmnist-cnn", num_classes=2, in_channels=1).config,
                           "neuron": "no_such_module:Thing"})  # fmt: skip


def test_spikingjelly_multistep_node_as_the_zoo_neuron() -> None:
    neuron = pytest.importorskip(
        "spikingjelly.activation_based.neuron", reason="spikingjelly is not installed"
    )
    from spikingjelly.activation_based import functional

    net = build_model(
        "fmnist-cnn", num_classes=10, in_channels=1, timesteps=2, neuron=neuron.LIFNode,
        neuron_kwargs={"step_mode": "m", "v_reset": None},
    )  # fmt: skip
    out = net(torch.randn(2, 1, 28, 28))
    functional.reset_net(net)
    out.sum().backward()
    assert out.shape == (2, 2, 10)
    assert net.config["neuron"] == "spikingjelly.activation_based.neuron.lif:LIFNode"
