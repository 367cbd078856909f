"""tdBN-style layers (time folded into the batch) and the CNN layout parser."""

import pytest
import torch
from torch import nn

from stablespike.models import SeqConvBN, TimeFolded, build_model, parse_layout


def test_seq_conv_bn_normalises_over_time_and_batch_jointly():
    torch.manual_seed(0)
    layer = SeqConvBN(3, 4, kernel_size=3)
    x = torch.randn(5, 2, 3, 6, 6) * torch.arange(1.0, 6.0).view(5, 1, 1, 1, 1)  # T scales
    y = layer(x)
    z = layer.conv(x.flatten(0, 1))  # [T*B, C, H, W]
    mean = z.mean(dim=(0, 2, 3), keepdim=True)
    var = z.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    expected = ((z - mean) / torch.sqrt(var + layer.bn.eps)).view(5, 2, 4, 6, 6)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(layer.bn.running_mean, 0.1 * mean.flatten())
    assert layer.conv.bias is None


def test_seq_conv_bn_statistics_couple_timesteps():
    torch.manual_seed(0)
    layer = SeqConvBN(2, 2)
    x = torch.randn(3, 2, 2, 4, 4)
    x2 = x.clone()
    x2[0] += 5.0  # change only timestep 0
    y, y2 = layer(x), layer(x2)
    assert not torch.allclose(y[1], y2[1])  # later steps see the shared (T * B) statistics


def test_time_folded_applies_per_timestep():
    x = torch.randn(3, 2, 4, 8, 8)
    pool = TimeFolded(nn.AvgPool2d(2))
    y = pool(x)
    assert y.shape == (3, 2, 4, 4, 4)
    torch.testing.assert_close(y[2], nn.functional.avg_pool2d(x[2], 2))


def test_parse_layout_reads_the_paper_notation():
    layers = parse_layout("64C3-AP2-128C5-MP2-1024FC")
    assert [(layer.kind, layer.size, layer.kernel) for layer in layers] == [
        ("conv", 64, 3),
        ("AP", 2, 0),
        ("conv", 128, 5),
        ("MP", 2, 0),
        ("fc", 1024, 0),
    ]


@pytest.mark.parametrize(
    "layout, message",
    [
        ("64C3-XP2", "bad layout token 'XP2'"),
        ("AP2-64C3", "must start with a conv layer"),
        ("64C3-128FC-64C3", "must come before FC layers"),
        ("0C3-AP2", "zero size"),
    ],
)
def test_parse_layout_rejects_bad_layouts(layout, message):
    with pytest.raises(ValueError, match=message):
        parse_layout(layout)


def test_spiking_cnn_rejects_layouts_that_pool_too_far():
    with pytest.raises(ValueError, match="pools a 1x1 map with window 2"):
        build_model("fmnist-cnn", num_classes=10, in_channels=1, input_size=3)
    with pytest.raises(ValueError, match="pools a 28x28 map with window 32"):
        build_model("fmnist-cnn", num_classes=10, in_channels=1, stem_pool=32)
