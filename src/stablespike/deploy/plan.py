"""Planning a fold: walk the traced graph once and decide, per TrSG neuron, where ``Vthr`` goes.

Every TrSG :class:`~stablespike.TrLIF` (``binary_output`` not yet set) becomes the source of a
pending scale ``Vthr`` on its output. The walk carries pending scales forward through the nodes
that commute with them (:mod:`~stablespike.deploy.propagate`) until a conv / linear / batch-norm
layer absorbs them; anything else that a pending scale reaches (the model output, a neuron's
input, a non-linear or unknown op, a mixed addition without ``residual="scale"``) raises
:class:`~stablespike.deploy.FoldError` naming the neuron(s), the node and the reason.

The result, a :class:`FoldPlan`, changes nothing; :mod:`~stablespike.deploy.apply` carries it out.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.deploy import plan_fold
    >>> plan = plan_fold(nn.Sequential(TrLIF(init_threshold=0.5), nn.Linear(4, 2)))
    >>> plan.binarized, [(s.kind, s.target) for s in plan.steps]
    (('0',), [('linear', '1')])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import torch
from torch import fx
from torch.nn.modules.conv import _ConvNd

from ..core.errors import FoldError
from ..functional.surrogate import scales_output
from ..neurons import TrLIF
from .ops import Kind, OpInfo, classify, describe, first_input
from .propagate import Context, Materialize, Scaled, propagate
from .scale import (
    Pending,
    Refusal,
    channel_vector,
    is_one,
    merge_sources,
    neuron_factor,
    same_factor,
)
from .weights import check_private_weights, unabsorbable_reason

_ABSORBERS = {Kind.CONV: "conv", Kind.LINEAR: "linear", Kind.BATCHNORM: "batchnorm"}


def _summary(scale: torch.Tensor) -> str:
    if scale.numel() == 1:
        return f"{float(scale):.4g}"
    return f"{scale.numel()} values in [{float(scale.min()):.4g}, {float(scale.max()):.4g}]"


@dataclass(frozen=True)
class FoldStep:
    """One place where thresholds end up.

    ``kind``: ``"conv"``, ``"linear"`` or ``"batchnorm"`` (module ``target`` absorbs ``scale``, a
    ``0-d`` tensor or one value per input channel), ``"product"`` (the attention product
    ``target`` multiplies its ``scale`` by the ``0-d`` ``scale``) or ``"channel_scale"`` (an explicit
    :class:`~stablespike.deploy.ChannelScale` with the broadcastable ``scale`` multiplies node
    ``operand`` in front of node ``target``). ``sources``: the neurons whose ``Vthr`` it holds.
    """

    kind: str
    target: str
    scale: torch.Tensor
    sources: tuple[str, ...]
    operand: str = ""

    def __str__(self) -> str:
        where = f"{self.kind} '{self.target}'"
        if self.kind == "channel_scale":
            where = f"ChannelScale on '{self.operand}' before node '{self.target}'"
        return f"{where} <- Vthr of {', '.join(self.sources)} ({_summary(self.scale)})"


@dataclass(frozen=True)
class FoldPlan:
    """What :func:`~stablespike.deploy.fold_thresholds` does to a model (printable report).

    ``binarized``: neurons switched to ``binary_output``; ``untouched``: ``(neuron, reason)`` for
    neurons left as they are; ``steps``: where the thresholds go (:class:`FoldStep`).
    """

    binarized: tuple[str, ...]
    untouched: tuple[tuple[str, str], ...]
    steps: tuple[FoldStep, ...]

    @property
    def channel_scales(self) -> tuple[FoldStep, ...]:
        """The explicit multiplications the fold inserts (``residual="scale"`` only)."""
        return tuple(s for s in self.steps if s.kind == "channel_scale")

    def __str__(self) -> str:
        lines = [f"binary spikes: {', '.join(self.binarized) or '(none)'}"]
        lines += [f"untouched: {name} ({why})" for name, why in self.untouched]
        lines += [f"  {step}" for step in self.steps]
        return "\n".join(lines)


@dataclass
class _Call:
    node: fx.Node
    pending: Pending | None
    vector: torch.Tensor | None


@dataclass
class _Planner:
    ctx: Context
    pending: dict[fx.Node, Pending] = field(default_factory=dict)
    binarized: dict[str, None] = field(default_factory=dict)
    untouched: dict[str, str] = field(default_factory=dict)
    calls: dict[str, list[_Call]] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    inserted: list[FoldStep] = field(default_factory=list)
    products: dict[str, FoldStep] = field(default_factory=dict)

    def run(self) -> FoldPlan:
        for node in self.ctx.gm.graph.nodes:
            scaled = {n: self.pending[n] for n in node.all_input_nodes if n in self.pending}
            try:
                self._visit(node, scaled)
            except Refusal as refusal:
                raise self._error(node, scaled, refusal) from None
        return FoldPlan(
            tuple(self.binarized),
            tuple(self.untouched.items()),
            self._absorbed() + tuple(self.products.values()) + tuple(self.inserted),
        )

    def _visit(self, node: fx.Node, scaled: Scaled) -> None:
        if node.op == "output":
            if scaled:
                raise Refusal(
                    "scaled spikes reach the model output",
                    "end the model with a non-spiking layer (e.g. a linear head)",
                )
            return
        info = classify(node, self.ctx.gm)
        if info.kind is Kind.NEURON:
            self._neuron(node, scaled)
        elif info.kind is Kind.PRODUCT:
            self._product(node, scaled)
        elif info.kind in _ABSORBERS:
            self._absorber(node, info, scaled)
        elif scaled:
            outcome = propagate(node, info, scaled, self.ctx)
            if isinstance(outcome, Materialize):
                for operand in outcome.operands:
                    p = self.pending[operand]
                    self.inserted.append(
                        FoldStep("channel_scale", node.name, p.factor, p.sources, operand.name)
                    )
            elif outcome is not None:
                self.pending[node] = outcome

    def _neuron(self, node: fx.Node, scaled: Scaled) -> None:
        if scaled:
            raise Refusal(
                "a spiking neuron is not linear in its input, so the scale cannot pass it"
            )
        neuron = cast(TrLIF, self.ctx.module(node))  # Kind.NEURON
        name = str(node.target)
        if not scales_output(neuron.surrogate):
            self.untouched[name] = f"surrogate {neuron.surrogate!r} already emits S"
            return
        if neuron.binary_output:
            self.untouched[name] = "binary_output is already set"
            return
        factor = neuron_factor(neuron.threshold, self.ctx.ndim(node))
        self.binarized[name] = None
        if not is_one(factor):
            self.pending[node] = Pending(factor, (name,))

    def _product(self, node: fx.Node, scaled: Scaled) -> None:
        """An attention product absorbs scalar operand scales into its ``scale``."""
        if not scaled:
            return
        name = str(node.target)
        operands = [a for a in node.args[:2] if isinstance(a, fx.Node)]
        if set(scaled) - set(operands):
            raise Refusal("the scale reaches an argument other than the product's operands")
        factors = [scaled[a].factor for a in operands if a in scaled]
        if any(f.dim() != 0 for f in factors):
            raise Refusal(
                "the scale varies along the operand, and the product sums over it; only "
                "per-layer (scalar) thresholds fold into an attention product"
            )
        if name in self.products:
            raise Refusal(f"'{name}' is called more than once; its scale can absorb only one")
        factor = torch.ones((), dtype=factors[0].dtype)
        for f in factors:
            factor = factor * f
        self.products[name] = FoldStep(
            "product", name, factor, merge_sources([scaled[a] for a in operands if a in scaled])
        )

    def _absorber(self, node: fx.Node, info: OpInfo, scaled: Scaled) -> None:
        name = str(node.target)
        data = first_input(node)
        if set(scaled) - {data}:
            raise Refusal("the scale reaches an argument other than the layer's input")
        pending = scaled.get(data) if isinstance(data, fx.Node) else None
        vector = None
        if pending is not None:
            module = self.ctx.module(node)
            reason = unabsorbable_reason(module)
            if reason is not None:
                raise Refusal(reason)
            vector = channel_vector(pending.factor, self._channel_dim(info, node, pending))
        self.kinds[name] = info.kind
        self.calls.setdefault(name, []).append(_Call(node, pending, vector))

    def _channel_dim(self, info: OpInfo, node: fx.Node, pending: Pending) -> int:
        if info.kind is Kind.LINEAR:
            return -1
        if info.kind is Kind.CONV:
            spatial = len(cast(_ConvNd, self.ctx.module(node)).kernel_size)
            return 1 if pending.factor.dim() == spatial + 2 else 0
        return 1

    def _absorbed(self) -> tuple[FoldStep, ...]:
        steps = []
        for name, calls in self.calls.items():
            scaled = [
                (c.node, c.pending, c.vector)
                for c in calls
                if c.pending is not None and c.vector is not None
            ]
            if not scaled:
                continue
            node, pending, vector = scaled[0]
            try:
                if len(scaled) < len(calls) or not all(same_factor(v, vector) for *_, v in scaled):
                    nodes = ", ".join(repr(c.node.name) for c in calls)
                    raise Refusal(
                        f"'{name}' is called at {nodes} with different input scales, "
                        "but its weights can absorb only one"
                    )
                check_private_weights(self.ctx.gm, [name])
            except Refusal as refusal:
                raise self._error(node, {n: p for n, p, _ in scaled}, refusal) from None
            sources = merge_sources([p for _, p, _ in scaled])
            steps.append(FoldStep(_ABSORBERS[self.kinds[name]], name, vector, sources))
        return tuple(steps)

    def _error(self, node: fx.Node, scaled: Scaled, refusal: Refusal) -> FoldError:
        sources = merge_sources(list(scaled.values())) or (str(node.target),)
        message = (
            f"cannot fold the threshold of neuron(s) {', '.join(map(repr, sources))} at node "
            f"'{node.name}' ({describe(node, self.ctx.gm)}): {refusal.reason}"
        )
        return FoldError(f"{message}; {refusal.hint}" if refusal.hint else message)


def make_plan(ctx: Context) -> FoldPlan:
    """Plan the fold of the graph in ``ctx`` (raises :class:`~stablespike.deploy.FoldError`)."""
    return _Planner(ctx).run()
