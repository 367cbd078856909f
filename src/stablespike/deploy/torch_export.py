"""``torch.export`` of the folded model: a plain PyTorch program for inference without stablespike.

:func:`export_folded` folds the thresholds (:func:`~stablespike.deploy.fold_thresholds`, binary
spikes) and exports the folded model with :func:`torch.export.export`. The LIF recurrence is a
custom op with a fake (meta) implementation, so it traces, for the example's batch size (the
fused kernel's layout planning specializes the batch). ``dynamic_batch=True`` runs the neurons
with the per-step ``"reference"`` backend (the same numbers) so that any batch size works. Save
the program with ``torch.export.save(program, "model.pt2")``; load it with
``torch.export.load("model.pt2").module()`` and call it like the model (per-step logits
``[T, B, K]``).

Example:
    >>> import torch
    >>> from stablespike.models import build_model
    >>> from stablespike.deploy import export_folded
    >>> model = build_model("fmnist-cnn", num_classes=10, in_channels=1, timesteps=2).eval()
    >>> program = export_folded(model, torch.randn(2, 1, 28, 28), dynamic_batch=True)
    >>> program.module()(torch.randn(3, 1, 28, 28)).shape
    torch.Size([2, 3, 10])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..neurons import TrLIF
from .fold import fold_thresholds

__all__ = ["export_folded"]


def export_folded(
    model: nn.Module, example_input: torch.Tensor, *, dynamic_batch: bool = False
) -> Any:
    """A ``torch.export.ExportedProgram`` of ``model``'s folded form (eval mode).

    ``example_input`` is a batch of static images ``[B, C, H, W]`` (``B >= 2`` for a dynamic
    batch) or events ``[T, B, C, H, W]``; with ``dynamic_batch`` other batch sizes work too
    (the neurons then run the per-step reference recurrence).
    """
    folded = fold_thresholds(model.eval(), example_input, residual="scale")
    dims = None
    if dynamic_batch:
        for lif in folded.modules():
            if isinstance(lif, TrLIF):
                lif.backend = "reference"
        batch_dim = 0 if example_input.dim() == 4 else 1
        if example_input.shape[batch_dim] < 2:
            raise ValueError("a dynamic batch needs an example input with a batch of >= 2")
        dims = ({batch_dim: torch.export.Dim("batch", min=1)},)
    with torch.no_grad():
        return torch.export.export(folded, (example_input,), dynamic_shapes=dims)
