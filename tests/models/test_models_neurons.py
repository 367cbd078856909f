"""neuron_kwargs reach every TrLIF; the ablation flags map onto them; forward order of layers."""

import pytest
import torch

from stablespike import TrLIF
from stablespike.models import available_models, build_model, spiking_layers
from stablespike.train.config import neuron_kwargs_from_flags, parse_learn

_TRANSFORMERS = ("spikformer", "qkformer", "spikingresformer")


def _record_lif_inputs(net):
    seen = []
    for name, lif in spiking_layers(net):
        lif.register_forward_pre_hook(lambda m, i, name=name: seen.append((name, i[0].shape)))
    return seen


@pytest.mark.parametrize("name", available_models())
def test_neuron_kwargs_reach_every_trlif(name, small_model):
    kwargs = {
        "surrogate": "as",
        "mp_init": False,
        "learn_tau": False,
        "init_threshold": 0.5,
        # the transformers refuse per-channel thresholds in some layers (test_transformers.py)
        "per_channel": not name.startswith(_TRANSFORMERS),
    }
    net, x = small_model(name, neuron_kwargs=kwargs)
    layers = spiking_layers(net)
    assert len(layers) == sum(isinstance(m, TrLIF) for m in net.modules()) > 0
    seen = _record_lif_inputs(net)
    net(x)
    channels = dict((n, s[2]) for n, s in seen)
    assert set(channels) == {n for n, _ in layers}  # every layer ran
    for layer_name, lif in layers:
        assert lif.surrogate == "as" and not lif.mp_enabled
        assert not lif.tau_raw.requires_grad and lif.threshold_raw.requires_grad
        if kwargs["per_channel"]:
            assert lif.per_channel and lif.channels == channels[layer_name]
            torch.testing.assert_close(lif.threshold, torch.full((lif.channels,), 0.5))
        else:
            torch.testing.assert_close(lif.threshold, torch.tensor(0.5))


@pytest.mark.parametrize("name", available_models())
def test_spiking_layers_are_in_forward_order(name, small_model):
    net, x = small_model(name)
    seen = _record_lif_inputs(net)
    net(x)
    assert [n for n, _ in seen] == [n for n, _ in spiking_layers(net)]


@pytest.mark.parametrize(
    "spec, tau, threshold",
    [
        ("tau,threshold", True, True),
        ("threshold, tau", True, True),
        ("tau", True, False),
        ("threshold", False, True),
        ("none", False, False),
    ],
)
def test_parse_learn(spec, tau, threshold):
    assert parse_learn(spec) == {"learn_tau": tau, "learn_threshold": threshold}


@pytest.mark.parametrize("spec", ["", "tau,vth", "none,tau", "all"])
def test_parse_learn_rejects_bad_values(spec):
    with pytest.raises(ValueError, match="invalid --learn value"):
        parse_learn(spec)


def test_flags_build_the_ablation_model():
    kwargs = neuron_kwargs_from_flags(surrogate="rs", mp_init=False, learn="none", backend="auto")
    net = build_model("fmnist-cnn", num_classes=10, in_channels=1, neuron_kwargs=kwargs)
    for _, lif in spiking_layers(net):
        assert lif.surrogate == "rs" and not lif.mp_enabled and lif.backend == "auto"
        assert not any(p.requires_grad for p in lif.parameters())
    with pytest.raises(ValueError, match="unknown surrogate"):
        neuron_kwargs_from_flags(surrogate="sigmoid")
