"""Checking a folded model against the unfolded one on an example input.

:func:`check_fold` runs both models in eval mode (restoring each module's mode afterwards) and
raises :class:`~stablespike.deploy.FoldError` if the fold is wrong or if a binarized TrSG neuron of
the folded model emits anything but 0 and 1. :func:`verify_fold` returns the evidence as a
:class:`FoldReport`.

What is guaranteed. Folding is exact in real arithmetic. In floating point the layers that absorbed
a threshold compute ``(W * Vthr) S`` instead of ``W (Vthr * S)`` and may round differently in the
last bit (and so may the same convolution on two CPUs: the summation order of a convolution
depends on the CPU's vector width and the library's algorithm). A membrane potential that lies
within that rounding of ``Vthr`` can then flip a spike, and the flip propagates to later layers.
So the check is made twice:

1. in ``float64``: the model copied to double precision and, for a model made by
   :func:`~stablespike.deploy.fold_thresholds`, folded again in double precision (the same rules
   on the same values), where the outputs must agree within ``atol + rtol * |ref|``: this tells a
   real folding error from rounding;
2. in the input's own precision, where outputs within tolerance pass at once. Otherwise the spikes
   of every neuron layer are compared. At the first layer (in execution order) whose spikes
   differ, the layer inputs of both models agree up to rounding (every spike upstream agrees),
   and each flipped spike must come from a potential ``H`` with ``|H - Vthr|`` within the
   potentials' observed rounding difference there (the report's ``rounding_bound``). Such flips
   pass with a :class:`FoldRoundingWarning` that says how many spikes flipped; anything else
   raises.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.deploy import check_fold, fold_thresholds, verify_fold
    >>> model = nn.Sequential(TrLIF(init_threshold=0.5), nn.Linear(4, 2))
    >>> x = torch.randn(3, 2, 4)
    >>> check_fold(model, fold_thresholds(model), x) < 1e-6
    True
    >>> report = verify_fold(model, fold_thresholds(model), x)
    >>> report.max_diff_float64 < 1e-12, report.flips
    (True, 0)
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.errors import FoldError, FoldRoundingWarning
from ..functional.surrogate import scales_output
from ..neurons import TrLIF
from .tracing import as_args


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block; restore every module's own mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for k in sorted(value, key=str) for t in _tensors(value[k])]
    return []


def _paired(expected: Any, actual: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ref, out = _tensors(expected), _tensors(actual)
    if [t.shape for t in ref] != [t.shape for t in out]:
        raise FoldError("the folded model returns outputs of other shapes than the unfolded one")
    return list(zip(ref, out, strict=True))


def _max_difference(expected: Any, actual: Any) -> float:
    pairs = _paired(expected, actual)
    return max((float((a - b).abs().max()) for a, b in pairs if a.numel()), default=0.0)


def _all_close(expected: Any, actual: Any, atol: float, rtol: float) -> bool:
    return all(
        torch.allclose(b.to(a.dtype), a, rtol=rtol, atol=atol) for a, b in _paired(expected, actual)
    )


def run_checked(folded: nn.Module, args: tuple[Any, ...]) -> Any:
    """``folded(*args)`` in eval mode; raise if a binarized TrSG neuron emits non-binary values."""
    offenders: list[str] = []

    def watch(name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if not torch.all((output == 0) | (output == 1)):
                offenders.append(name)

        return hook

    handles = [
        m.register_forward_hook(watch(name))
        for name, m in folded.named_modules()
        if isinstance(m, TrLIF) and m.binary_output and scales_output(m.surrogate)
    ]
    try:
        with eval_mode(folded), torch.no_grad():
            out = folded(*args)
    finally:
        for handle in handles:
            handle.remove()
    if offenders:
        raise FoldError(f"binarized neurons emitted values other than 0 and 1: {offenders}")
    return out


@dataclass(frozen=True)
class FoldReport:
    """What :func:`verify_fold` found (see the module docs for how it is judged).

    Attributes:
        max_diff: largest ``|folded - unfolded|`` output difference in the input's precision.
        max_diff_float64: the same in ``float64``: the model and the input in double precision,
            folded again in double precision when ``folded`` comes from
            :func:`~stablespike.deploy.fold_thresholds` (``refolded_float64``; then only float64
            rounding remains, ~1e-16), else ``folded``'s parameters in double precision.
        exact_float64: whether the ``float64`` outputs agree within the tolerances (and, when
            folded again, whether ``folded``'s parameters are those of the float64 fold, rounded).
        refolded_float64: whether the ``float64`` check folded the model again.
        within_tolerance: whether the outputs in the input's precision agree within them.
        flips: spikes (over all layers, steps and samples) that differ in the input's precision.
        flips_per_layer: those flips per neuron layer, in execution order (layers with flips).
        first_layer: the first neuron layer whose spikes differ (``None`` if none does).
        first_flips: neurons of ``first_layer`` whose spikes differ.
        max_margin: largest ``|H - Vthr|`` at the first flip of those neurons (unfolded ``H``).
        rounding_bound: largest ``|H_folded - H_unfolded|`` of ``first_layer`` before any of its
            spikes differ, plus a few units in the last place of ``Vthr``: the potentials'
            rounding.
    """

    max_diff: float
    max_diff_float64: float
    exact_float64: bool
    within_tolerance: bool
    refolded_float64: bool = False
    flips: int = 0
    flips_per_layer: dict[str, int] = field(default_factory=dict)
    first_layer: str | None = None
    first_flips: int = 0
    max_margin: float = 0.0
    rounding_bound: float = 0.0

    @property
    def rounding_only(self) -> bool:
        """True if every difference is explained by rounding (or there is none)."""
        if not self.exact_float64:
            return False
        return self.within_tolerance or (
            self.first_layer is not None and self.max_margin <= self.rounding_bound
        )

    def summary(self) -> str:
        """One line for messages."""
        text = f"max output difference {self.max_diff:.3g} ({self.max_diff_float64:.3g} in float64)"
        if self.flips:
            text += (
                f"; {self.flips} spikes flipped, starting in '{self.first_layer}' at "
                f"{self.first_flips} neurons whose potentials were within {self.max_margin:.3g} "
                f"of the threshold (rounding bound {self.rounding_bound:.3g})"
            )
        return text


def _to_float64(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.double() if value.is_floating_point() else value
    if isinstance(value, tuple):
        return tuple(_to_float64(v) for v in value)
    if isinstance(value, list):
        return [_to_float64(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_float64(v) for k, v in value.items()}
    return value


@contextmanager
def _recorded_neurons(model: nn.Module) -> Iterator[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """``{name: (H [T, ...], Vthr broadcast to H)}`` of every TrLIF's last multi-step call."""
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(name: str) -> Callable[..., None]:
        def monitor(neuron: TrLIF, x: torch.Tensor, result: Any) -> None:
            h = result.h
            _, vth = neuron._params_for(h.dim() - 1, h.dtype)
            seen[name] = (h.detach(), vth.detach().expand_as(h))

        return monitor

    removers = [
        m.add_monitor(record(name)) for name, m in model.named_modules() if isinstance(m, TrLIF)
    ]
    try:
        yield seen
    finally:
        for remove in removers:
            remove()


def _first_flip_margin(
    h_ref: torch.Tensor, h_new: torch.Tensor, vth: torch.Tensor
) -> tuple[int, float, float]:
    """For one layer: the neurons whose spikes differ, the largest ``|H - Vthr|`` at each one's
    first flip, and the rounding bound (twice the largest ``|H_ref - H_new|`` over the steps
    before a neuron's first flip, plus a few units in the last place of ``Vthr``)."""
    flips = ((h_ref >= vth) != (h_new >= vth)).flatten(1)  # [T, N]
    steps = flips.shape[0]
    flipped = flips.any(0)
    first = torch.where(flipped, flips.int().argmax(0), steps)
    before = torch.arange(steps, device=flips.device).unsqueeze(1) < first
    diff = (h_ref - h_new).abs().flatten(1)
    bound = float(diff[before].max()) if before.any() else 0.0
    margins = (h_ref - vth).abs().flatten(1)[:, flipped].gather(0, first[flipped].unsqueeze(0))
    ulps = 4 * torch.finfo(h_ref.dtype).eps * float(vth.abs().max())
    return int(flipped.sum()), float(margins.max()), 2 * bound + ulps


def _same_values(folded: nn.Module, folded64: nn.Module) -> bool:
    """Whether each parameter and buffer of ``folded`` is ``folded64``'s to within the rounding of
    its dtype (a few units in the last place: Vthr itself is computed in that dtype)."""
    mine = dict(folded.state_dict())
    ref = dict(folded64.state_dict())
    if mine.keys() != ref.keys():
        return False
    for key, value in mine.items():
        other = ref[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            continue
        if value.shape != other.shape:
            return False
        eps = torch.finfo(value.dtype).eps
        if not torch.allclose(value.double(), other, rtol=16 * eps, atol=0.0):
            return False
    return True


def verify_fold(
    model: nn.Module,
    folded: nn.Module,
    example_input: Any,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> FoldReport:
    """Compare ``folded`` with ``model`` on ``example_input`` in float64 and in its own precision.

    Raises :class:`~stablespike.deploy.FoldError` only if the models' outputs have other shapes
    or a binarized neuron emits values other than 0 and 1; the verdict is the report's
    :attr:`FoldReport.rounding_only`.
    """
    args = as_args(example_input)
    with eval_mode(model), torch.no_grad(), _recorded_neurons(model) as ref_h:
        expected = model(*args)
    actual = run_checked(folded, args)
    max_diff = _max_difference(expected, actual)
    within = _all_close(expected, actual, atol, rtol)
    args64 = _to_float64(args)
    model64 = copy.deepcopy(model).double()
    residual = getattr(folded, "fold_residual", None)
    refolded = False
    if residual is not None:  # made by fold_thresholds: fold again, in float64
        from .fold import fold_unchecked

        folded64 = fold_unchecked(model64, args64, residual)
        # the same layers (a threshold of exactly 1 in float32 but not in float64 folds into
        # other layers); else judge the given fold's own parameters, in float64
        refolded = folded64.state_dict().keys() == folded.state_dict().keys()
    if not refolded:
        folded64 = copy.deepcopy(folded).double()
    with eval_mode(model64), torch.no_grad():
        expected64 = model64(*args64)
    actual64 = run_checked(folded64, args64)
    exact = _all_close(expected64, actual64, atol, rtol)
    if refolded:  # and the folded model holds those values, rounded to its dtype
        exact = exact and _same_values(folded, folded64)
    base: dict[str, Any] = dict(
        max_diff=max_diff,
        max_diff_float64=_max_difference(expected64, actual64),
        exact_float64=exact,
        within_tolerance=within,
        refolded_float64=refolded,
    )
    if within:
        return FoldReport(**base)
    with eval_mode(folded), torch.no_grad(), _recorded_neurons(folded) as new_h:
        folded(*args)
    per_layer: dict[str, int] = {}
    first: tuple[str, int, float, float] | None = None
    for name, (h_ref, vth) in ref_h.items():  # execution order of the unfolded model
        if name not in new_h or new_h[name][0].shape != h_ref.shape:
            continue
        h_new = new_h[name][0]
        spikes_differ = int(((h_ref >= vth) != (h_new >= vth)).sum())
        if not spikes_differ:
            continue
        per_layer[name] = spikes_differ
        if first is None:
            first = (name, *_first_flip_margin(h_ref, h_new, vth))
    if first is None:
        return FoldReport(**base)
    name, neurons, margin, bound = first
    return FoldReport(
        **base,
        flips=sum(per_layer.values()),
        flips_per_layer=per_layer,
        first_layer=name,
        first_flips=neurons,
        max_margin=margin,
        rounding_bound=bound,
    )


def check_fold(
    model: nn.Module,
    folded: nn.Module,
    example_input: Any,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> float:
    """Compare ``folded`` with ``model`` on ``example_input``; return the largest abs difference.

    Raises :class:`~stablespike.deploy.FoldError` if the outputs differ beyond
    ``atol + rtol * |reference|`` for another reason than rounding (judged as in the module
    docs: in ``float64``, and by the potentials of flipped spikes) or a binarized neuron emits
    values other than 0 and 1. Rounding-level spike flips give a :class:`FoldRoundingWarning`.
    """
    report = verify_fold(model, folded, example_input, atol=atol, rtol=rtol)
    if not report.rounding_only:
        raise FoldError(
            f"the folded model's outputs differ from the unfolded model's ({report.summary()}; "
            f"atol={atol}, rtol={rtol}): the model has an op the folding rules misjudge "
            "(please report it)"
        )
    if not report.within_tolerance:
        warnings.warn(
            "folding is exact (float64), but float rounding flipped spikes: " + report.summary(),
            FoldRoundingWarning,
            stacklevel=2,
        )
    return report.max_diff
