"""Tracing a model for folding, and recording the shapes its graph produces on one input.

The tracer keeps :class:`~stablespike.TrLIF` neurons and modules whose class sets
``_fx_leaf = True`` (input handling, stems) as leaves, like the tracer of
:mod:`stablespike.models`; every other ``nn`` module that torch.fx treats as a leaf (conv, BN,
pooling, ...) stays one too.

:func:`record_values` runs the traced graph once and keeps, per node, what the folding rules need:
a ``meta`` tensor (shape and dtype, no data) for floating-point tensors, the real value for
everything else (sizes, index tensors, masks). It also returns the graph's real output, the
reference the folded model is checked against.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike.deploy.tracing import record_values, trace_for_fold
    >>> gm = trace_for_fold(nn.Sequential(nn.Linear(3, 2)))
    >>> values, out = record_values(gm, (torch.zeros(5, 3),))
    >>> [tuple(v.shape) for v in values.values()]
    [(5, 3), (5, 2), (5, 2)]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

from ..core.errors import FoldError
from ..neurons import TrLIF

Values = dict[fx.Node, Any]


class FoldTracer(fx.Tracer):
    """torch.fx tracer with TrLIF neurons and ``_fx_leaf`` modules as leaves."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, TrLIF) or getattr(type(m), "_fx_leaf", False):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def trace_for_fold(model: nn.Module) -> fx.GraphModule:
    """Trace ``model`` with :class:`FoldTracer`; the graph module shares ``model``'s submodules."""
    try:
        graph = FoldTracer().trace(model)
    except Exception as err:  # torch.fx raises many types; all mean "not traceable"
        raise FoldError(
            f"cannot trace {type(model).__name__} with torch.fx ({type(err).__name__}: {err}); "
            "folding needs a symbolically traceable model (move data-dependent code into a "
            "module whose class sets _fx_leaf = True)"
        ) from err
    return fx.GraphModule(model, graph, class_name=type(model).__name__)


def _light(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            return torch.empty_like(value, device="meta")
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_light(v) for v in value)
    if isinstance(value, dict):
        return {k: _light(v) for k, v in value.items()}
    return value


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: Values = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.values[n] = _light(out)
        return out


def record_values(gm: fx.GraphModule, args: tuple[Any, ...]) -> tuple[Values, Any]:
    """Run ``gm(*args)`` without gradients; return ``(values per node, the real output)``."""
    recorder = _Recorder(gm)
    with torch.no_grad():
        out = recorder.run(*args)
    return recorder.values, out


def as_args(example_input: Any) -> tuple[Any, ...]:
    """The positional arguments of the model: a tuple as is, anything else as one argument."""
    return example_input if isinstance(example_input, tuple) else (example_input,)
