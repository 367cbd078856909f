"""Shared helpers: seeded float64 inputs (so a spike never hangs on one rounding step)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def seq() -> torch.Tensor:
    """A [T=4, B=3, 2, 8, 8] float64 input sequence with plenty of spikes downstream."""
    gen = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 2, 8, 8, generator=gen, dtype=torch.float64) * 2.0
