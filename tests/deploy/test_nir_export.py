"""NIR export: written files read back with nir.read and simulated by an independent simulator.

The simulator below follows NIR's definitions only (forward Euler at the graph's ``dt``, a
node's input is the sum of its incoming edges, a recurrent edge carries the previous step's
value); it shares no code with the exporter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stablespike import TrLIF
from stablespike.deploy import NIRExportError, fold_thresholds, to_nir
from stablespike.deploy.nir_export import lif_parameters
from stablespike.functional import lif_step
from stablespike.models import build_model, set_timesteps

nir = pytest.importorskip("nir")

T = 8


def _order(graph) -> tuple[list[str], set[tuple[str, str]]]:
    """Nodes in an order where every non-recurrent input comes first; the recurrent edges."""
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    back, state, post = set(), {}, []

    def visit(n: str) -> None:
        state[n] = "open"
        for m in succ[n]:
            if state.get(m) == "open":
                back.add((n, m))
            elif m not in state:
                visit(m)
        state[n] = "done"
        post.append(n)

    for n in graph.nodes:
        if n not in state:
            visit(n)
    return post[::-1], back


def simulate(graph, frames: list[np.ndarray]) -> tuple[list[np.ndarray], dict[str, list]]:
    """Run ``graph`` over ``frames`` (one ``[B, ...]`` array per step): outputs, node outputs."""
    dt = float(graph.metadata["dt"])
    order, back = _order(graph)
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        preds[b].append(a)
    batch = frames[0].shape[0]
    v: dict[str, np.ndarray] = {}
    for name, node in graph.nodes.items():
        if type(node).__name__ in ("LIF", "LI"):
            u0 = np.asarray(node.metadata.get("initial_potential", 0.0))
            v[name] = np.broadcast_to(u0, (batch, *np.shape(node.tau))).astype(np.float64)
    prev: dict[str, np.ndarray] = {}
    trace: dict[str, list] = {n: [] for n in graph.nodes}
    outputs = []
    for frame in frames:
        now: dict[str, np.ndarray] = {}
        for name in order:
            node = graph.nodes[name]
            kind = type(node).__name__
            ins = [prev.get(a, 0.0) if (a, name) in back else now[a] for a in preds[name]]
            x = sum(ins[1:], ins[0]) if ins else None
            if kind == "Input":
                y = frame
            elif kind == "Conv2d":
                y = F.conv2d(
                    torch.from_numpy(np.ascontiguousarray(x)),
                    torch.from_numpy(node.weight),
                    torch.from_numpy(node.bias),
                    tuple(node.stride),
                    tuple(node.padding),
                    tuple(node.dilation),
                    node.groups,
                ).numpy()
            elif kind == "AvgPool2d":
                y = F.avg_pool2d(
                    torch.from_numpy(np.ascontiguousarray(x)),
                    tuple(node.kernel_size),
                    tuple(node.stride),
                    tuple(node.padding),
                ).numpy()
            elif kind == "Flatten":
                y = x.reshape(batch, -1)
            elif kind == "Affine":
                y = x @ node.weight.T + node.bias
            elif kind == "Linear":
                y = x @ node.weight.T
            elif kind == "Scale":
                y = x * node.scale
            elif kind == "LIF":
                v[name] = v[name] + dt / node.tau * (node.v_leak - v[name] + node.r * x)
                y = (v[name] > node.v_threshold).astype(np.float64)
                v[name] = np.where(y > 0, node.v_reset, v[name])
            elif kind == "LI":
                v[name] = v[name] + dt / node.tau * (node.v_leak - v[name] + node.r * x)
                y = v[name]
            elif kind == "Threshold":
                y = (x > node.threshold).astype(np.float64)
            elif kind == "Output":
                y = x
            else:
                raise AssertionError(f"the test simulator has no rule for {kind}")
            now[name] = y
            trace[name].append(y)
        prev = now
        outputs.append(now["output"])
    return outputs, trace


def trained_cnn(reset: str, per_channel: bool = False, decay_input: bool = True) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(
        "fmnist-cnn",
        num_classes=10,
        in_channels=1,
        timesteps=T,
        neuron_kwargs={
            "reset": reset,
            "init_threshold": 0.3,
            "per_channel": per_channel,
            "decay_input": decay_input,
        },
    )
    for bn in model.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.momentum = None  # running statistics = the average over the warm-up batches
    with torch.no_grad():
        model.train()
        for _ in range(4):
            model(torch.randn(8, 1, 28, 28))
        for i, lif in enumerate(m for m in model.modules() if isinstance(m, TrLIF)):
            lif.threshold_raw.add_(0.1 * i)  # different thresholds, none 1: something to fold
            if per_channel:
                lif.threshold_raw.add_(0.2 * torch.rand(lif.threshold_raw.shape))
                lif.tau_raw.add_(0.5 * torch.rand(lif.tau_raw.shape))
    return model.eval().double()


def record_spikes(model: torch.nn.Module) -> tuple[dict[str, list], list]:
    spikes: dict[str, list] = {}
    handles = []

    def keep(name: str):  # noqa: ANN202 - a forward hook
        def hook(module: torch.nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            spikes[name] = [out]

        return hook

    for name, m in model.named_modules():
        if isinstance(m, TrLIF):
            handles.append(m.register_forward_hook(keep(name)))
    return spikes, handles


@pytest.mark.parametrize(
    ("reset", "per_channel", "decay_input"),
    [
        ("hard", False, True),
        ("soft", False, True),
        ("soft", True, True),
        ("soft", False, False),
        ("hard", True, False),
    ],
    ids=["hard", "soft", "soft-per-channel", "soft-no-decay-input", "hard-per-channel-no-decay"],
)
def test_written_file_simulates_to_identical_spikes(
    reset: str, per_channel: bool, decay_input: bool, tmp_path: Path
) -> None:
    model = trained_cnn(reset, per_channel, decay_input)
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    graph = to_nir(model, x)
    assert graph.metadata["exact"]
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert kinds >= ({"LIF"} if reset == "hard" else {"LI", "Threshold", "Scale"})
    nir.write(tmp_path / "model.nir", graph)
    back = nir.read(tmp_path / "model.nir")

    folded = fold_thresholds(model, x)
    spikes, handles = record_spikes(folded)
    with torch.no_grad():
        ref = folded(x)
    for h in handles:
        h.remove()
    outputs, trace = simulate(back, [x.numpy()] * T)

    neuron_out = "" if reset == "hard" else ".threshold"
    assert len(spikes) == 3
    for name, (ours,) in spikes.items():
        theirs = np.stack(trace[name + neuron_out])  # [T, B, ...]
        assert theirs.shape == (T, *ours.shape[1:])
        assert np.array_equal(theirs, ours.numpy()), f"spikes of {name} differ"
        assert 0.05 < float(ours.mean()) < 0.9  # not a comparison of silent layers
    np.testing.assert_allclose(np.stack(outputs), ref.numpy(), rtol=1e-9, atol=1e-9)


def test_initial_potential_is_in_the_metadata_and_matters() -> None:
    model = trained_cnn("soft")
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    graph = to_nir(model, x)
    u0 = graph.nodes["stem_lif.li"].metadata["initial_potential"]
    assert u0.shape == (16, 28, 28)
    np.testing.assert_allclose(u0, float(model.stem_lif.mp_mean))
    assert float(model.stem_lif.mp_mean) != 0.0


def test_lif_hard_reset_is_an_approximation_and_says_so() -> None:
    model = trained_cnn("soft")
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    graph = to_nir(model, x, lif_hard_reset=True)
    assert not graph.metadata["exact"]
    assert graph.metadata["approximated_neurons"] == ["stem_lif", "features.2", "classifier.2"]
    lifs = [n for n in graph.nodes.values() if type(n).__name__ == "LIF"]
    assert len(lifs) == 3 and all("approximation" in n.metadata for n in lifs)
    assert not any(type(n).__name__ == "LI" for n in graph.nodes.values())


def test_resnet_residual_sums_become_multiple_edges(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(
        "resnet19",
        num_classes=10,
        in_channels=3,
        timesteps=T,
        stages=((8, 2, 1), (16, 1, 2)),  # block stages.0.1 has an identity shortcut
        neuron_kwargs={"reset": "hard", "init_threshold": 0.5},
    )
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(torch.randn(8, 3, 8, 8))
    model = model.eval().double()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    graph = to_nir(model, x)
    into = [b for _, b in graph.edges]
    assert into.count("stages.0.0.lif2") == 2  # main path + shortcut
    assert into.count("stages.0.1.lif2") == 2  # main path + identity shortcut (scaled spikes)
    assert any(type(n).__name__ == "Scale" for n in graph.nodes.values())
    nir.write(tmp_path / "resnet.nir", graph)
    outputs, _ = simulate(nir.read(tmp_path / "resnet.nir"), [x.numpy()] * T)
    with torch.no_grad():
        ref = model(x)
    np.testing.assert_allclose(np.stack(outputs), ref.numpy(), rtol=1e-9, atol=1e-9)


def test_max_pooling_and_unknown_layers_are_refused_by_name() -> None:
    model = build_model("spiking-resnet18", num_classes=10, in_channels=3, timesteps=2).eval()
    with pytest.raises(
        NIRExportError, match=r"'pool.module' \(MaxPool2d\): NIR has no max pooling"
    ):
        to_nir(model, torch.randn(1, 3, 32, 32))

    class Attention(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(x @ x.transpose(-1, -2), -1) @ x

    net = torch.nn.Sequential(torch.nn.Linear(4, 4), TrLIF(surrogate="as"), Attention())
    with pytest.raises(NIRExportError, match=r"layer '2' \(Attention\).*'transpose'"):
        to_nir(net.eval(), torch.randn(2, 3, 4))


@settings(max_examples=60, deadline=None)
@given(
    tau=st.floats(1.05, 20.0),
    vth=st.floats(0.05, 3.0),
    x=st.floats(-5.0, 5.0),
    v=st.floats(-3.0, 3.0),
    dt=st.sampled_from([1e-4, 1e-3, 1.0]),
    decay_input=st.booleans(),
)
def test_one_euler_step_of_the_nir_ode_is_our_charge_equation(
    tau: float, vth: float, x: float, v: float, dt: float, decay_input: bool
) -> None:
    lif = TrLIF(init_tau=tau, init_threshold=vth, decay_input=decay_input, mp_init=False)
    lif = lif.double()
    p = lif_parameters(lif, (1,), dt)
    tau_t, vth_t = lif.tau.detach(), lif.threshold.detach()
    xs, vs = torch.tensor([x], dtype=torch.float64), torch.tensor([v], dtype=torch.float64)
    for reset in ("soft", "hard"):
        ours = lif_step(xs, vs, tau_t, vth_t, decay_input=decay_input, reset=reset)
        # charge: one forward-Euler step of tau_n dv/dt = v_leak - v + r I at dt
        euler = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * x)
        np.testing.assert_allclose(euler, ours.h.numpy(), rtol=1e-9, atol=1e-12)
        if reset == "soft":
            # the exact soft-reset form: the LI keeps H; the spike re-enters with weight w
            x2 = 0.37
            s = ours.spike.numpy()
            li = euler + dt / p["tau"] * (-euler + p["r"] * (x2 + p["recurrent_weight"] * s))
            nxt = lif_step(torch.tensor([x2], dtype=torch.float64), ours.v, tau_t, vth_t,
                           decay_input=decay_input)  # fmt: skip
            np.testing.assert_allclose(li, nxt.h.numpy(), rtol=1e-9, atol=1e-9)
    w_expected = -float(vth_t) * ((float(tau_t) - 1) if decay_input else (1 - 1 / float(tau_t)))
    np.testing.assert_allclose(p["recurrent_weight"], w_expected, rtol=1e-12)


def test_event_input_and_timesteps_metadata() -> None:
    model = trained_cnn("hard")
    set_timesteps(model, 3)
    graph = to_nir(model, torch.randn(2, 1, 28, 28, dtype=torch.float64))
    assert int(graph.metadata["timesteps"]) == 3
    assert float(graph.metadata["dt"]) == pytest.approx(1e-4)


def test_batchnorm_without_affine_parameters_folds_as_gamma_1_beta_0() -> None:
    from torch import nn

    from stablespike.deploy.nir_export import _fold_bn

    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, bias=False)
    bn = nn.BatchNorm2d(3, affine=False).eval()
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
    w, b = _fold_bn(conv.weight, None, bn)
    x = torch.randn(1, 2, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(F.conv2d(x, w, b), bn(conv(x)), rtol=1e-5, atol=1e-5)
