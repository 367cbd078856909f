"""One optimisation step: forward, loss, non-finite guard, backward, clipping, update, schedule.

Mixed precision (``autocast`` + ``GradScaler`` for fp16) is used on CUDA only. A non-finite loss
(on any rank), or a non-finite gradient norm without a scaler, either raises
:class:`~stablespike.core.errors.NonFiniteError` before anything is updated, or - with
``skip_nonfinite`` - skips the update: gradients are dropped and the buffers (BatchNorm running
statistics, MP-Init means) are restored to their values before the step.

Example:
    >>> import torch
    >>> from stablespike.train.losses import build_loss
    >>> model = torch.nn.Sequential(torch.nn.Flatten(0, 1), torch.nn.Linear(3, 2),
    ...                             torch.nn.Unflatten(0, (2, 4)))     # [T=2, B=4, ...] toy
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    >>> step = StepRunner(model, opt, sched, build_loss("ce"))
    >>> result = step(torch.randn(2, 4, 3), torch.tensor([0, 1, 0, 1]))
    >>> result.skipped, result.loss > 0
    ('', True)
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.errors import ConfigError, NonFiniteError
from .distributed import DistContext, any_rank
from .losses import LossFn

__all__ = ["StepResult", "StepRunner", "autocast_factory", "resolve_amp"]


def resolve_amp(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--amp`` on ``device`` (None = full precision)."""
    if setting == "off" or (setting == "auto" and device.type != "cuda"):
        return None
    if setting in ("auto", "fp16"):
        if device.type != "cuda":
            raise ConfigError("--amp fp16 needs a CUDA device; use --amp bf16 or off on CPU")
        return torch.float16
    if setting == "bf16":
        return torch.bfloat16
    raise ConfigError(f"amp must be auto, off, fp16 or bf16, got {setting!r}")


def autocast_factory(
    dtype: torch.dtype | None, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager]:
    """A zero-argument factory of the autocast context for ``dtype`` (a null context if None)."""
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class StepResult:
    """The step's loss (a float), its logits ``[T, B, K]`` (detached), why it was skipped if so."""

    loss: float
    logits: torch.Tensor
    skipped: str = ""  # why the update was skipped ("" = it was not)


class StepRunner:
    """Callable ``runner(x, y) -> StepResult`` performing one training step (see module doc)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        loss_fn: LossFn,
        *,
        ctx: DistContext | None = None,
        amp_dtype: torch.dtype | None = None,
        scaler: torch.amp.GradScaler | None = None,
        grad_clip: float = 0.0,
        skip_nonfinite: bool = False,
        augment: Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
        | None = None,
        step_index: Callable[[], int] | None = None,
    ) -> None:
        self.model, self.optimizer, self.scheduler, self.loss_fn = (
            model,
            optimizer,
            scheduler,
            loss_fn,
        )
        self.ctx = ctx or DistContext.single()
        self.autocast = autocast_factory(amp_dtype, self.ctx.device)
        self.scaler = scaler if scaler is not None and scaler.is_enabled() else None
        self.grad_clip = grad_clip
        self.skip_nonfinite = skip_nonfinite
        self.params = [p for p in model.parameters() if p.requires_grad]
        # batch augmentation (mixup, ...): ``augment(x, y, step) -> (x, target)``, with the
        # global step from ``step_index`` so that a resumed run draws the same augmentation
        self.augment = augment
        self.step_index = step_index or (lambda: 0)

    def _buffers(self) -> dict[str, torch.Tensor] | None:
        if not self.skip_nonfinite:
            return None
        return {n: b.detach().clone() for n, b in self.model.named_buffers()}

    def _reject(self, what: str, value: float, saved: dict[str, torch.Tensor] | None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if saved is None:
            raise NonFiniteError(f"non-finite {what} ({value})")
        with torch.no_grad():
            for name, buf in self.model.named_buffers():
                buf.copy_(saved[name])
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()" is intended
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            self.scheduler.step()  # the step is consumed (data order and schedule stay aligned)

    def _grad_norm(self) -> float:
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0
        norm = torch.nn.utils.get_total_norm(grads)
        if self.grad_clip > 0:
            torch.nn.utils.clip_grads_with_norm_(self.params, self.grad_clip, norm)
        return float(norm)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        saved = self._buffers()
        self.model.train()
        target = y
        if self.augment is not None:
            x, target = self.augment(x, y, self.step_index())
        with self.autocast():
            logits = self.model(x)
            loss = self.loss_fn(logits, target)
        value = float(loss.detach())
        if any_rank(not math.isfinite(value), self.ctx):
            self._reject("loss", value, saved)
            return StepResult(value, logits.detach(), skipped=f"non-finite loss ({value})")
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        norm = self._grad_norm()
        if self.scaler is None and not math.isfinite(
            norm
        ):  # grads are all-reduced: same on all ranks
            self._reject("gradient norm", norm, saved)
            return StepResult(value, logits.detach(), skipped=f"non-finite gradient norm ({norm})")
        if self.scaler is not None:  # the scaler skips inf/NaN steps itself
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        return StepResult(value, logits.detach())
