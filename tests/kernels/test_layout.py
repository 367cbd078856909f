"""Layout planning of the fused kernels' constants (pure shape logic)."""

from __future__ import annotations

import pytest
import torch

from stablespike.kernels.layout import (
    COL,
    FULL,
    ROW,
    SCALAR,
    as_kernel_param,
    check_broadcastable,
    compact,
    plan_layout,
    reduce_grad,
)


def test_per_layer_constants_view_the_step_as_one_row() -> None:
    lay = plan_layout((16, 128, 32, 32), [(), (), ()])
    assert lay == (1, 16 * 128 * 32 * 32, 1, (SCALAR, SCALAR, SCALAR))


def test_per_channel_conv_constants_are_read_per_row() -> None:
    lay = plan_layout((16, 128, 8, 8), [(128, 1, 1), (128, 1, 1), ()])
    assert (lay.rows, lay.cols, lay.period, lay.modes) == (16 * 128, 64, 128, (ROW, ROW, SCALAR))


def test_per_feature_constants_are_read_per_column() -> None:
    lay = plan_layout((8, 100), [(100,), (), (8, 100)])
    assert (lay.rows, lay.cols, lay.modes) == (8, 100, (COL, SCALAR, FULL))


def test_constants_over_other_dims_are_materialised() -> None:
    lay = plan_layout((4, 3, 5), [(3, 1), (4, 1, 1), ()])
    assert lay.modes == (ROW, FULL, SCALAR)
    q = as_kernel_param(torch.ones(4, 1, 1), lay.modes[1], (4, 3, 5))
    assert q.shape == (4, 3, 5) and q.is_contiguous()


def test_compact_undoes_expand_without_copying() -> None:
    r = torch.randn(3, 1, 1)
    v0 = r.expand(2, 3, 4, 4)
    q = compact(v0, (2, 3, 4, 4))
    assert q.shape == (1, 3, 1, 1) and q.data_ptr() == r.data_ptr()
    assert compact(torch.tensor(2.0).expand(5, 6), (5, 6)).shape == (1, 1)


def test_reduce_grad_sums_over_the_neurons_reading_each_value() -> None:
    lay = plan_layout((2, 3, 4), [(3, 1), (), (4,)])
    per_neuron = torch.arange(24.0)
    expected_row = per_neuron.view(2, 3, 4).sum((0, 2)).view(3, 1)
    assert torch.equal(reduce_grad(per_neuron, ROW, lay, (3, 1)), expected_row)
    per_row = per_neuron.view(6, 4).sum(1)
    assert torch.equal(reduce_grad(per_row, ROW, lay, (3, 1)), expected_row)
    assert reduce_grad(per_row, SCALAR, lay, ()).item() == per_neuron.sum().item()
    lay_col = plan_layout((2, 4), [(4,), (), ()])
    got = reduce_grad(torch.arange(8.0), COL, lay_col, (4,))
    assert torch.equal(got, torch.arange(8.0).view(2, 4).sum(0))


@pytest.mark.parametrize("shape", [(5, 1, 1), (2, 3, 4, 4, 1)])
def test_non_broadcastable_constants_are_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="does not broadcast"):
        check_broadcastable("tau", shape, (2, 3, 4, 4))
