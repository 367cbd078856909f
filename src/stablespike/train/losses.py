"""Losses on per-timestep logits ``[T, B, K]``.

Targets are class indices ``[B]`` or class probabilities ``[B, K]`` (mixed labels of mixup /
cutmix); label smoothing applies to both (to probabilities as ``(1 - eps) p + eps / K``).

* ``"ce"`` (docs/METHOD.md §4.1): cross-entropy of the time-mean output.
* ``"tet"`` (Deng et al., ICLR 2022): ``(1 - lam) * mean_t CE(out[t], y) + lam * MSE(out, 1)``.

Example:
    >>> import torch
    >>> logits = torch.zeros(4, 2, 3)                 # T=4, B=2, K=3
    >>> y = torch.tensor([0, 2])
    >>> loss_fn = build_loss("ce")
    >>> round(float(loss_fn(logits, y)), 4)           # log(3)
    1.0986
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["LossFn", "build_loss", "mean_ce_loss", "tet_loss"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if logits.dim() != 3:
        raise ValueError(f"expected per-timestep logits [T, B, K], got shape {tuple(logits.shape)}")
    if target.shape != logits.shape[1:2] and target.shape != logits.shape[1:]:
        raise ValueError(
            f"targets {tuple(target.shape)} must be class indices [{logits.shape[1]}] or "
            f"class probabilities {list(logits.shape[1:])} (mixup / cutmix)"
        )


def mean_ce_loss(
    logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy of ``logits.mean(0)``."""
    _check(logits, target)
    return F.cross_entropy(logits.float().mean(0), target, label_smoothing=label_smoothing)


def tet_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    label_smoothing: float = 0.0,
    lam: float = 1e-3,
) -> torch.Tensor:
    """Temporal efficient training loss: per-timestep CE averaged over T (+ ``lam`` * MSE to 1)."""
    _check(logits, target)
    t, b, k = logits.shape
    flat = logits.float().reshape(t * b, k)
    repeated = target.repeat(t, *([1] * (target.dim() - 1)))  # indices [B] or probs [B, K]
    ce = F.cross_entropy(flat, repeated, label_smoothing=label_smoothing)
    if lam == 0:
        return ce
    return (1.0 - lam) * ce + lam * F.mse_loss(flat, torch.ones_like(flat))


def build_loss(name: str, *, label_smoothing: float = 0.0, tet_lambda: float = 1e-3) -> LossFn:
    """The loss called ``name`` (``"ce"`` or ``"tet"``) with its options bound."""
    if name == "ce":
        return lambda logits, y: mean_ce_loss(logits, y, label_smoothing)
    if name == "tet":
        return lambda logits, y: tet_loss(logits, y, label_smoothing, tet_lambda)
    raise ValueError(f"unknown loss {name!r}; expected ce or tet")
