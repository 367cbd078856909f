"""AC / MAC counts of tiny layers with known spikes, and the spike detection rule."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stablespike import TrLIF
from stablespike.analysis.synops import SynOpsCounter, conv_accumulates, is_spike_tensor


def spike_map(*positions: tuple[int, int], size: int = 5, channels: int = 1) -> torch.Tensor:
    x = torch.zeros(1, channels, size, size)
    for i, j in positions:
        x[0, 0, i, j] = 1.0
    return x


@pytest.mark.parametrize(
    ("positions", "fan_out"),
    [([(2, 2)], 9), ([(0, 0)], 4), ([(0, 2)], 6), ([(2, 2), (0, 0)], 13)],
)
def test_conv_fan_out_counts_borders(positions: list[tuple[int, int]], fan_out: int) -> None:
    conv = nn.Conv2d(1, 4, 3, padding=1)
    assert conv_accumulates(conv, spike_map(*positions)) == 4 * fan_out


def test_conv_stride_and_groups_match_brute_force() -> None:
    torch.manual_seed(0)
    x = (torch.rand(2, 4, 7, 7) < 0.3).float()
    for conv in (nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Conv2d(4, 6, 3, groups=2, dilation=2)):
        ones = torch.ones_like(conv.weight)
        brute = F.conv2d(x, ones, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        assert conv_accumulates(conv, x) == float(brute.sum())


def test_tiny_network_counts_and_energy() -> None:
    """Stem on a real image (MAC), then a spike-driven linear layer (AC)."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(50, 3))
    image = torch.rand(1, 1, 5, 5) + 0.1
    with SynOpsCounter(model, kinds={"2": "ac"}) as ops:
        with torch.no_grad():
            model[0](image)  # stem: 2 * 25 outputs x 9 = 450 MACs
            model[2](torch.zeros(1, 50).index_fill_(1, torch.tensor([0, 7, 9]), 1.0))  # 3 x 3
    s = ops.summary(images=1)
    rows = {r["layer"]: r for r in s["layers"]}
    assert (rows["0"]["kind"], rows["0"]["mac"], rows["0"]["ac"]) == ("mac", 450.0, 0.0)
    assert (rows["2"]["kind"], rows["2"]["ac"]) == ("ac", 9.0)
    assert s["total"]["energy_pj"] == pytest.approx(450 * 4.6 + 9 * 0.9)
    assert ops.summary(images=3)["total"]["ac"] == pytest.approx(3.0)


def test_spike_detection_uses_thresholds() -> None:
    lif = TrLIF(init_threshold=0.7, mp_init=False).eval()
    head = nn.Linear(4, 2)
    model = nn.Sequential(lif, head)
    spikes = lif(torch.tensor([[[2.0, 0.0, 2.0, 0.1]]]))  # TrSG: 0.7 * S
    values = torch.tensor([1.0, 0.7], dtype=torch.float64)
    assert is_spike_tensor(spikes, values)
    assert not is_spike_tensor(spikes * 0.5, values)  # e.g. average-pooled spikes
    with SynOpsCounter(model) as ops:
        model(torch.tensor([[[2.0, 0.0, 2.0, 0.1]]]))
        head(torch.tensor([[0.35, 0.0, 0.7, 0.7]]))
    row = ops.summary(images=1)["layers"][0]
    assert (row["kind"], row["ac"], row["mac"]) == ("mixed", 2 * 2.0, 4 * 2.0)


def test_errors_and_unused() -> None:
    with pytest.raises(ValueError, match="no Linear or Conv"):
        SynOpsCounter(nn.ReLU())
    with pytest.raises(ValueError, match="kind"):
        SynOpsCounter(nn.Linear(2, 2), kinds={"": "flops"})
    with pytest.raises(ValueError, match="does not have"):
        SynOpsCounter(nn.Linear(2, 2), kinds={"x": "ac"})
    ops = SynOpsCounter(nn.Linear(2, 2))
    assert ops.summary(images=1)["layers"][0]["kind"] == "unused"
    with pytest.raises(ValueError, match="images"):
        ops.summary(images=0)
