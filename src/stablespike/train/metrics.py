"""Running metrics: loss, accuracy per timestep (early read-out); firing rates summed over ranks.

Accuracy "after the first t steps" classifies with the mean of the outputs of steps 1..t, so the
entry for t = T is the ordinary accuracy of the time-mean output.

Example:
    >>> import torch
    >>> meter = ClassificationMeter(timesteps=2)
    >>> logits = torch.tensor([[[0.0, 1.0]], [[3.0, 0.0]]])   # T=2, B=1, K=2
    >>> meter.update(logits, torch.tensor([0]), loss=0.5)
    >>> meter.accuracy_per_timestep()                        # wrong after t=1, right after t=2
    [0.0, 100.0]
"""

from __future__ import annotations

from typing import Any

import torch

from ..models.introspect import FiringRates, neuron_values
from .distributed import DistContext, all_reduce_sum

# FiringRates and neuron_values live in stablespike.models.introspect (re-exported here)
__all__ = [
    "ClassificationMeter",
    "FiringRates",
    "all_reduce_rates",
    "correct_per_timestep",
    "neuron_values",
]


def correct_per_timestep(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[T]`` counts of samples classified correctly by the mean of the first t outputs."""
    cumulative = logits.detach().float().cumsum(0)  # argmax of the sum == argmax of the mean
    return (cumulative.argmax(-1) == target.unsqueeze(0)).sum(1)


class ClassificationMeter:
    """Sums of loss, sample count and per-timestep correct counts; all-reducible across ranks."""

    def __init__(self, timesteps: int | None = None) -> None:
        self.loss_sum = 0.0
        self.count = 0
        self.correct: torch.Tensor | None = (
            torch.zeros(timesteps, dtype=torch.float64) if timesteps else None
        )

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        """Add one batch: per-timestep logits ``[T, B, K]``, targets ``[B]``, its mean loss."""
        n = int(target.shape[0])
        counts = correct_per_timestep(logits, target).to("cpu", torch.float64)
        if self.correct is None or self.correct.shape != counts.shape:
            if self.count:
                raise ValueError(
                    f"timesteps changed within one meter: {self.correct.shape[0]} -> "  # type: ignore[union-attr]
                    f"{counts.shape[0]}"
                )
            self.correct = torch.zeros_like(counts)
        self.correct += counts
        self.loss_sum += float(loss) * n
        self.count += n

    def state(self) -> dict[str, Any]:
        """Plain-value snapshot (for checkpoints: a resumed epoch continues its sums)."""
        return {
            "loss_sum": self.loss_sum,
            "count": self.count,
            "correct": [] if self.correct is None else self.correct.tolist(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.loss_sum = float(state["loss_sum"])
        self.count = int(state["count"])
        correct = state["correct"]
        self.correct = torch.tensor(correct, dtype=torch.float64) if correct else None

    def all_reduce(self, ctx: DistContext) -> None:
        """Sum the meter over all ranks (every rank then holds the global numbers)."""
        if not ctx.distributed:
            return
        t = self.correct.numel() if self.correct is not None else 0
        packed = torch.zeros(2 + t, dtype=torch.float64)
        packed[0], packed[1] = self.loss_sum, self.count
        if t and self.correct is not None:
            packed[2:] = self.correct
        packed = all_reduce_sum(packed.to(ctx.device), ctx).cpu()
        self.loss_sum, self.count = float(packed[0]), int(packed[1])
        if t:
            self.correct = packed[2:].clone()

    @property
    def loss(self) -> float:
        """Mean loss per sample (NaN before the first update)."""
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        """Accuracy in % of the time-mean output over all T steps."""
        per_t = self.accuracy_per_timestep()
        return per_t[-1] if per_t else float("nan")

    def accuracy_per_timestep(self) -> list[float]:
        """Accuracy in % when reading out after the first t steps, t = 1..T."""
        if self.correct is None or not self.count:
            return []
        return [100.0 * float(c) / self.count for c in self.correct]


def all_reduce_rates(rates: FiringRates, ctx: DistContext) -> None:
    """Sum a :class:`~stablespike.models.introspect.FiringRates` meter over all ranks."""
    if ctx.distributed:
        rates.load_sums(all_reduce_sum(rates.sums.to(ctx.device), ctx))
