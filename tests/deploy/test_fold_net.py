"""fold_thresholds on a multi-layer spiking conv net with projection and identity residual blocks."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from fold_nets import Net, assert_fold_exact, images, record_spikes
from torch import fx, nn

from stablespike import TrLIF
from stablespike.deploy import ChannelScale, fold_thresholds, plan_fold

NEURONS = ["lif0", "block1.lif1", "block1.lif2", "block2.lif1", "block2.lif2"]


def _thresholds(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.threshold.detach() for n, m in model.named_modules() if isinstance(m, TrLIF)}


def _expand(vthr: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return vthr if vthr.dim() == 0 else vthr.view(1, 1, -1, *(1,) * (out.dim() - 3))


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_layer", "per_channel"])
def test_folded_net_matches_unfolded_and_emits_binary_spikes(
    net: Callable[..., Net], per_channel: bool
) -> None:
    model = net(per_channel=per_channel)
    folded = fold_thresholds(model, images(seed=1), residual="scale")
    x = images(seed=2, batch=5)  # another input and batch size than the example
    model.eval()
    with torch.no_grad(), record_spikes(model) as ref_spikes:
        expected = model(x)
    with torch.no_grad(), record_spikes(folded) as spikes:
        out = folded(x)

    assert out.shape == expected.shape
    report = assert_fold_exact(model, folded, x)
    vthr = _thresholds(model)
    assert sorted(spikes) == sorted(NEURONS)
    for name in NEURONS:
        (s,), (o,) = spikes[name], ref_spikes[name]
        assert set(s.unique().tolist()) <= {0.0, 1.0}
        assert 0.02 < float(s.mean()) < 0.9, f"{name} is (almost) silent or saturated"
        # Vthr * S of the folded model is the unfolded output, but for rounding-level flips
        differ = int((s * _expand(vthr[name], s) != o).sum())
        assert differ == report.flips_per_layer.get(name, 0), name
    scales = [m for m in folded.modules() if isinstance(m, ChannelScale)]
    assert len(scales) == 1  # only the identity shortcut of block2 keeps an explicit Vthr
    torch.testing.assert_close(scales[0].scale.flatten(), vthr["block1.lif2"].flatten())


def test_fold_leaves_the_original_model_untouched(net: Callable[..., Net]) -> None:
    model = net(per_channel=True).train()
    before = copy.deepcopy(model.state_dict())
    fold_thresholds(model, images(), residual="scale")
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        same = torch.equal(value, after[key]) if torch.is_tensor(value) else value == after[key]
        assert same, key
    assert all(m.training for m in model.modules())
    assert not any(m.binary_output for m in model.modules() if isinstance(m, TrLIF))


def test_projection_net_folds_into_weights_and_keeps_its_class(net: Callable[..., Net]) -> None:
    model = net(per_channel=True, identity_block=False)
    folded = fold_thresholds(model, images())
    assert type(folded) is Net and not isinstance(folded, fx.GraphModule)
    assert not any(isinstance(m, ChannelScale) for m in folded.modules())
    # docs/METHOD.md §7.1: W_next <- W_next * Vthr for the input channels fed by the neuron layer
    for conv, neuron in [("block1.conv1.conv", "lif0"), ("block1.shortcut.conv", "lif0")]:
        w = model.get_submodule(conv).weight
        vthr = model.get_submodule(neuron).threshold.view(1, -1, 1, 1)
        torch.testing.assert_close(folded.get_submodule(conv).weight, w * vthr)
    # the flatten before the head spreads each channel's Vthr over its 2x2 features
    vthr = model.get_submodule("block1.lif2").threshold.repeat_interleave(4)
    torch.testing.assert_close(folded.fc.weight, model.fc.weight * vthr)
    x = images(seed=3)
    assert_fold_exact(model, folded, x)


def test_fold_after_training_steps(net: Callable[..., Net]) -> None:
    model = net(per_channel=False, seed=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    raw = model.lif0.threshold_raw.detach().clone()
    for step in range(3):
        x = images(seed=10 + step, batch=4)
        loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.equal(model.lif0.threshold_raw, raw)  # the thresholds did learn
    folded = fold_thresholds(model, images(seed=20), residual="scale")
    x = images(seed=21)
    assert_fold_exact(model, folded, x)


def test_plan_reports_every_fold(net: Callable[..., Net]) -> None:
    plan = plan_fold(net(per_channel=True), images(), residual="scale")
    assert plan.binarized == tuple(NEURONS)
    absorbed = {(s.kind, s.target): s.sources for s in plan.steps if s.kind != "channel_scale"}
    assert absorbed == {
        ("conv", "block1.conv1.conv"): ("lif0",),
        ("conv", "block1.shortcut.conv"): ("lif0",),
        ("conv", "block1.conv2.conv"): ("block1.lif1",),
        ("conv", "block2.conv1.conv"): ("block1.lif2",),
        ("conv", "block2.conv2.conv"): ("block2.lif1",),
        ("linear", "fc"): ("block2.lif2",),
    }
    (kept,) = plan.channel_scales
    assert (kept.operand, kept.sources) == ("block2_shortcut", ("block1.lif2",))
    text = str(plan)
    assert "linear 'fc' <- Vthr of block2.lif2 (64 values in" in text
    assert "ChannelScale on 'block2_shortcut'" in text


def test_folding_a_folded_model_changes_nothing(net: Callable[..., Net]) -> None:
    model = net(per_channel=True)
    folded = fold_thresholds(model, images(), residual="scale")
    plan = plan_fold(folded, images(), residual="scale")
    assert plan.binarized == () and plan.steps == ()
    assert [name for name, _ in plan.untouched] == NEURONS
    again = fold_thresholds(folded, images())  # no mixed addition is left either
    x = images(seed=6)
    torch.testing.assert_close(again(x), folded(x), atol=0, rtol=0)
