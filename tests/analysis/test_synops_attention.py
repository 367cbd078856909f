"""Synaptic operations of attention products: spikes x spikes, spikes x reals, reals x reals."""

from __future__ import annotations

import torch
from torch import nn

from stablespike import TrLIF
from stablespike.analysis.synops import SynOpsCounter, product_ops
from stablespike.models import build_model
from stablespike.models.transformers import SpikeMatmul


class _Products(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lif_a = TrLIF(mp_init=False)
        self.lif_b = TrLIF(mp_init=False)
        self.spikes_spikes = SpikeMatmul()
        self.spikes_reals = SpikeMatmul()
        self.reals_spikes = SpikeMatmul()
        self.reals_reals = SpikeMatmul()

    def forward(self, a, b, r1, r2):
        sa, sb = self.lif_a(a), self.lif_b(b)  # T = 1: an input of 2 fires (H = 2 / tau = 1)
        return (
            self.spikes_spikes(sa, sb).sum()
            + self.spikes_reals(sa, r2).sum()
            + self.reals_spikes(r1, sb).sum()
            + self.reals_reals(r1, r2).sum()
        )


def test_hand_counted_attention_products():
    sa = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # [n=2, k=3], 4 spikes
    sb = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # [k=3, m=2], 4 spikes
    g = torch.Generator().manual_seed(0)
    r1, r2 = torch.randn(1, 2, 3, generator=g), torch.randn(1, 3, 2, generator=g)
    model = _Products().eval()
    with SynOpsCounter(model) as ops:
        model((2 * sa)[None], (2 * sb)[None], r1, r2)  # [T=1, n, k]
    rows = {r["layer"]: r for r in ops.summary(images=1)["layers"]}
    # spikes x spikes: pairs (i, l, j) with sa[i, l] = sb[l, j] = 1:
    # l = 0: (0, 0) -> 1; l = 1: i = 1, j = 0, 1 -> 2; l = 2: i = 0, 1, j = 1 -> 2; total 5
    assert (rows["spikes_spikes"]["ac"], rows["spikes_spikes"]["mac"]) == (5.0, 0.0)
    # spikes x reals: each of the 4 spikes of sa adds a row of m = 2 reals
    assert (rows["spikes_reals"]["ac"], rows["spikes_reals"]["mac"]) == (8.0, 0.0)
    # reals x spikes: each of the 4 spikes of sb adds a column of n = 2 reals
    assert (rows["reals_spikes"]["ac"], rows["reals_spikes"]["mac"]) == (8.0, 0.0)
    # reals x reals: n * k * m = 2 * 3 * 2 multiply-accumulates
    assert (rows["reals_reals"]["ac"], rows["reals_reals"]["mac"]) == (0.0, 12.0)
    assert rows["reals_reals"]["kind"] == "mac" and rows["spikes_spikes"]["kind"] == "ac"


def test_product_ops_broadcasts_the_batch():
    spikes = torch.ones(3, 2, 4)
    assert product_ops(spikes, torch.randn(4, 5), True, False) == (3 * 8 * 5, 0.0)
    assert product_ops(torch.randn(3, 2, 4), torch.randn(4, 5), False, False) == (0.0, 120.0)


def test_transformer_synops_include_the_attention_products():
    torch.manual_seed(0)
    net = build_model("spikformer-tiny", num_classes=10, in_channels=1, timesteps=2)
    net(torch.randn(4, 1, 28, 28))  # one training pass: BN statistics
    net.eval()
    with SynOpsCounter(net) as ops, torch.no_grad():
        net(torch.randn(2, 1, 28, 28))
    rows = {r["layer"]: r for r in ops.summary(images=2)["layers"]}
    qk, qkv = rows["blocks.0.attn.qk"], rows["blocks.0.attn.qkv"]
    assert qk["type"] == "SpikeMatmul" and qk["kind"] == "ac" and qk["mac"] == 0.0
    assert qkv["kind"] == "ac" and qkv["mac"] == 0.0  # counts (Q K^T) times spikes V: AC
    assert rows["stem.conv"]["kind"] == "mac"
