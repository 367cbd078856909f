"""The architectures of docs/METHOD.md §4.2: block and LIF counts, shortcuts, SEW ADD."""

import pytest
import torch
from torch import nn

from stablespike import TrLIF
from stablespike.models import (
    BasicBlock,
    InputStem,
    NeuronFactory,
    SeqConvBN,
    SEWBlock,
    build_model,
    spiking_layers,
)


def _n_lif(module):
    return sum(isinstance(m, TrLIF) for m in module.modules())


def test_resnet19_matches_method_md():
    net = build_model("resnet19", num_classes=100, in_channels=3)
    stem = net.stem
    assert isinstance(stem, InputStem)
    assert (stem.conv.out_channels, stem.conv.kernel_size, stem.conv.stride) == (64, (3, 3), (1, 1))
    assert isinstance(net.stem_lif, TrLIF) and isinstance(net.pool, nn.Identity)
    assert [len(stage) for stage in net.stages] == [3, 3, 2]
    assert [stage[0].conv_bn1.conv.out_channels for stage in net.stages] == [128, 256, 512]
    assert [stage[0].conv_bn1.conv.stride for stage in net.stages] == [(1, 1), (2, 2), (2, 2)]
    for stage in net.stages:
        assert all(isinstance(block, BasicBlock) for block in stage)
        # projection where the shape changes (64 -> 128 in stage 1, stride 2 later), else identity
        assert isinstance(stage[0].shortcut, SeqConvBN)
        assert stage[0].shortcut.conv.kernel_size == (1, 1)
        assert all(isinstance(block.shortcut, nn.Identity) for block in stage[1:])
    assert [_n_lif(stage) for stage in net.stages] == [6, 6, 4]
    assert len(spiking_layers(net)) == 17
    assert (net.fc.in_features, net.fc.out_features) == (512, 100)


@pytest.mark.parametrize(
    "name, blocks, n_lif, block_type",
    [
        ("spiking-resnet18", [2, 2, 2, 2], 1 + 2 * 8, BasicBlock),
        ("spiking-resnet34", [3, 4, 6, 3], 1 + 2 * 16, BasicBlock),
        ("sew-resnet34", [3, 4, 6, 3], 1 + 2 * 16 + 3, SEWBlock),  # + 3 spiking projections
    ],
)
def test_imagenet_resnets(name, blocks, n_lif, block_type):
    net = build_model(name, num_classes=1000, in_channels=3)
    conv = net.stem.conv
    assert (conv.kernel_size, conv.stride, conv.out_channels) == ((7, 7), (2, 2), 64)
    assert isinstance(net.pool.module, nn.MaxPool2d)
    assert [len(stage) for stage in net.stages] == blocks
    assert [stage[0].conv_bn1.conv.out_channels for stage in net.stages] == [64, 128, 256, 512]
    assert all(isinstance(b, block_type) for stage in net.stages for b in stage)
    assert isinstance(net.stages[0][0].shortcut, nn.Identity)  # 64 -> 64, stride 1
    assert len(spiking_layers(net)) == n_lif


def test_cnn7_dvs_layout():
    net = build_model("cnn7-dvs", num_classes=10, in_channels=2)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 256, 256]
    pools = [m for m in net.modules() if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 3
    fcs = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(256 * 6 * 6, 1024), (1024, 10)]
    assert len(spiking_layers(net)) == 6  # 5 conv layers + the 1024 FC
    assert isinstance(net.classifier[-1], nn.Linear)  # non-spiking head


def test_basic_block_outputs_spikes():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, stride=1, neuron=NeuronFactory())
    x = torch.randn(4, 4, 4, 6, 6)
    out = block(x)
    assert out.abs().sum() > 0
    vth = block.lif2.threshold
    assert torch.all((out == 0) | (out == vth))  # shortcut added before the last LIF


def test_sew_block_adds_spikes_to_the_identity_shortcut():
    torch.manual_seed(0)
    block = SEWBlock(4, 4, stride=1, neuron=NeuronFactory())  # train mode: BN on batch stats
    x = torch.randn(4, 4, 4, 6, 6)
    spikes = block(x) - x
    vth = block.lif2.threshold
    assert torch.all((spikes.abs() < 1e-6) | ((spikes - vth).abs() < 1e-6))
    assert spikes.abs().sum() > 0


def test_sew_block_projection_shortcut_spikes():
    torch.manual_seed(0)
    block = SEWBlock(4, 8, stride=2, neuron=NeuronFactory({"init_threshold": 0.7}))
    block.lif2.threshold_raw.data.fill_(1.0)  # Vthr of the main path != shortcut's Vthr
    out = block(torch.randn(4, 4, 4, 6, 6))
    assert out.shape == (4, 4, 8, 3, 3)
    v_main, v_short = block.lif2.threshold.item(), block.shortcut.lif.threshold.item()
    allowed = torch.tensor([0.0, v_main, v_short, v_main + v_short])
    assert torch.all((out.unsqueeze(-1) - allowed).abs().min(-1).values < 1e-6)
    assert all((out - v).abs().lt(1e-6).any() for v in allowed)  # every combination occurs
