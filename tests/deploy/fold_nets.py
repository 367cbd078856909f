"""Small tdBN-style spiking conv nets for the folding tests (same style as stablespike.models).

(A module with its own name, not ``conftest``, so that test files import it unambiguously.)

Layers flatten ``[T, B, ...]`` to ``[T*B, ...]`` around Conv2d / BatchNorm2d, input handling is a
``_fx_leaf`` module, and the neurons are TrLIF with random thresholds, MP-Init means and batch
norm statistics so that folding is tested with non-trivial numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from stablespike import TrLIF
from stablespike.deploy import FoldReport, verify_fold

T, B, SIZE = 2, 3, 8


class RepeatT(nn.Module):
    """``[B, C, H, W] -> [T, B, C, H, W]``: the static-image input leaf."""

    _fx_leaf = True

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).repeat(self.steps, *([1] * x.dim()))


class ConvBN(nn.Module):
    """tdBN-style conv -> BN on ``[T, B, C, H, W]`` (time folded into the batch)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[0], x.shape[1]
        y = self.bn(self.conv(x.flatten(0, 1)))
        return y.view(steps, batch, y.shape[1], y.shape[2], y.shape[3])


class TimePool(nn.Module):
    """2x2 average pooling per timestep."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x.flatten(0, 1)).unflatten(0, (x.shape[0], x.shape[1]))


def make_lif(channels: int, per_channel: bool, surrogate: str = "trsg") -> TrLIF:
    return TrLIF(
        per_channel=per_channel, channels=channels if per_channel else None, surrogate=surrogate
    )


class Block(nn.Module):
    """conv-BN-LIF-conv-BN (+ shortcut) then LIF; 1x1 conv+BN projection or identity shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, per_channel: bool) -> None:
        super().__init__()
        self.conv1 = ConvBN(cin, cout, 3, stride)
        self.lif1 = make_lif(cout, per_channel)
        self.conv2 = ConvBN(cout, cout, 3)
        project = stride != 1 or cin != cout
        self.shortcut = ConvBN(cin, cout, 1, stride) if project else nn.Identity()
        self.lif2 = make_lif(cout, per_channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif2(self.conv2(self.lif1(self.conv1(x))) + self.shortcut(x))


class Net(nn.Module):
    """Stem conv-BN-LIF, projection block (stride 2), avg pool, [identity block], dropout, FC."""

    def __init__(self, per_channel: bool = False, identity_block: bool = True) -> None:
        super().__init__()
        self.repeat = RepeatT(T)
        self.stem = ConvBN(3, 8)
        self.lif0 = make_lif(8, per_channel)
        self.block1 = Block(8, 16, 2, per_channel)
        self.pool = TimePool()
        self.block2 = Block(16, 16, 1, per_channel) if identity_block else nn.Identity()
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(16 * (SIZE // 4) ** 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lif0(self.stem(self.repeat(x)))
        x = self.block2(self.pool(self.block1(x)))
        return self.fc(self.dropout(x.flatten(2))).mean(0)


def randomize_(
    model: nn.Module, seed: int = 0, image: tuple[int, int, int] = (3, SIZE, SIZE)
) -> nn.Module:
    """Random thresholds (Vthr in [0.3, 2]) and BN affine parameters, then BN statistics and
    MP-Init means calibrated on random images in training mode (as after a short training run).
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(like: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return torch.rand(like.shape, generator=gen) * (hi - lo) + lo

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TrLIF):
                m.threshold_raw.copy_(uniform(m.threshold_raw, 0.3, 2.0).expm1().log())
        for bn in bns:
            bn.momentum = None  # cumulative average over the calibration batches
            if bn.weight is not None:
                bn.weight.copy_(uniform(bn.weight, 0.8, 1.5))
                bn.bias.copy_(uniform(bn.bias, 0.1, 0.6))
        model.train()
        for i in range(3):
            model(images(seed=100 + seed * 10 + i, batch=4, image=image))
    for bn in bns:
        bn.momentum = 0.1
    return model


def images(
    seed: int = 1, batch: int = B, image: tuple[int, int, int] = (3, SIZE, SIZE)
) -> torch.Tensor:
    """Random static images ``[batch, *image]``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *image, generator=gen) * 2.0


@contextmanager
def record_spikes(model: nn.Module) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Collect the outputs of every TrLIF of ``model`` during the block, by module name."""
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, TrLIF):

            def hook(_m: nn.Module, _i: object, out: torch.Tensor, name: str = name) -> None:
                seen.setdefault(name, []).append(out.detach().clone())

            handles.append(m.register_forward_hook(hook))
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def assert_fold_exact(
    model: nn.Module, folded: nn.Module, x: torch.Tensor, atol: float = 1e-5, rtol: float = 0.0
) -> FoldReport:
    """The fold is exact in float64 and differs in float32 only by rounding-level spike flips.

    (A float32 comparison alone depends on the CPU: the same convolution sums in another order on
    AVX2 and AVX-512 machines, and a potential within rounding of Vthr may flip a spike.)
    """
    report = verify_fold(model, folded, x, atol=atol, rtol=rtol)
    assert report.exact_float64 and report.max_diff_float64 < 1e-9, report.summary()
    assert report.rounding_only, report.summary()
    return report
