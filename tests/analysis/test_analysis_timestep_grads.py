"""Per-timestep parameter gradients: they sum to the full gradient; cosine on known vectors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stablespike import TrLIF
from stablespike.analysis.gradients import (
    TimestepGradients,
    cosine_matrix,
    timestep_parameter_gradients,
)


def test_cosine_matrix_known_vectors() -> None:
    rows = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    c = cosine_matrix(rows)
    assert c[0, 1] == 0.0 and c[0, 2] == pytest.approx(-1.0) and c[1, 1] == pytest.approx(1.0)
    assert c[3].tolist() == [0.0, 0.0, 0.0, 0.0]


def make_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 12), TrLIF(init_threshold=0.5), nn.Linear(12, 3)).eval()


def test_per_step_gradients_sum_to_the_full_gradient() -> None:
    model = make_model()
    x, y = torch.randn(4, 6, 5), torch.randint(0, 3, (6,))
    params = list(model.parameters())
    out = model(x)
    rows = timestep_parameter_gradients(out, y, params)
    full = torch.autograd.grad(F.cross_entropy(out.mean(0), y), params)
    flat = torch.cat([g.reshape(-1) for g in full]).to(torch.float64)
    assert rows.shape == (4, flat.numel())
    torch.testing.assert_close(rows.sum(0), flat, rtol=1e-5, atol=1e-7)


def test_head_only_model_with_one_step_is_self_similar() -> None:
    model = nn.Linear(3, 2)
    grads = TimestepGradients(list(model.parameters()))
    x = torch.randn(2, 4, 3)
    grads.add(model(x), torch.tensor([0, 1, 0, 1]))
    s = grads.summary()
    assert s["cosine"][0][0] == pytest.approx(1.0)
    # a stateless model fed the same input at both steps gets identical step gradients
    same = TimestepGradients(list(model.parameters()))
    same.add(model(x[:1].expand(2, -1, -1)), torch.tensor([0, 1, 0, 1]))
    assert same.summary()["cosine"][0][1] == pytest.approx(1.0)
    assert same.summary()["cos_to_total"] == pytest.approx([1.0, 1.0])


def test_errors() -> None:
    with pytest.raises(ValueError, match="T, B, K"):
        timestep_parameter_gradients(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), [])
    with pytest.raises(RuntimeError):
        TimestepGradients([]).summary()
