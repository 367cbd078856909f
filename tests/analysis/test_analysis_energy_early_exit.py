"""Energy arithmetic and early-exit accuracy."""

import pytest
import torch

from stablespike.analysis.early_exit import EarlyExitAccuracy, early_exit_correct
from stablespike.analysis.synops import E_AC_PJ, E_MAC_PJ, energy_pj


def test_energy_constants_and_arithmetic() -> None:
    assert (E_AC_PJ, E_MAC_PJ) == (0.9, 4.6)
    assert energy_pj(0, 0) == 0.0
    assert energy_pj(1e6, 0) == pytest.approx(0.9e6)
    assert energy_pj(2, 3) == pytest.approx(2 * 0.9 + 3 * 4.6)
    assert energy_pj(1, 1, e_ac=1.0, e_mac=2.0) == 3.0
    with pytest.raises(ValueError):
        energy_pj(-1, 0)


def test_early_exit_uses_running_mean() -> None:
    # step 1 favours class 1, step 2 overturns it only for sample 0
    out = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[3.0, 0.0], [0.5, 0.0]]])
    assert early_exit_correct(out, torch.tensor([0, 0])).tolist() == [0, 1]
    acc = EarlyExitAccuracy()
    acc.add(out, torch.tensor([0, 0]))
    acc.add(out, torch.tensor([1, 1]))
    assert acc.summary() == pytest.approx([0.5, 0.5])


def test_early_exit_errors() -> None:
    with pytest.raises(ValueError, match="T, B, K"):
        early_exit_correct(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="batch size"):
        early_exit_correct(torch.zeros(2, 3, 4), torch.zeros(2, dtype=torch.long))
    acc = EarlyExitAccuracy()
    with pytest.raises(RuntimeError):
        acc.summary()
    acc.add(torch.zeros(2, 1, 3), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="T changed"):
        acc.add(torch.zeros(3, 1, 3), torch.zeros(1, dtype=torch.long))
