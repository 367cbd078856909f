"""Gradient diagnostics: stability metrics (AbsStr, RatioAG, GradCV) and per-timestep cosines.

**Stability** (docs/METHOD.md §5.2).

For the gradients ``g_1..g_N`` of the loss w.r.t. a layer's pre-spike potentials ``H`` (every
neuron, sample and timestep is one entry), with ``A = {i : g_i != 0}``::

    AbsStr  = 1/N * sum_i |g_i|                       mean absolute gradient (all entries)
    RatioAG = |A| / N                                 share of entries with a non-zero gradient
    GradCV  = std_{i in A} |g_i| / mean_{i in A} |g_i|    (0 when A is empty)

GradCV is taken over the non-zero gradients: over all entries it could not fall below
``sqrt((1 - RatioAG) / RatioAG)`` (3.6 at the paper's 6.9 %), while the paper reports 0.73, so
the paper's figure can only be the spread of the gradients that exist. ``AbsStrActive``, the
mean over ``A`` only, is reported beside AbsStr. All sums are streamed in float64.

Example:
    >>> import torch
    >>> from stablespike.analysis.gradients import GradStats
    >>> stats = GradStats()
    >>> stats.add(torch.tensor([0.0, 0.0, 1.0, 3.0]))
    >>> m = stats.summary()
    >>> m["abs_str"], m["ratio_ag"], m["grad_cv"]
    (1.0, 0.5, 0.5)

**Per-timestep cosines**: the similarity of the parameter gradients that different timesteps
contribute.

Definition. The loss is on the time-mean output, ``L = CE(1/T sum_t out_t, y)``. By the chain
rule its parameter gradient splits exactly into one term per output step::

    dL/dtheta = sum_t g_t,     g_t = (dL/d out_t) . (d out_t / d theta)

``g_t`` is the gradient that flows back from step ``t``'s output only (it still reaches the
computations of steps ``s <= t`` through the membrane recurrence). It is obtained by
back-propagating the cotangent ``dL/d out_t`` from ``out_t`` alone. Over several batches the
``g_t`` are summed, then compared::

    C[s, t] = <g_s, g_t> / (|g_s| |g_t|)            (0 where a gradient is exactly 0)

A value near 1 means early and late steps push the parameters the same way; temporal covariate
shift shows as small ``C[1, T]``. ``cos_to_total[t]`` compares ``g_t`` with ``sum_s g_s``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.analysis.gradients import TimestepGradients
    >>> torch.manual_seed(0) is not None
    True
    >>> model = nn.Sequential(nn.Linear(3, 8), TrLIF(), nn.Linear(8, 2)).eval()
    >>> out = model(torch.randn(4, 5, 3))                 # [T, B, K]
    >>> grads = TimestepGradients(list(model.parameters()))
    >>> grads.add(out, torch.randint(0, 2, (5,)))
    >>> len(grads.summary()["cosine"])
    4
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class GradStats:
    """Streaming ``N``, ``|A|``, ``sum |g|`` and ``sum g^2`` of gradients added batch by batch."""

    def __init__(self) -> None:
        self.count = 0
        self.nonzero = 0
        self.abs_sum = 0.0
        self.sq_sum = 0.0

    def add(self, grad: torch.Tensor) -> None:
        """Accumulate the entries of one gradient tensor (any shape)."""
        g = grad.detach().to(torch.float64).abs()
        self.count += g.numel()
        self.nonzero += int((g != 0).sum())
        self.abs_sum += float(g.sum())
        self.sq_sum += float((g * g).sum())

    def summary(self) -> dict[str, float]:
        """``abs_str``, ``abs_str_active``, ``ratio_ag``, ``grad_cv`` and the entry ``count``."""
        if self.count == 0:
            raise ValueError("no gradients were recorded (did a backward pass run?)")
        active_mean = self.abs_sum / self.nonzero if self.nonzero else 0.0
        if self.nonzero:
            var = max(self.sq_sum / self.nonzero - active_mean**2, 0.0)
            cv = math.sqrt(var) / active_mean
        else:
            cv = 0.0
        return {
            "abs_str": self.abs_sum / self.count,
            "abs_str_active": active_mean,
            "ratio_ag": self.nonzero / self.count,
            "grad_cv": cv,
            "count": float(self.count),
        }


def timestep_parameter_gradients(
    outputs: torch.Tensor, targets: torch.Tensor, params: list[torch.Tensor]
) -> torch.Tensor:
    """``[T, P]``: row ``t`` is ``g_t`` flattened over ``params`` (``P`` entries in all).

    ``outputs: [T, B, K]`` must still hold its graph; it is kept (``retain_graph``) so the caller
    can back-propagate again.
    """
    if outputs.dim() != 3:
        raise ValueError(f"expected per-step logits [T, B, K], got shape {tuple(outputs.shape)}")
    if not params:
        raise ValueError("no parameters to differentiate")
    loss = F.cross_entropy(outputs.mean(0), targets)
    (cot,) = torch.autograd.grad(loss, outputs, retain_graph=True)
    rows = []
    for t in range(outputs.shape[0]):
        grads = torch.autograd.grad(
            outputs[t], params, grad_outputs=cot[t], retain_graph=True, allow_unused=True
        )
        flat = [
            (g if g is not None else torch.zeros_like(p)).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
        rows.append(torch.cat(flat).detach().to(torch.float64))
    return torch.stack(rows)


def cosine_matrix(rows: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarity ``[N, N]`` of the rows of ``rows: [N, P]`` (0 for zero rows)."""
    norms = rows.norm(dim=1)
    unit = rows / norms.clamp_min(torch.finfo(rows.dtype).tiny).unsqueeze(1)
    return unit @ unit.T


class TimestepGradients:
    """Sums ``g_t`` over batches; :meth:`summary` gives ``C`` and ``cos_to_total``."""

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.total: torch.Tensor | None = None

    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the per-step gradients of one batch (``outputs: [T, B, K]`` with its graph)."""
        g = timestep_parameter_gradients(outputs, targets, self.params)
        if self.total is not None and self.total.shape != g.shape:
            raise ValueError(f"T changed between batches: {self.total.shape[0]} vs {g.shape[0]}")
        self.total = g if self.total is None else self.total + g

    def summary(self) -> dict[str, list]:
        """``cosine`` (``[T][T]``), ``cos_to_total`` (``[T]``) and ``norm`` of each ``g_t``."""
        if self.total is None:
            raise RuntimeError("no batch was added")
        rows = torch.cat([self.total, self.total.sum(0, keepdim=True)])
        c = cosine_matrix(rows)
        t = self.total.shape[0]
        return {
            "cosine": c[:t, :t].tolist(),
            "cos_to_total": c[:t, t].tolist(),
            "norm": self.total.norm(dim=1).tolist(),
        }
