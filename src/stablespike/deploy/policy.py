"""Exit policies of anytime inference: when a sample has seen enough timesteps.

After step ``t`` the prediction is read from the running mean of the per-step logits,
``z(t) = 1/t * sum_{s<=t} out_s`` (the read-out of the full model is ``z(T)``), with
``p(t) = softmax(z(t))``. A policy fires for a sample when

* ``confidence(p)``: ``max_k p_k(t) >= p``;
* ``margin(m)``: ``p_(1)(t) - p_(2)(t) >= m`` (top-1 minus top-2 probability);
* ``stable(k)``: the top-1 class of ``z`` has been the same after each of the last ``k`` steps
  (``k = 1`` stops after the first step);
* ``never()``: never (the full ``T`` steps; the reference every sweep is compared with).

A sample never runs beyond ``T``: at ``t = T`` every remaining sample stops.

Example:
    >>> import torch
    >>> from stablespike.deploy.policy import ExitPolicy, exit_steps
    >>> pol = ExitPolicy.parse("confidence:0.9")
    >>> out = torch.tensor([[[0.0, 1.0]], [[0.0, 9.0]], [[0.0, 9.0]]])  # [T=3, B=1, K=2]
    >>> steps, logits = exit_steps(pol, out)                  # p(1) = 0.73, p(2) = 0.99
    >>> steps.tolist(), logits.tolist()
    ([2], [[0.0, 5.0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

KINDS: tuple[str, ...] = ("confidence", "margin", "stable", "never")
"""Policy names accepted by :class:`ExitPolicy`."""


@dataclass(frozen=True)
class ExitPolicy:
    """One exit rule (see the module docstring): ``kind`` and its parameter ``value``."""

    kind: str
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown exit policy {self.kind!r}; expected one of {KINDS}")
        v = self.value
        if self.kind == "confidence" and not 0.0 < v <= 1.0:
            raise ValueError(f"confidence threshold must be in (0, 1], got {v}")
        if self.kind == "margin" and not 0.0 <= v <= 1.0:
            raise ValueError(f"margin must be in [0, 1], got {v}")
        if self.kind == "stable" and (v < 1 or v != int(v)):
            raise ValueError(f"stable needs a whole number of steps k >= 1, got {v}")

    @classmethod
    def parse(cls, text: str) -> ExitPolicy:
        """``"confidence:0.9"``, ``"margin:0.5"``, ``"stable:2"`` or ``"never"``."""
        kind, _, value = str(text).partition(":")
        kind = kind.strip()
        if kind == "never":
            return cls("never")
        if not value:
            raise ValueError(f"exit policy {text!r} needs a value, e.g. {kind or 'confidence'}:0.9")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"exit policy {text!r}: {value!r} is not a number") from None
        return cls(kind, number)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExitPolicy:
        """The inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or "kind" not in data:
            raise ValueError(f"an exit policy is a dict with 'kind' (and 'value'), got {data!r}")
        return cls(str(data["kind"]), float(data.get("value", 0.0)))

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., "value": ...}`` (JSON-serialisable)."""
        return {"kind": self.kind, "value": self.value}

    def __str__(self) -> str:
        if self.kind == "never":
            return "never"
        value = int(self.value) if self.kind == "stable" else self.value
        return f"{self.kind}:{value:g}"

    def fires(self, mean_logits: torch.Tensor, streak: torch.Tensor) -> torch.Tensor:
        """Bool ``[B]``: which samples stop, from ``z(t)`` ``[B, K]`` and the top-1 streak ``[B]``."""
        if self.kind == "never":
            return torch.zeros(mean_logits.shape[0], dtype=torch.bool, device=mean_logits.device)
        if self.kind == "stable":
            return streak >= int(self.value)
        prob = torch.softmax(mean_logits.to(torch.float64), dim=-1)
        if self.kind == "confidence":
            return prob.amax(-1) >= self.value
        top = prob.topk(2, dim=-1).values if prob.shape[-1] > 1 else prob.expand(-1, 2)
        return (top[:, 0] - top[:, 1]) >= self.value


def confidence(p: float) -> ExitPolicy:
    """Stop when the top softmax probability of the running mean reaches ``p``."""
    return ExitPolicy("confidence", p)


def margin(m: float) -> ExitPolicy:
    """Stop when the top-1 minus top-2 softmax probability of the running mean reaches ``m``."""
    return ExitPolicy("margin", m)


def stable(k: int) -> ExitPolicy:
    """Stop when the top-1 class has been the same after each of the last ``k`` steps."""
    return ExitPolicy("stable", k)


def never() -> ExitPolicy:
    """Never stop early (all ``T`` steps)."""
    return ExitPolicy("never")


def as_policy(policy: ExitPolicy | str | dict[str, Any]) -> ExitPolicy:
    """An :class:`ExitPolicy` from itself, its text form or its dict form."""
    if isinstance(policy, ExitPolicy):
        return policy
    if isinstance(policy, str):
        return ExitPolicy.parse(policy)
    if isinstance(policy, dict):
        return ExitPolicy.from_dict(policy)
    raise TypeError(
        f"policy must be an ExitPolicy, a string or a dict, got {type(policy).__name__}"
    )


def update_streak(
    streak: torch.Tensor | None, top1: torch.Tensor, previous: torch.Tensor | None
) -> torch.Tensor:
    """The top-1 streak after one more step: ``streak + 1`` if ``top1`` is unchanged, else 1."""
    if previous is None or streak is None:  # the first step
        return torch.ones_like(top1)
    return torch.where(top1 == previous, streak + 1, torch.ones_like(streak))


def exit_steps(
    policy: ExitPolicy | str, outputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exit step ``[B]`` (1..T) and running-mean logits at exit ``[B, K]`` from full outputs.

    ``outputs`` are the per-step logits ``[T, B, K]`` of a full run. Because each step's output
    depends only on the steps before it, this gives the same exits as running
    :class:`~stablespike.deploy.AnytimeNet` with ``policy`` (which stops computing instead).
    """
    policy = as_policy(policy)
    if outputs.dim() != 3 or outputs.shape[0] == 0:
        raise ValueError(f"expected per-step logits [T, B, K], got shape {tuple(outputs.shape)}")
    total = outputs.shape[0]
    running = torch.zeros_like(outputs[0])
    steps = torch.full(outputs.shape[1:2], total, dtype=torch.long, device=outputs.device)
    logits = torch.empty_like(outputs[0])
    done = torch.zeros(outputs.shape[1], dtype=torch.bool, device=outputs.device)
    streak = torch.zeros(outputs.shape[1], dtype=torch.long, device=outputs.device)
    previous = None
    for t in range(total):
        running = running + outputs[t]
        mean = running / (t + 1)
        top1 = mean.argmax(-1)
        streak = update_streak(streak, top1, previous)
        previous = top1
        stop = ~done & (policy.fires(mean, streak) | (t + 1 == total))
        steps[stop] = t + 1
        logits[stop] = mean[stop]
        done |= stop
    return steps, logits
