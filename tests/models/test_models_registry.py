import json

import pytest
import torch
from torch import nn

from stablespike.models import (
    available_models,
    build_model,
    default_dropout,
    model_from_config,
    register_model,
    registry,
)

NAMES = tuple(
    sorted(
        (
            "cnn7-dvs",
            "fmnist-cnn",
            "resnet19",
            "sew-resnet34",
            "spiking-resnet18",
            "spiking-resnet34",
            "spikformer-4-384",
            "spikformer-2-384",
            "spikformer-4-256",
            "spikformer-8-384",
            "spikformer-8-512",
            "spikformer-8-768",
            "spikformer-tiny",
            "qkformer-hst-4-384",
            "qkformer-hst-10-384",
            "qkformer-hst-10-512",
            "qkformer-hst-10-768",
            "qkformer-tiny",
            "spikingresformer-cifar",
            "spikingresformer-ti",
            "spikingresformer-s",
            "spikingresformer-m",
            "spikingresformer-l",
            "spikingresformer-tiny",
        )
    )
)


def test_available_models_lists_every_paper_model():
    assert available_models() == NAMES


def test_unknown_model_error_lists_the_names():
    with pytest.raises(ValueError, match="unknown model 'resnet50'") as err:
        build_model("resnet50", num_classes=10, in_channels=3)
    for name in NAMES:
        assert name in str(err.value)


def test_unknown_option_error_lists_accepted_options():
    with pytest.raises(ValueError, match="unknown option.*widht.*accepted options:.*input_size"):
        build_model("fmnist-cnn", num_classes=10, in_channels=1, widht=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 0}, "num_classes must be a positive int"),
        ({"in_channels": 1.5}, "in_channels must be a positive int"),
        ({"timesteps": 0}, "timesteps must be a positive int"),
        ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
        ({"neuron_kwargs": {"channels": 4}}, "must not set 'channels'"),
        ({"neuron_kwargs": {"surogate": "as"}}, "unknown TrLIF option.*surogate"),
        ({"neuron_kwargs": {"surrogate": "xx"}}, "unknown surrogate 'xx'"),
    ],
)
def test_invalid_arguments_raise_clear_errors(kwargs, message):
    args = {"num_classes": 10, "in_channels": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_model("fmnist-cnn", **args)


def test_register_model_adds_a_builder_and_rejects_duplicates(monkeypatch):
    monkeypatch.setattr(registry._MODELS, "_entries", dict(registry._MODELS._entries))

    @register_model("tiny", default_dropout=0.3)
    class Tiny(nn.Module):
        def __init__(self, *, num_classes, in_channels, timesteps, neuron, dropout, width=2):
            super().__init__()
            self.fc = nn.Linear(in_channels, num_classes)
            self.lif = neuron(width)
            self.p = dropout

    net = build_model("tiny", num_classes=3, in_channels=4, width=7)
    assert isinstance(net, Tiny) and net.p == 0.3
    assert net.config["options"] == {"width": 7}
    assert "tiny" in available_models()
    with pytest.raises(ValueError, match="already registered"):
        register_model("tiny")(Tiny)


def test_dropout_default_per_model_and_override():
    net = build_model("resnet19", num_classes=10, in_channels=3)
    assert default_dropout("resnet19") == 0.2
    assert net.config["dropout"] == 0.2 and net.dropout.p == 0.2
    net = build_model("resnet19", num_classes=10, in_channels=3, dropout=0.0)
    assert net.config["dropout"] == 0.0 and net.dropout.p == 0.0
    dvs = build_model("cnn7-dvs", num_classes=10, in_channels=2)
    drops = [m.p for m in dvs.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]  # before each of the two FC layers


def test_config_rebuilds_the_same_model(small_model):
    net, x = small_model(
        "cnn7-dvs", neuron_kwargs={"surrogate": "rs", "learn_tau": False}, dropout=0.1
    )
    config = net.config
    assert set(config) == set(registry.CONFIG_KEYS)
    assert config == json.loads(json.dumps(config))  # plain data, fit for a checkpoint
    assert config["options"] == {"input_size": 16}
    again = model_from_config(config)
    again.load_state_dict(net.state_dict())  # strict: same architecture and layer configs
    net.eval()
    again.eval()
    assert again.config == config
    torch.testing.assert_close(again(x), net(x))


def test_model_from_config_requires_the_keys():
    with pytest.raises(ValueError, match="lacks num_classes"):
        model_from_config({"name": "fmnist-cnn", "in_channels": 1})


def test_init_weights_bn_is_identity_and_convs_are_kaiming():
    net = build_model("resnet19", num_classes=10, in_channels=3)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    conv = net.stages[2][0].conv_bn2.conv  # 512 x 512 x 3 x 3, fan_out = 512 * 9
    expected = (2.0 / (512 * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.02)
