"""Accuracy when the output is read after only the first ``t`` timesteps (docs/METHOD.md §6).

The network's prediction after ``t`` of ``T`` steps is the argmax of the running mean of the
per-step logits::

    y_hat(t) = argmax_k 1/t * sum_{s=1..t} out_s[k]         t = 1..T

``y_hat(T)`` is the normal prediction. This equals running the network for ``t`` steps because
the per-step outputs are causal in eval mode (step ``s`` only sees inputs ``1..s``).

Example:
    >>> import torch
    >>> from stablespike.analysis.early_exit import EarlyExitAccuracy
    >>> out = torch.tensor([[[0.0, 1.0]], [[3.0, 0.0]]])    # [T=2, B=1, K=2]
    >>> acc = EarlyExitAccuracy()
    >>> acc.add(out, torch.tensor([0]))
    >>> acc.summary()                                     # wrong after 1 step, right after 2
    [0.0, 1.0]
"""

from __future__ import annotations

import torch


def early_exit_correct(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions after ``t = 1..T`` steps for ``outputs: [T, B, K]``."""
    if outputs.dim() != 3:
        raise ValueError(f"expected per-step logits [T, B, K], got shape {tuple(outputs.shape)}")
    if targets.shape != outputs.shape[1:2]:
        raise ValueError(
            f"targets shape {tuple(targets.shape)} does not match batch size {outputs.shape[1]}"
        )
    steps = torch.arange(1, outputs.shape[0] + 1, device=outputs.device, dtype=outputs.dtype)
    running = outputs.detach().cumsum(0) / steps.view(-1, 1, 1)
    return (running.argmax(-1) == targets.view(1, -1)).sum(1).cpu()


class EarlyExitAccuracy:
    """Streams :func:`early_exit_correct` over batches."""

    def __init__(self) -> None:
        self.correct: torch.Tensor | None = None
        self.total = 0

    def add(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch of per-step logits ``[T, B, K]`` and labels ``[B]``."""
        correct = early_exit_correct(outputs, targets).to(torch.float64)
        if self.correct is None:
            self.correct = correct
        elif self.correct.shape != correct.shape:
            raise ValueError(
                f"T changed between batches: {self.correct.numel()} vs {correct.numel()}"
            )
        else:
            self.correct += correct
        self.total += targets.numel()

    def summary(self) -> list[float]:
        """Accuracy (fraction) after ``t = 1..T`` steps."""
        if self.correct is None:
            raise RuntimeError("no batch was added")
        return (self.correct / self.total).tolist()
