"""Carrying out a :class:`~stablespike.deploy.FoldPlan` on the (copied) model; ``ChannelScale``.

:func:`apply_plan` rescales the weights of the absorbing layers and switches the planned neurons
to ``binary_output``; both change modules in place, so they act on the model and on its traced
graph module alike (they share submodules). :func:`insert_channel_scales` adds the explicit
:class:`~stablespike.deploy.ChannelScale` modules that ``residual="scale"`` planned, as new nodes
of the graph module.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.deploy.apply import apply_plan
    >>> from stablespike.deploy.fold import plan_fold
    >>> model = nn.Sequential(TrLIF(init_threshold=0.5), nn.Linear(4, 2)).eval()
    >>> apply_plan(plan_fold(model), model)
    >>> model[0].binary_output
    True

**ChannelScale**: an explicit, fixed multiplication kept where folding alone is not exact.

:func:`~stablespike.deploy.fold_thresholds` with ``residual="scale"`` inserts one in front of an
addition that mixes a spike path (``S``, which stands for ``Vthr * S``) with an unscaled path, so
that the addition sees ``Vthr * S`` again: ``y = scale * x``, ``scale`` broadcast against ``x``
(``0-d`` for one threshold per layer, ``[1, 1, C, 1, 1]``-like for one per channel).

Example:
    >>> import torch
    >>> from stablespike.deploy import ChannelScale
    >>> m = ChannelScale(torch.tensor([2.0, 0.5]).view(1, 2))
    >>> m(torch.ones(3, 2))[0].tolist()
    [2.0, 0.5]
"""

from __future__ import annotations

from typing import cast

import torch
from torch import fx, nn

from ..models.transformers import SpikeMatmul
from .plan import FoldPlan
from .weights import absorb_input_scale_


def apply_plan(plan: FoldPlan, model: nn.Module) -> None:
    """Absorb the planned scales into ``model``'s layers and binarize the planned neurons."""
    for step in plan.steps:
        if step.kind == "product":
            product = cast(SpikeMatmul, model.get_submodule(step.target))
            product.scale = float(product.scale * step.scale)
        elif step.kind != "channel_scale":
            absorb_input_scale_(model.get_submodule(step.target), step.scale)
    for name in plan.binarized:
        setattr(model.get_submodule(name), "binary_output", True)  # noqa: B010


def insert_channel_scales(gm: fx.GraphModule, plan: FoldPlan) -> fx.GraphModule:
    """Insert the plan's ChannelScale nodes into ``gm`` (in place) and recompile it."""
    nodes = {node.name: node for node in gm.graph.nodes}
    for index, step in enumerate(plan.channel_scales):
        name = f"fold_scale_{index}"
        gm.add_submodule(name, ChannelScale(step.scale))
        user, operand = nodes[step.target], nodes[step.operand]
        with gm.graph.inserting_before(user):
            scaled = gm.graph.call_module(name, (operand,))
        user.replace_input_with(operand, scaled)
    gm.graph.lint()
    gm.recompile()
    return gm


class ChannelScale(nn.Module):
    """Multiply by a fixed broadcastable ``scale`` (a buffer, saved with the state dict)."""

    scale: torch.Tensor

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``scale * x``."""
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"
