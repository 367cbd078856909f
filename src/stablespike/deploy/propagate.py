"""Rules that carry a pending scale through one graph node (one rule per :class:`~.ops.Kind`).

Each rule gets the node, the pending scales of its scaled inputs and a :class:`Context`, and
returns the node's own pending scale (``None``: the result is unscaled), a :class:`Materialize`
request (``ADD`` only, with ``residual="scale"``), or raises :class:`~.scale.Refusal`.

Rules for ``REARRANGE`` nodes replay the node's own operation on the expanded factor map, so any
reshape / permute / index / concatenation maps channels exactly, including a per-channel scale
flattened into the features of a ``Linear`` (this needs the recorded shapes of an example input;
a uniform scale passes without them).

Example:
    >>> import torch
    >>> from torch import fx, nn
    >>> from stablespike.deploy.ops import classify
    >>> from stablespike.deploy.propagate import Context, propagate
    >>> from stablespike.deploy.scale import Pending
    >>> from stablespike.deploy.tracing import record_values
    >>> gm = fx.symbolic_trace(nn.Flatten())
    >>> values, _ = record_values(gm, (torch.zeros(1, 2, 3),))
    >>> x, flat = list(gm.graph.nodes)[:2]
    >>> p = Pending(torch.tensor([1.0, 2.0]).view(1, 2, 1), ("lif",))
    >>> out = propagate(flat, classify(flat, gm), {x: p}, Context(gm, values, "error"))
    >>> out.factor.tolist()
    [[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from .ops import DROPOUT_FUNCTIONS, Kind, OpInfo, arg, first_input
from .scale import (
    Pending,
    Refusal,
    compress,
    expand_to,
    fit_ndim,
    is_one,
    merge_sources,
    same_factor,
    uniform_value,
)
from .tracing import Values

Scaled = dict[fx.Node, Pending]

_NEEDS_SHAPES = "pass example_input so that the shapes of the graph are known"
_SHAPE_ONLY_METHODS = {"view_as", "expand_as", "reshape_as"}  # their 2nd tensor gives a shape


@dataclass(frozen=True)
class Context:
    """What the rules may look at: the graph module, recorded values and the residual policy."""

    gm: fx.GraphModule
    values: Values | None
    residual: str

    def ndim(self, node: fx.Node) -> int | None:
        """Number of dims of a tensor-valued node (``None`` without recorded values)."""
        value = None if self.values is None else self.values.get(node)
        return value.dim() if isinstance(value, torch.Tensor) else None

    def module(self, node: fx.Node) -> nn.Module:
        """The submodule called by a ``call_module`` node."""
        return self.gm.get_submodule(str(node.target))


@dataclass(frozen=True)
class Materialize:
    """Request: multiply these scaled operands by their factor explicitly (a ChannelScale)."""

    operands: tuple[fx.Node, ...]


Outcome = Pending | Materialize | None


def _pending(factor: torch.Tensor, pendings: list[Pending]) -> Pending | None:
    return None if is_one(factor) else Pending(factor, merge_sources(pendings))


def _require_within(scaled: Scaled, allowed: list[Any]) -> None:
    """No scaled input may go unaccounted for: refuse one the rule does not handle."""
    if any(n not in allowed for n in scaled):
        raise Refusal("the scale reaches an argument other than the data input")


def _only_data(node: fx.Node, scaled: Scaled) -> Pending:
    """The pending scale of the node's data argument, which must be its only scaled input."""
    data = first_input(node)
    _require_within(scaled, [data])
    return scaled[data]


def _check_positive(info: OpInfo, factor: torch.Tensor, what: str) -> None:
    if info.positive and not bool(torch.all(factor > 0)):
        raise Refusal(f"{what} commutes only with a positive scale")


# ------------------------------------------------------------------ REARRANGE
def _data_nodes(node: fx.Node) -> list[fx.Node]:
    first = first_input(node)
    members = first if isinstance(first, (list, tuple)) else [first]
    return [m for m in members if isinstance(m, fx.Node)]


def _replay(node: fx.Node, data: list[fx.Node], scaled: Scaled, ctx: Context) -> torch.Tensor:
    """Run the node's operation on factor maps (data inputs) and recorded values (the rest)."""
    values = ctx.values
    if values is None:
        raise Refusal("the scale is not uniform or meets unscaled data here", _NEEDS_SHAPES)
    dtype = next(iter(scaled.values())).factor.dtype

    def substitute(n: fx.Node) -> Any:
        value = values[n]
        if n in scaled:
            return expand_to(scaled[n].factor, value.shape)
        if n in data:
            return torch.ones(value.shape, dtype=dtype)
        if isinstance(value, torch.Tensor) and value.device.type == "meta":
            return torch.zeros(value.shape, dtype=value.dtype)
        return value

    args = fx.node.map_arg(node.args, substitute)
    kwargs = fx.node.map_arg(node.kwargs, substitute)
    if node.op == "call_module":
        out = ctx.module(node)(*args, **kwargs)
    elif node.op == "call_method":
        out = getattr(args[0], str(node.target))(*args[1:], **kwargs)
    else:
        out = node.target(*args, **kwargs)  # type: ignore[operator]
    if not isinstance(out, torch.Tensor):
        raise Refusal(f"the operation returns a {type(out).__name__}, not a tensor")
    return compress(out)


def _rearrange(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    if node.target in DROPOUT_FUNCTIONS and arg(
        node, 2, "training", DROPOUT_FUNCTIONS[node.target]
    ):
        raise Refusal("dropout is active (training=True) and would change the scale at random")
    data = _data_nodes(node)
    if node.target not in _SHAPE_ONLY_METHODS:
        _require_within(scaled, data)
    carried = [scaled[n] for n in data if n in scaled]
    if not carried:
        return None
    if len(carried) == len(data) and set(scaled) <= set(data):
        uniform = uniform_value([p.factor for p in carried])
        if uniform is not None:
            return Pending(uniform, merge_sources(carried))
    return _pending(_replay(node, data, scaled, ctx), list(scaled.values()))


# ------------------------------------------------------------------ CHANNEL_LOCAL, REDUCE
def _channel_local(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    pending = _only_data(node, scaled)
    factor = pending.factor
    _check_positive(info, factor, "a max-type or ReLU operation")
    ndim = factor.dim()
    mixed = ndim - 2 if info.spatial is None else info.spatial
    varying = [d for d in range(max(ndim - mixed, 0), ndim) if factor.shape[d] != 1]
    if varying:
        raise Refusal(f"the scale varies along dim(s) {varying}, which this operation mixes")
    return pending


def _reduce(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    pending = _only_data(node, scaled)
    factor = pending.factor
    _check_positive(info, factor, "amax / amin")
    if factor.dim() == 0:
        return pending
    dims = arg(node, 1, "dim")
    if dims is None:
        raise Refusal("a reduction over all dims mixes values with different scales")
    dims = (dims,) if isinstance(dims, int) else dims
    if not isinstance(dims, (tuple, list)) or not all(isinstance(d, int) for d in dims):
        raise Refusal(f"the reduced dims {dims!r} are not known while tracing")
    dims = [d % factor.dim() for d in dims]
    varying = [d for d in dims if factor.shape[d] != 1]
    if varying:
        raise Refusal(f"the reduction mixes dim(s) {varying}, along which the scale varies")
    keepdim = bool(arg(node, 2, "keepdim", False))
    return Pending(factor if keepdim else factor.squeeze(tuple(dims)), pending.sources)


# ------------------------------------------------------------------ MULTIPLY, ADD
def _operands(node: fx.Node, scaled: Scaled) -> list[Any]:
    """The one or two operands of an arithmetic node; every scaled input must be one of them."""
    second = arg(node, 1, "other", None)
    operands = [first_input(node)] + ([] if second is None else [second])
    _require_within(scaled, operands)
    return operands


def _fit_output(factor: torch.Tensor, node: fx.Node, ctx: Context) -> torch.Tensor:
    """``factor`` in compact form for the node's (broadcast) result."""
    out_ndim = ctx.ndim(node)
    return compress(factor if out_ndim is None else fit_ndim(factor, out_ndim))


def _factor_of(operand: Any, scaled: Scaled) -> torch.Tensor | None:
    return scaled[operand].factor if isinstance(operand, fx.Node) and operand in scaled else None


def _multiply(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    if info.variant == "div" and arg(node, 2, "rounding_mode") is not None:
        raise Refusal("division with rounding is not linear")
    one = torch.ones((), dtype=next(iter(scaled.values())).factor.dtype)
    factors = [_factor_of(op, scaled) for op in _operands(node, scaled)] + [None]
    first, second = (one if f is None else f for f in factors[:2])
    ndim = max(first.dim(), second.dim())
    first, second = fit_ndim(first, ndim), fit_ndim(second, ndim)
    if info.variant == "mul":
        factor = first * second
    elif info.variant == "div":
        factor = first / second
    else:  # neg
        factor = first
    return _pending(_fit_output(factor, node, ctx), list(scaled.values()))


def _add(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    operands = _operands(node, scaled)
    factors = [_factor_of(op, scaled) for op in operands]
    present = [f for f in factors if f is not None]
    if len(present) == len(factors) and all(same_factor(f, present[0]) for f in present):
        return Pending(_fit_output(present[0], node, ctx), merge_sources(list(scaled.values())))
    if ctx.residual == "scale":
        return Materialize(tuple(op for op in operands if isinstance(op, fx.Node) and op in scaled))
    why = (
        "its operands carry different thresholds"
        if len(present) == len(factors)
        else "it adds a spike path (S standing for Vthr * S) to a path without that scale"
    )
    raise Refusal(
        f"the addition is not exact after folding: {why}",
        "pass residual='scale' to keep an explicit ChannelScale on the spike path(s) here",
    )


def _metadata(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    return None


def _unknown(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    raise Refusal(
        "this operation is not known to commute with a positive per-channel scale "
        "(it is non-linear, or not a conv / linear / batch-norm layer that can absorb it)"
    )


_RULES: dict[Kind, Callable[[fx.Node, OpInfo, Scaled, Context], Outcome]] = {
    Kind.REARRANGE: _rearrange,
    Kind.CHANNEL_LOCAL: _channel_local,
    Kind.REDUCE: _reduce,
    Kind.MULTIPLY: _multiply,
    Kind.ADD: _add,
    Kind.METADATA: _metadata,
}


def propagate(node: fx.Node, info: OpInfo, scaled: Scaled, ctx: Context) -> Outcome:
    """The pending scale of ``node``'s result, given the scales of its inputs (``scaled``)."""
    return _RULES.get(info.kind, _unknown)(node, info, scaled, ctx)
