"""``analyze_model``: every diagnostic of one model over a few batches, as one JSON-able dict.

For each batch ``(x, y)`` (at most ``max_batches``) the model runs once in eval mode (BN uses its
running statistics, MP-Init is not updated) with all monitors attached:

* :class:`~stablespike.analysis.NeuronMonitor`: firing rates, ``H[t]`` histograms and TV to the
  last step, and ``dL/dH`` for ``L = CE(1/T sum_t out_t, y)`` (AbsStr, RatioAG, GradCV);
* :class:`~stablespike.analysis.EarlyExitAccuracy`: accuracy after ``t = 1..T`` steps;
* :class:`~stablespike.analysis.TimestepGradients`: cosine of the per-step parameter gradients;
* :class:`~stablespike.analysis.SynOpsCounter`: AC / MAC per layer and the energy estimate.

Gradients are taken with ``torch.autograd.grad``, so the parameters' ``.grad`` stay untouched.
The first ``grad_batches`` batches are differentiated (``T + 1`` backward passes each, one
without ``timestep_grads``); later ones only run forward.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from stablespike import TrLIF
    >>> from stablespike.analysis import analyze_model
    >>> model = nn.Sequential(nn.Linear(3, 8), TrLIF(), nn.Linear(8, 2))
    >>> batches = [(torch.randn(4, 5, 3), torch.randint(0, 2, (5,)))]   # [T, B, F] inputs
    >>> result = analyze_model(model, batches)
    >>> result["timesteps"], [layer["layer"] for layer in result["layers"]]
    (4, ['1'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models.introspect import neuron_parameters
from .early_exit import EarlyExitAccuracy
from .gradients import TimestepGradients
from .monitor import NeuronMonitor
from .synops import SynOpsCounter

InputFn = Callable[[torch.Tensor], torch.Tensor]


def analyze_model(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    max_batches: int | None = None,
    grad_batches: int | None = None,
    bins: int = 100,
    device: torch.device | str = "cpu",
    prepare_input: InputFn | None = None,
    synops_kinds: dict[str, str] | None = None,
    timestep_grads: bool = True,
) -> dict[str, Any]:
    """Run the diagnostics (see the module docs) and return them as plain Python values.

    Args:
        model: a network with TrLIF layers returning per-step logits ``[T, B, K]``.
        batches: ``(inputs, labels)`` pairs; ``prepare_input`` maps inputs to the model's format.
        max_batches: stop after this many batches (``None``: all).
        grad_batches: differentiate only the first this many (``None``: all of them).
        bins: histogram bins per layer.
        device: where the model and the batches run.
        prepare_input: applied to each input batch before the model (e.g. a layout change).
        synops_kinds: per-module AC / MAC override for :class:`SynOpsCounter`.
        timestep_grads: also measure the per-step gradient cosine (``T`` extra backward passes).
    """
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be >= 1, got {max_batches}")
    model = model.to(device).eval()
    params: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
    monitor = NeuronMonitor(model, bins=bins)
    synops = SynOpsCounter(model, kinds=synops_kinds)
    early = EarlyExitAccuracy()
    step_grads = TimestepGradients(params)
    images, loss_sum, seen = 0, 0.0, 0
    with monitor, synops:
        for i, (x, y) in enumerate(islice(batches, max_batches)):
            x, y = x.to(device), y.to(device)
            inputs = prepare_input(x) if prepare_input is not None else x
            differentiate = grad_batches is None or i < grad_batches
            with torch.set_grad_enabled(differentiate):
                out = model(inputs)
                if out.dim() != 3:
                    raise ValueError(f"model must return logits [T, B, K], got {tuple(out.shape)}")
                loss = F.cross_entropy(out.mean(0), y)
            if differentiate and params:
                if timestep_grads:
                    with monitor.grads_paused():
                        step_grads.add(out, y)
                torch.autograd.grad(loss, params, allow_unused=True)  # fires the dL/dH hooks
            early.add(out.detach(), y)
            images += int(y.shape[0])
            loss_sum += float(loss.detach()) * int(y.shape[0])
            seen += 1
    if seen == 0:
        raise ValueError("no batch to analyse")
    return _assemble(model, monitor, early, step_grads, synops, images, loss_sum)


def _assemble(
    model: nn.Module,
    monitor: NeuronMonitor,
    early: EarlyExitAccuracy,
    step_grads: TimestepGradients,
    synops: SynOpsCounter,
    images: int,
    loss_sum: float,
) -> dict[str, Any]:
    per_layer = monitor.summary()
    layers = [{**row, **per_layer.get(str(row["layer"]), {})} for row in neuron_parameters(model)]
    exit_acc = early.summary()
    result: dict[str, Any] = {
        "images": images,
        "timesteps": len(exit_acc),
        "loss": loss_sum / images,
        "accuracy": exit_acc[-1],
        "early_exit_accuracy": exit_acc,
        "layers": layers,
        "synops": synops.summary(images),
    }
    if step_grads.total is not None:
        result["timestep_gradients"] = step_grads.summary()
    return result
