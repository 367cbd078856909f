"""absorb_input_scale_: layer'(x) == layer(s * x) for every layer kind folding relies on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from stablespike.deploy.scale import Refusal
from stablespike.deploy.weights import absorb_input_scale_, check_private_weights

C = 6


def _bn(affine: bool) -> nn.Module:
    bn = nn.BatchNorm2d(C, affine=affine).eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(C, generator=gen))
        bn.running_var.copy_(torch.rand(C, generator=gen) + 0.1)
        if affine:
            bn.weight.copy_(torch.randn(C, generator=gen))
            bn.bias.copy_(torch.randn(C, generator=gen))
    return bn


LAYERS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], int]] = {
    # name: (layer, input shape, channel dim)
    "linear": (lambda: nn.Linear(C, 4), (2, 3, C), -1),
    "conv1d": (lambda: nn.Conv1d(C, 4, 3, padding=1), (2, C, 7), 1),
    "conv2d_groups": (lambda: nn.Conv2d(C, 4, 3, padding=2, dilation=2, groups=2), (2, C, 5, 5), 1),
    "conv2d_depthwise_reflect": (
        lambda: nn.Conv2d(C, C, 3, padding=1, groups=C, padding_mode="reflect"),
        (2, C, 5, 5),
        1,
    ),
    "conv2d_unbatched": (lambda: nn.Conv2d(C, 4, 3, stride=2), (C, 5, 5), 0),
    "conv3d": (lambda: nn.Conv3d(C, 4, (1, 3, 3), padding=(0, 1, 1)), (2, C, 2, 4, 4), 1),
    "conv_transpose2d_groups": (lambda: nn.ConvTranspose2d(C, 4, 3, groups=2), (2, C, 4, 4), 1),
    "batchnorm_affine": (lambda: _bn(True), (4, C, 3, 3), 1),
    "batchnorm_plain": (lambda: _bn(False), (4, C, 3, 3), 1),
}


@pytest.mark.parametrize("per_channel", [False, True], ids=["scalar", "per_channel"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_absorbed_scale_gives_the_same_layer_output(name: str, per_channel: bool) -> None:
    build, shape, channel_dim = LAYERS[name]
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    layer = build()
    x = torch.randn(shape, generator=gen)
    s = torch.rand(C, generator=gen) * 1.7 + 0.3 if per_channel else torch.tensor(0.37)
    view = [1] * len(shape)
    view[channel_dim] = -1
    expected = layer(x * (s.view(view) if per_channel else s))
    absorb_input_scale_(layer, s)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


def test_absorbing_into_an_unsupported_layer_raises() -> None:
    with pytest.raises(ValueError, match="LayerNorm has no known way"):
        absorb_input_scale_(nn.LayerNorm(3), torch.tensor(2.0))
    with pytest.raises(ValueError, match="without running statistics"):
        absorb_input_scale_(nn.BatchNorm1d(3, track_running_stats=False), torch.tensor(2.0))


def test_parametrized_weights_are_refused() -> None:
    model = nn.Sequential(parametrizations.weight_norm(nn.Linear(3, 3)))
    with pytest.raises(Refusal, match="'0' has parametrized weights"):
        check_private_weights(model, ["0"])


def test_a_reused_module_is_not_mistaken_for_tied_weights() -> None:
    layer = nn.Linear(3, 3)
    check_private_weights(nn.Sequential(layer, layer), ["0"])  # does not raise
