"""Checking a folded model against the unfolded one on an example input.

:func:`check_fold` runs both models in eval mode (restoring each module's mode afterwards) and
raises :class:`~stablespike.deploy.FoldError` if their outputs differ beyond ``atol + rtol * |ref|``
or if a binarized TrSG neuron of the folded model emits anything but 0 and 1.

Folding is exact in real arithmetic; in floating point the layers that absorbed a threshold round
differently in the last bit, so a membrane potential lying exactly on a threshold could flip a
spike. With continuous inputs that does not happen in practice; if it does, the check says so.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.deploy import check_fold, fold_thresholds
    >>> model = nn.Sequential(TrLIF(init_threshold=0.5), nn.Linear(4, 2))
    >>> x = torch.randn(3, 2, 4)
    >>> check_fold(model, fold_thresholds(model), x) < 1e-6
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ..functional.surrogate import scales_output
from ..neurons import TrLIF
from .errors import FoldError
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


def compare_outputs(expected: Any, actual: Any, atol: float, rtol: float) -> float:
    """The largest ``|expected - actual|`` over all output tensors; raise beyond tolerance."""
    ref, out = _tensors(expected), _tensors(actual)
    if [t.shape for t in ref] != [t.shape for t in out]:
        raise FoldError("the folded model returns outputs of other shapes than the unfolded one")
    worst = max(
        (float((a - b).abs().max()) for a, b in zip(ref, out, strict=True) if a.numel()),
        default=0.0,
    )
    if not all(torch.allclose(b, a, rtol=rtol, atol=atol) for a, b in zip(ref, out, strict=True)):
        raise FoldError(
            f"the folded model's outputs differ from the unfolded model's by up to {worst:.3g} "
            f"(atol={atol}, rtol={rtol}); if this is far above rounding, a spike flipped at a "
            "membrane potential lying exactly on a threshold, or the model has an op the folding "
            "rules misjudge (please report it)"
        )
    return worst


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
    ``atol + rtol * |reference|`` or a binarized neuron emits values other than 0 and 1.
    """
    args = as_args(example_input)
    with eval_mode(model), torch.no_grad():
        expected = model(*args)
    return compare_outputs(expected, run_checked(folded, args), atol, rtol)
