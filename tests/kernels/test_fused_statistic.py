"""MP-Init's statistic from the fused forward: in the kernel pass or from U[T], same numbers."""

from __future__ import annotations

import pytest
import torch
from kernel_cases import assert_statistics_equal

from stablespike import TrLIF
from stablespike.functional import grouped_statistic, lif_sequence, mp_batch_statistic
from stablespike.kernels import ops
from stablespike.kernels.fused import lif_fused
from stablespike.kernels.layout import plan_layout, statistic_from_rows, statistic_split


def _with_nonfinite(shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen) * 1.5 + 0.6
    flat = x.view(shape[0], -1)
    flat[:, 3] = float("inf")  # fires: U[T] = inf, counted as non-finite
    flat[:, 7] = float("nan")  # never fires (NaN >= Vthr is false): not counted
    flat[-1, 11] = float("inf")  # fires at the last step
    return x


@pytest.mark.parametrize(
    ("step", "tau_shape", "stat_shape"),
    [
        ((4, 6, 9, 40), (), ()),  # per layer: one row
        ((4, 6, 9, 40), (6, 1, 1), (6, 1, 1)),  # per channel of a conv step: rows B x C
        ((4, 6, 9, 40), (6, 1, 1), ()),  # per-channel constants, per-layer statistic
        ((5, 70), (70,), (70,)),  # per feature of a linear step: from U[T]
        ((3, 5, 37), (5, 37), (5, 37)),  # per neuron: from U[T]
    ],
)
def test_fused_statistic_equals_the_reference(step, tau_shape, stat_shape) -> None:
    x = _with_nonfinite((4, *step))
    tau = torch.full(tau_shape, 2.0)
    vth = torch.full(tau_shape, 0.8)
    got = lif_fused(x, tau, vth, statistic_shape=stat_shape)
    ref = lif_sequence(x, tau, vth, statistic_shape=stat_shape)
    assert tuple(got.mp_stat.total.shape) == stat_shape
    assert float(got.mp_stat.nonfinite.sum()) > 0
    assert_statistics_equal(ref.mp_stat, got.mp_stat)
    assert_statistics_equal(grouped_statistic(ref.v_last, ref.fired, stat_shape), got.mp_stat)


def test_no_statistic_unless_asked() -> None:
    x = torch.randn(3, 2, 8)
    assert lif_fused(x, 2.0, 1.0).mp_stat is None
    assert lif_sequence(x, torch.tensor(2.0), torch.tensor(1.0)).mp_stat is None
    with pytest.raises(ValueError, match="statistic_shape"):
        lif_fused(x, 2.0, 1.0, statistic_shape=(3,))


def test_statistic_of_silent_layer_is_zero() -> None:
    x = torch.full((3, 2, 4, 5), -1.0)
    stat = lif_fused(x, 2.0, 1.0, statistic_shape=(4, 1)).mp_stat
    for t in stat:
        assert torch.equal(t, torch.zeros(4, 1, dtype=torch.float64))


def test_statistic_split_and_row_sums() -> None:
    step = (2, 3, 4, 5)
    lay = plan_layout(step, [(3, 1, 1)])  # rows = B x C = 6
    assert lay.rows == 6
    assert statistic_split(lay, step, (3, 1, 1)) == 2
    assert statistic_split(lay, step, ()) == 2
    assert statistic_split(lay, step, (4, 1)) is None  # varies along a row
    rows = torch.arange(12, dtype=torch.float64).view(2, 6)  # K = 2 statistics
    per_channel = statistic_from_rows(rows, 2, step, (3, 1, 1))
    assert per_channel.shape == (2, 3, 1, 1)
    assert per_channel[:, :, 0, 0].tolist() == [[3.0, 5.0, 7.0], [15.0, 17.0, 19.0]]
    assert statistic_from_rows(rows, 2, step, ()).tolist() == [15.0, 51.0]
    one_row = plan_layout(step, [()])
    assert statistic_split(one_row, step, ()) == 0
    assert statistic_split(one_row, step, (3, 1, 1)) is None


def test_grouped_statistic_checks_its_shape_and_keeps_channels() -> None:
    v = torch.tensor([[0.5, 2.0], [1.0, float("nan")]])
    fired = torch.tensor([[True, False], [True, True]])
    with pytest.raises(ValueError, match="does not broadcast"):
        grouped_statistic(v, fired, (3,))
    stat = mp_batch_statistic(v, fired, channel_dim=1)
    assert stat.total.tolist() == [1.5, 0.0]
    assert stat.count.tolist() == [2.0, 0.0]
    assert stat.nonfinite.tolist() == [0.0, 1.0]
    # a 1-d U[T] kept along its only dim: nothing is reduced
    one_dim = mp_batch_statistic(v[1], fired[1], channel_dim=0)
    assert one_dim.total.tolist() == [1.0, 0.0] and one_dim.nonfinite.tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [((4, 3, 6, 7, 7), dict(per_channel=True, channels=6)), ((4, 3, 6), dict())],
)
def test_trlif_mp_mean_same_with_both_backends(shape, kwargs) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=gen) * 2 + 0.5
    layers = [TrLIF(backend=b, **kwargs) for b in ("reference", "fused")]
    for _ in range(3):
        for lif in layers:
            lif(x)
    torch.testing.assert_close(layers[1].mp_mean, layers[0].mp_mean, rtol=1e-12, atol=1e-12)
    assert bool((layers[1].mp_mean != 0).any())


def test_per_feature_trlif_uses_the_reference_statistic() -> None:
    """A per-channel layer on [T, B, C] (statistic per column): summed from U[T], same values."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 5, 6, generator=gen) * 2
    layers = [TrLIF(per_channel=True, channels=6, backend=b) for b in ("reference", "fused")]
    for lif in layers:
        lif(x)
    torch.testing.assert_close(layers[1].mp_mean, layers[0].mp_mean, rtol=1e-12, atol=1e-12)


def test_forward_op_with_statistic_passes_opcheck() -> None:
    x = torch.randn(3, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    k = torch.full((4, 1), 0.4, dtype=torch.float64, requires_grad=True)
    vth = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    v0 = torch.full((4, 1), 0.1, dtype=torch.float64)
    for stat_shape in ([4, 1], [], [5]):
        args = (x, k, vth, v0, "trsg", True, "soft", False, stat_shape)
        torch.library.opcheck(ops.lif_forward, args)


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [((4, 0, 3), {}), ((4, 0, 3, 5, 5), dict(per_channel=True, channels=3))],
)
def test_empty_batch_in_training_mode(shape, kwargs) -> None:
    """No neuron at all: same (empty) outputs and the same MP-Init update as the reference."""
    layers = [TrLIF(backend=b, **kwargs).train() for b in ("reference", "fused")]
    for lif in layers:
        lif.mp_mean.fill_(0.5)
        x = torch.randn(shape, requires_grad=True)
        out = lif(x)
        out.sum().backward()
        assert out.shape == shape and x.grad.shape == shape
    torch.testing.assert_close(layers[1].mp_mean, layers[0].mp_mean, rtol=0, atol=0)
