"""check_fold tells rounding-level spike flips (another CPU's summation order) from real errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stablespike import TrLIF
from stablespike.deploy import (
    FoldError,
    FoldRoundingWarning,
    check_fold,
    fold_thresholds,
    verify_fold,
)


class SummedOnce(nn.Linear):
    """A linear layer summed in float64 and rounded once: the same function as ``nn.Linear``
    with another rounding in float32, as a CPU with another summation order computes it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight.double(), self.bias.double()
        return nn.functional.linear(x.double(), w, b).to(x.dtype)


class Pinned(TrLIF):
    """A TrLIF whose threshold is set exactly (a buffer) instead of through softplus."""

    def __init__(self, value: float) -> None:
        super().__init__(mp_init=False)
        self.register_buffer("pinned", torch.tensor(value))

    @property
    def threshold(self) -> torch.Tensor:
        return self.pinned


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lif1 = TrLIF(init_threshold=0.7, mp_init=False)
        self.fc = nn.Linear(64, 128)
        self.lif2 = Pinned(0.5)  # tau = 2: H = X / 2 exactly at t = 1 from U[0] = 0
        self.head = nn.Linear(128, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lif2(self.fc(self.lif1(x)))).mean(0)


def _pre_lif2(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.fc(model.lif1(x))


def _flipping_pair() -> tuple[Net, nn.Module, torch.Tensor]:
    """A model and its fold (re-summed as another CPU would) with a potential on Vthr."""
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(1, 8, 64) * 2
    folded = fold_thresholds(model)
    folded.fc.__class__ = SummedOnce
    a, b = _pre_lif2(model, x), _pre_lif2(folded, x)
    differ = ((a != b) & (a > 0)).nonzero()
    assert len(differ), "float64 summation rounds like float32 everywhere"
    t, sample, unit = (int(i) for i in differ[0])
    # the threshold on the larger of the two potentials: one model fires there, the other not
    vth = max(float(a[t, sample, unit]), float(b[t, sample, unit])) / 2
    model.lif2.pinned.fill_(vth)
    folded = fold_thresholds(model)  # again: the head absorbs the new threshold
    folded.fc.__class__ = SummedOnce
    return model, folded, x


def test_rounding_level_flips_pass_with_a_report() -> None:
    model, folded, x = _flipping_pair()
    report = verify_fold(model, folded, x)
    assert report.exact_float64 and report.max_diff_float64 < 1e-9
    assert report.flips >= 1 and report.first_layer == "lif2" and report.first_flips >= 1
    assert report.max_margin <= report.rounding_bound < 1e-5
    assert report.rounding_only
    with pytest.warns(FoldRoundingWarning, match="spikes flipped, starting in 'lif2'"):
        check_fold(model, folded, x)


def test_a_real_error_is_not_taken_for_rounding() -> None:
    model, folded, x = _flipping_pair()
    with torch.no_grad():
        folded.fc.weight[:, 0] *= 1.01  # a wrong fold, small but far above rounding
    report = verify_fold(model, folded, x)
    assert not report.exact_float64 and not report.rounding_only
    with pytest.raises(FoldError, match="misjudge"):
        check_fold(model, folded, x)
