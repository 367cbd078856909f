"""Folding the spiking transformers: scalar thresholds into the attention products' scale."""

from __future__ import annotations

import pytest
import torch

from stablespike import TrLIF
from stablespike.deploy import FoldError, fold_thresholds, plan_fold
from stablespike.models import build_model
from stablespike.models.transformers import SpikeMatmul


def _trained_like(name: str) -> torch.nn.Module:
    """A tiny model with thresholds away from 1 and trained BN / MP-Init statistics."""
    torch.manual_seed(0)
    net = build_model(name, num_classes=10, in_channels=1, timesteps=2)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, TrLIF):
                m.threshold_raw.add_(float(torch.rand((), generator=g)) * 0.4 - 0.2)
    net(torch.randn(8, 1, 28, 28))
    return net.eval()


def test_spikingresformer_folds_exactly_with_thresholds_in_the_products():
    net = _trained_like("spikingresformer-tiny")
    x = torch.randn(3, 1, 28, 28)
    folded = fold_thresholds(net, x)  # checks outputs and binary spikes on x itself
    dssa, fdssa = net.stages[0][0], folded.stages[0][0]
    assert fdssa.matmul1.scale == pytest.approx(float(dssa.lif_in.threshold.detach()))
    assert fdssa.matmul2.scale == pytest.approx(float(dssa.lif_attn.threshold.detach()))
    assert all(m.scale == 1.0 for m in net.modules() if isinstance(m, SpikeMatmul))  # untouched
    plan = str(plan_fold(net, x))
    assert "product 'stages.0.0.matmul1' <- Vthr of stages.0.0.lif_in" in plan


def test_spikformer_folds_with_channel_scales_at_the_residual_additions():
    net = _trained_like("spikformer-tiny")
    x = torch.randn(3, 1, 28, 28)
    with pytest.raises(FoldError, match="'patch.lifs.2', 'patch.rpe_lif' at node 'add'"):
        plan_fold(net, x)
    folded = fold_thresholds(net, x, residual="scale")
    attn = net.blocks[0].attn
    qk = folded.get_submodule("blocks.0.attn.qk")
    vq, vk = float(attn.q_lif.threshold.detach()), float(attn.k_lif.threshold.detach())
    assert qk.scale == pytest.approx(vq * vk)
    assert folded.get_submodule("blocks.0.attn.qkv").scale == pytest.approx(
        float(attn.v_lif.threshold.detach())
    )


def test_qkformer_token_mask_refuses_naming_the_layer():
    net = _trained_like("qkformer-tiny")
    with pytest.raises(FoldError, match="'stage1.0.attn.q_lif' at node 'stage1_0_attn_attn_lif'"):
        plan_fold(net, torch.randn(2, 1, 28, 28), residual="scale")
