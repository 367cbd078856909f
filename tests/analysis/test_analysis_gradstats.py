"""AbsStr, RatioAG and GradCV on hand-made gradients."""

import math

import pytest
import torch

from stablespike.analysis.gradients import GradStats


def test_known_values_streamed_over_two_batches() -> None:
    stats = GradStats()
    stats.add(torch.tensor([0.0, -1.0]))
    stats.add(torch.tensor([[0.0, 3.0]]))
    m = stats.summary()
    assert m["abs_str"] == pytest.approx(1.0)  # (1 + 3) / 4
    assert m["abs_str_active"] == pytest.approx(2.0)
    assert m["ratio_ag"] == pytest.approx(0.5)
    assert m["grad_cv"] == pytest.approx(0.5)  # std {1, 3} = 1, mean 2
    assert m["count"] == 4


def test_all_zero_gradients() -> None:
    stats = GradStats()
    stats.add(torch.zeros(10))
    m = stats.summary()
    assert (m["abs_str"], m["ratio_ag"], m["grad_cv"]) == (0.0, 0.0, 0.0)


def test_constant_magnitude_has_zero_cv() -> None:
    stats = GradStats()
    stats.add(torch.tensor([0.25, -0.25, 0.0, 0.25]))
    m = stats.summary()
    assert m["grad_cv"] == pytest.approx(0.0, abs=1e-12)
    assert m["ratio_ag"] == pytest.approx(0.75)
    assert not math.isnan(m["grad_cv"])


def test_empty_raises() -> None:
    with pytest.raises(ValueError, match="no gradients"):
        GradStats().summary()
