"""Where folding is not exact, fold_thresholds refuses with a FoldError that says where and why."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from fold_nets import ConvBN, Net, images
from torch import nn

from stablespike import TrLIF
from stablespike.deploy import FoldError, fold_thresholds, plan_fold


def _lif(vthr: float = 0.6, channels: int | None = None) -> TrLIF:
    """A TrSG neuron; per channel, the thresholds are ``vthr * (1, 2, 3, ...)``."""
    lif = TrLIF(init_threshold=vthr, per_channel=channels is not None, channels=channels)
    if channels is not None:
        with torch.no_grad():
            lif.threshold_raw.copy_((vthr * torch.arange(1.0, channels + 1)).expm1().log())
    return lif


def _seq(t: int = 3, b: int = 2, *rest: int) -> torch.Tensor:
    return torch.randn(t, b, *rest, generator=torch.Generator().manual_seed(0)) * 2


class Into(nn.Module):
    """A neuron whose spikes go into ``fn`` and then a linear head."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], channels: int | None = None):
        super().__init__()
        self.lif = _lif(channels=channels)
        self.fn = fn
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fn(self.lif(x)))


def test_identity_residual_is_refused_without_the_option(net: Callable[..., Net]) -> None:
    with pytest.raises(FoldError) as info:
        fold_thresholds(net(), images())
    message = str(info.value)
    assert "'block1.lif2'" in message and "node 'add_1'" in message
    assert "spike path" in message and "residual='scale'" in message


def test_spike_into_a_nonlinear_module_is_refused() -> None:
    model = nn.Sequential(_lif(), nn.Sigmoid(), nn.Linear(4, 2))
    with pytest.raises(FoldError, match=r"neuron\(s\) '0' at node '_1' \(module '1' \(Sigmoid\)\)"):
        fold_thresholds(model)


def test_spike_into_a_nonlinear_function_is_refused() -> None:
    with pytest.raises(
        FoldError, match=r"torch\.sigmoid\): this operation is not known to commute"
    ):
        fold_thresholds(Into(torch.sigmoid))


def test_spike_reaching_the_model_output_is_refused() -> None:
    model = nn.Sequential(nn.Linear(4, 4), _lif())
    with pytest.raises(FoldError, match="neuron.*'1'.*scaled spikes reach the model output"):
        fold_thresholds(model, _seq(3, 2, 4))


def test_spike_feeding_another_neuron_directly_is_refused() -> None:
    with pytest.raises(FoldError, match="'0' at node '_1'.*not linear in its input"):
        fold_thresholds(nn.Sequential(_lif(), _lif(), nn.Linear(4, 2)))


def test_adding_a_constant_to_spikes_is_refused_unless_kept_explicit() -> None:
    model = Into(lambda s: s + 1.0)
    with pytest.raises(FoldError, match="addition is not exact"):
        fold_thresholds(model)
    x = _seq(3, 2, 4)
    folded = fold_thresholds(model, x, residual="scale")
    torch.testing.assert_close(folded(x), model.eval()(x), atol=1e-6, rtol=0)


def test_reduction_over_channels_is_refused_only_for_per_channel_thresholds() -> None:
    def channel_mean(s: torch.Tensor) -> torch.Tensor:
        return s.mean(2, keepdim=True).expand(-1, -1, 4)

    x = _seq(3, 2, 4)
    with pytest.raises(FoldError, match=r"reduction mixes dim\(s\) \[2\]"):
        fold_thresholds(Into(channel_mean, channels=4), x)
    model = Into(channel_mean)  # one threshold per layer: the mean commutes
    torch.testing.assert_close(fold_thresholds(model, x)(x), model.eval()(x), atol=1e-6, rtol=0)


def test_per_channel_thresholds_need_an_example_input() -> None:
    model = nn.Sequential(_lif(channels=4), nn.Linear(4, 2))
    with pytest.raises(FoldError, match="pass example_input"):
        fold_thresholds(model)


class Shared(nn.Module):
    """One conv applied to spikes and to the (unscaled) input."""

    def __init__(self) -> None:
        super().__init__()
        self.lif = _lif()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.lif(x).flatten(0, 1)) + self.conv(x.flatten(0, 1))


def test_a_layer_called_with_different_input_scales_is_refused() -> None:
    with pytest.raises(FoldError, match="'conv' is called at 'conv', 'conv_1' with different"):
        fold_thresholds(Shared(), _seq(2, 2, 2, 3, 3))


def test_tied_weights_are_refused() -> None:
    model = nn.Sequential(_lif(), nn.Linear(4, 4), nn.Linear(4, 4))
    model[2].weight = model[1].weight
    with pytest.raises(FoldError, match="'1' shares a weight or buffer"):
        fold_thresholds(model)


def test_batch_norm_without_running_statistics_is_refused() -> None:
    model = nn.Sequential(_lif(), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 2))
    with pytest.raises(FoldError, match="without running statistics"):
        fold_thresholds(model)


def test_active_dropout_is_refused() -> None:
    def dropout(s: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(s, 0.5, training=True)

    with pytest.raises(FoldError, match="dropout is active"):
        fold_thresholds(Into(dropout))


def test_a_refused_fold_changes_nothing(net: Callable[..., Net]) -> None:
    model = net()
    before = copy.deepcopy(model)
    with pytest.raises(FoldError):
        fold_thresholds(model, images())
    x = images(seed=5)
    torch.testing.assert_close(model.eval()(x), before.eval()(x), atol=0, rtol=0)
    assert not any(m.binary_output for m in model.modules() if isinstance(m, TrLIF))


def test_untraceable_models_and_bad_options_are_reported() -> None:
    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x

    with pytest.raises(FoldError, match="cannot trace Branchy with torch.fx"):
        fold_thresholds(Branchy())
    with pytest.raises(ValueError, match="residual must be one of"):
        plan_fold(ConvBN(2, 2), residual="insert")  # type: ignore[arg-type]
