"""Input handling and output shapes: static images vs event sequences, time-major logits."""

import pytest
import torch
from torch import nn

from stablespike.models import InputStem, available_models, set_timesteps, time_mean_logits


@pytest.mark.parametrize("name", available_models())
def test_static_and_sequence_inputs_give_per_timestep_logits(name, small_model):
    net, x = small_model(name, timesteps=3, batch=2)
    net.eval()
    with torch.no_grad():
        static = net(x)
        seq = net(x.unsqueeze(0).expand(3, *x.shape))
    assert static.shape == (3, 2, 5)
    # a static image is the sequence that repeats it: the stem run once equals per-frame stems
    torch.testing.assert_close(static, seq, rtol=1e-4, atol=1e-5)


def test_sequence_length_comes_from_the_data(small_model):
    net, x = small_model("cnn7-dvs", timesteps=4)
    events = torch.rand(3, 2, *x.shape[1:])
    assert net(events).shape == (3, 2, 5)


def test_static_stem_runs_once_then_repeats(small_model):
    net, x = small_model("fmnist-cnn", timesteps=4, batch=3)
    calls = []
    net.stem.conv.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    stem_out = net.stem(x)
    assert calls == [(3, 1, 28, 28)]
    assert stem_out.shape[:2] == (4, 3)
    assert all(torch.equal(stem_out[t], stem_out[0]) for t in range(4))


def test_stem_pooling_runs_before_the_repeat_and_per_frame():
    torch.manual_seed(0)
    stem = InputStem(2, 4, timesteps=3, pool=2).eval()
    x = torch.randn(5, 2, 8, 8)
    expected = nn.functional.avg_pool2d(stem.bn(stem.conv(x)), 2)
    static = stem(x)
    assert static.shape == (3, 5, 4, 4, 4)
    torch.testing.assert_close(static[2], expected)
    torch.testing.assert_close(stem(x.unsqueeze(0).expand(2, *x.shape))[1], expected)
    with pytest.raises(ValueError, match="stem pool must be a positive int"):
        InputStem(2, 4, timesteps=3, pool=0)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 28, 28), r"static images \[B, C, H, W\] or an event sequence"),
        ((2, 3, 28, 28), "expects 1 input channels"),
        ((2, 1, 32, 32), "expects 28x28 inputs"),
    ],
)
def test_bad_inputs_raise_clear_errors(shape, message, small_model):
    net, _ = small_model("fmnist-cnn")
    with pytest.raises(ValueError, match=message):
        net(torch.randn(*shape))


def test_integer_input_is_rejected(small_model):
    net, _ = small_model("fmnist-cnn")
    with pytest.raises(TypeError, match="floating-point"):
        net(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_set_timesteps_changes_static_repeats_and_config(small_model):
    net, x = small_model("resnet19", timesteps=2)
    set_timesteps(net, 5)
    assert net(x).shape == (5, 2, 5)
    assert net.config["timesteps"] == 5
    with pytest.raises(ValueError, match="timesteps must be a positive int"):
        set_timesteps(net, 0)


def test_time_mean_logits_averages_over_time():
    out = torch.arange(24.0).view(4, 2, 3)
    torch.testing.assert_close(time_mean_logits(out), out.mean(0))
    with pytest.raises(ValueError, match=r"per-timestep logits \[T, B, num_classes\]"):
        time_mean_logits(out.mean(0))
