"""Evaluation of a model on a stream of batches: loss, accuracy per timestep, firing rates.

Under DDP every rank evaluates its share of the test set and the counts are summed, so all ranks
return the numbers of the whole test set.

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> net = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=2, input_size=8)
    >>> batches = [(torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))]
    >>> result = evaluate(net, batches)
    >>> len(result.accuracy_per_timestep), sorted(result.firing_rates)[0]
    (2, 'classifier.2')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..models.introspect import FiringRates, spiking_layers
from .distributed import DistContext, unwrap
from .losses import mean_ce_loss
from .metrics import ClassificationMeter, all_reduce_rates

__all__ = ["EvalResult", "evaluate"]


@dataclass
class EvalResult:
    """Test loss (CE of the time-mean output), accuracy (%), per timestep, firing rates."""

    loss: float
    accuracy: float
    accuracy_per_timestep: list[float]
    samples: int
    firing_rates: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (stored in checkpoints and ``summary.json``)."""
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "accuracy_per_timestep": list(self.accuracy_per_timestep),
            "samples": self.samples,
            "firing_rates": dict(self.firing_rates),
        }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    ctx: DistContext | None = None,
    *,
    autocast: Any = None,
) -> EvalResult:
    """Run ``model`` in eval mode over ``batches`` (time-major inputs) and restore its mode.

    ``autocast`` is an optional context-manager factory (mixed precision).
    """
    ctx = ctx or DistContext.single()
    was_training = model.training
    model.eval()
    meter = ClassificationMeter()
    rates = FiringRates(spiking_layers(unwrap(model)))
    try:
        with rates.attached():
            for x, y in batches:
                if autocast is not None:
                    with autocast():
                        logits = model(x)
                else:
                    logits = model(x)
                meter.update(logits, y, float(mean_ce_loss(logits, y)))
    finally:
        model.train(was_training)
    meter.all_reduce(ctx)
    all_reduce_rates(rates, ctx)
    return EvalResult(
        loss=meter.loss,
        accuracy=meter.accuracy,
        accuracy_per_timestep=meter.accuracy_per_timestep(),
        samples=meter.count,
        firing_rates=rates.rates(),
    )
