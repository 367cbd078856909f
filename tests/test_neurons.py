"""TrLIF: parameters, MP-Init's running mean, state dicts, single-step API and input checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stablespike import MPInitMixin, TrLIF
from stablespike.functional import lif_sequence


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen) * 1.5 + 0.5


def test_parameters_and_initial_values() -> None:
    lif = TrLIF(init_tau=3.0, init_threshold=0.7)
    names = dict(lif.named_parameters())
    assert set(names) == {"tau_raw", "threshold_raw"}
    assert lif.tau_raw.item() == pytest.approx(-math.log(2.0))
    assert lif.tau.item() == pytest.approx(3.0)
    assert lif.threshold.item() == pytest.approx(0.7)
    assert TrLIF().tau_raw.item() == 0.0  # init_tau = 2 -> a = 0
    assert "mp_mean" in lif.state_dict() and lif.mp_mean.item() == 0.0
    frozen = TrLIF(learn_tau=False, learn_threshold=False)
    assert not frozen.tau_raw.requires_grad and not frozen.threshold_raw.requires_grad


def test_mp_mean_update_follows_method() -> None:
    lif = TrLIF()
    x = _x(4, 8, 32)
    ref = lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0))
    lif(x)
    m = ref.v_last[ref.fired].mean()
    assert lif.mp_mean.item() == pytest.approx(0.1 * m.item(), rel=1e-6)
    # the second call starts from U[0] = r and updates r <- 0.9 r + 0.1 m
    r1 = lif.mp_mean.clone()
    ref2 = lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0), r1)
    out2 = lif(x)
    torch.testing.assert_close(out2, ref2.output)
    m2 = ref2.v_last[ref2.fired].mean()
    assert lif.mp_mean.item() == pytest.approx(0.9 * r1.item() + 0.1 * m2.item(), rel=1e-6)


def test_mp_mean_ignores_silent_neurons_and_is_zero_statistic_when_none_fire() -> None:
    lif = TrLIF()
    x = torch.zeros(3, 1, 4)
    x[:, 0, 0] = 5.0  # only neuron 0 fires; the others stay below threshold
    x[:, 0, 1:] = 0.1
    lif(x)
    ref = lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0))
    assert ref.fired.tolist() == [[True, False, False, False]]
    assert lif.mp_mean.item() == pytest.approx(0.1 * ref.v_last[0, 0].item())
    lif.mp_mean.fill_(0.5)
    lif(torch.full((3, 1, 4), -1.0))  # nobody fires: m = 0, r decays
    assert lif.mp_mean.item() == pytest.approx(0.45)


def test_no_update_in_eval_and_stateless_calls() -> None:
    lif = TrLIF()
    lif.mp_mean.fill_(0.2)
    lif.eval()
    x = _x(4, 2, 5)
    a = lif(x)
    b = lif(x)
    assert lif.mp_mean.item() == pytest.approx(0.2)
    assert torch.equal(a, b)
    torch.testing.assert_close(
        a, lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0), torch.tensor(0.2)).output
    )


def test_mp_init_disabled_starts_from_zero_and_keeps_buffer() -> None:
    lif = TrLIF(mp_init=False)
    x = _x(3, 4, 6)
    out = lif(x)
    torch.testing.assert_close(out, lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0)).output)
    assert lif.mp_mean.item() == 0.0


def test_per_channel_parameters_and_statistic() -> None:
    lif = TrLIF(per_channel=True, channels=3, init_threshold=0.8)
    assert lif.tau_raw.shape == (3,) and lif.mp_mean.shape == (3,)
    with torch.no_grad():
        lif.threshold_raw.copy_(torch.log(torch.expm1(torch.tensor([0.5, 1.0, 2.0]))))
    x = _x(4, 2, 3, 5, 5)
    out = lif(x)
    vth = torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1)
    ref = lif_sequence(x, torch.tensor(2.0), vth)
    torch.testing.assert_close(out, ref.output)
    for c in range(3):
        fired = ref.fired[:, c]
        expected = 0.1 * ref.v_last[:, c][fired].mean()
        assert lif.mp_mean[c].item() == pytest.approx(expected.item(), rel=1e-5)
    values = out[:, :, 2].unique()
    assert len(values) == 2 and values[0] == 0.0 and values[1].item() == pytest.approx(2.0)


def test_gradients_reach_raw_parameters() -> None:
    lif = TrLIF(per_channel=True, channels=4)
    lif(_x(4, 3, 4, 6)).sum().backward()
    assert lif.tau_raw.grad.abs().sum() > 0 and lif.threshold_raw.grad.abs().sum() > 0


def test_state_dict_round_trip_and_checkpoint_reload(tmp_path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), TrLIF(init_threshold=0.6))
    x = torch.randn(4, 5, 6)
    net.train()
    for _ in range(3):
        net(x)
    with torch.no_grad():
        net[1].threshold_raw.add_(0.3)
    assert net[1].mp_mean.item() != 0.0
    torch.save(net.state_dict(), tmp_path / "ckpt.pt")

    torch.manual_seed(1)
    fresh = nn.Sequential(nn.Linear(6, 8), TrLIF(init_threshold=0.6))
    fresh.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=True))
    assert fresh[1].mp_mean.item() == net[1].mp_mean.item()
    net.eval()
    fresh.eval()
    assert torch.equal(net(x), fresh(x))


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(surrogate="as"), "surrogate: checkpoint 'trsg' vs this layer 'as'"),
        (dict(reset="hard"), "reset"),
        (dict(decay_input=False), "decay_input"),
        (dict(per_channel=True, channels=4), "per_channel"),
    ],
)
def test_state_dict_from_another_configuration_is_refused(other, message) -> None:
    sd = TrLIF().state_dict()
    with pytest.raises(ValueError, match=message):
        TrLIF(**other).load_state_dict(sd)


def test_single_step_api_matches_multi_step() -> None:
    x = _x(5, 3, 4, 2, 2)
    seq = TrLIF(per_channel=True, channels=4, reset="hard")
    stream = TrLIF(per_channel=True, channels=4, reset="hard")
    stream.load_state_dict(seq.state_dict())
    for lif in (seq, stream):
        lif.mp_mean.fill_(0.1)
    xs, xt = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_seq = seq(xs)
    state, outs = None, []
    for t in range(x.shape[0]):
        o, state = stream.step(xt[t], state)
        outs.append(o)
    stream.finish(state)
    out_stream = torch.stack(outs)
    torch.testing.assert_close(out_stream, out_seq)
    torch.testing.assert_close(stream.mp_mean, seq.mp_mean)
    w = torch.randn_like(out_seq)
    (out_seq * w).sum().backward()
    (out_stream * w).sum().backward()
    torch.testing.assert_close(xt.grad, xs.grad)
    torch.testing.assert_close(stream.threshold_raw.grad, seq.threshold_raw.grad)
    torch.testing.assert_close(stream.tau_raw.grad, seq.tau_raw.grad)


def test_nonfinite_inputs_do_not_corrupt_mp_mean() -> None:
    lif = TrLIF()
    x = torch.full((2, 1, 4), 3.0)
    x[:, 0, 1] = float("nan")
    x[:, 0, 2] = float("inf")
    with pytest.warns(RuntimeWarning, match="non-finite membrane potentials were excluded"):
        lif(x)
    assert math.isfinite(lif.mp_mean.item())
    ref = lif_sequence(x[:, :, [0, 3]], torch.tensor(2.0), torch.tensor(1.0))
    assert lif.mp_mean.item() == pytest.approx(0.1 * ref.v_last.mean().item())


def test_nonfinite_count_read_every_n_calls() -> None:
    """As on a GPU: the count is summed on the device and read on the host every N calls."""
    import warnings

    lif = TrLIF()
    lif.mp_warn_every = 3
    x = torch.full((2, 1, 4), 3.0)
    x[:, 0, 2] = float("inf")  # fires: U[T] = inf, one excluded value per call
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lif(x)
        lif(x)
        assert not caught
        lif(x)
    (w,) = caught
    assert "3 non-finite membrane potentials" in str(w.message)
    assert "in the last 3 training calls" in str(w.message)
    assert math.isfinite(lif.mp_mean.item())


def test_binary_output_for_inference() -> None:
    lif = TrLIF(init_threshold=0.5, binary_output=True).eval()
    out = lif(_x(3, 2, 8))
    assert set(out.unique().tolist()) <= {0.0, 1.0} and out.sum() > 0
    with pytest.raises(RuntimeError, match="for inference"):
        lif.train()(_x(3, 2, 8))


def test_half_precision_input_keeps_its_dtype() -> None:
    lif = TrLIF()
    x = _x(3, 2, 8)
    out = lif(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(init_tau=1.0), ValueError, "init_tau must be a finite number > 1"),
        (dict(init_tau=0.5), ValueError, "init_tau"),
        (dict(init_threshold=0.0), ValueError, "init_threshold must be a finite number > 0"),
        (dict(init_threshold=-1.0), ValueError, "init_threshold"),
        (dict(surrogate="sigmoid"), ValueError, "unknown surrogate 'sigmoid'"),
        (dict(reset="zero"), ValueError, "unknown reset 'zero'"),
        (dict(per_channel=True), ValueError, "needs channels="),
        (dict(channels=4), ValueError, "only used with per_channel"),
        (dict(backend="gpu-magic"), ValueError, "unknown backend 'gpu-magic'"),
        (dict(mp_momentum=0.0), ValueError, "mp_momentum"),
    ],
)
def test_bad_construction_arguments(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        TrLIF(**kwargs)


@pytest.mark.parametrize(
    "x, error, message",
    [
        (torch.zeros(5), ValueError, r"time-major \[T, B, ...\]"),
        (torch.zeros(0, 2, 3), ValueError, "T = 0"),
        (torch.zeros(2, 3, dtype=torch.int64), TypeError, "floating-point"),
        (torch.zeros(2, 3, dtype=torch.bool), TypeError, "floating-point"),
    ],
)
def test_bad_inputs(x, error, message) -> None:
    with pytest.raises(error, match=message):
        TrLIF()(x)


def test_per_channel_layer_fed_other_channel_count() -> None:
    lif = TrLIF(per_channel=True, channels=8)
    with pytest.raises(ValueError, match="built for 8 channels got 6 channels"):
        lif(torch.zeros(2, 3, 6, 4, 4))
    with pytest.raises(ValueError, match="built for 8 channels got none"):
        lif(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="built for 8 channels got 5"):
        lif.step(torch.zeros(3, 5))


class _PlainLIF(MPInitMixin, nn.Module):
    """A user's own LIF (fixed tau = 2, Vthr = 1, binary output) made MP-Init aware."""

    def __init__(self) -> None:
        super().__init__()
        self.init_mp(momentum=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.mp_initial(x[0])
        fired = torch.zeros_like(x[0], dtype=torch.bool)
        out = []
        for xt in x:
            v = v + (xt - v) / 2.0
            s = (v >= 1.0).to(x.dtype)
            v = v - s
            fired |= s.bool()
            out.append(s)
        self.mp_observe(v, fired)
        return torch.stack(out)


def test_mp_init_mixin_on_another_neuron() -> None:
    lif = _PlainLIF()
    x = _x(4, 3, 10)
    lif(x)
    ref = lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0))
    assert lif.mp_mean.item() == pytest.approx(0.2 * ref.v_last[ref.fired].mean().item())
    assert "mp_mean" in lif.state_dict()
    lif.eval()
    before = lif.mp_mean.clone()
    lif(x)
    assert torch.equal(before, lif.mp_mean)


def test_training_step_compiles_without_graph_breaks() -> None:
    """MP-Init's update has no host synchronisation under torch.compile(fullgraph=True)."""
    x = _x(4, 8, 16)
    eager = TrLIF(backend="reference")
    compiled_layer = TrLIF(backend="reference")
    compiled = torch.compile(compiled_layer, fullgraph=True, backend="aot_eager")
    for _ in range(2):
        torch.testing.assert_close(compiled(x), eager(x))
    torch.testing.assert_close(compiled_layer.mp_mean, eager.mp_mean)
    assert eager.mp_mean.item() != 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_layer", "per_channel"])
@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_compiled_training_matches_eager_with_mp_init(
    backend: str, per_channel: bool, dtype: torch.dtype
) -> None:
    """Under torch.compile, MP-Init's buffer learns as in eager (an in-place update of a 0-d
    float64 buffer was dropped), and the gradients use the U[0] the forward started from (the
    backward could read the buffer after its update)."""
    torch._dynamo.reset()  # each parametrization compiles TrLIF.forward anew
    kwargs = dict(backend=backend, per_channel=per_channel, channels=3 if per_channel else None)
    eager = TrLIF(**kwargs).to(dtype)
    compiled_layer = TrLIF(**kwargs).to(dtype)
    compiled = torch.compile(compiled_layer, fullgraph=True, backend="aot_eager")
    for seed in range(3):
        x = _x(4, 8, 3, 5, seed=seed).to(dtype).requires_grad_()
        w = _x(4, 8, 3, 5, seed=10 + seed).to(dtype)
        grads = []
        for layer, fn in ((eager, eager), (compiled_layer, compiled)):
            out = fn(x)
            grads.append((out, *torch.autograd.grad((out * w).sum(), [x, *layer.parameters()])))
        for got, want in zip(grads[1], grads[0], strict=True):
            torch.testing.assert_close(got, want)
    assert eager.mp_mean.abs().sum() > 0
    torch.testing.assert_close(compiled_layer.mp_mean, eager.mp_mean)
