"""The one table of which ops a spike passes through (deploy's scale rules, analysis's tracker)."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from stablespike import TrLIF
from stablespike.deploy.ops import classify
from stablespike.models.spike_path import Kind, SpikeTracker, keeps_spikes, module_info

KEEP = [nn.Identity(), nn.Flatten(), nn.Unflatten(1, (2, 2)), nn.Dropout(), nn.Dropout2d()]
KEEP += [nn.AvgPool1d(2), nn.AvgPool2d(2), nn.MaxPool1d(2), nn.MaxPool3d(2)]
REAL = [nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool1d(1), nn.AlphaDropout(), nn.ReLU()]
REAL += [
    nn.Linear(2, 2),
    nn.Conv2d(1, 1, 1),
    nn.BatchNorm1d(2),
    nn.MaxPool2d(2, return_indices=True),
]


@pytest.mark.parametrize("module", KEEP + REAL, ids=lambda m: type(m).__name__)
def test_modules_that_keep_spikes_are_the_rearranging_and_local_pooling_ones(module) -> None:
    info = module_info(module)
    assert keeps_spikes(module) == (module in KEEP)
    if info.keeps_spikes:
        assert info.kind in (Kind.REARRANGE, Kind.CHANNEL_LOCAL)


def test_deploy_classifies_graph_modules_with_the_same_table() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1))
    gm = fx.symbolic_trace(model)
    infos = [classify(n, gm) for n in gm.graph.nodes if n.op == "call_module"]
    assert infos == [module_info(m) for m in model]


def test_tracker_follows_the_table() -> None:
    model = nn.Sequential(TrLIF(mp_init=False), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1))
    seen: list[torch.Tensor] = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(o))
    with SpikeTracker(model) as tracker:
        y = model(torch.rand(2, 1, 4) * 3)
    assert tracker.is_spike_derived(seen[0]) and not tracker.is_spike_derived(y)


def test_pass_through_is_a_deprecated_alias() -> None:
    from stablespike.analysis import spike_tracker

    with pytest.warns(DeprecationWarning, match="keeps_spikes"):
        modules = spike_tracker.PASS_THROUGH
    assert nn.AvgPool2d in modules and nn.AdaptiveAvgPool2d not in modules
