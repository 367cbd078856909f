"""SpikingJelly 2.0 LIFNode / ParametricLIFNode / IFNode -> TrLIF (and + MP-Init), multi- and single-step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import stablespike as ss
from stablespike import TrLIF
from stablespike.models.layers import TimeFolded

sj = pytest.importorskip(
    "spikingjelly.activation_based", reason="spikingjelly is not installed (see Makefile interop)"
)
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

NODES = {
    "lif-soft": lambda: neuron.LIFNode(tau=2.0, v_reset=None),
    "lif-hard-no-decay-input": lambda: neuron.LIFNode(tau=4.0, v_reset=0.0, decay_input=False),
    "plif-soft": lambda: neuron.ParametricLIFNode(init_tau=2.5, v_threshold=0.8, v_reset=None),
    "if-hard": lambda: neuron.IFNode(v_threshold=1.5, v_reset=0.0, detach_reset=True),
}


def sj_net(make, step_mode: str, last_neuron: bool = True) -> nn.Module:
    net = nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1), layer.BatchNorm2d(8), make(),
        layer.MaxPool2d(2), layer.Conv2d(8, 8, 3, padding=1), make(),
        layer.Flatten(), layer.Linear(8 * 4 * 4, 10), *([make()] if last_neuron else []),
    )  # fmt: skip
    functional.set_step_mode(net, step_mode)
    for m in net.modules():  # weights large enough that every layer fires
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.normal_(m.weight, std=3.0 / m.weight[0].numel() ** 0.5)
    return net.double().eval()


def sj_forward(net: nn.Module, x: torch.Tensor, step_mode: str) -> torch.Tensor:
    functional.reset_net(net)
    if step_mode == "m":
        return net(x)
    return torch.stack([net(xt) for xt in x])


@pytest.mark.parametrize("step_mode", ["m", "s"])
@pytest.mark.parametrize("kind", sorted(NODES))
def test_trlif_reproduces_the_forward(kind: str, step_mode: str, seq: torch.Tensor) -> None:
    torch.manual_seed(0)
    net = sj_net(NODES[kind], step_mode)
    ref = sj_forward(net, seq, step_mode)
    conv = ss.convert(net, surrogate="as", mp_init=False)
    assert sum(isinstance(m, TrLIF) for m in conv.modules()) == 3
    assert not any(isinstance(m, neuron.BaseNode) for m in conv.modules())
    out = conv(seq)
    assert 0.02 < float(ref.detach().mean()) < 0.98  # spikes do happen
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    if step_mode == "s":  # plain torch layers would be wrapped; SJ layers just switch mode
        assert all(m.step_mode == "m" for m in conv.modules() if hasattr(m, "step_mode"))


def test_constants_carry_over() -> None:
    node = neuron.ParametricLIFNode(init_tau=3.0, v_threshold=0.7, v_reset=0.0, decay_input=False)
    lif = ss.convert(nn.Sequential(node), mp_init=False)[0]
    assert lif.reset == "hard" and not lif.decay_input and lif.tau_raw.requires_grad
    assert torch.equal(lif.tau_raw.detach().float(), node.w.detach().float())
    torch.testing.assert_close(lif.threshold, torch.tensor(0.7))
    fixed = ss.convert(nn.Sequential(neuron.LIFNode(tau=3.0)), learn_threshold=True)[0]
    assert not fixed.tau_raw.requires_grad and fixed.threshold_raw.requires_grad
    torch.testing.assert_close(fixed.tau, torch.tensor(3.0))


def test_trsg_output_is_vthr_times_the_spike(seq: torch.Tensor) -> None:
    node = NODES["plif-soft"]()
    node.step_mode = "m"
    ref = node(seq)
    out = ss.convert(node, mp_init=False)(seq)  # TrSG: Vthr * S with Vthr = 0.8
    assert ref.sum() > 0
    torch.testing.assert_close(out, 0.8 * ref.to(out.dtype))


@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_mp_init_keeps_their_neuron_and_learns_the_mean(step_mode: str, seq: torch.Tensor) -> None:
    net = sj_net(NODES["lif-soft"], step_mode)
    ref = sj_forward(net, seq, step_mode)
    wrapped = ss.convert(net, to="mp-init")
    layers = [m for m in wrapped.modules() if isinstance(m, ss.MPInitNeuron)]
    assert len(layers) == 3 and all(isinstance(m.neuron, neuron.LIFNode) for m in layers)
    torch.testing.assert_close(wrapped(seq), ref)  # mp_mean = 0: the original's forward
    wrapped.train()
    wrapped(seq)
    assert all(float(m.mp_mean) != 0.0 for m in layers[:2])
    means = [float(m.mp_mean) for m in layers]
    wrapped.eval()
    out = wrapped(seq)
    assert [float(m.mp_mean) for m in layers] == means  # no update in eval
    assert not torch.equal(out, ref)  # U[0] = mp_mean changes the response


def test_spikformer_converts_and_matches(seq: torch.Tensor) -> None:
    from spikingjelly.activation_based.model.spikformer import Spikformer

    torch.manual_seed(0)
    net = Spikformer(T=2, in_channels=3, img_size_h=16, img_size_w=16, patch_size=4,
                     num_classes=10, embed_dims=16, num_heads=2, depths=1).eval()  # fmt: skip
    x = torch.rand(2, 3, 16, 16)
    functional.reset_net(net)
    ref = net(x)
    conv = ss.convert(net, surrogate="as", mp_init=False)
    assert not any(isinstance(m, neuron.BaseNode) for m in conv.modules())
    torch.testing.assert_close(conv(x), ref)


def test_unknown_neuron_is_named_with_the_fix() -> None:
    net = nn.Sequential(nn.Linear(3, 3), neuron.LIFNode(step_mode="m"), neuron.QIFNode())
    with pytest.raises(ss.ConversionError, match=r"2 \(.*QIFNode\).*register_neuron\(QIFNode"):
        ss.convert(net)


def test_refusals_say_why() -> None:
    with pytest.raises(ss.ConversionError, match="v_reset=0.5"):
        ss.convert(nn.Sequential(neuron.LIFNode(v_reset=0.5, step_mode="m")))
    with pytest.raises(ss.ConversionError, match="no neuron it knows"):
        ss.convert(nn.Sequential(nn.Linear(2, 2)))

    class PerStep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.lif = nn.Linear(2, 2), neuron.LIFNode()  # single-step, own loop

        def forward(self, x):
            return torch.stack([self.lif(self.fc(xt)) for xt in x])

    with pytest.raises(ss.ConversionError, match="lif .*step-mode.*nn.Sequential"):
        ss.convert(PerStep())


def test_plain_layers_of_a_single_step_model_are_time_folded(seq: torch.Tensor) -> None:
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), neuron.LIFNode(v_reset=None),
                        nn.Flatten(), nn.Linear(4 * 64, 5), neuron.LIFNode()).double()  # fmt: skip
    ref = sj_forward(net, seq, "s")
    conv = ss.convert(net, surrogate="as", mp_init=False)
    assert isinstance(conv[0], TimeFolded) and isinstance(conv[2], TimeFolded)
    torch.testing.assert_close(conv(seq), ref)


def test_converted_model_trains_and_compiles(seq: torch.Tensor) -> None:
    from stablespike.train.losses import build_loss
    from stablespike.train.step import StepRunner

    torch.manual_seed(0)
    model = ss.convert(
        sj_net(NODES["plif-soft"], "m", last_neuron=False).float().train(), learn_threshold=True
    )
    x, y = seq.float(), torch.tensor([0, 1, 2])
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    step = StepRunner(model, opt, sched, build_loss("ce"))
    losses = [step(x, y).loss for _ in range(12)]
    assert losses[-1] < losses[0]
    lifs = [m for m in model.modules() if isinstance(m, TrLIF)]
    assert all(float(m.mp_mean) != 0.0 for m in lifs[:2])
    compiled = torch.compile(model, backend="aot_eager")
    model.eval()
    torch.testing.assert_close(compiled(x), model(x))
    model.train()
    compiled(x).sum().backward()
    assert lifs[0].threshold_raw.grad is not None
