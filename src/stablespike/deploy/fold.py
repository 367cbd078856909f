"""``fold_thresholds``: an inference copy of a TrSG model that emits binary spikes.

A TrSG neuron outputs ``O = Vthr * S`` (docs/METHOD.md §7). For inference it can emit ``S`` in {0, 1}
and leave ``Vthr`` to the next layer, which is linear in its input channels:
``W (Vthr * S) = (W * Vthr) S`` (conv / linear: ``W_next[:, c] <- W_next[:, c] * Vthr[c]``;
eval batch norm: ``m <- m / Vthr``, ``w <- w * Vthr``). On the way the scale passes reshapes,
indexing, concatenation, pooling (``Vthr > 0``, so max pooling commutes too), means / sums over
non-channel dims, eval dropout, and additions whose operands all carry the same scale. An
attention product (:class:`~stablespike.models.transformers.SpikeMatmul`) absorbs scalar
thresholds of its operands into its ``scale`` (``(a S_q)(b S_k)^T = a b (S_q S_k^T)``); a
per-channel one is summed over inside the product and refused.

Refused, with :class:`~stablespike.deploy.FoldError` naming the neuron, the node and why:
spikes reaching the model output or a non-linear op (another neuron's input, ``sigmoid``, ...;
e.g. QKFormer's token mask, a neuron fed with the channel sum of Q),
a scale that varies along a dim an op mixes, a layer called with different input scales, shared
weights, and an addition mixing a spike path with an unscaled one (a residual identity
shortcut). With ``residual="scale"`` such an addition keeps an explicit
:class:`~stablespike.deploy.ChannelScale` (``Vthr * S`` computed by one multiply) on its spike
operand instead: still exact, and the neurons still emit binary spikes. (A threshold that is
exactly 1, e.g. untrained, leaves nothing to fold: its neuron is binarized and nothing refused.)

What is guaranteed in floating point: the folded model computes the same function as the model
in real arithmetic, and in ``float64`` its outputs match to rounding (~1e-16). In ``float32`` a
layer that absorbed ``Vthr`` rounds ``(W * Vthr) S`` differently from ``W (Vthr * S)`` in the last
bit (and a convolution's rounding also depends on the CPU's vector width and algorithm), so a
membrane potential within that rounding of ``Vthr`` can flip a spike, and the flip propagates:
outputs are then not bit-identical. The check on ``example_input`` (:func:`check_fold`) tells
such flips from real errors: it folds again in ``float64`` and requires agreement there, and it
accepts ``float32`` differences only when the first flipped spikes had potentials within rounding
of ``Vthr`` (with a :class:`~stablespike.deploy.check.FoldRoundingWarning` that counts them).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.deploy import fold_thresholds
    >>> model = nn.Sequential(nn.Linear(3, 4), TrLIF(init_threshold=0.7), nn.Linear(4, 2))
    >>> x = torch.randn(5, 2, 3)                      # [T, B, features]
    >>> folded = fold_thresholds(model, x)            # checks itself on x
    >>> torch.allclose(folded(x), model.eval()(x), atol=1e-6)
    True
    >>> folded[1](torch.randn(5, 2, 4)).unique().tolist()
    [0.0, 1.0]
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from torch import fx, nn

from .apply import apply_plan, insert_channel_scales
from .check import check_fold
from .plan import FoldPlan, make_plan
from .propagate import Context
from .tracing import as_args, record_values, trace_for_fold

Residual = Literal["error", "scale"]
_RESIDUAL_CHOICES = ("error", "scale")


def _prepare(
    model: nn.Module, example_input: Any, residual: str
) -> tuple[nn.Module, fx.GraphModule, FoldPlan, Any]:
    """Copy ``model`` (eval), trace it, record shapes and plan: ``(copy, graph, plan, ref out)``."""
    if residual not in _RESIDUAL_CHOICES:
        raise ValueError(f"residual must be one of {_RESIDUAL_CHOICES}, got {residual!r}")
    model = copy.deepcopy(model).eval()
    gm = trace_for_fold(model)
    values, reference = None, None
    if example_input is not None:
        values, reference = record_values(gm, as_args(example_input))
    return model, gm, make_plan(Context(gm, values, residual)), reference


def plan_fold(
    model: nn.Module, example_input: Any = None, *, residual: Residual = "error"
) -> FoldPlan:
    """What :func:`fold_thresholds` would do, as a printable :class:`FoldPlan`; ``model`` is untouched.

    Raises :class:`~stablespike.deploy.FoldError` exactly where :func:`fold_thresholds` would.
    """
    return _prepare(model, example_input, residual)[2]


def fold_thresholds(
    model: nn.Module,
    example_input: Any = None,
    *,
    residual: Residual = "error",
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> nn.Module:
    """A folded inference copy of ``model`` (eval mode; ``model`` itself is left untouched).

    Args:
        model: a torch.fx-traceable network (TrLIF neurons and ``_fx_leaf`` modules are leaves).
        example_input: an input (or tuple of inputs) for the model. Needed for per-channel
            thresholds and for scales passing concatenations; when given, the folded model is
            also checked on it (outputs within ``atol`` / ``rtol``, binary spikes).
        residual: ``"error"`` refuses an addition of a spike path and an unscaled path;
            ``"scale"`` keeps an explicit :class:`~stablespike.deploy.ChannelScale` on the spike
            path there.
        atol, rtol: tolerances of the check on ``example_input``.

    Returns:
        a deep copy of ``model`` of the same class, with TrSG neurons set to ``binary_output``
        and the thresholds in the following layers' weights; a ``torch.fx.GraphModule`` instead
        when ``residual="scale"`` had to insert ChannelScale modules.

    Raises:
        FoldError: where folding is not exact (see the module docstring), or the check fails.
    """
    result = fold_unchecked(model, example_input, residual)
    if example_input is not None:
        check_fold(model, result, example_input, atol=atol, rtol=rtol)
    return result


def fold_unchecked(model: nn.Module, example_input: Any, residual: str) -> nn.Module:
    """:func:`fold_thresholds` without its check on ``example_input``."""
    folded, gm, plan, _ = _prepare(model, example_input, residual)
    apply_plan(plan, folded)
    result = insert_channel_scales(gm, plan) if plan.channel_scales else folded
    result.fold_residual = residual  # type: ignore[assignment]  # lets check_fold fold again in float64
    return result
