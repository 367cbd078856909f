"""One home for reading a spiking model: layers, learned values, firing rates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stablespike import TrLIF
from stablespike.models.introspect import (
    FiringRates,
    layer_values,
    neuron_parameters,
    neuron_values,
    spiking_layers,
)


def test_spiking_layers_required_raises_on_a_model_without_neurons() -> None:
    assert spiking_layers(nn.Linear(2, 2)) == []
    with pytest.raises(ValueError, match="no TrLIF layer"):
        spiking_layers(nn.Linear(2, 2), required=True)


def test_values_are_plain_floats_or_lists_per_channel() -> None:
    lif = TrLIF(per_channel=True, channels=3, mp_init=True)
    values = layer_values(lif)
    assert values["tau"] == [2.0, 2.0, 2.0] and values["threshold"] == pytest.approx([1.0] * 3)
    assert all(type(v) is float for v in values["mp_mean"])
    model = nn.Sequential(TrLIF(), nn.Identity(), lif)
    assert list(neuron_values(spiking_layers(model))) == ["0", "2"]
    assert neuron_values(spiking_layers(model))["2"]["mp_init"] is True
    assert [row["layer"] for row in neuron_parameters(model)] == ["0", "2"]


def test_firing_rates_per_step_sums_and_detach() -> None:
    lif = TrLIF(mp_init=False)
    x = torch.zeros(3, 2, 4)
    x[0] = 5.0  # every neuron fires at t=1 only (no later step reaches the threshold)
    with FiringRates([("lif", lif)], per_step=True) as rates:
        lif(x)
    lif(x)  # detached: not counted
    assert rates.rates_per_step("lif") == [1.0, 0.0, 0.0]
    assert rates.mean_rate("lif") == pytest.approx(1 / 3)
    sums = rates.sums
    assert sums.tolist() == [8.0, 24.0]
    again = FiringRates([("lif", lif)])
    again.load_sums(sums * 2)  # e.g. two processes with the same counts
    assert again.rates() == {"lif": pytest.approx(1 / 3)} and again.total.tolist() == [48.0]
    with pytest.raises(ValueError, match="shape"):
        again.load_sums(torch.zeros(3))
    with FiringRates([("lif", lif)], per_step=True) as rates:
        lif(x)
        with pytest.raises(ValueError, match="T = 3"):
            lif(x[:2])


def test_old_homes_still_work() -> None:
    from stablespike.analysis import neuron_layers
    from stablespike.analysis import neuron_parameters as old_parameters
    from stablespike.train.metrics import FiringRates as OldRates
    from stablespike.train.metrics import neuron_values as old_values

    model = nn.Sequential(TrLIF())
    assert OldRates is FiringRates and old_values is neuron_values
    assert old_parameters is neuron_parameters
    with pytest.warns(DeprecationWarning, match="spiking_layers"):
        assert neuron_layers(model) == spiking_layers(model)
    with pytest.warns(DeprecationWarning, match="all_reduce_rates"):
        FiringRates(spiking_layers(model)).all_reduce(None)
