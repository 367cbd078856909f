"""Small hand-made spiking models shared by the analysis tests."""

import pytest
import torch
from torch import nn

from stablespike import TrLIF


class TinyMLP(nn.Module):
    """[T, B, 6] -> Linear -> TrLIF -> Linear -> TrLIF -> Linear head -> [T, B, 3]."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.lif1 = TrLIF(init_threshold=0.5)
        self.fc2 = nn.Linear(16, 12)
        self.lif2 = TrLIF(surrogate="as")
        self.head = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lif2(self.fc2(self.lif1(self.fc1(x)))))


@pytest.fixture
def tiny_model() -> TinyMLP:
    torch.manual_seed(0)
    return TinyMLP()


@pytest.fixture
def tiny_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(4, 8, 6, generator=g) * 2, torch.randint(0, 3, (8,), generator=g))
        for _ in range(3)
    ]
