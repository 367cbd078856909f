"""AC / MAC counts of tiny layers with known spikes, and the spike detection rule."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stablespike import TrLIF
from stablespike.analysis.synops import SynOpsCounter, conv_accumulates
from stablespike.models.spike_path import is_spike_tensor


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
    assert not is_spike_tensor(torch.zeros(3), values)  # silent: undecidable from values
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


class TinySNN(nn.Module):
    """Stem conv (MAC) -> LIF -> avg-pool -> 1x1 conv (AC) -> LIF -> global mean -> head (MAC)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.lif = TrLIF(init_threshold=0.5, mp_init=False)
        self.pool = nn.AvgPool2d(2)
        self.conv = nn.Conv2d(2, 3, 1)
        self.lif2 = TrLIF(mp_init=False)
        self.head = nn.Linear(3, 4)
        self.seen: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        s = self.lif(self.stem(x).unsqueeze(0).repeat(2, 1, 1, 1, 1))  # [T=2, B, 2, 4, 4]
        p = self.pool(s.flatten(0, 1))  # [T*B, 2, 2, 2], real-valued averages of spikes
        self.seen["pooled"] = p
        s2 = self.lif2(self.conv(p).unflatten(0, (2, batch)))
        return self.head(s2.mean((3, 4)))  # global average: real-valued


def test_spike_provenance_through_pooling_and_global_mean() -> None:
    torch.manual_seed(0)
    model = TinySNN().eval()
    with SynOpsCounter(model) as ops, torch.no_grad():
        model(torch.randn(3, 1, 4, 4) * 3)
    rows = {r["layer"]: r for r in ops.summary(images=3)["layers"]}
    pooled = model.seen["pooled"]
    assert 0 < int((pooled != 0).sum()) < pooled.numel()
    assert rows["stem"]["kind"] == "mac" and rows["stem"]["mac"] == 2 * 16 * 9
    assert rows["conv"]["kind"] == "ac"
    assert rows["conv"]["ac"] == pytest.approx(float((pooled != 0).sum()) * 3 / 3)  # fan-out 3
    assert rows["head"]["kind"] == "mac" and rows["head"]["mac"] == 2 * 3 * 4  # T x 3 x 4
