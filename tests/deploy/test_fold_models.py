"""fold_thresholds on the library's own architectures (stablespike.models), at tiny sizes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from fold_nets import assert_fold_exact, images, randomize_, record_spikes

import stablespike.models
from stablespike.deploy import ChannelScale, FoldError, fold_thresholds

build_model = getattr(stablespike.models, "build_model", None)
pytestmark = pytest.mark.skipif(build_model is None, reason="stablespike.models has no models yet")

CASES: dict[str, tuple[dict[str, Any], tuple[int, int, int], str, int]] = {
    # name: (build options, image [C, H, W], residual option, ChannelScales expected)
    "fmnist-cnn": (dict(in_channels=1), (1, 28, 28), "error", 0),
    "resnet19": (dict(in_channels=3), (3, 8, 8), "scale", 5),  # 5 identity shortcuts
    "sew-resnet34": (dict(in_channels=3, stages=((8, 1, 1), (16, 1, 2))), (3, 16, 16), "scale", 4),
}


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_layer", "per_channel"])
@pytest.mark.parametrize("name", list(CASES))
def test_library_models_fold_exactly(name: str, per_channel: bool) -> None:
    options, image, residual, n_scales = CASES[name]
    torch.manual_seed(0)
    model = build_model(  # type: ignore[misc]
        name, num_classes=10, timesteps=2, neuron_kwargs={"per_channel": per_channel}, **options
    )
    randomize_(model, image=image)
    folded = fold_thresholds(model, images(seed=1, batch=2, image=image), residual=residual)
    x = images(seed=2, batch=3, image=image)
    with torch.no_grad(), record_spikes(folded) as spikes:
        out = folded(x)
    assert out.shape == (2, 3, 10)
    assert_fold_exact(model, folded, x)
    assert spikes and all(set(s[0].unique().tolist()) <= {0.0, 1.0} for s in spikes.values())
    assert 0.02 < float(torch.cat([s[0].flatten() for s in spikes.values()]).mean()) < 0.9
    assert sum(isinstance(m, ChannelScale) for m in folded.modules()) == n_scales


def test_resnet_identity_shortcuts_are_refused_without_the_option() -> None:
    model = build_model(  # type: ignore[misc]
        "resnet19", num_classes=10, in_channels=3, neuron_kwargs={"init_threshold": 0.8}
    )
    with pytest.raises(FoldError, match="'stages.0.0.lif2' at node 'add_1'.*residual='scale'"):
        fold_thresholds(model.eval())
