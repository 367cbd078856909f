"""Scales pass exactly through ops that commute with them; other neurons stay as they are."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from fold_nets import assert_fold_exact
from torch import fx, nn

from stablespike import TrLIF
from stablespike.deploy import FoldError, check_fold, fold_thresholds, plan_fold

SEQ = (3, 2, 4, 4, 4)  # [T, B, C, H, W]


def _seq(seed: int = 0) -> torch.Tensor:
    return torch.randn(SEQ, generator=torch.Generator().manual_seed(seed)) * 2


def _lif(per_channel: bool, surrogate: str = "trsg") -> TrLIF:
    """Vthr 0.7 for the layer, or 0.3 / 0.77 / 1.23 / 1.7 for its 4 channels."""
    if not per_channel:
        return TrLIF(init_threshold=0.7, surrogate=surrogate)
    lif = TrLIF(surrogate=surrogate, per_channel=True, channels=4)
    with torch.no_grad():
        lif.threshold_raw.copy_(torch.linspace(0.3, 1.7, 4).expm1().log())
    return lif


class Path(nn.Module):
    """TrLIF on ``[T, B, 4, 4, 4]``, then ``fn(spikes, x)``, then a linear head on the result."""

    def __init__(self, fn: Callable[..., torch.Tensor], features: int, per_channel: bool) -> None:
        super().__init__()
        self.lif = _lif(per_channel)
        self.fn = fn
        self.head = nn.Linear(features, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fn(self.lif(x), x))


def _pools(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    flat = s.flatten(0, 1)
    both = nn.functional.avg_pool2d(flat, 2) + nn.functional.max_pool2d(flat, 2)
    return both.unflatten(0, (s.shape[0], s.shape[1])).permute(0, 1, 3, 4, 2).flatten(2)


def _rate(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return s.mean(0, keepdim=True).mean((3, 4)) * 0.5  # firing rate per channel


def _concat(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([s, torch.relu(x)], dim=2).transpose(2, 4).reshape(3, 2, -1)


def _spatial_select(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.relu(s[:, :, :, 1:3, 0])  # [T, B, C, 2]


def _keywords(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    peak = torch.flatten(input=torch.amax(input=s, dim=(3, 4)), start_dim=2)  # data by keyword
    return torch.add(input=peak, other=peak.view_as(x.mean((3, 4))), alpha=0.5)


def _broadcast_add(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    rate = s.mean((0, 3, 4))  # [B, C]
    both = s[0].sum((2, 3)) + rate  # [B, C] + [B, C]
    return (both + s.mean((3, 4))).transpose(0, 1).transpose(0, 1)  # [B, C] + [T, B, C]


PATHS = {
    "avg+max_pool_permute": (_pools, 16),
    "rate_readout": (_rate, 4),
    "concat_with_unscaled": (_concat, 128),
    "index_relu": (_spatial_select, 2),
    "keyword_arguments": (_keywords, 4),
    "broadcast_add": (_broadcast_add, 4),
}


@pytest.mark.parametrize(
    ("path", "per_channel"),
    [(p, False) for p in PATHS] + [(p, True) for p in PATHS if p != "index_relu"],
)
def test_commuting_paths_fold_exactly(path: str, per_channel: bool) -> None:
    fn, features = PATHS[path]
    model = Path(fn, features, per_channel)
    folded = fold_thresholds(model, _seq(0))
    assert folded.lif.binary_output and type(folded) is Path  # no explicit scale needed
    x = _seq(1)
    assert_fold_exact(model, folded, x, rtol=1e-5)
    assert not torch.equal(folded.head.weight, model.head.weight)


def test_per_channel_scale_outside_the_features_of_a_linear_is_refused() -> None:
    model = Path(_spatial_select, 2, per_channel=True)  # channels stay in dim 2, not dim -1
    with pytest.raises(FoldError, match=r"'lif' at node 'head'.*varies along dim\(s\) \[2\]"):
        fold_thresholds(model, _seq())


def test_same_scale_addition_keeps_the_scale_pending() -> None:
    plan = plan_fold(Path(_pools, 16, per_channel=True), _seq())
    assert [(s.kind, s.target) for s in plan.steps] == [("linear", "head")]
    assert plan.steps[0].scale.shape == (16,)  # [H', W', C] features after the permute


def test_concatenation_maps_thresholds_onto_the_right_features() -> None:
    model = Path(_concat, 128, per_channel=True)
    (step,) = plan_fold(model, _seq()).steps
    features = torch.cat([model.lif.threshold.view(4, 1, 1), torch.ones(4, 1, 1)])  # [C=8]
    expected = features.expand(8, 4, 4).transpose(0, 2).reshape(-1)  # transpose(2, 4) order
    torch.testing.assert_close(step.scale, expected)


def test_scalar_thresholds_need_no_example_input() -> None:
    model = Path(_pools, 16, per_channel=False)
    folded = fold_thresholds(model)
    x = _seq(2)
    assert_fold_exact(model, folded, x, rtol=1e-5)


class TwoNeurons(nn.Module):
    """A TrSG neuron and an already-binary one (``surrogate``), each into its own conv."""

    def __init__(self, surrogate: str, binary: bool = False) -> None:
        super().__init__()
        self.trsg, self.other = _lif(True), _lif(True, surrogate)
        self.other.binary_output = binary
        self.conv_a, self.conv_b = nn.Conv2d(4, 2, 3), nn.Conv2d(4, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv_a(self.trsg(x).flatten(0, 1))
        return a + self.conv_b(self.other(x).flatten(0, 1))


@pytest.mark.parametrize(
    ("surrogate", "binary", "reason"),
    [("as", False, "surrogate 'as' already emits S"), ("trsg", True, "binary_output is already")],
)
def test_neurons_that_already_emit_s_are_left_untouched(
    surrogate: str, binary: bool, reason: str
) -> None:
    model = TwoNeurons(surrogate, binary).eval()
    folded = fold_thresholds(model, _seq())
    plan = plan_fold(model, _seq())
    assert plan.binarized == ("trsg",)
    assert plan.untouched[0][0] == "other" and reason in plan.untouched[0][1]
    assert folded.other.binary_output is binary
    assert torch.equal(folded.conv_b.weight, model.conv_b.weight)
    assert not torch.equal(folded.conv_a.weight, model.conv_a.weight)
    x = _seq(3)
    assert_fold_exact(model, folded, x, rtol=1e-5)


def test_check_fold_detects_a_wrong_fold() -> None:
    model = Path(_rate, 4, per_channel=True)
    folded = fold_thresholds(model, _seq())
    assert check_fold(model, folded, _seq(4)) < 1e-5
    with torch.no_grad():
        folded.head.weight[0, 0] += 0.1
    with pytest.raises(
        FoldError, match="outputs differ from the unfolded model's .max output difference"
    ):
        check_fold(model, folded, _seq(4))


def test_check_fold_detects_non_binary_spikes() -> None:
    class Leaky(TrLIF):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * 0.5

    model = nn.Sequential(Leaky(), nn.Flatten(2), nn.Linear(64, 2))
    folded = fold_thresholds(model)
    with pytest.raises(FoldError, match=r"values other than 0 and 1: \['0'\]"):
        check_fold(model, folded, _seq())


def test_graph_module_result_runs_like_the_model() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif1, self.lif2 = _lif(True), _lif(True)
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.lif1(x)
            y = self.conv(s.flatten(0, 1)).unflatten(0, (x.shape[0], x.shape[1]))
            return self.head(self.lif2(y + s).mean((3, 4)))

    model = Residual()
    folded = fold_thresholds(model, _seq(), residual="scale")
    assert isinstance(folded, fx.GraphModule) and not folded.training
    assert "fold_scale_0" in dict(folded.named_modules())
    x = _seq(5)
    assert_fold_exact(model, folded, x, rtol=1e-5)


def test_a_threshold_of_exactly_one_needs_no_folding() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = TrLIF(init_threshold=1.0)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head((self.lif(x) + x).mean((3, 4)))

    model = Residual()
    plan = plan_fold(model)
    assert plan.binarized == ("lif",) and plan.steps == ()  # Vthr * S == S already
    x = _seq(6)
    torch.testing.assert_close(fold_thresholds(model)(x), model.eval()(x), atol=0, rtol=0)
