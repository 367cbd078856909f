"""Anytime inference: step-by-step runs equal the multi-step model; exits stop the work."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stablespike.analysis import SynOpsCounter
from stablespike.deploy import AnytimeNet, ExitPolicy, anytime, exit_steps, fold_thresholds
from stablespike.models import NeuronFactory, build_model, set_timesteps
from stablespike.models.cnn import SpikingCNN

CASES = {
    "fmnist-cnn": (dict(in_channels=1), (1, 28, 28)),
    "resnet19": (dict(in_channels=3, stages=((8, 1, 1), (16, 1, 2))), (3, 8, 8)),
}


def trained_like(name: str, reset: str = "soft") -> torch.nn.Module:
    """A model with BN statistics, MP-Init means and thresholds that make it spike."""
    options, image = CASES[name]
    torch.manual_seed(0)
    model = build_model(
        name,
        num_classes=10,
        timesteps=4,
        neuron_kwargs={"init_threshold": 0.3, "reset": reset},
        **options,
    )
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, *image))
    return model.eval().double()


def images(name: str, batch: int = 6, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *CASES[name][1], generator=g, dtype=torch.float64)


@pytest.mark.parametrize("name", list(CASES))
def test_never_firing_policy_equals_the_multi_step_model(name: str) -> None:
    model, x = trained_like(name), images(name)
    with torch.no_grad():
        ref = model(x)
    res = anytime(model, "never")(x)
    assert torch.equal(res.outputs, ref)  # float64, per-step outputs bit for bit
    torch.testing.assert_close(res.logits, ref.mean(0), rtol=1e-12, atol=1e-12)
    assert res.steps.tolist() == [4] * x.shape[0]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("policy", ["confidence:0.2", "margin:0.05", "stable:2", "stable:1"])
def test_exits_match_the_full_run_and_stop_the_work(name: str, policy: str) -> None:
    model, x = trained_like(name), images(name, batch=12)
    with torch.no_grad():
        ref = model(x)
    want_steps, want_logits = exit_steps(policy, ref)
    seen: list[int] = []
    net = anytime(model, policy)
    last = [m for m in net.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    last.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    res = net(x)
    assert torch.equal(res.steps, want_steps)
    torch.testing.assert_close(res.logits, want_logits, rtol=1e-12, atol=1e-12)
    # the head ran once per step on the samples still running, never beyond T
    assert len(seen) == int(res.steps.max())
    assert seen == [int((res.steps > t).sum()) for t in range(len(seen))]
    for b, s in enumerate(res.steps.tolist()):
        assert torch.equal(res.outputs[:s, b], ref[:s, b])
        assert torch.isnan(res.outputs[s:, b]).all()


def test_policies_fire_somewhere_between_one_and_T() -> None:
    model, x = trained_like("fmnist-cnn"), images("fmnist-cnn", batch=16)
    steps = anytime(model, "confidence:0.25")(x).steps
    assert 1 <= int(steps.min()) and int(steps.max()) <= 4
    assert anytime(model, "stable:1")(x).steps.tolist() == [1] * 16


@pytest.mark.parametrize("name", list(CASES))
def test_counted_operations_match_the_synops_counter(name: str) -> None:
    model, x = trained_like(name), images(name)
    full = anytime(model, "never", count_ops=True)(x)
    with SynOpsCounter(model) as ops, torch.no_grad():
        model(x)
    total = ops.summary(images=1)["total"]
    assert float(full.ac.sum()) == pytest.approx(total["ac"], rel=1e-12)
    assert float(full.mac.sum()) == pytest.approx(total["mac"], rel=1e-12)
    assert total["ac"] > 0
    # a sample stopped after one step costs what a T=1 run of it costs
    first = anytime(model, "stable:1", count_ops=True)(x)
    one = copy.deepcopy(model)
    set_timesteps(one, 1)
    with SynOpsCounter(one) as ops1, torch.no_grad():
        one(x[:1])
    assert float(first.ac[:, 0].sum()) == pytest.approx(
        ops1.summary(images=1)["total"]["ac"], rel=1e-12
    )
    assert (first.ac.sum(0) <= full.ac.sum(0)).all() and not first.ac[1:].any()


def test_event_sequences_and_folded_models_step_too() -> None:
    torch.manual_seed(0)
    net = SpikingCNN(
        num_classes=4,
        in_channels=2,
        timesteps=1,
        neuron=NeuronFactory({"init_threshold": 0.4, "reset": "hard"}),
        dropout=0.0,
        layout="8C3-AP2-16FC",
        input_size=8,
    )
    net.train()
    with torch.no_grad():
        net(torch.rand(5, 8, 2, 8, 8))
    net = net.eval().double()
    x = torch.rand(5, 3, 2, 8, 8, dtype=torch.float64)  # T = 5 from the data
    folded = fold_thresholds(net, x)
    with torch.no_grad():
        ref = folded(x)
    res = anytime(folded, "never")(x)
    assert torch.equal(res.outputs, ref)
    assert res.steps.tolist() == [5, 5, 5]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_anytime_on_cuda_matches_the_multi_step_model() -> None:
    model, x = trained_like("fmnist-cnn"), images("fmnist-cnn", batch=12)
    model, x = model.float().cuda(), x.float().cuda()
    with torch.no_grad():
        ref = model(x)
    res = anytime(model, "never", count_ops=True)(x)
    torch.testing.assert_close(res.outputs, ref, rtol=1e-5, atol=1e-5)
    early = anytime(model, "confidence:0.25")(x)
    assert early.steps.device.type == "cuda" and int(early.steps.max()) <= 4


def test_the_model_passed_in_is_left_alone() -> None:
    model = trained_like("fmnist-cnn")
    x = images("fmnist-cnn")
    with torch.no_grad():
        before = model(x)
    net = anytime(model, "confidence:0.3")
    net(x)
    net.train()
    assert not net.net.training
    with torch.no_grad():
        assert torch.equal(model(x), before)
    assert isinstance(net, AnytimeNet)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown exit policy"):
        ExitPolicy.parse("entropy:0.2")
    with pytest.raises(ValueError, match="needs a value"):
        ExitPolicy.parse("confidence")
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        ExitPolicy("confidence", 1.5)
    with pytest.raises(ValueError, match="whole number"):
        ExitPolicy("stable", 1.5)
    with pytest.raises(ValueError, match="no TrLIF"):
        anytime(torch.nn.Linear(2, 2), "never")


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["confidence:0.6", "margin:0.3", "stable:2", "never"]),
    st.integers(1, 6),
    st.integers(0, 2**16),
)
def test_exit_steps_are_the_first_step_the_policy_fires(text: str, T: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(T, 5, 3, generator=g, dtype=torch.float64) * 3
    policy = ExitPolicy.parse(text)
    steps, logits = exit_steps(policy, out)
    running = out.cumsum(0) / torch.arange(1, T + 1, dtype=torch.float64).view(-1, 1, 1)
    for b in range(5):
        s = int(steps[b])
        assert 1 <= s <= T
        torch.testing.assert_close(logits[b], running[s - 1, b])
        prob = running[:, b].softmax(-1)
        top = prob.topk(2, dim=-1).values
        cls = running[:, b].argmax(-1)
        for t in range(s - 1 if s < T or policy.kind == "never" else s - 1):
            if policy.kind == "confidence":
                assert top[t, 0] < 0.6
            elif policy.kind == "margin":
                assert top[t, 0] - top[t, 1] < 0.3
            elif policy.kind == "stable":
                assert t == 0 or cls[t] != cls[t - 1]
        if s < T and policy.kind == "confidence":
            assert top[s - 1, 0] >= 0.6
        if s < T and policy.kind == "stable":
            assert s >= 2 and cls[s - 1] == cls[s - 2]
        if policy.kind == "never":
            assert s == T
    assert str(ExitPolicy.from_dict(policy.to_dict())) == str(policy)
