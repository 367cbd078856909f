"""Spiking transformers: official parameter counts, blocks, attention math, DSSA buffers, training."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from stablespike import TrLIF
from stablespike.models import NeuronFactory, build_model, spiking_layers, time_mean_logits
from stablespike.models.transformers import (
    DSSA,
    GWFFN,
    SpikeMatmul,
    SpikingMLP,
    SpikingSelfAttention,
    TokenQKAttention,
    official_parameter_count,
)
from stablespike.models.transformers.attention import merge_heads, split_heads
from stablespike.models.transformers.spikingresformer import update_rate_

# Expected counts: model.parameters() of the authors' own model definitions, built with the
# arguments of their configs (ZK-Zhou/spikformer cifar10/model.py + imagenet/model.py,
# zhouchenlin2096/QKFormer cifar10/model.py + imagenet/qkformer.py, xyshi2000/SpikingResformer
# models/spikingresformer.py), counted with spikingjelly's parameter-free LIF nodes. They match
# the papers' tables (Spikformer 9.32 M / 16.81 M / 29.68 M / 66.34 M, QKFormer 6.74 M on
# CIFAR-100 / 16.47 M / 29.08 M / 64.96 M, SpikingResformer-CIFAR 10.79 M). Spikformer's counts
# include two LayerNorms per block that its forward never uses (4 * dim parameters each block),
# which are not built here: ``unused`` below.
OFFICIAL = [
    # name, classes, official count, unused LayerNorm parameters
    ("spikformer-4-384", 10, 9_330_874, 6_144),
    ("spikformer-2-384", 10, 5_768_122, 3_072),
    ("spikformer-4-256", 10, 4_159_274, 4_096),
    ("spikformer-4-384", 100, 9_365_524, 6_144),
    ("spikformer-8-384", 1000, 16_828_312, 12_288),
    ("spikformer-8-512", 1000, 29_705_768, 16_384),
    ("spikformer-8-768", 1000, 66_363_208, 24_576),
    ("qkformer-hst-4-384", 10, 6_706_234, 0),
    ("qkformer-hst-4-384", 100, 6_740_884, 0),
    ("qkformer-hst-10-384", 1000, 16_473_688, 0),
    ("qkformer-hst-10-512", 1000, 29_079_336, 0),
    ("qkformer-hst-10-768", 1000, 64_962_760, 0),
    ("spikingresformer-cifar", 10, 10_793_152, 0),
    ("spikingresformer-cifar", 100, 10_827_712, 0),
    ("spikingresformer-ti", 1000, 11_180_992, 0),
    ("spikingresformer-s", 1000, 17_813_824, 0),
    ("spikingresformer-m", 1000, 35_601_472, 0),
    ("spikingresformer-l", 1000, 60_375_680, 0),
]


@pytest.mark.parametrize("name, classes, official, unused", OFFICIAL)
def test_reference_configurations_have_the_official_parameter_count(
    name, classes, official, unused
):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        net = build_model(name, num_classes=classes, in_channels=3)
    assert official_parameter_count(net) == official - unused
    # each TrLIF adds its two scalars (tau, Vthr) on top
    n_lif = len(spiking_layers(net))
    assert sum(p.numel() for p in net.parameters()) == official - unused + 2 * n_lif


@pytest.mark.parametrize("name", ["spikformer-tiny", "qkformer-tiny", "spikingresformer-tiny"])
def test_tiny_models_take_a_training_step(name):
    torch.manual_seed(0)
    net = build_model(name, num_classes=10, in_channels=1, timesteps=2)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    before = {
        k: v.clone()
        for k, v in net.state_dict().items()
        if isinstance(v, torch.Tensor) and v.is_floating_point()
    }
    out = net(x)
    assert out.shape == (2, 8, 10)
    loss = torch.nn.functional.cross_entropy(time_mean_logits(out), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    after = net.state_dict()
    assert torch.isfinite(torch.cat([after[k].flatten() for k in before])).all()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert "head.weight" in changed
    assert any(k.endswith("mp_mean") for k in changed)  # MP-Init learnt during the step
    assert net(torch.randn(3, 2, 1, 28, 28)).shape == (3, 2, 10)  # event input, T from data


# ---------------------------------------------------------------- blocks
def _spikes(*shape: int, p: float = 0.3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).float()


@pytest.mark.parametrize(
    "block, channels_out",
    [
        (lambda n: SpikingSelfAttention(16, 2, n, order="qk_v"), 16),
        (lambda n: SpikingSelfAttention(16, 2, n, order="q_kv"), 16),
        (lambda n: TokenQKAttention(16, 4, n), 16),
        (lambda n: SpikingMLP(16, 64, n), 16),
        (lambda n: DSSA(16, 2, 2, n), 16),
        (lambda n: GWFFN(16, n, group_size=16), 16),
    ],
)
def test_block_shapes(block, channels_out):
    module = block(NeuronFactory())
    x = torch.randn(3, 2, 16, 6, 6)
    assert module(x).shape == (3, 2, channels_out, 6, 6)


def test_heads_split_and_merge_are_inverse():
    x = torch.arange(2 * 1 * 6 * 2 * 3, dtype=torch.float32).reshape(2, 1, 6, 2, 3)
    h = split_heads(x, 3)
    assert h.shape == (2, 1, 3, 2, 6)
    assert torch.equal(h[0, 0, 1, 0], x[0, 0, 2].flatten())  # head 1 holds channels 2, 3
    assert torch.equal(merge_heads(h, x), x)


def test_spike_products_count_coincidences():
    q = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # 2 tokens x 3 channels
    k = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    qk = SpikeMatmul()(q, k.T)
    assert qk.tolist() == [[2.0, 1.0], [2.0, 1.0]]  # shared active channels
    # (Q K^T) V == Q (K^T V): the two orders of SSA give the same integers
    assert torch.equal(SpikeMatmul()(qk, v), SpikeMatmul()(q, SpikeMatmul()(k.T, v)))


def _capture(module, names):
    seen = {}
    for name in names:
        getattr(module, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, (i[0].detach(), o.detach()))
        )
    return seen


@pytest.mark.parametrize("order", ["qk_v", "q_kv"])
def test_ssa_is_the_scaled_spike_product_with_the_thresholds_as_factors(order):
    torch.manual_seed(0)
    ssa = SpikingSelfAttention(8, 2, NeuronFactory({"init_threshold": 0.7}), order=order)
    seen = _capture(ssa, ["q_lif", "k_lif", "v_lif", "attn_lif"])
    ssa(torch.randn(2, 3, 8, 3, 3) * 2)
    q, k, v = (seen[n][1] for n in ("q_lif", "k_lif", "v_lif"))
    vq, vk, vv = (float(getattr(ssa, n).threshold.detach()) for n in ("q_lif", "k_lif", "v_lif"))
    sq, sk, sv = (split_heads(t, 2).transpose(-1, -2) for t in (q / vq, k / vk, v / vv))
    assert set(sq.unique().tolist()) <= {0.0, 1.0}  # TrSG outputs are Vthr * S
    counts = (sq @ sk.transpose(-1, -2)) @ sv  # integer spike coincidences
    expected = merge_heads((0.125 * vq * vk * vv * counts).transpose(-1, -2), q)
    torch.testing.assert_close(seen["attn_lif"][0], expected, rtol=1e-5, atol=1e-6)
    assert counts.max() > 0


def test_token_attention_masks_k_with_the_spiking_channel_sum_of_q():
    ssa = TokenQKAttention(8, 2, NeuronFactory())
    seen = _capture(ssa, ["q_lif", "k_lif", "attn_lif"])
    ssa.proj.register_forward_pre_hook(lambda m, i: seen.__setitem__("proj", i[0].detach()))
    ssa(torch.randn(2, 3, 8, 4, 4) * 2)
    q, k = seen["q_lif"][1], seen["k_lif"][1]
    mask_in, mask = seen["attn_lif"]
    torch.testing.assert_close(mask_in, split_heads(q, 2).sum(3, keepdim=True))
    assert mask.shape == (2, 3, 2, 1, 16) and set(mask.unique().tolist()) <= {0.0, 0.5}
    torch.testing.assert_close(seen["proj"], merge_heads(mask * split_heads(k, 2), k))


def test_attention_output_neurons_start_at_half_threshold():
    net = build_model("qkformer-tiny", num_classes=10, in_channels=1)
    thresholds = {name: float(lif.threshold.detach()) for name, lif in spiking_layers(net)}
    halves = {n for n, v in thresholds.items() if abs(v - 0.5) < 1e-6}
    assert halves == {n for n in thresholds if n.endswith("attn.attn_lif")}
    assert len(halves) == 3
    assert all(abs(v - 1.0) < 1e-6 for n, v in thresholds.items() if n not in halves)


@pytest.mark.parametrize(
    "name, layer",
    [
        ("spikformer-tiny", "blocks.0.attn.q_lif"),
        ("qkformer-tiny", "stage1.0.attn.q_lif"),
        ("spikingresformer-tiny", "stages.0.0.lif_in"),
    ],
)
def test_per_channel_thresholds_are_refused_naming_the_layer(name, layer):
    with pytest.raises(ValueError, match=f"layer '{layer}'.*summed"):
        build_model(name, num_classes=10, in_channels=1, neuron_kwargs={"per_channel": True})


# ---------------------------------------------------------------- DSSA firing rates
def test_dssa_rates_are_buffers_updated_in_training_only_and_saved():
    torch.manual_seed(0)
    dssa = DSSA(8, 2, 2, NeuronFactory())
    assert {"firing_rate_x", "firing_rate_attn"} <= set(dssa.state_dict())
    x = torch.randn(3, 4, 8, 4, 4) * 2
    dssa(x)
    first = dssa.firing_rate_x.clone()
    assert first.shape == (1, 1, 2, 1, 1) and (first > 0).all()
    dssa(x)
    assert not torch.equal(dssa.firing_rate_x, first)  # 0.999 * r + 0.001 * rate
    frozen = dssa.firing_rate_attn.clone()
    dssa.eval()
    dssa(x)
    assert torch.equal(dssa.firing_rate_attn, frozen)
    clone = DSSA(8, 2, 2, NeuronFactory())
    clone.load_state_dict(dssa.state_dict())
    assert torch.equal(clone.firing_rate_x, dssa.firing_rate_x)


def test_rate_update_starts_from_the_first_batch_then_averages():
    running = torch.zeros(1, 1, 2, 1, 1)
    s = torch.zeros(2, 1, 2, 4, 5)
    s[:, :, 0, :2] = 1.0  # head 0 fires half the time, head 1 never
    s[:, :, 1, 0, 0] = 0.7  # a TrSG spike Vthr * S counts as one spike
    update_rate_(running, s, 0.999)
    torch.testing.assert_close(running.flatten(), torch.tensor([0.5, 0.05]))
    update_rate_(running, torch.zeros_like(s), 0.999)
    torch.testing.assert_close(running.flatten(), torch.tensor([0.5, 0.05]) * 0.999)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spike_batch() -> torch.Tensor:
    s = _spikes(2, 6, 2, 3, 4, p=0.2, seed=3)
    s[:, :3] = _spikes(2, 3, 2, 3, 4, p=0.7, seed=4)  # the ranks' halves differ
    return s


def _rate_worker(rank: int, port: int, out: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        running = torch.zeros(1, 1, 2, 1, 1)
        for _ in range(2):
            update_rate_(running, _spike_batch()[:, rank * 3 : (rank + 1) * 3], 0.9)
        out[rank] = running.clone()
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built")
def test_dssa_rates_are_averaged_across_two_gloo_ranks():
    single = torch.zeros(1, 1, 2, 1, 1)
    for _ in range(2):
        update_rate_(single, _spike_batch(), 0.9)
    with mp.Manager() as manager:
        out = manager.dict()
        mp.start_processes(_rate_worker, args=(_free_port(), out), nprocs=2, start_method="spawn")
        r0, r1 = out[0], out[1]
    assert torch.equal(r0, r1)
    torch.testing.assert_close(r0, single)


def test_dssa_neurons_come_from_the_factory():
    dssa = DSSA(8, 2, 2, NeuronFactory({"surrogate": "as"}))
    for lif in (dssa.lif_in, dssa.lif_attn, dssa.lif_out):
        assert isinstance(lif, TrLIF) and lif.surrogate == "as"
